"""Loader for the D-NeRF dataset format.

A scene directory holds ``transforms_{train,val,test}.json``; each has ``camera_angle_x`` (radians)
and ``frames``, each frame with ``file_path`` (relative, extension optional), ``time`` in [0, 1]
and ``transform_matrix`` (4x4 camera-to-world, Blender/OpenGL axes: x right, y up, camera looks
down -z). Images are RGBA PNGs composited over a white or black background.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gauss4d.camera import Camera

GL_TO_CV = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))


@dataclass
class DNeRFSplit:
    """One split. images: (F, H, W, 3) float32 in [0, 1] over ``background``; alphas: (F, H, W);
    times: (F,) in [0, 1]; cameras: F cameras (OpenCV convention)."""

    images: Tensor
    alphas: Tensor
    times: Tensor
    cameras: list[Camera]
    background: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> DNeRFSplit:
        """The same split with images, alphas, times, background and cameras on ``device``."""
        return DNeRFSplit(
            self.images.to(device),
            self.alphas.to(device),
            self.times.to(device),
            [c.to(device) for c in self.cameras],
            self.background.to(device),
        )


def c2w_gl_to_w2c(matrix: Tensor) -> Tensor:
    """(4, 4) OpenCV world-to-camera from a Blender/OpenGL camera-to-world matrix."""
    return torch.linalg.inv(matrix.to(torch.float64) @ GL_TO_CV)


def w2c_to_c2w_gl(w2c: Tensor) -> Tensor:
    """Inverse of ``c2w_gl_to_w2c``."""
    return torch.linalg.inv(w2c.to(torch.float64)) @ GL_TO_CV


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a D-NeRF scene needs transforms_<split>.json")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or "camera_angle_x" not in meta or "frames" not in meta:
        raise ValueError(f"{path} must be an object with 'camera_angle_x' and 'frames'")
    if not isinstance(meta["frames"], list) or not meta["frames"]:
        raise ValueError(f"{path}: 'frames' must be a non-empty list")
    return meta


def _image_path(root: Path, file_path: str) -> Path:
    p = root / file_path
    if p.suffix.lower() != ".png":
        p = p.with_name(p.name + ".png")
    if not p.is_file():
        raise FileNotFoundError(f"image {p} listed in the transforms file is missing")
    return p


def _load_rgba(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGBA")
        if size is not None and im.size != size:
            im = im.resize(size, Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.float32) / 255.0


def load_dnerf(
    root: str | Path,
    split: str = "train",
    background: str = "white",
    resolution: tuple[int, int] | None = None,
) -> DNeRFSplit:
    """Load ``split`` of the D-NeRF scene at ``root``.

    background: "white" or "black" (what transparent pixels are composited over).
    resolution: optional (width, height) to resize to; otherwise all images must share a size.
    """
    if background not in ("white", "black"):
        raise ValueError(f"background must be 'white' or 'black', got {background!r}")
    root = Path(root)
    meta = _read_json(root / f"transforms_{split}.json")
    fov = float(meta["camera_angle_x"])
    if not 0 < fov < math.pi:
        raise ValueError(f"camera_angle_x must be in (0, pi) radians, got {fov}")
    images, _alphas, times, cams = [], [], [], []
    for i, frame in enumerate(meta["frames"]):
        missing = {"file_path", "transform_matrix", "time"} - set(frame)
        if missing:
            raise ValueError(f"frame {i} of {split} lacks {sorted(missing)}")
        mat = torch.tensor(frame["transform_matrix"], dtype=torch.float64)
        if mat.shape != (4, 4) or not torch.isfinite(mat).all():
            raise ValueError(f"frame {i} of {split}: transform_matrix must be a finite 4x4 matrix")
        t = float(frame["time"])
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"frame {i} of {split}: time {t} is outside [0, 1]")
        rgba = _load_rgba(_image_path(root, frame["file_path"]), resolution)
        if images and rgba.shape != images[0].shape:
            raise ValueError(
                f"frame {i} of {split} has size {rgba.shape[1]}x{rgba.shape[0]}, others "
                f"{images[0].shape[1]}x{images[0].shape[0]}; pass resolution=(W, H) to resize"
            )
        images.append(rgba)
        times.append(t)
        h, w = rgba.shape[:2]
        cams.append(Camera.from_fov(c2w_gl_to_w2c(mat).float(), fov, w, h))
    rgba = torch.from_numpy(np.stack(images))
    bg = torch.ones(3) if background == "white" else torch.zeros(3)
    alpha = rgba[..., 3]
    rgb = rgba[..., :3] * alpha[..., None] + bg * (1 - alpha[..., None])
    return DNeRFSplit(rgb, alpha, torch.tensor(times), cams, bg)
