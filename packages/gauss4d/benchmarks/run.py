"""Benchmarks of gauss4d, side by side in one process with threads pinned.

    python benchmarks/run.py --quick   # a few minutes: smaller sizes, shortened quality run
    python benchmarks/run.py --full    # the issue's sizes (5k/20k Gaussians at 128^2) + quality

Scenes for the rasterizer timings are random "trained-like" Gaussians: means uniform in the
unit ball, scales log-uniform in [0.005, 0.03] (world units; 1-6 px at 128^2), opacities uniform
in [0.1, 1], seen from 3.3 units with a 40-degree field of view. glibc keeps freed memory for
reuse (``accelerator_utils.retain_freed_memory``, recorded in the report; ``--glibc-defaults``
turns it off): with the default allocator the baselines' multi-GiB temporaries are handed back
to the kernel and page-faulted in again on every call, and their timings swing by tens of
percent between identical runs.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from accelerator_utils import (
    BenchmarkReport,
    PeakMemory,
    compare,
    in_fresh_process,
    limit_threads,
    thread_info,
)
from gauss4d.camera import orbit_camera
from gauss4d.data import SceneConfig, load_dnerf, make_scene
from gauss4d.evaluate import evaluate
from gauss4d.raster import rasterize
from gauss4d.raster.reference import rasterize_all_pairs
from gauss4d.raster.tiles import rasterize_tiles
from gauss4d.render import render
from gauss4d.train import TrainConfig, train
from gauss4d.train.init import init_from_points
from gauss4d.train.optim import GaussianAdam
from gauss4d.train.presets import preset

HERE = Path(__file__).resolve().parent


def trained_like(n: int, size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, 3, generator=g)
    means = d / d.norm(dim=1, keepdim=True) * torch.rand(n, 1, generator=g) ** (1 / 3)
    scales = torch.exp(torch.empty(n, 3).uniform_(math.log(0.005), math.log(0.03), generator=g))
    params = [
        means,
        torch.randn(n, 4, generator=g),
        scales,
        torch.rand(n, generator=g) * 0.9 + 0.1,
        torch.rand(n, 3, generator=g),
    ]
    cam = orbit_camera(0.4, 0.3, 3.3, math.radians(40), size, size)
    return [p.requires_grad_() for p in params], cam


def fwd_bwd(fn, params, cam):
    def run():
        for p in params:
            p.grad = None
        out = fn(*params, cam, torch.ones(3))
        img = out.image if hasattr(out, "image") else out.color
        img.sum().backward()

    return run


def bench_pairs(report: BenchmarkReport, n: int, size: int):
    params, cam = trained_like(n, size)
    out = rasterize(*params, cam, torch.ones(3))
    eff = out.n_pairs / (n * size * size)
    report.metric(
        f"pair efficiency, {n} Gaussians {size}^2 (pairs / (G x P))",
        eff * 100,
        "%",
        target="<= 1 %",
        passed=eff <= 0.01,
    )
    report.metric(
        f"boxed pairs before the alpha test, {n} Gaussians {size}^2",
        out.n_boxed / (n * size * size) * 100,
        "%",
    )


def bench_raster(report: BenchmarkReport, n_naive: int, n_tiles: int, size: int, repeats: int):
    params, cam = trained_like(n_naive, size)
    c = report.add(
        compare(
            {
                "all-pairs naive": fwd_bwd(rasterize_all_pairs, params, cam),
                "packed pairs (ours)": fwd_bwd(rasterize, params, cam),
            },
            title=f"forward+backward, {n_naive} Gaussians, {size}^2",
            repeats=repeats,
            params={"gaussians": n_naive, "size": size},
        )
    )
    speed = c.speedup("packed pairs (ours)")
    report.metric(
        f"speed-up over naive all-pairs ({n_naive}, {size}^2)",
        speed,
        "x",
        target=">= 50x at 5k, 128^2",
        passed=speed >= 50,
    )
    params, cam = trained_like(n_tiles, size, 1)
    c = report.add(
        compare(
            {
                "16x16 tile-padded": fwd_bwd(rasterize_tiles, params, cam),
                "packed pairs (ours)": fwd_bwd(rasterize, params, cam),
            },
            title=f"forward+backward, {n_tiles} Gaussians, {size}^2",
            repeats=repeats,
            params={"gaussians": n_tiles, "size": size},
        )
    )
    speed = c.speedup("packed pairs (ours)")
    report.metric(
        f"speed-up over 16x16 tile-padded ({n_tiles}, {size}^2)",
        speed,
        "x",
        target=">= 5x at 20k, 128^2",
        passed=speed >= 5,
    )


def _training_step_peak(n: int, size: int) -> int:
    """Peak RSS (bytes) of one training step, run in a fresh process by :func:`bench_memory`."""
    torch.set_num_threads(1)
    params, cam = trained_like(n, size, 2)
    g = init_from_points(params[0].detach(), sh_degree=3)
    opt = GaussianAdam(
        g, {"means": 1e-4, "log_scales": 5e-3, "quats": 1e-3, "opacity_logits": 0.05, "sh": 2.5e-3}
    )
    target = torch.rand(size, size, 3)
    with PeakMemory() as mem:
        out = render(opt.gaussians, cam, torch.ones(3))
        (out.image - target).abs().mean().backward()
        opt.step()
    return mem.peak_bytes


def bench_memory(report: BenchmarkReport, n: int, size: int):
    """In a fresh process: the RSS of this one would include whatever memory the earlier
    benchmarks (the all-pairs baseline peaks at ~8 GiB) left mapped in the allocator."""
    peak = in_fresh_process(_training_step_peak, n, size)
    report.metric(
        f"peak RSS of a training step, {n} Gaussians {size}^2, SH 3 (fresh process)",
        peak / 2**30,
        "GiB",
        target="<= 1.5 GB",
        passed=peak <= 1.5e9,
    )


def bench_quality(
    report: BenchmarkReport,
    out: Path,
    size: int,
    train_times: int,
    test_times: int,
    cfg: TrainConfig,
):
    root = Path(tempfile.mkdtemp(prefix="gauss4d-bench-"))
    make_scene(
        root,
        SceneConfig(
            n_train_times=train_times, n_test_times=test_times, n_val=5, width=size, height=size
        ),
    )
    data, test = load_dnerf(root, "train"), load_dnerf(root, "test")
    start = time.perf_counter()
    res = train(data, cfg, progress=False)
    minutes = (time.perf_counter() - start) / 60
    dyn, sta, tr = evaluate(res.model, test), evaluate(res.static, test), evaluate(res.model, data)
    tag = f"{size}^2, {train_times} train / {test_times} held-out times, {cfg.total_iters} steps"
    report.metric(f"held-out PSNR 4D ({tag})", dyn.psnr, "dB")
    report.metric(f"held-out PSNR static coarse stage ({tag})", sta.psnr, "dB")
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
    report.metric("held-out SSIM 4D", dyn.ssim, "")
    report.metric("training wall time", minutes, "min", target="<= 10 CPU min")
    report.metric(
        f"render FPS at {size}^2 with deformation ({dyn.n_gaussians} Gaussians)", dyn.fps, "FPS"
    )
    report.metric("model size", dyn.model_bytes / 2**20, "MiB")
    _plot_curve(res.history, out / "learning_curve.png")
    shutil.rmtree(root, ignore_errors=True)


def _plot_curve(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for stage in ("coarse", "fine"):
        h = [x for x in history if x["stage"] == stage]
        ax.plot([x["step"] for x in h], [x["psnr"] for x in h], label=stage)
    ax.set_xlabel("step")
    ax.set_ylabel("training-frame PSNR (dB)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--glibc-defaults", action="store_true", help="leave glibc's allocator as it is")
    args = p.parse_args(argv)
    full = args.full
    report = BenchmarkReport("gauss4d")
    with limit_threads(args.threads):
        report.metric("torch threads", thread_info()["torch_threads"], "")
        report.use_allocator(not args.glibc_defaults)
        bench_pairs(report, 5000, 128)
        if full:
            bench_raster(report, 5000, 20000, 128, repeats=5)
        else:
            bench_raster(report, 2000, 5000, 64, repeats=3)
        bench_memory(report, 20000, 128)
        if not args.skip_quality:
            cfg = preset("synthetic64" if full else "demo", log_every=50)
            bench_quality(
                report,
                args.out,
                64 if full else 32,
                100 if full else 40,
                20 if full else 8,
                cfg,
            )
    path = report.write(args.out)
    print(report.to_markdown())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
