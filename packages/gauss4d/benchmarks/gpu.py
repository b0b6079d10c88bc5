"""The GPU part of the issue's benchmarks (run it on a CUDA machine; it exits 0 without one):

    python benchmarks/gpu.py [--gaussians 30000] [--size 800] [--device cuda]

Render FPS at 800x800 of ~30k "trained-like" Gaussians (``run.trained_like``) with the HexPlane
deformation field evaluated every frame, against the paper's 82 FPS (RTX 3090, CUDA rasterizer);
our pure-PyTorch rasterizer and, when gsplat is installed, the gsplat backend, side by side
(``compare`` synchronises the device). Forward+backward of a training step at 128^2, 20k, as on
the CPU. Writes ``results/gauss4d-<device type>.{json,md}``; ``--device cpu`` with small sizes
is a smoke run of the script itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

from accelerator_utils import BenchmarkReport, compare, hardware_summary, resolve_device
from gauss4d.deformation import DeformationConfig, DeformationField
from gauss4d.gaussians import Gaussians
from gauss4d.model import DynamicModel
from gauss4d.raster import RasterConfig, rasterize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import fwd_bwd, trained_like

HERE = Path(__file__).resolve().parent
PAPER_FPS = 82.0  # 4D-GS, D-NeRF scenes at 800x800, RTX 3090


def _model(n: int, size: int, device: torch.device):
    (means, quats, scales, opac, colors), cam = trained_like(n, size)
    sh = (colors.detach() - 0.5) / 0.28209479177387814  # degree-0 SH holding the colour
    g = Gaussians(
        means.detach(),
        scales.detach().log(),
        quats.detach(),
        torch.logit(opac.detach()),
        sh[:, None, :],
    )
    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    deform = DeformationField(DeformationConfig(), aabb, torch.Generator().manual_seed(0))
    return DynamicModel(g.to(device), deform.to(device)), cam.to(device)


def _render(model: DynamicModel, cam, cfg: RasterConfig):
    @torch.no_grad()
    def run():
        model.render(cam, 0.5, None, cfg)

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--gaussians", type=int, default=30_000)
    p.add_argument("--size", type=int, default=800)
    p.add_argument("--train-gaussians", type=int, default=20_000)
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return 0
    device = resolve_device(args.device)
    print(hardware_summary(), flush=True)
    report = BenchmarkReport("gauss4d")
    model, cam = _model(args.gaussians, args.size, device)
    candidates = {"ours (pure PyTorch)": _render(model, cam, RasterConfig())}
    has_gsplat = device.type == "cuda" and importlib.util.find_spec("gsplat") is not None
    if has_gsplat:
        candidates["gsplat backend"] = _render(model, cam, RasterConfig(backend="gsplat"))
    tag = f"{args.gaussians} Gaussians + deformation, {args.size}^2"
    c = report.add(
        compare(
            candidates,
            title=f"render, {tag}",
            device=device,
            params={"gaussians": args.gaussians, "size": args.size},
        )
    )
    for row in c.rows:
        fps = 1.0 / row.median_s
        report.metric(f"FPS {row.name} ({tag})", fps, "FPS", anchor=f"paper: {PAPER_FPS} (3090)")
    report.metric("ours / paper FPS", 1.0 / c.rows[0].median_s / PAPER_FPS, "x")
    n = args.train_gaussians
    params, cam128 = trained_like(n, 128, 1)
    params = [q.detach().to(device).requires_grad_() for q in params]
    cam128 = cam128.to(device)
    train_candidates = {"ours (pure PyTorch)": fwd_bwd(rasterize, params, cam128)}
    if has_gsplat:
        cfg = RasterConfig(backend="gsplat")

        def gsplat_raster(*a):
            return rasterize(*a, cfg)

        train_candidates["gsplat backend"] = fwd_bwd(gsplat_raster, params, cam128)
    report.add(
        compare(
            train_candidates,
            title=f"forward+backward, {n} Gaussians, 128^2",
            device=device,
            params={"gaussians": n, "size": 128},
        )
    )
    path = report.write(args.out, f"gauss4d-{device.type}")
    print(report.to_markdown())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
