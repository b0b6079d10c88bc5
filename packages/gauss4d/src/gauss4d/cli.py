"""Command line of gauss4d: make-scene, train, render, eval and demo."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from accelerator_utils import atomic_write_json, hardware_summary, resolve_device
from gauss4d import __version__
from gauss4d.data import SceneConfig, load_dnerf, make_scene
from gauss4d.evaluate import evaluate
from gauss4d.outputs import fly_around, save_gif, save_grid
from gauss4d.raster import RasterConfig
from gauss4d.train import TrainConfig, train
from gauss4d.train.presets import PRESETS, preset
from gauss4d.train.trainer import TrainingDiverged, load_run

SCENE_JSON = "scene.json"


def _add_scene_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--train-times", type=int, default=100)
    p.add_argument("--test-times", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--cycles", type=float, default=0.25, help="motion cycles over the time span [0.25]"
    )


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="a named schedule of gauss4d.train.presets (default: TrainConfig's paper values)",
    )
    p.add_argument("--coarse", type=int, help="static (coarse) stage iterations [3000]")
    p.add_argument("--fine", type=int, help="deformation (fine) stage iterations [6000]")
    p.add_argument("--n-init", type=int, help="initial random Gaussians [3000]")
    p.add_argument("--sh-degree", type=int, help="[3]")
    p.add_argument("--lambda-ssim", type=float, help="[0]")
    p.add_argument(
        "--random-background",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="composite each training frame over a random colour (needs its alpha) [off]",
    )
    p.add_argument("--seed", type=int, help="training seed [0]")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    _add_device_args(p)


def _device(spec: str) -> torch.device:
    try:
        return resolve_device(spec)
    except (RuntimeError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=_device, default="cpu", help="cpu | cuda | cuda:N | auto [cpu]")
    p.add_argument(
        "--backend",
        choices=("torch", "gsplat"),
        default="torch",
        help="rasterizer: our pure-PyTorch one, or gsplat's CUDA kernels (CUDA only) [torch]",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gauss4d", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make-scene", help="write a synthetic dynamic scene (D-NeRF format)")
    p.add_argument("out", type=Path)
    _add_scene_args(p)
    p = sub.add_parser("train", help="train a 4D-GS model on a D-NeRF-format scene")
    p.add_argument("data", type=Path)
    p.add_argument("--out", type=Path, required=True, help="run directory (resumes if present)")
    p.add_argument("--background", choices=("white", "black"), default="white")
    _add_train_args(p)
    p = sub.add_parser("render", help="render an orbit GIF and a PNG grid from a trained run")
    p.add_argument("run", type=Path)
    p.add_argument("--frames", type=int, default=24)
    _add_device_args(p)
    p = sub.add_parser("eval", help="PSNR/SSIM/FPS/size of a run on a split of its scene")
    p.add_argument("run", type=Path)
    p.add_argument("--split", default="test")
    _add_device_args(p)
    p = sub.add_parser("demo", help="a tiny synthetic scene end to end (about a minute)")
    p.add_argument("--out", type=Path, default=None, help="where to keep the outputs")
    p.add_argument("--size", type=int, default=32)
    return parser


def _scene_info(run: Path) -> dict:
    path = run / SCENE_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run} a `gauss4d train` run directory?")
    return json.loads(path.read_text())


def cmd_make_scene(args: argparse.Namespace) -> int:
    cfg = SceneConfig(
        n_train_times=args.train_times,
        n_test_times=args.test_times,
        width=args.width,
        height=args.height,
        seed=args.seed,
        cycles=args.cycles,
    )
    make_scene(args.out, cfg)
    print(
        f"wrote a {cfg.width}x{cfg.height} scene with {cfg.n_train_times} training and "
        f"{cfg.n_test_times} held-out times to {args.out}"
    )
    return 0


def _run_training(
    data: Path,
    out: Path,
    cfg: TrainConfig,
    background: str,
    device: torch.device | str = "cpu",
    raster: RasterConfig | None = None,
) -> tuple:
    split = load_dnerf(data, "train", background)
    cam = split.cameras[0]
    radius = float(torch.stack([c.center for c in split.cameras]).norm(dim=-1).mean())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        out / SCENE_JSON,
        {
            "data": str(data.resolve()),
            "background": background,
            "width": cam.width,
            "height": cam.height,
            "fov_x": 2 * math.atan(cam.width / (2 * cam.fx)),
            "radius": radius,
        },
    )
    result = train(split, cfg, out, raster=raster, device=device)
    atomic_write_json(out / "history.json", result.history)
    return result, split


def cmd_train(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    given = {
        "coarse_iters": args.coarse,
        "fine_iters": args.fine,
        "n_init": args.n_init,
        "sh_degree": args.sh_degree,
        "lambda_ssim": args.lambda_ssim,
        "random_background": args.random_background,
        "seed": args.seed,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if args.preset is None:
        cfg = TrainConfig(**overrides)
    else:
        cfg = preset(args.preset, **overrides)
    result, _ = _run_training(
        args.data, args.out, cfg, args.background, args.device, RasterConfig(backend=args.backend)
    )
    last = result.history[-1] if result.history else {}
    print(
        f"trained {cfg.total_iters} steps in {result.seconds:.1f} s; "
        f"last training PSNR {last.get('psnr', float('nan')):.2f} dB; "
        f"{result.model.n_gaussians()} Gaussians; checkpoint {result.checkpoint}"
    )
    return 0


def _render_outputs(
    run: Path, model, info: dict, frames: int, split=None, raster: RasterConfig | None = None
) -> None:
    size = (info["width"], info["height"])
    orbit = fly_around(model, frames, *size, info["radius"], info["fov_x"], raster=raster)
    save_gif(orbit, run / "orbit.gif")
    save_grid(orbit[:: max(1, frames // 12)], run / "orbit_grid.png")
    if split is not None:
        renders = [
            model.render(c, t, split.background, raster).image
            for c, t in zip(split.cameras[:6], split.times[:6].tolist())
        ]
        save_grid(list(split.images[:6]) + renders, run / "heldout_grid.png")


def cmd_render(args: argparse.Namespace) -> int:
    info = _scene_info(args.run)
    model, _ = load_run(args.run, args.device)
    _render_outputs(args.run, model, info, args.frames, raster=RasterConfig(backend=args.backend))
    print(f"wrote {args.run / 'orbit.gif'} and {args.run / 'orbit_grid.png'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    info = _scene_info(args.run)
    model, static = load_run(args.run, args.device)
    split = load_dnerf(info["data"], args.split, info["background"])
    raster = RasterConfig(backend=args.backend)
    res, res_static = evaluate(model, split, raster), evaluate(static, split, raster)
    atomic_write_json(
        args.run / f"eval_{args.split}.json", {"model": vars(res), "static": vars(res_static)}
    )
    print(f"{args.split}: 4D {res.summary()}")
    print(f"{args.split}: static {res_static.summary()}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)  # small tensors: one thread is fastest, and polite on shared CPUs
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "run"
        data = out / "scene"
        print(f"gauss4d {__version__} on {hardware_summary()}")
        make_scene(
            data,
            SceneConfig(
                n_train_times=40, n_test_times=8, n_val=4, width=args.size, height=args.size
            ),
        )
        result, _ = _run_training(data, out, preset("demo"), "white")
        test = load_dnerf(data, "test", "white")
        res, res_static = evaluate(result.model, test), evaluate(result.static, test)
        train_res = evaluate(result.model, load_dnerf(data, "train", "white"))
        _render_outputs(out, result.model, _scene_info(out), 16, test)
        print(f"held-out times/views: 4D {res.summary()}")
        print(f"held-out times/views: static {res_static.summary()}")
        print(f"training frames: 4D PSNR {train_res.psnr:.2f} dB")
        print(f"outputs in {out}" if args.out else "outputs discarded (pass --out to keep them)")
        print(
            f"headline: 4D-GS on a {args.size}x{args.size} synthetic dynamic scene, held-out "
            f"times and views: PSNR {res.psnr:.2f} dB vs static {res_static.psnr:.2f} dB "
            f"({res.psnr - res_static.psnr:+.2f} dB), {res.fps:.0f} FPS on CPU, "
            f"{result.model.n_gaussians()} Gaussians, {time.perf_counter() - start:.0f} s total"
        )
    return 0


COMMANDS = {
    "make-scene": cmd_make_scene,
    "train": cmd_train,
    "render": cmd_render,
    "eval": cmd_eval,
    "demo": cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (FileNotFoundError, ValueError, ImportError, TrainingDiverged) as e:
        print(f"gauss4d {args.command}: error: {e}", file=sys.stderr)
        return 2
