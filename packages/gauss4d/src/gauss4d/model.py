"""A dynamic scene: canonical Gaussians plus an optional deformation field."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from gauss4d.camera import Camera
from gauss4d.deformation import DeformationField
from gauss4d.gaussians import Gaussians
from gauss4d.raster import RasterConfig, RasterResult
from gauss4d.render import render


@dataclass
class DynamicModel:
    """Canonical ``gaussians``; ``deformation`` None means a static (coarse-stage) scene."""

    gaussians: Gaussians
    deformation: DeformationField | None = None

    def at(self, t: float) -> Gaussians:
        """The Gaussians at time ``t`` in [0, 1]."""
        if self.deformation is None:
            return self.gaussians
        return self.deformation(self.gaussians, t)

    def render(
        self,
        camera: Camera,
        t: float,
        background: Tensor | None = None,
        cfg: RasterConfig | None = None,
        sh_degree: int | None = None,
    ) -> RasterResult:
        return render(self.at(t), camera, background, cfg, sh_degree)

    def size_bytes(self) -> int:
        """Bytes of all parameters (Gaussians and deformation field)."""
        total = sum(t.numel() * t.element_size() for t in self.gaussians.tensors().values())
        if self.deformation is not None:
            total += sum(p.numel() * p.element_size() for p in self.deformation.parameters())
        return total

    def n_gaussians(self) -> int:
        return len(self.gaussians)
