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
    alpha: (M,) each pair's alpha (``pair_alpha``, no graph), so compositing's forward need not
    evaluate it again.
    """

    pixel: Tensor
    gauss: Tensor
    boxed: int
    alpha: Tensor

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
    # one gather of the packed per-Gaussian attributes (its gradient: one index_add)
    g = torch.cat([means2d, conics, opacities[:, None]], 1).index_select(0, gauss)  # (M, 6)
    dx, dy = px - g[:, 0], py - g[:, 1]
    power = -0.5 * (g[:, 2] * dx * dx + g[:, 4] * dy * dy) - g[:, 3] * dx * dy
    alpha = (g[:, 5] * power.clamp(cfg.min_exponent, 0.0).exp()).clamp(max=cfg.alpha_max)
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
    widths = x1 - x0 + 1
    counts = widths.clamp(min=0) * (y1 - y0 + 1).clamp(min=0)
    boxes = torch.stack([x0, widths, y0], 1)  # (N, 3), gathered per pair below
    order = torch.argsort(proj.depths.detach(), stable=True)
    order = order[counts[order] > 0]
    pixels, gausses, alphas, boxed = [], [], [], 0
    for ids in _chunks_by_count(order, counts[order], chunk_pairs):
        c = counts[ids]
        gid = torch.repeat_interleave(ids, c)
        local = torch.arange(gid.shape[0], device=gid.device) - torch.repeat_interleave(
            torch.cumsum(c, 0) - c, c
        )
        box = boxes.index_select(0, gid)  # (m, 3): x0, width, y0
        w = box[:, 1]
        pix = (box[:, 2] + local // w) * width + box[:, 0] + local % w
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
        alphas.append(alpha[keep])
        boxed += gid.shape[0]
    if not pixels:
        empty = torch.zeros(0, dtype=torch.long, device=proj.means2d.device)
        return Pairs(empty, empty, 0, proj.means2d.new_zeros(0))
    pixel = torch.cat(pixels)
    pixel, perm = torch.sort(pixel, stable=True)
    return Pairs(pixel, torch.cat(gausses)[perm], boxed, torch.cat(alphas)[perm])


def _chunks_by_count(ids: Tensor, counts: Tensor, limit: int) -> list[Tensor]:
    """Split ``ids`` (in order) into runs whose ``counts`` sum to about ``limit``."""
    group = (torch.cumsum(counts, 0) - counts) // limit
    _, sizes = torch.unique_consecutive(group, return_counts=True)
    return list(torch.split(ids, sizes.tolist()))
