"""Pinhole cameras (OpenCV convention) and 360-degree orbits around the origin.

Convention: camera x points right, y down, z forward (into the scene). Image coordinates are
continuous pixels: pixel (row i, column j) covers ``[j, j+1) x [i, i+1)`` and its centre is at
``(j + 0.5, i + 0.5)``. A point at camera coordinates ``(x, y, z)`` lands at
``(fx * x / z + cx, fy * y / z + cy)``; ``cx = width / 2`` puts the optical axis at the image centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Camera:
    """A pinhole camera.

    world_to_cam: (4, 4) rigid transform from world to camera coordinates.
    fx, fy, cx, cy: intrinsics in pixels. width, height: image size in pixels.
    """

    world_to_cam: Tensor
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if tuple(self.world_to_cam.shape) != (4, 4):
            raise ValueError(f"world_to_cam must be (4, 4), got {tuple(self.world_to_cam.shape)}")
        if not torch.isfinite(self.world_to_cam).all():
            raise ValueError("world_to_cam contains NaN or Inf; pass a finite rigid transform")
        if min(self.fx, self.fy) <= 0 or not math.isfinite(self.fx + self.fy + self.cx + self.cy):
            raise ValueError(f"focal lengths must be finite and > 0, got fx={self.fx} fy={self.fy}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be >= 1, got {self.width}x{self.height}")

    @classmethod
    def from_fov(cls, world_to_cam: Tensor, fov_x: float, width: int, height: int) -> Camera:
        """A centred camera with horizontal field of view ``fov_x`` (radians), square pixels."""
        if not 0 < fov_x < math.pi:
            raise ValueError(f"fov_x must be in (0, pi) radians, got {fov_x}")
        f = 0.5 * width / math.tan(0.5 * fov_x)
        return cls(world_to_cam, f, f, width / 2, height / 2, width, height)

    @property
    def center(self) -> Tensor:
        """(3,) camera centre in world coordinates."""
        r, t = self.world_to_cam[:3, :3], self.world_to_cam[:3, 3]
        return -r.T @ t

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Camera:
        """The same camera with ``world_to_cam`` on ``device`` in ``dtype``."""
        w2c = self.world_to_cam.to(device=device, dtype=dtype or self.world_to_cam.dtype)
        return Camera(w2c, self.fx, self.fy, self.cx, self.cy, self.width, self.height)

    def scaled(self, width: int, height: int) -> Camera:
        """The same view rendered at another resolution."""
        sx, sy = width / self.width, height / self.height
        return Camera(
            self.world_to_cam, self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height
        )


def look_at(eye: Tensor, target: Tensor, up: Tensor | None = None) -> Tensor:
    """(4, 4) world-to-camera transform of a camera at ``eye`` looking at ``target``.

    ``up`` (default +z) is the world direction that appears upward in the image (camera -y).
    """
    up = torch.tensor([0.0, 0.0, 1.0], dtype=eye.dtype) if up is None else up
    forward = target - eye
    if forward.norm() < 1e-12:
        raise ValueError("look_at needs eye != target")
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, up)
    if right.norm() < 1e-9:
        raise ValueError("look_at: up is parallel to the viewing direction; choose another up")
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    rot = torch.stack([right, down, forward])  # rows: camera axes in world coordinates
    w2c = torch.eye(4, dtype=eye.dtype)
    w2c[:3, :3] = rot
    w2c[:3, 3] = -rot @ eye
    return w2c


def orbit_camera(
    azimuth: float, elevation: float, radius: float, fov_x: float, width: int, height: int
) -> Camera:
    """A camera on a sphere of ``radius`` around the origin, looking at it (angles in radians)."""
    eye = torch.tensor(
        [
            radius * math.cos(elevation) * math.cos(azimuth),
            radius * math.cos(elevation) * math.sin(azimuth),
            radius * math.sin(elevation),
        ],
        dtype=torch.float64,
    )
    w2c = look_at(eye, torch.zeros(3, dtype=torch.float64)).float()
    return Camera.from_fov(w2c, fov_x, width, height)
