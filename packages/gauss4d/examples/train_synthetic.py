"""The long quality run (about 25 CPU minutes; run it alone): a 128x128 synthetic dynamic scene,
200 training times, 20 held-out times with new cameras; 4D-GS vs its static coarse stage.

    python examples/train_synthetic.py --out runs/synthetic128 [--size 128] [--threads 2]

Resumable: rerun the same command to continue from ``OUT/run/checkpoint.pt``. Writes
``OUT/results.json``, the orbit GIF, PNG grids and the learning curve.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from accelerator_utils import atomic_write_json
from gauss4d.data import SceneConfig, load_dnerf, make_scene
from gauss4d.evaluate import evaluate
from gauss4d.outputs import fly_around, save_gif, save_grid
from gauss4d.train import train
from gauss4d.train.presets import preset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path("runs/synthetic128"))
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    scene = args.out / "scene"
    if not (scene / "transforms_test.json").exists():
        make_scene(
            scene,
            SceneConfig(n_train_times=200, n_test_times=20, width=args.size, height=args.size),
        )
    data, test = load_dnerf(scene, "train"), load_dnerf(scene, "test")
    cfg = preset("synthetic128")  # as benchmarks/quality.py --size 128
    start = time.perf_counter()
    res = train(data, cfg, args.out / "run")
    results = {
        "minutes": (time.perf_counter() - start) / 60,
        "test_4d": vars(evaluate(res.model, test)),
        "test_static": vars(evaluate(res.static, test)),
        "train_4d": vars(evaluate(res.model, data)),
    }
    atomic_write_json(args.out / "results.json", results)
    cam = data.cameras[0]
    orbit = fly_around(
        res.model,
        36,
        cam.width,
        cam.height,
        float(cam.center.norm()),
        2 * torch.atan(torch.tensor(cam.width / (2 * cam.fx))).item(),
    )
    save_gif(orbit, args.out / "orbit.gif")
    renders = [
        res.model.render(c, t, test.background).image
        for c, t in zip(test.cameras[:6], test.times[:6].tolist())
    ]
    save_grid(list(test.images[:6]) + renders, args.out / "heldout_grid.png")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
