"""Novel-view outputs: PNG grids and an animated GIF flying around while time runs."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from accelerator_utils import atomic_write
from accelerator_utils import progress as progress_bar
from gauss4d.camera import orbit_camera
from gauss4d.model import DynamicModel
from gauss4d.raster import RasterConfig


def to_uint8(image: Tensor) -> np.ndarray:
    """(H, W, 3) float image in [0, 1] -> uint8 array."""
    return (image.detach().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)


def save_grid(images: list[Tensor], path: str | Path, columns: int = 6) -> Path:
    """Tile (H, W, 3) images row-major into one PNG (atomic write)."""
    from PIL import Image

    if not images:
        raise ValueError("save_grid needs at least one image")
    h, w = images[0].shape[:2]
    rows = math.ceil(len(images) / columns)
    canvas = np.full((rows * h, min(columns, len(images)) * w, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = to_uint8(im)
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    with atomic_write(path) as f:
        f.write(buf.getvalue())
    return Path(path)


def save_gif(frames: list[Tensor], path: str | Path, fps: float = 12.0) -> Path:
    """Animated GIF of (H, W, 3) frames, looping (atomic write)."""
    from PIL import Image

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    ims = [Image.fromarray(to_uint8(f)) for f in frames]
    buf = io.BytesIO()
    ims[0].save(
        buf, format="GIF", save_all=True, append_images=ims[1:], duration=int(1000 / fps), loop=0
    )
    with atomic_write(path) as f:
        f.write(buf.getvalue())
    return Path(path)


@torch.no_grad()
def fly_around(
    model: DynamicModel,
    n_frames: int,
    width: int,
    height: int,
    radius: float,
    fov_x: float,
    *,
    elevation: float = 0.35,
    background: Tensor | None = None,
    raster: RasterConfig | None = None,
    progress: bool | None = None,
) -> list[Tensor]:
    """Frames on a full orbit around the origin while time runs from 0 to 1."""
    frames = []
    bg = torch.ones(3) if background is None else background
    for k in progress_bar(range(n_frames), desc="render", enabled=progress):
        cam = orbit_camera(2 * math.pi * k / n_frames, elevation, radius, fov_x, width, height)
        frames.append(model.render(cam, k / max(n_frames - 1, 1), bg, raster).image)
    return frames
