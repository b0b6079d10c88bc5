"""Packed (pixel, Gaussian) pairs from tight per-Gaussian boxes, sorted by pixel then depth."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gauss4d.raster.config import RasterConfig
from gauss4d.raster.project import Projected


@dataclass
class Pairs:
    """M (pixel, Gaussian) pairs where alpha >= alpha_min, sorted by pixel, front to back.

    pixel: (M,) int64 flat pixel index ``row * width + col``. gauss: (M,) int64 Gaussian index.
    boxed: number of pairs in the boxes before the alpha test (work of the enumeration).
    """

    pixel: Tensor
    gauss: Tensor
    boxed: int

    def __len__(self) -> int:
        return self.pixel.shape[0]


def pixel_boxes(proj: Projected, width: int, height: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Inclusive pixel ranges (x0, x1, y0, y1), each (N,) int64, of pixels whose centres
    ``(j + 0.5, i + 0.5)`` lie in each Gaussian's box; empty ranges for culled Gaussians."""
    m, e = proj.means2d.detach(), proj.extents
    x0 = torch.ceil(m[:, 0] - e[:, 0] - 0.5).clamp(0, width - 1)
    x1 = torch.floor(m[:, 0] + e[:, 0] - 0.5).clamp(-1, width - 1)
    y0 = torch.ceil(m[:, 1] - e[:, 1] - 0.5).clamp(0, height - 1)
    y1 = torch.floor(m[:, 1] + e[:, 1] - 0.5).clamp(-1, height - 1)
    empty = ~proj.visible
    x1 = torch.where(empty, x0 - 1, x1)
    return x0.long(), x1.long(), y0.long(), y1.long()


def pair_alpha(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    pixel: Tensor,
    gauss: Tensor,
    width: int,
    cfg: RasterConfig,
) -> Tensor:
    """(M,) alpha of each pair: ``min(alpha_max, o * exp(-d^T conic d / 2))``, 0 below alpha_min.

    The exponent is clamped to ``[cfg.min_exponent, 0]``: clamped values give alpha < alpha_min
    anyway, and exp() of very negative inputs is slow on x86 (denormals).
    """
    px = (pixel % width).to(means2d.dtype) + 0.5
    py = torch.div(pixel, width, rounding_mode="floor").to(means2d.dtype) + 0.5
    mu = means2d[gauss]
    dx, dy = px - mu[:, 0], py - mu[:, 1]
    con = conics[gauss]
    power = -0.5 * (con[:, 0] * dx * dx + con[:, 2] * dy * dy) - con[:, 1] * dx * dy
    alpha = (opacities[gauss] * power.clamp(cfg.min_exponent, 0.0).exp()).clamp(max=cfg.alpha_max)
    return torch.where(alpha >= cfg.alpha_min, alpha, torch.zeros_like(alpha))


@torch.no_grad()
def enumerate_pairs(
    proj: Projected,
    width: int,
    height: int,
    cfg: RasterConfig | None = None,
    chunk_pairs: int = 1 << 22,
) -> Pairs:
    """All (pixel, Gaussian) pairs inside the Gaussians' boxes that pass the alpha test.

    Gaussians are enumerated in depth order and the pairs stably sorted by pixel, so each pixel's
    pairs are contiguous and front to back. Work is chunked over Gaussians to keep temporaries
    below ``chunk_pairs`` box pairs.
    """
    cfg = cfg or RasterConfig()
    x0, x1, y0, y1 = pixel_boxes(proj, width, height)
    counts = (x1 - x0 + 1).clamp(min=0) * (y1 - y0 + 1).clamp(min=0)
    order = torch.argsort(proj.depths.detach(), stable=True)
    order = order[counts[order] > 0]
    pixels, gausses, boxed = [], [], 0
    for ids in _chunks_by_count(order, counts[order], chunk_pairs):
        c = counts[ids]
        gid = torch.repeat_interleave(ids, c)
        local = torch.arange(gid.shape[0], device=gid.device) - torch.repeat_interleave(
            torch.cumsum(c, 0) - c, c
        )
        w = (x1 - x0 + 1)[gid]
        pix = (y0[gid] + local // w) * width + x0[gid] + local % w
        alpha = pair_alpha(
            proj.means2d.detach(),
            proj.conics.detach(),
            proj.opacities.detach(),
            pix,
            gid,
            width,
            cfg,
        )
        keep = alpha > 0
        pixels.append(pix[keep])
        gausses.append(gid[keep])
        boxed += gid.shape[0]
    if not pixels:
        empty = torch.zeros(0, dtype=torch.long, device=proj.means2d.device)
        return Pairs(empty, empty, 0)
    pixel = torch.cat(pixels)
    pixel, perm = torch.sort(pixel, stable=True)
    return Pairs(pixel, torch.cat(gausses)[perm], boxed)


def _chunks_by_count(ids: Tensor, counts: Tensor, limit: int) -> list[Tensor]:
    """Split ``ids`` (in order) into runs whose ``counts`` sum to about ``limit``."""
    group = (torch.cumsum(counts, 0) - counts) // limit
    _, sizes = torch.unique_consecutive(group, return_counts=True)
    return list(torch.split(ids, sizes.tolist()))
