"""Optional backend: gsplat's CUDA rasterizer behind ``RasterConfig(backend="gsplat")``.

gsplat (Ye et al. 2024, ``pip install gsplat`` on a CUDA machine) implements the same 3D-GS
rasterizer with fixed thresholds: alpha >= 1/255, alpha clamped to 0.99, compositing stopped at
transmittance 1e-4 and the EWA Jacobian clamped at 1.3 times the half field of view; its
``eps2d`` is our ``dilation`` and ``near_plane`` our ``near``. Both put pixel centres at
``(j + 0.5, i + 0.5)`` and use OpenCV world-to-camera matrices. Depth is the accumulated
``sum_i w_i z_i`` (gsplat's "RGB+D"), and the background is composited here with the final
transmittance, as ours does. ``tests/test_gpu.py`` checks agreement with ours where
CUDA and gsplat are present.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor

from gauss4d.camera import Camera
from gauss4d.raster.config import RasterConfig

_FIXED = ("alpha_min", "alpha_max", "transmittance_min", "fov_clamp")


def _import_gsplat() -> ModuleType:
    try:
        import gsplat
    except ImportError as e:
        raise ImportError(
            "RasterConfig(backend='gsplat') needs gsplat on a CUDA machine "
            "(pip install gsplat); use backend='torch' otherwise"
        ) from e
    return gsplat


def check_gsplat_config(cfg: RasterConfig, device: torch.device) -> None:
    """Raise ValueError if gsplat cannot honour ``cfg`` on ``device``."""
    if device.type != "cuda":
        raise ValueError(
            f"the gsplat backend needs CUDA tensors, got {device}; move the Gaussians to a CUDA "
            "device or use RasterConfig(backend='torch')"
        )
    default = RasterConfig()
    changed = [n for n in _FIXED if getattr(cfg, n) != getattr(default, n)]
    if changed:
        raise ValueError(
            f"gsplat fixes {changed} at their defaults; use backend='torch' to change them"
        )


def rasterize_gsplat(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    camera: Camera,
    background: Tensor,
    cfg: RasterConfig,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, int]:
    """gsplat's ``rasterization`` for one camera. Returns image (H, W, C), alpha (H, W),
    depth (H, W), means2d (1, N, 2) (its gradient is the densification statistic), visible (N,)
    and the number of (tile, Gaussian) intersections."""
    check_gsplat_config(cfg, means.device)
    gsplat = _import_gsplat()
    viewmat = camera.world_to_cam.to(means)[None]  # (1, 4, 4)
    k = torch.tensor(
        [[camera.fx, 0.0, camera.cx], [0.0, camera.fy, camera.cy], [0.0, 0.0, 1.0]],
        dtype=means.dtype,
        device=means.device,
    )[None]  # (1, 3, 3)
    rgbd, alpha, meta = gsplat.rasterization(
        means,
        quats,
        scales,
        opacities,
        colors,
        viewmat,
        k,
        camera.width,
        camera.height,
        near_plane=cfg.near,
        eps2d=cfg.dilation,
        packed=False,
        render_mode="RGB+D",
        rasterize_mode="classic",
    )
    rgbd, alpha = rgbd[0], alpha[0, ..., 0]  # (H, W, C + 1), (H, W)
    image = rgbd[..., :-1] + (1 - alpha)[..., None] * background
    radii = meta["radii"].reshape(len(means), -1)  # (N,) or (N, 2) across gsplat versions
    visible = (radii > 0).any(-1)
    return image, alpha, rgbd[..., -1], meta["means2d"], visible, int(meta["flatten_ids"].numel())
