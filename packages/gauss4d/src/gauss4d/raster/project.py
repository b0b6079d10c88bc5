"""Projection of 3D Gaussians to screen space: EWA 2D covariance and opacity-aware bounds."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gauss4d.camera import Camera
from gauss4d.gaussians import covariance_3d
from gauss4d.raster.config import RasterConfig


@dataclass
class Projected:
    """Screen-space Gaussians (N rows, culled ones marked in ``visible``).

    means2d: (N, 2) pixel coordinates (x right, y down). conics: (N, 3) the entries (a, b, c) of
    the inverse 2D covariance [[a, b], [b, c]]. depths: (N,) camera z. opacities: (N,).
    extents: (N, 2) half-widths in pixels of the box where alpha can reach alpha_min.
    visible: (N,) in front of the near plane, opaque enough and overlapping the image.
    """

    means2d: Tensor
    conics: Tensor
    depths: Tensor
    opacities: Tensor
    extents: Tensor
    visible: Tensor


def to_camera(means: Tensor, camera: Camera) -> Tensor:
    """(N, 3) camera-space positions of world points (N, 3)."""
    w2c = camera.world_to_cam.to(means)
    return means @ w2c[:3, :3].T + w2c[:3, 3]


def ewa_jacobian(t: Tensor, camera: Camera, cfg: RasterConfig) -> Tensor:
    """(N, 2, 3) Jacobian of the pinhole map at camera points ``t``, with the 3D-GS fov clamp."""
    z = t[:, 2]
    half_x, half_y = 0.5 * camera.width / camera.fx, 0.5 * camera.height / camera.fy
    mid_x, mid_y = half_x - camera.cx / camera.fx, half_y - camera.cy / camera.fy
    lim_x, lim_y = cfg.fov_clamp * half_x, cfg.fov_clamp * half_y
    x = (t[:, 0] / z).clamp(mid_x - lim_x, mid_x + lim_x) * z
    y = (t[:, 1] / z).clamp(mid_y - lim_y, mid_y + lim_y) * z
    zero = torch.zeros_like(z)
    row0 = torch.stack([camera.fx / z, zero, -camera.fx * x / (z * z)], dim=-1)
    row1 = torch.stack([zero, camera.fy / z, -camera.fy * y / (z * z)], dim=-1)
    return torch.stack([row0, row1], dim=-2)


def opacity_extents(cov2d: Tensor, opacities: Tensor, alpha_min: float) -> Tensor:
    """(N, 2) half-widths of the tight box around ``o * exp(-d^T S^-1 d / 2) >= alpha_min``.

    The level set is the ellipse ``d^T S^-1 d <= r2`` with ``r2 = 2 ln(o / alpha_min)``; its
    axis-aligned bounding box has half-widths ``sqrt(r2 * S_xx)`` and ``sqrt(r2 * S_yy)``.
    """
    r2 = 2.0 * torch.log((opacities / alpha_min).clamp(min=1.0))
    diag = torch.stack([cov2d[:, 0, 0], cov2d[:, 1, 1]], dim=-1)
    return (r2[:, None] * diag).sqrt()


def project(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    camera: Camera,
    cfg: RasterConfig | None = None,
) -> Projected:
    """Project N Gaussians (means (N,3), quats (N,4), scales (N,3), opacities (N,)) to the image.

    The 2D covariance is ``J W Sigma W^T J^T + dilation * I`` (EWA splatting, Zwicker et al.).
    """
    cfg = cfg or RasterConfig()
    t = to_camera(means, camera)
    z = t[:, 2]
    in_front = z > cfg.near
    z_safe = torch.where(in_front, z, torch.ones_like(z))
    t_safe = torch.cat([t[:, :2], z_safe[:, None]], dim=-1)
    means2d = torch.stack(
        [
            camera.fx * t_safe[:, 0] / z_safe + camera.cx,
            camera.fy * t_safe[:, 1] / z_safe + camera.cy,
        ],
        dim=-1,
    )
    w = camera.world_to_cam[:3, :3].to(means)
    jw = ewa_jacobian(t_safe, camera, cfg) @ w
    cov2d = jw @ covariance_3d(scales, quats) @ jw.transpose(-1, -2)
    cov2d = cov2d + cfg.dilation * torch.eye(2, dtype=means.dtype, device=means.device)
    a, b, c = cov2d[:, 0, 0], cov2d[:, 0, 1], cov2d[:, 1, 1]
    det = a * c - b * b
    conics = torch.stack([c, -b, a], dim=-1) / det[:, None]
    extents = opacity_extents(cov2d.detach(), opacities.detach(), cfg.alpha_min)
    m = means2d.detach()
    overlaps = (
        (m[:, 0] + extents[:, 0] > 0)
        & (m[:, 0] - extents[:, 0] < camera.width)
        & (m[:, 1] + extents[:, 1] > 0)
        & (m[:, 1] - extents[:, 1] < camera.height)
    )
    visible = in_front & (opacities.detach() >= cfg.alpha_min) & overlaps & (det.detach() > 0)
    visible &= torch.isfinite(extents).all(-1)
    return Projected(means2d, conics, z, opacities, extents, visible)
