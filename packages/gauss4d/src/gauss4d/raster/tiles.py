"""The 16x16 tile-padded batched rasterizer: the usual GPU layout, done densely in PyTorch.

Every tile gets the depth-sorted list of Gaussians whose boxes touch it, padded to the longest
list; alpha is evaluated for all (tile pixel, list entry) slots and composited with a dense
cumsum. Kept as the baseline that the packed-pair path is benchmarked against (the padding is
wasted work on a CPU), and tested against the reference like every other path.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gauss4d.camera import Camera
from gauss4d.raster.composite import Composited
from gauss4d.raster.config import RasterConfig
from gauss4d.raster.pairs import pixel_boxes
from gauss4d.raster.project import project


def _tile_lists(x0, x1, y0, y1, order, tile, tiles_x, tiles_y):
    """(T, K) Gaussian indices per tile in depth order, padded with -1."""
    tx0, tx1 = x0[order] // tile, x1[order] // tile
    ty0, ty1 = y0[order] // tile, y1[order] // tile
    w, h = (tx1 - tx0 + 1).clamp(min=0), (ty1 - ty0 + 1).clamp(min=0)
    w = torch.where(x1[order] < x0[order], torch.zeros_like(w), w)
    counts = w * h
    gid = torch.repeat_interleave(order, counts)
    local = torch.arange(gid.shape[0]) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts
    )
    wg = torch.repeat_interleave(w, counts)
    tid = (
        (torch.repeat_interleave(ty0, counts) + local // wg) * tiles_x
        + torch.repeat_interleave(tx0, counts)
        + local % wg
    )
    tid, perm = torch.sort(tid, stable=True)
    gid = gid[perm]
    n_tiles = tiles_x * tiles_y
    per_tile = torch.bincount(tid, minlength=n_tiles)
    k = int(per_tile.max()) if gid.numel() else 0
    slot = torch.arange(gid.shape[0]) - torch.repeat_interleave(
        torch.cumsum(per_tile, 0) - per_tile, per_tile
    )
    lists = torch.full((n_tiles, max(k, 1)), -1, dtype=torch.long)
    lists[tid, slot] = gid
    return lists


def rasterize_tiles(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    camera: Camera,
    background: Tensor | None = None,
    cfg: RasterConfig | None = None,
    tile: int = 16,
) -> Composited:
    """Tile-padded render; outputs (P, C), (P,), (P,) in row-major pixel order."""
    cfg = cfg or RasterConfig()
    proj = project(means, quats, scales, opacities, camera, cfg)
    x0, x1, y0, y1 = pixel_boxes(proj, camera.width, camera.height)
    order = torch.argsort(proj.depths.detach(), stable=True)
    tiles_x, tiles_y = -(-camera.width // tile), -(-camera.height // tile)
    lists = _tile_lists(x0, x1, y0, y1, order, tile, tiles_x, tiles_y)  # (T, K)
    pad = lists < 0
    idx = lists.clamp(min=0)
    ty, tx = (
        torch.div(torch.arange(lists.shape[0]), tiles_x, rounding_mode="floor"),
        torch.arange(lists.shape[0]) % tiles_x,
    )
    iy, ix = torch.meshgrid(torch.arange(tile), torch.arange(tile), indexing="ij")
    px = (tx[:, None] * tile + ix.flatten()[None]).to(means.dtype) + 0.5  # (T, tile^2)
    py = (ty[:, None] * tile + iy.flatten()[None]).to(means.dtype) + 0.5
    mu, con = proj.means2d[idx], proj.conics[idx]  # (T, K, 2), (T, K, 3)
    dx = px[:, :, None] - mu[:, None, :, 0]
    dy = py[:, :, None] - mu[:, None, :, 1]
    power = (
        -0.5 * (con[:, None, :, 0] * dx * dx + con[:, None, :, 2] * dy * dy)
        - con[:, None, :, 1] * dx * dy
    )
    op = torch.where(pad, torch.zeros_like(proj.opacities[idx]), proj.opacities[idx])
    alpha = (op[:, None, :] * power.clamp(cfg.min_exponent, 0).exp()).clamp(max=cfg.alpha_max)
    alpha = torch.where(alpha >= cfg.alpha_min, alpha, torch.zeros_like(alpha))
    log1m = torch.log1p(-alpha)
    incl = torch.cumsum(log1m, -1)
    w = alpha * (incl - log1m).exp()
    w = torch.where(incl >= torch.log(torch.tensor(cfg.transmittance_min)), w, torch.zeros_like(w))
    acc = w.sum(-1)  # (T, tile^2)
    bg = torch.zeros(colors.shape[1], dtype=colors.dtype) if background is None else background
    col = torch.einsum("tpk,tkc->tpc", w, colors[idx]) + (1 - acc)[..., None] * bg
    dep = torch.einsum("tpk,tk->tp", w, proj.depths[idx])

    def to_image(x: Tensor) -> Tensor:
        full = x.reshape(tiles_y, tiles_x, tile, tile, *x.shape[2:]).transpose(1, 2)
        full = full.reshape(tiles_y * tile, tiles_x * tile, *x.shape[2:])
        return full[: camera.height, : camera.width].reshape(-1, *x.shape[2:])

    return Composited(to_image(col), to_image(acc), to_image(dep))
