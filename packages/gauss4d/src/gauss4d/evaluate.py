"""Evaluation on held-out frames: PSNR, SSIM, render FPS and model size."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from accelerator_utils import progress as progress_bar
from accelerator_utils import synchronize
from gauss4d.camera import Camera
from gauss4d.data.dnerf import DNeRFSplit
from gauss4d.metrics import psnr, ssim
from gauss4d.model import DynamicModel
from gauss4d.raster import RasterConfig


@dataclass
class EvalResult:
    """Means over the frames of a split; fps at the split's resolution (deformation included)."""

    psnr: float
    ssim: float
    n_frames: int
    fps: float
    width: int
    height: int
    n_gaussians: int
    model_bytes: int

    def summary(self) -> str:
        return (
            f"PSNR {self.psnr:.2f} dB, SSIM {self.ssim:.3f} over {self.n_frames} frames; "
            f"{self.fps:.1f} FPS at {self.width}x{self.height} with {self.n_gaussians} "
            f"Gaussians; model {self.model_bytes / 2**20:.2f} MiB"
        )


@torch.no_grad()
def evaluate(
    model: DynamicModel,
    split: DNeRFSplit,
    raster: RasterConfig | None = None,
    *,
    progress: bool | None = None,
) -> EvalResult:
    """Render every frame of ``split`` (moved to the model's device) and compare with its image.
    FPS times the renders alone (deformation included), synchronising the device."""
    if len(split) == 0:
        raise ValueError("the evaluation split has no frames")
    device = model.gaussians.means.device
    split = split.to(device)
    scores_p, scores_s, seconds = [], [], 0.0
    frames = zip(split.cameras, split.times.tolist(), split.images)
    for cam, t, target in progress_bar(frames, total=len(split), desc="evaluate", enabled=progress):
        synchronize(device)
        start = time.perf_counter()
        image = model.render(cam, t, split.background, raster).image.clamp(0, 1)
        synchronize(device)
        seconds += time.perf_counter() - start
        scores_p.append(psnr(image, target))
        scores_s.append(ssim(image, target))
    cam = split.cameras[0]
    return EvalResult(
        sum(scores_p) / len(scores_p),
        sum(scores_s) / len(scores_s),
        len(split),
        len(split) / seconds,
        cam.width,
        cam.height,
        model.n_gaussians(),
        model.size_bytes(),
    )


@torch.no_grad()
def measure_fps(
    model: DynamicModel,
    camera: Camera,
    t: float = 0.5,
    repeats: int = 5,
    raster: RasterConfig | None = None,
) -> float:
    """Frames per second of ``model.render`` at ``camera`` (one warm-up render; the device is
    synchronised before and after the timed renders)."""
    device = model.gaussians.means.device
    camera = camera.to(device)
    model.render(camera, t, None, raster)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        model.render(camera, t, None, raster)
    synchronize(device)
    return repeats / (time.perf_counter() - start)
