"""Render a set of Gaussians (with SH colour) from a camera."""

from __future__ import annotations

from torch import Tensor

from gauss4d.camera import Camera
from gauss4d.gaussians import Gaussians
from gauss4d.raster import RasterConfig, RasterResult, rasterize
from gauss4d.sh import sh_to_color


def render(
    gaussians: Gaussians,
    camera: Camera,
    background: Tensor | None = None,
    cfg: RasterConfig | None = None,
    sh_degree: int | None = None,
) -> RasterResult:
    """Render ``gaussians``: SH colours evaluated along camera-to-Gaussian directions.

    ``sh_degree`` may be lower than the stored degree (progressive SH); background (3,) in [0,1].
    """
    means = gaussians.means
    dirs = means - camera.center.to(means)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    colors = sh_to_color(gaussians.sh, dirs, sh_degree)
    return rasterize(
        means,
        gaussians.unit_quats(),
        gaussians.scales(),
        gaussians.opacities(),
        colors,
        camera,
        background,
        cfg,
    )
