"""Thresholds of the rasterizer (defaults are those of 3D-GS and gsplat)."""

from __future__ import annotations

import math
from dataclasses import dataclass

BACKENDS = ("torch", "gsplat")


@dataclass(frozen=True)
class RasterConfig:
    """Rasterizer settings.

    alpha_min: a (pixel, Gaussian) pair with alpha below this is skipped (1/255).
    alpha_max: alpha is clamped to this value (0.99) so transmittance never reaches 0.
    transmittance_min: compositing at a pixel stops before the Gaussian that would bring the
        transmittance below this value (1e-4), exactly like the 3D-GS CUDA kernel.
    dilation: added to the diagonal of every 2D covariance (0.3 px^2), the EWA low-pass filter.
    near: Gaussians with camera depth below this (world units) are culled.
    fov_clamp: the EWA Jacobian is evaluated at x/z, y/z clamped to ``fov_clamp`` times the
        half field of view, which keeps Gaussians far outside the image from exploding.
    backend: "torch" (ours, any device) or "gsplat" (gsplat's CUDA kernels, CUDA tensors only;
        it fixes alpha_min, alpha_max, transmittance_min and fov_clamp at these defaults).
    """

    alpha_min: float = 1.0 / 255.0
    alpha_max: float = 0.99
    transmittance_min: float = 1e-4
    dilation: float = 0.3
    near: float = 0.01
    fov_clamp: float = 1.3
    backend: str = "torch"

    def __post_init__(self) -> None:
        if not 0 < self.alpha_min < self.alpha_max < 1:
            raise ValueError(
                f"need 0 < alpha_min < alpha_max < 1, got {self.alpha_min}, {self.alpha_max}"
            )
        if not 0 <= self.transmittance_min < 1:
            raise ValueError(f"transmittance_min must be in [0, 1), got {self.transmittance_min}")
        if self.dilation < 0 or self.near <= 0 or self.fov_clamp <= 0:
            raise ValueError("dilation must be >= 0, near and fov_clamp > 0")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")

    @property
    def min_exponent(self) -> float:
        """Gaussian exponents below this give alpha < alpha_min for any opacity <= 1.

        Clamping there costs nothing in accuracy and avoids slow exp() of huge negative inputs.
        """
        return math.log(self.alpha_min) - 1.0
