"""Front-to-back alpha compositing of sorted pairs by a segmented log-transmittance cumsum."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gauss4d.raster.config import RasterConfig
from gauss4d.raster.pairs import pair_alpha


@dataclass
class Composited:
    """Per-pixel outputs (P = height * width rows).

    color: (P, C) composited colour over the background. alpha: (P,) accumulated opacity
    ``sum_i w_i``. depth: (P,) accumulated depth ``sum_i w_i z_i`` (not normalised by alpha).
    """

    color: Tensor
    alpha: Tensor
    depth: Tensor


def composite(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    depths: Tensor,
    background: Tensor,
    pixel: Tensor,
    gauss: Tensor,
    width: int,
    height: int,
    cfg: RasterConfig,
    alpha: Tensor | None = None,
) -> Composited:
    """Composite pairs sorted by (pixel, depth), differentiably in all float inputs.

    Weight of pair i at its pixel: ``w_i = alpha_i * T_i``, with ``T_i = prod_{j<i} (1 - alpha_j)``
    over the same pixel, computed as ``exp`` of an exclusive segmented cumsum of
    ``log(1 - alpha)``; a pair counts only while ``T_i (1 - alpha_i) >= transmittance_min``.
    The cumsum runs in float64 so that the subtraction of segment offsets stays exact.
    Returns colour = sum w_i c_i + (1 - sum w_i) * background. ``alpha`` (M,): the pairs'
    alphas if already known (then they carry no gradient to means2d, conics, opacities).
    """
    n_pix = width * height
    if alpha is None:
        alpha = pair_alpha(means2d, conics, opacities, pixel, gauss, width, cfg)
    log1m = torch.log1p(-alpha).double()
    incl = torch.cumsum(log1m, 0)
    _, counts = torch.unique_consecutive(pixel, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    offset = torch.repeat_interleave(incl[starts] - log1m[starts], counts)
    log_t_incl = incl - offset
    keep = log_t_incl >= math.log(cfg.transmittance_min) if cfg.transmittance_min > 0 else None
    trans = (log_t_incl - log1m).exp().to(alpha.dtype)
    w = alpha * trans
    if keep is not None:
        w = torch.where(keep, w, torch.zeros_like(w))
    # one gather and one scatter: per pair [1, depth, colour] weighted by w -> per pixel
    attrs = torch.cat([torch.ones_like(depths)[:, None], depths[:, None], colors], 1)
    per_pair = w[:, None] * attrs.index_select(0, gauss)  # (M, 2 + C)
    out = torch.zeros(n_pix, per_pair.shape[1], dtype=w.dtype, device=w.device)
    out = out.index_add(0, pixel, per_pair)
    acc, dep, col = out[:, 0], out[:, 1], out[:, 2:]
    col = col + (1.0 - acc)[:, None] * background.to(col)
    return Composited(col, acc, dep)
