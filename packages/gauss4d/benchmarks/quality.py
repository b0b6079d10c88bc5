"""The quality benchmark of the issue on the synthetic dynamic scene (run it alone, 1 thread):

    python benchmarks/quality.py --size 64     # 100 train / 20 held-out times, <= 10 CPU min
    python benchmarks/quality.py --size 128    # 200 train / 20 held-out times, <= 30 CPU min

4D-GS against its own static coarse stage on held-out times seen from new cameras, training
PSNR over all training frames, CPU time of the training alone (evaluations excluded). Held-out
PSNR is measured every ``--eval-every`` steps (training resumes from its checkpoint between
chunks, which the resume test shows is exact) for the learning curves. Writes
``results/gauss4d-quality<size>.{json,md}``, ``results/learning_curve_<size>.png`` and
``results/heldout_grid_<size>.png`` (rows: ground truth, 4D, static); ``--fine-iters N``
overrides the fine-stage length (outputs named ``<size>-fine<N>``).

At 64^2 the schedule is short on purpose: longer fine stages raise held-out PSNR slowly but the
training-frame PSNR faster (each time is seen from one camera), see the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from accelerator_utils import BenchmarkReport, hardware_summary, limit_threads
from gauss4d.data import SceneConfig, load_dnerf, make_scene
from gauss4d.evaluate import evaluate
from gauss4d.outputs import save_grid
from gauss4d.train import train
from gauss4d.train.presets import PRESETS

HERE = Path(__file__).resolve().parent

# The library presets (documented in gauss4d.train.presets).
CONFIGS = {64: PRESETS["synthetic64"], 128: PRESETS["synthetic128"]}
# Training times per size: the issue fixes 100 at 64^2; at 128^2 it fixes none, and with one
# camera per time (monocular, as D-NeRF) 200 times give twice the views: held-out 26.4 dB vs
# 24.3 dB with 100 at the same 9000 steps (README). 200 is the top of the 50-200 range.
TRAIN_TIMES = {64: 100, 128: 200}


def _plot(curve: list[dict], history: list[dict], coarse: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["psnr"] for h in history], lw=0.6, alpha=0.5, label="training frame (1 view)")
    ax.plot(
        [c["step"] for c in curve],
        [c["train"] for c in curve],
        "o-",
        label="all training frames",
    )
    ax.plot([c["step"] for c in curve], [c["heldout"] for c in curve], "s-", label="held-out")
    ax.axvline(coarse, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("step (dashed: coarse -> fine)")
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(
    size: int,
    eval_every: int,
    out: Path,
    work: Path,
    fine_iters: int | None = None,
    seed: int = 0,
    retain_freed: bool = True,
) -> BenchmarkReport:
    cfg = dataclasses.replace(CONFIGS[size], seed=seed)
    name = f"{size}" if seed == 0 else f"{size}-seed{seed}"
    if fine_iters is not None:
        cfg = dataclasses.replace(cfg, fine_iters=fine_iters)
        name = f"{name}-fine{fine_iters}"
    scene = work / "scene"
    make_scene(
        scene,
        SceneConfig(
            n_train_times=TRAIN_TIMES[size], n_test_times=20, width=size, height=size, seed=seed
        ),
    )
    data, test = load_dnerf(scene, "train"), load_dnerf(scene, "test")
    report = BenchmarkReport("gauss4d")
    report.metric("torch threads", torch.get_num_threads(), "")
    report.use_allocator(retain_freed)
    report.metric("seed (scene cameras and training)", seed, "")
    cpu, wall, step, curve = 0.0, 0.0, 0, []
    while step < cfg.total_iters:
        step = min(step + eval_every, cfg.total_iters)
        c0, w0 = time.process_time(), time.perf_counter()
        res = train(data, cfg, work / "run", progress=False, stop_at=step)
        cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
        point = {
            "step": step,
            "cpu_s": cpu,
            "heldout": evaluate(res.model, test).psnr,
            "train": evaluate(res.model, data).psnr,
            "n_gaussians": res.model.n_gaussians(),
        }
        curve.append(point)
        print(point, f"load {os.getloadavg()[0]:.1f}", flush=True)
    dyn, sta, tr = evaluate(res.model, test), evaluate(res.static, test), evaluate(res.model, data)
    tag = f"{size}^2, {TRAIN_TIMES[size]} train / 20 held-out times, {cfg.total_iters} steps"
    report.metric(f"held-out PSNR 4D ({tag})", dyn.psnr, "dB")
    report.metric("held-out PSNR static coarse stage", sta.psnr, "dB")
    report.metric("training-frame PSNR 4D", tr.psnr, "dB")
    report.metric(
        "4D minus static on held-out times",
        dyn.psnr - sta.psnr,
        "dB",
        target=">= 4 dB",
        passed=dyn.psnr - sta.psnr >= 4,
    )
    report.metric(
        "training minus held-out PSNR",
        tr.psnr - dyn.psnr,
        "dB",
        target="<= 2 dB",
        passed=tr.psnr - dyn.psnr <= 2,
    )
    budget = 10 if size <= 64 else 30
    report.metric(
        "training CPU time (1 thread, evaluations excluded)",
        cpu / 60,
        "min",
        target=f"<= {budget} CPU min",
        passed=cpu / 60 <= budget,
    )
    if size > 64:
        report.metric(
            "held-out PSNR >= 30 dB", dyn.psnr, "dB", target=">= 30 dB", passed=dyn.psnr >= 30
        )
    report.metric("training wall time (shared machine)", wall / 60, "min")
    report.metric("held-out SSIM 4D", dyn.ssim, "")
    report.metric(f"render FPS at {size}^2 with deformation", dyn.fps, "FPS")
    report.metric("Gaussians", dyn.n_gaussians, "")
    report.metric("load average (1 min) at the end", os.getloadavg()[0], "")
    out.mkdir(parents=True, exist_ok=True)
    _plot(curve, res.history, cfg.coarse_iters, out / f"learning_curve_{name}.png")
    renders = [
        res.model.render(c, t, test.background).image
        for c, t in zip(test.cameras[:6], test.times[:6].tolist())
    ]
    static = [
        res.static.render(c, t, test.background).image
        for c, t in zip(test.cameras[:6], test.times[:6].tolist())
    ]
    save_grid(list(test.images[:6]) + renders + static, out / f"heldout_grid_{name}.png")
    report.write(out, f"gauss4d-quality{name}")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, choices=sorted(CONFIGS), default=64)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--fine-iters", type=int, help="override the fine-stage length")
    p.add_argument("--seed", type=int, default=0, help="scene cameras and training seed")
    p.add_argument(
        "--glibc-defaults",
        action="store_true",
        help="leave glibc's allocator as it is (by default freed memory is retained, see below)",
    )
    args = p.parse_args(argv)
    print(hardware_summary(), flush=True)
    with limit_threads(1), tempfile.TemporaryDirectory() as tmp:
        report = run(
            args.size,
            args.eval_every,
            args.out,
            Path(tmp),
            args.fine_iters,
            args.seed,
            retain_freed=not args.glibc_defaults,
        )
    print(report.to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
