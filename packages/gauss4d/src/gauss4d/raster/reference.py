"""Slow references for the fast rasterizer.

``rasterize_reference``: float64, brute force, written independently of the fast path: the EWA
Jacobian comes from autodiff of the pinhole map, rotations from the matrix exponential of the
quaternion's axis-angle, and compositing walks the Gaussians one by one in depth order exactly
like the 3D-GS CUDA kernel (skip alpha < alpha_min, stop before T would fall below T_min).

``rasterize_all_pairs``: the naive vectorised baseline, every Gaussian against every pixel with
plain autograd (chunked over pixels); what the pair-packed path is benchmarked against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gauss4d.camera import Camera
from gauss4d.raster.composite import Composited
from gauss4d.raster.config import RasterConfig
from gauss4d.raster.project import project


def _rotation_expm(quats: Tensor) -> Tensor:
    """(N, 3, 3) rotations as ``expm(skew(theta * axis))`` of (N, 4) quaternions (w, x, y, z)."""
    q = quats / quats.norm(dim=-1, keepdim=True)
    w, v = q[:, 0], q[:, 1:]
    vn = v.norm(dim=-1, keepdim=True)
    theta = 2.0 * torch.atan2(vn, w[:, None])
    rotvec = torch.where(vn > 1e-12, v / vn.clamp(min=1e-30) * theta, 2.0 * v)
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(-1, 3, 3)
    return torch.linalg.matrix_exp(skew)


def _pinhole(camera: Camera):
    """The pinhole map (3, ...) camera points -> (2, ...) pixel coordinates."""

    def f(t: Tensor) -> Tensor:
        return torch.stack(
            [camera.fx * t[0] / t[2] + camera.cx, camera.fy * t[1] / t[2] + camera.cy]
        )

    return f


def _batched_jacobian(fn, t: Tensor) -> Tensor:
    """(N, 2, 3) Jacobians of ``fn`` at each row of ``t`` (N, 3) by reverse-mode autodiff,
    kept differentiable (create_graph) so the reference's own gradients flow through them."""
    with torch.enable_grad():
        x = t if t.requires_grad else t.detach().requires_grad_()
        out = fn(x.T)
        rows = [torch.autograd.grad(out[k].sum(), x, create_graph=True)[0] for k in range(2)]
    return torch.stack(rows, dim=1)


