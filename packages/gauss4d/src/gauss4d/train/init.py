"""Initial Gaussians: uniformly random in a box, or at given points."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gauss4d.gaussians import Gaussians
from gauss4d.sh import num_coeffs, rgb_to_sh0


def init_from_points(
    points: Tensor,
    colors: Tensor | None = None,
    sh_degree: int = 3,
    opacity: float = 0.1,
    generator: torch.Generator | None = None,
) -> Gaussians:
    """Isotropic Gaussians at ``points`` (N, 3), scale = mean distance to the 3 nearest
    neighbours (as 3D-GS), identity rotation, given opacity, DC colour ``colors`` (N, 3)."""
    n = points.shape[0]
    if n < 4:
        raise ValueError(f"need at least 4 initial points, got {n}")
    if not torch.isfinite(points).all():
        raise ValueError("initial points contain NaN or Inf")
    if colors is None:
        colors = torch.rand(n, 3, generator=generator, dtype=points.dtype)
    d = torch.cdist(points, points)
    d.fill_diagonal_(math.inf)
    knn = d.topk(3, largest=False).values.mean(1).clamp(min=1e-7)
    sh = torch.zeros(n, num_coeffs(sh_degree), 3, dtype=points.dtype)
    sh[:, 0] = rgb_to_sh0(colors)
    quats = torch.zeros(n, 4, dtype=points.dtype)
    quats[:, 0] = 1
    logit = math.log(opacity / (1 - opacity))
    return Gaussians(
        points.clone(),
        knn.log()[:, None].repeat(1, 3),
        quats,
        torch.full((n,), logit, dtype=points.dtype),
        sh,
    )


def init_random(
    n: int, half_extent: float, sh_degree: int = 3, generator: torch.Generator | None = None
) -> Gaussians:
    """``n`` Gaussians uniformly random in the cube [-half_extent, half_extent]^3."""
    points = (torch.rand(n, 3, generator=generator) * 2 - 1) * half_extent
    return init_from_points(points, sh_degree=sh_degree, generator=generator)
