"""Image quality metrics: PSNR and SSIM (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"images must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise ValueError(f"images must be (H, W, C) with C in (1, 3), got {tuple(a.shape)}")


def psnr(a: Tensor, b: Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of (H, W, C) images in [0, peak]; inf if identical."""
    _check_pair(a, b)
    mse = (a.double() - b.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype) -> Tensor:
    """(size,) normalised 1D Gaussian; the 2D window is its outer product (separable)."""
    x = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def ssim_map(
    a: Tensor, b: Tensor, window: int = 11, sigma: float = 1.5, peak: float = 1.0
) -> Tensor:
    """(C, H-w+1, W-w+1) SSIM map of (H, W, C) images over valid windows, differentiable."""
    _check_pair(a, b)
    if min(a.shape[0], a.shape[1]) < window:
        raise ValueError(f"images must be at least {window}x{window} for SSIM")
    c = a.shape[-1]
    g = _gaussian_window(window, sigma, a.dtype).to(a.device)  # (window,), separable
    x, y = a.permute(2, 0, 1), b.permute(2, 0, 1)
    # the five blurred maps of both images in one separable, grouped convolution
    maps = torch.cat([x, y, x * x, y * y, x * y])[None]  # (1, 5C, H, W)
    maps = F.conv2d(maps, g[:, None].expand(5 * c, 1, window, 1), groups=5 * c)
    maps = F.conv2d(maps, g.expand(5 * c, 1, 1, window), groups=5 * c)[0]
    mx, my, exx, eyy, exy = maps.split(c)
    sxx, syy, sxy = exx - mx * mx, eyy - my * my, exy - mx * my
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return num / den


def ssim(a: Tensor, b: Tensor) -> float:
    """Mean SSIM of (H, W, C) images in [0, 1]."""
    return ssim_map(a.double(), b.double()).mean().item()
