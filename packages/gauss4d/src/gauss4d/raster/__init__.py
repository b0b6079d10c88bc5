"""Differentiable Gaussian rasterizer in pure, vectorised PyTorch.

``rasterize`` projects Gaussians (``project``), lists the (pixel, Gaussian) pairs in their tight
opacity-aware boxes (``enumerate_pairs``) and composites them front to back
(``CompositeFunction``). ``rasterize_reference`` is the float64 brute-force reference.
``RasterConfig(backend="gsplat")`` hands CUDA tensors to gsplat's kernels instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gauss4d.camera import Camera
from gauss4d.raster.config import RasterConfig
from gauss4d.raster.function import composite_recompute
from gauss4d.raster.gsplat_backend import rasterize_gsplat
from gauss4d.raster.pairs import enumerate_pairs
from gauss4d.raster.project import Projected, project


@dataclass
class RasterResult:
    """image: (H, W, C). alpha, depth: (H, W) (depth accumulated, see ``Composited``).
    means2d: (N, 2) screen positions (call ``retain_grad`` for densification statistics;
    (1, N, 2) from the gsplat backend). visible: (N,) Gaussians that reached at least one pair.
    n_pairs: composited pairs; n_boxed: pairs enumerated in the boxes before the alpha test
    (gsplat backend: both are its (tile, Gaussian) intersections)."""

    image: Tensor
    alpha: Tensor
    depth: Tensor
    means2d: Tensor
    visible: Tensor
    n_pairs: int
    n_boxed: int


def rasterize(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    camera: Camera,
    background: Tensor | None = None,
    cfg: RasterConfig | None = None,
) -> RasterResult:
    """Render N Gaussians: means (N,3), quats (N,4), scales (N,3) std devs, opacities (N,) in
    [0,1], colors (N,C) (already evaluated, e.g. by ``sh_to_color``). background: (C,)."""
    cfg = cfg or RasterConfig()
    _check_inputs(means, quats, scales, opacities, colors)
    if background is None:
        background = torch.zeros(colors.shape[1], dtype=colors.dtype, device=colors.device)
    if cfg.backend == "gsplat":
        image, alpha, depth, means2d, visible, n = rasterize_gsplat(
            means, quats, scales, opacities, colors, camera, background.to(colors), cfg
        )
        return RasterResult(image, alpha, depth, means2d, visible, n, n)
    proj = project(means, quats, scales, opacities, camera, cfg)
    pairs = enumerate_pairs(proj, camera.width, camera.height, cfg)
    color, alpha, depth = composite_recompute(
        proj.means2d,
        proj.conics,
        proj.opacities,
        colors,
        proj.depths,
        background.to(colors),
        pairs.pixel,
        pairs.gauss,
        camera.width,
        camera.height,
        cfg,
        pairs.alpha,
    )
    h, w = camera.height, camera.width
    visible = torch.zeros(len(means), dtype=torch.bool, device=means.device)
    visible[pairs.gauss] = True
    return RasterResult(
        color.reshape(h, w, -1),
        alpha.reshape(h, w),
        depth.reshape(h, w),
        proj.means2d,
        visible,
        len(pairs),
        pairs.boxed,
    )


def _check_inputs(
    means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor
) -> None:
    n = means.shape[0]
    for name, t, shape in (
        ("means", means, (n, 3)),
        ("quats", quats, (n, 4)),
        ("scales", scales, (n, 3)),
        ("opacities", opacities, (n,)),
    ):
        if tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or Inf; check the parameters being rendered")
    if colors.ndim != 2 or colors.shape[0] != n:
        raise ValueError(f"colors must be (N, C) with N={n}, got {tuple(colors.shape)}")
    if (scales < 0).any():  # 0 is allowed: exp(log-scale) underflows, the dilation keeps it valid
        raise ValueError("scales must be >= 0 (they are standard deviations; store log-scales)")


__all__ = ["Camera", "Projected", "RasterConfig", "RasterResult", "project", "rasterize"]
