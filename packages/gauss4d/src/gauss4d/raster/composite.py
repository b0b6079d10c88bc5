"""Front-to-back alpha compositing of sorted pairs by a segmented log-transmittance cumsum."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gauss4d.raster.config import RasterConfig
from gauss4d.raster.pairs import packed, pair_alpha, pair_exponent, pixel_centres


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
    if alpha is None:
        alpha = pair_alpha(means2d, conics, opacities, pixel, gauss, width, cfg)
    w = pair_weights(alpha, pixel, cfg)[0]
    # one gather and one scatter: per pair [1, depth, colour] weighted by w -> per pixel
    attrs = torch.cat([torch.ones_like(depths)[None], depths[None], colors.T], 0)
    per_pair = w * attrs.index_select(1, gauss)  # (2 + C, M)
    out = torch.zeros(per_pair.shape[0], width * height, dtype=w.dtype, device=w.device)
    acc, dep, *col = out.index_add(1, pixel, per_pair)
    col = torch.stack(col, 1) + (1.0 - acc)[:, None] * background.to(acc)
    return Composited(col, acc, dep)


def pair_weights(alpha: Tensor, pixel: Tensor, cfg: RasterConfig) -> tuple[Tensor, Tensor, Tensor]:
    """(w, T, keep), each (M,): compositing weights ``w_i = keep_i alpha_i T_i``, the
    transmittance ``T_i`` in front of each pair and the early-stop mask (pairs sorted by pixel,
    front to back within a pixel)."""
    log1m = torch.log1p(-alpha).double()
    incl = torch.cumsum(log1m, 0)
    starts, counts = _segments(pixel)
    log_t_incl = incl - torch.repeat_interleave(incl[starts] - log1m[starts], counts)
    if cfg.transmittance_min > 0:
        keep = log_t_incl >= math.log(cfg.transmittance_min)
    else:
        keep = torch.ones_like(alpha, dtype=torch.bool)
    trans = (log_t_incl - log1m).exp().to(alpha.dtype)
    return torch.where(keep, alpha * trans, torch.zeros_like(alpha)), trans, keep


def _segments(pixel: Tensor) -> tuple[Tensor, Tensor]:
    """(first index, length) of each run of equal values in the sorted ``pixel``."""
    _, counts = torch.unique_consecutive(pixel, return_counts=True)
    return torch.cumsum(counts, 0) - counts, counts


def composite_vjp(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    depths: Tensor,
    background: Tensor,
    pixel: Tensor,
    gauss: Tensor,
    width: int,
    cfg: RasterConfig,
    g_color: Tensor,
    g_alpha: Tensor,
    g_depth: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Analytic gradients of ``composite`` (the same arguments) for output gradients g_color
    (P, C), g_alpha (P,), g_depth (P,): returns the gradients of (means2d, conics, opacities,
    colors, depths, background).

    With ``v_i = dL/dw_i = g_alpha + z_i g_depth + (c_i - background) . g_color`` at the pair's
    pixel, ``dL/dalpha_i = keep_i T_i v_i - S_i / (1 - alpha_i)``, where ``S_i`` sums ``w_k v_k``
    over the pairs behind i at the same pixel; the alpha clamps and thresholds pass no gradient
    where they are active, exactly as autograd through ``composite``. One gather per pair and one
    scatter into the Gaussians.
    """
    px, py = pixel_centres(pixel, width, means2d.dtype)
    # (7 + C, M): x, y, conic xx, xy, yy, opacity, depth, colour of each pair's Gaussian
    g = packed(means2d, conics, opacities, depths, colors).index_select(1, gauss)
    dx, dy, power = pair_exponent(g, px, py)
    e = power.clamp(cfg.min_exponent, 0.0).exp()
    raw = g[5] * e
    live = (raw >= cfg.alpha_min) & (raw <= cfg.alpha_max)  # where alpha's gradient is raw's
    alpha = torch.where(raw >= cfg.alpha_min, raw.clamp(max=cfg.alpha_max), torch.zeros_like(raw))
    w, trans, keep = pair_weights(alpha, pixel, cfg)
    gp = torch.cat([g_alpha[None], g_depth[None], g_color.T], 0).index_select(1, pixel)
    v = gp[0] + g[6] * gp[1] + ((g[7:] - background[:, None]) * gp[2:]).sum(0)
    # S_i: segmented suffix sums of w v (behind pair i), in float64
    incl = torch.cumsum((w * v).double(), 0)
    starts, counts = _segments(pixel)
    behind = (torch.repeat_interleave(incl[starts + counts - 1], counts) - incl).to(v.dtype)
    g_a = torch.where(keep, trans * v, torch.zeros_like(v)) - behind / (1 - alpha)
    g_raw = torch.where(live, g_a, torch.zeros_like(g_a))
    inside = (power >= cfg.min_exponent) & (power <= 0)
    g_pow = torch.where(inside, g_raw * raw, torch.zeros_like(g_raw))
    per_pair = torch.cat(
        [
            torch.stack(
                [
                    g_pow * (g[2] * dx + g[3] * dy),
                    g_pow * (g[4] * dy + g[3] * dx),
                    -0.5 * g_pow * dx * dx,
                    -g_pow * dx * dy,
                    -0.5 * g_pow * dy * dy,
                    g_raw * e,
                    w * gp[1],
                ]
            ),
            w * gp[2:],
        ]
    )  # (7 + C, M), the rows of g
    grads = torch.zeros(len(per_pair), len(means2d), dtype=v.dtype, device=v.device)
    grads = grads.index_add(1, gauss, per_pair)
    acc = torch.zeros(g_alpha.shape[0], dtype=w.dtype, device=w.device).index_add(0, pixel, w)
    g_bg = ((1.0 - acc)[:, None] * g_color).sum(0)
    return grads[:2].T, grads[2:5].T, grads[5], grads[7:].T, grads[6], g_bg