def rasterize_reference(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    camera: Camera,
    background: Tensor | None = None,
    cfg: RasterConfig | None = None,
) -> Composited:
    """Brute-force float64 render; outputs (P, C), (P,), (P,) with P = H*W, row-major pixels."""
    cfg = cfg or RasterConfig()
    f64 = torch.float64
    means, quats, scales, opacities, colors = (
        x.to(f64) for x in (means, quats, scales, opacities, colors)
    )
    bg = torch.zeros(colors.shape[1], dtype=f64) if background is None else background.to(f64)
    w2c = camera.world_to_cam.to(f64)
    rot_w = w2c[:3, :3]
    t_cam = means @ rot_w.T + w2c[:3, 3]
    pin = _pinhole(camera)
    lim_x, lim_y = (
        cfg.fov_clamp * camera.width / (2 * camera.fx),
        cfg.fov_clamp * camera.height / (2 * camera.fy),
    )
    mid_x = (camera.width / 2 - camera.cx) / camera.fx
    mid_y = (camera.height / 2 - camera.cy) / camera.fy
    rs = _rotation_expm(quats) * scales[:, None, :]
    cov3 = rs @ rs.transpose(-1, -2)

    ys, xs = torch.meshgrid(
        torch.arange(camera.height, dtype=f64) + 0.5,
        torch.arange(camera.width, dtype=f64) + 0.5,
        indexing="ij",
    )
    pix = torch.stack([xs.flatten(), ys.flatten()], -1)
    n_pix = pix.shape[0]
    color = torch.zeros(n_pix, colors.shape[1], dtype=f64)
    acc = torch.zeros(n_pix, dtype=f64)
    depth = torch.zeros(n_pix, dtype=f64)
    trans = torch.ones(n_pix, dtype=f64)
    done = torch.zeros(n_pix, dtype=torch.bool)
    z = t_cam[:, 2:]
    tc = torch.cat(
        [
            (t_cam[:, :1] / z).clamp(mid_x - lim_x, mid_x + lim_x) * z,
            (t_cam[:, 1:2] / z).clamp(mid_y - lim_y, mid_y + lim_y) * z,
            z,
        ],
        -1,
    )
    jac = _batched_jacobian(pin, tc) @ rot_w
    cov2 = jac @ cov3 @ jac.transpose(-1, -2) + cfg.dilation * torch.eye(2, dtype=f64)
    inv2 = torch.linalg.inv(cov2)
    centres = pin(t_cam.T).T
    for i in torch.argsort(t_cam[:, 2].detach(), stable=True).tolist():
        t = t_cam[i]
        if t[2] <= cfg.near:
            continue
        d = pix - centres[i]
        power = -0.5 * ((d @ inv2[i]) * d).sum(-1)
        alpha = (opacities[i] * power.exp()).clamp(max=cfg.alpha_max)
        active = ~done & (power <= 0) & (alpha >= cfg.alpha_min)
        test_t = trans * (1 - alpha)
        stop = active & (test_t < cfg.transmittance_min)
        done = done | stop
        use = active & ~stop
        wgt = torch.where(use, alpha * trans, torch.zeros_like(alpha))
        color = color + wgt[:, None] * colors[i]
        acc = acc + wgt
        depth = depth + wgt * t[2]
        trans = torch.where(use, test_t, trans)
    return Composited(color + trans[:, None] * bg, acc, depth)


def rasterize_all_pairs(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    camera: Camera,
    background: Tensor | None = None,
    cfg: RasterConfig | None = None,
    pixels_per_chunk: int = 1024,
) -> Composited:
    """Naive vectorised render: alpha of every (pixel, Gaussian) pair, dense depth-sorted
    compositing per pixel chunk with ordinary autograd. Same thresholds as the fast path."""
    cfg = cfg or RasterConfig()
    proj = project(means, quats, scales, opacities, camera, cfg)
    order = torch.argsort(proj.depths.detach())
    order = order[proj.visible[order]]
    m2, con, op = proj.means2d[order], proj.conics[order], proj.opacities[order]
    col, dep = colors[order], proj.depths[order]
    bg = torch.zeros(colors.shape[1], dtype=colors.dtype) if background is None else background
    ys, xs = torch.meshgrid(
        torch.arange(camera.height, dtype=means.dtype) + 0.5,
        torch.arange(camera.width, dtype=means.dtype) + 0.5,
        indexing="ij",
    )
    pix = torch.stack([xs.flatten(), ys.flatten()], -1)
    outs = []
    for start in range(0, pix.shape[0], pixels_per_chunk):
        p = pix[start : start + pixels_per_chunk]
        dx = p[:, None, 0] - m2[None, :, 0]
        dy = p[:, None, 1] - m2[None, :, 1]
        power = -0.5 * (con[:, 0] * dx * dx + con[:, 2] * dy * dy) - con[:, 1] * dx * dy
        alpha = (op * power.clamp(cfg.min_exponent, 0).exp()).clamp(max=cfg.alpha_max)
        alpha = torch.where(alpha >= cfg.alpha_min, alpha, torch.zeros_like(alpha))
        log1m = torch.log1p(-alpha)
        incl = torch.cumsum(log1m, 1)
        w = alpha * (incl - log1m).exp()
        w = torch.where(incl >= torch.log(torch.tensor(cfg.transmittance_min)), w, 0 * w)
        acc = w.sum(1)
        outs.append((w @ col + (1 - acc)[:, None] * bg, acc, w @ dep))
    return Composited(*(torch.cat(x) for x in zip(*outs)))
