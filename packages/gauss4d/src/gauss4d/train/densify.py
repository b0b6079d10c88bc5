"""Adaptive density control of 3D-GS (Kerbl et al. 2023): clone, split, prune, opacity reset.

The view-space positional gradient is measured in NDC units (pixel gradient times half the
image size), so the paper's threshold 2e-4 applies at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gauss4d.gaussians import Gaussians, quat_to_rotmat
from gauss4d.train.optim import GaussianAdam


@dataclass(frozen=True)
class DensifyConfig:
    grad_threshold: float = 2e-4
    percent_dense: float = 0.01
    min_opacity: float = 0.005
    max_world_size: float = 0.1
    max_gaussians: int = 50_000


class GradStats:
    """Running mean of the view-space positional gradient norm per Gaussian (kept on
    ``device``, the Gaussians' device)."""

    def __init__(self, n: int, device: torch.device | str | None = None):
        self.total = torch.zeros(n, device=device)
        self.count = torch.zeros(n, device=device)

    def add(self, means2d_grad: Tensor, visible: Tensor, width: int, height: int) -> None:
        """means2d_grad: (N, 2) pixel-space gradient; visible: (N,) bool."""
        g = means2d_grad.detach().reshape(-1, 2)
        g = g * torch.tensor([width / 2, height / 2], dtype=g.dtype, device=g.device)
        self.total[visible] += g[visible].norm(dim=-1)
        self.count[visible] += 1

    def mean(self) -> Tensor:
        return self.total / self.count.clamp(min=1)


def split_children(
    g: Gaussians, generator: torch.Generator | None = None, n_children: int = 2
) -> Gaussians:
    """``n_children`` copies of each Gaussian, means sampled from it, scales / (0.8 * n).
    ``generator`` is a CPU generator (the draws do not depend on the Gaussians' device)."""
    std = g.scales().repeat(n_children, 1)
    offset = torch.randn(std.shape, generator=generator).to(std) * std
    rot = quat_to_rotmat(g.quats).repeat(n_children, 1, 1)
    means = g.means.repeat(n_children, 1) + (rot @ offset[..., None])[..., 0]
    log_scales = g.log_scales.repeat(n_children, 1) - math.log(0.8 * n_children)
    return Gaussians(
        means,
        log_scales,
        g.quats.repeat(n_children, 1),
        g.opacity_logits.repeat(n_children),
        g.sh.repeat(n_children, 1, 1),
    )


@torch.no_grad()
def densify_and_prune(
    opt: GaussianAdam,
    stats: GradStats,
    extent: float,
    cfg: DensifyConfig,
    generator: torch.Generator | None = None,
    prune_large: bool = False,
) -> dict[str, int]:
    """Clone small / split large Gaussians with mean gradient >= threshold, then prune
    transparent ones and, with ``prune_large`` (3D-GS: after the first opacity reset), those
    larger than ``max_world_size * extent``. Returns the counts of each operation."""
    g = opt.gaussians.detach()
    n = len(g)
    hot = stats.mean() >= cfg.grad_threshold
    room = max(0, cfg.max_gaussians - n)
    if hot.sum() > room:  # keep the hottest when capped
        idx = torch.argsort(stats.mean(), descending=True)[:room]
        hot = torch.zeros_like(hot)
        hot[idx] = True
    big = g.scales().max(dim=-1).values > cfg.percent_dense * extent
    clone, split = hot & ~big, hot & big
    clones = Gaussians(**{k: v[clone] for k, v in g.tensors().items()})
    children = split_children(Gaussians(**{k: v[split] for k, v in g.tensors().items()}), generator)
    opt.append(clones)
    opt.append(children)
    g = opt.gaussians.detach()
    remove = torch.cat([split, split.new_zeros(len(g) - n)])
    remove |= g.opacities() < cfg.min_opacity
    if prune_large:
        remove |= g.scales().max(dim=-1).values > cfg.max_world_size * extent
    if remove.all():
        remove[:] = False  # never prune everything; let the optimiser recover
    opt.keep(~remove)
    return {"cloned": int(clone.sum()), "split": int(split.sum()), "pruned": int(remove.sum())}


@torch.no_grad()
def reset_opacity(opt: GaussianAdam, ceiling: float = 0.01) -> None:
    """Clamp every opacity to at most ``ceiling`` (3D-GS opacity reset)."""
    logits = opt.gaussians.opacity_logits.detach()
    opt.reset("opacity_logits", logits.clamp(max=math.log(ceiling / (1 - ceiling))))
