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
    px, py = pixel_centres(pixel, width, means2d.dtype)
    # one gather of the packed per-Gaussian attributes (its gradient: one index_add)
    g = packed(means2d, conics, opacities).index_select(1, gauss)  # (6, M)
    alpha = _alpha(g, px, py, cfg)
    return torch.where(alpha >= cfg.alpha_min, alpha, torch.zeros_like(alpha))


def pixel_centres(pixel: Tensor, width: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(x, y) centres ``(col + 0.5, row + 0.5)`` of flat pixel indices, each (M,) of ``dtype``.

    Float arithmetic (float64, exact for any image size) instead of integer division, which is
    several times slower on CPUs.
    """
    flat = pixel.double()
    row = torch.floor((flat + 0.5) / width)
    return (flat - row * width + 0.5).to(dtype), (row + 0.5).to(dtype)


def packed(means2d: Tensor, *columns: Tensor) -> Tensor:
    """(K, N) per-Gaussian attributes, one row each: x, y, then the rows of ``columns`` ((N,) or
    (N, k) tensors, e.g. conics [xx, xy, yy] and opacities). Pairs gather them along dim 1 (and
    scatter their gradients back with one ``index_add``): contiguous rows are faster on CPUs
    than the columns of an (N, K) layout."""
    rows = [means2d.T] + [c[None] if c.ndim == 1 else c.T for c in columns]
    return torch.cat(rows, 0)


def pair_exponent(g: Tensor, px: Tensor, py: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(dx, dy, power), each (M,): offsets of the pixel centres from the gathered
    ``packed(means2d, conics, ...)`` rows ``g`` (>= 5, M) and the Gaussian exponent
    ``-d^T conic d / 2``."""
    dx, dy = px - g[0], py - g[1]
    return dx, dy, -0.5 * (g[2] * dx * dx + g[4] * dy * dy) - g[3] * dx * dy


def _alpha(g: Tensor, px: Tensor, py: Tensor, cfg: RasterConfig) -> Tensor:
    """(M,) clamped alpha of gathered ``packed(means2d, conics, opacities)`` rows ``g`` (6, M)
    at pixel centres, before the alpha_min test."""
    power = pair_exponent(g, px, py)[2]
    return (g[5] * power.clamp(cfg.min_exponent, 0.0).exp()).clamp(max=cfg.alpha_max)


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
    below ``chunk_pairs`` box pairs. Pair lists are built and sorted as int32 (faster than int64)
    and returned as int64 (CPU ``index_add`` is several times slower with int32 indices).
    """
    cfg = cfg or RasterConfig()
    x0, x1, y0, y1 = pixel_boxes(proj, width, height)
    widths = x1 - x0 + 1
    counts = widths.clamp(min=0) * (y1 - y0 + 1).clamp(min=0)
    attrs = packed(proj.means2d, proj.conics, proj.opacities)
    boxes = torch.stack([x0, widths, y0], 1).double()  # (N, 3), gathered per pair below
    order = torch.argsort(proj.depths.detach(), stable=True)
    order = order[counts[order] > 0]
    pixels, gausses, alphas, boxed = [], [], [], 0
    for ids in _chunks_by_count(order, counts[order], chunk_pairs):
        c = counts[ids]
        gid = torch.repeat_interleave(ids.int(), c)
        # position of each pair inside its box (row-major), in exact float64 integer arithmetic
        first = torch.repeat_interleave((torch.cumsum(c, 0) - c).double(), c)
        local = torch.arange(gid.shape[0], dtype=torch.float64, device=gid.device) - first
        box = boxes.index_select(0, gid)  # (m, 3): x0, width, y0
        row = torch.floor((local + 0.5) / box[:, 1])
        col = box[:, 0] + local - row * box[:, 1]
        row = row + box[:, 2]
        alpha = _alpha(
            attrs.index_select(1, gid), (col + 0.5).to(attrs), (row + 0.5).to(attrs), cfg
        )
        keep = (alpha >= cfg.alpha_min).nonzero().squeeze(1)
        pixels.append((row.index_select(0, keep) * width + col.index_select(0, keep)).int())
        gausses.append(gid.index_select(0, keep))
        alphas.append(alpha.index_select(0, keep))
        boxed += gid.shape[0]
    if not pixels:
        empty = torch.zeros(0, dtype=torch.long, device=proj.means2d.device)
        return Pairs(empty, empty, 0, proj.means2d.new_zeros(0))
    pixel, perm = torch.sort(torch.cat(pixels), stable=True)
    gauss = torch.cat(gausses).index_select(0, perm)
    return Pairs(pixel.long(), gauss.long(), boxed, torch.cat(alphas).index_select(0, perm))


def _chunks_by_count(ids: Tensor, counts: Tensor, limit: int) -> list[Tensor]:
    """Split ``ids`` (in order) into runs whose ``counts`` sum to about ``limit``."""
    group = (torch.cumsum(counts, 0) - counts) // limit
    _, sizes = torch.unique_consecutive(group, return_counts=True)
    return list(torch.split(ids, sizes.tolist()))
