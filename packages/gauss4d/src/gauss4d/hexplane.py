"""HexPlane spatio-temporal encoder (Cao & Johnson 2023; as used by 4D-GS, Wu et al. 2024).

Six learnable feature planes per resolution, (x,y), (x,z), (y,z), (x,t), (y,t), (z,t), sampled
bilinearly; the six features are multiplied elementwise and the products of all resolutions
concatenated. Deliberate choices versus the 4D-GS reference code:

* time in [0, 1] is mapped to the full grid range [-1, 1] (the reference feeds [0, 1] to a
  sampler spanning [-1, 1], leaving half of the temporal resolution unused);
* positions are normalised by an axis-aligned box (set from the coarse Gaussians) to [-1, 1];
  outside it the border features are reused (``padding_mode="border"``);
* time planes start at 1, space planes uniformly in [0.1, 0.5], so the field starts static.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PLANES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # axes: x, y, z, t


@dataclass(frozen=True)
class HexPlaneConfig:
    """features: channels per plane. resolution: base (x, y, z, t) grid sizes. multires:
    spatial multipliers (time keeps its base resolution, like 4D-GS)."""

    features: int = 16
    resolution: tuple[int, int, int, int] = (32, 32, 32, 25)
    multires: tuple[int, ...] = (1, 2)

    def __post_init__(self) -> None:
        if self.features < 1 or min(self.resolution) < 2 or not self.multires:
            raise ValueError("need features >= 1, every resolution >= 2 and a non-empty multires")

    @property
    def out_dim(self) -> int:
        return self.features * len(self.multires)


class HexPlane(nn.Module):
    """Encode (N, 3) positions and (N,) times in [0, 1] into (N, features * len(multires))."""

    def __init__(self, cfg: HexPlaneConfig, aabb: Tensor, generator: torch.Generator | None = None):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("aabb", aabb.detach().clone().float())  # (2, 3): min, max corners
        grids = []
        for m in cfg.multires:
            res = [r * m for r in cfg.resolution[:3]] + [cfg.resolution[3]]
            planes = []
            for a, b in PLANES:
                shape = (1, cfg.features, res[b], res[a])
                if b == 3:
                    planes.append(nn.Parameter(torch.ones(shape)))
                else:
                    planes.append(nn.Parameter(0.1 + 0.4 * torch.rand(shape, generator=generator)))
            grids.append(nn.ParameterList(planes))
        self.grids = nn.ModuleList(grids)

    def normalise(self, xyz: Tensor, t: Tensor) -> Tensor:
        """(N, 4) coordinates in [-1, 1]: positions by the box, time mapped from [0, 1]."""
        lo, hi = self.aabb[0], self.aabb[1]
        p = (xyz - lo) / (hi - lo) * 2 - 1
        return torch.cat([p, (t * 2 - 1)[:, None]], dim=-1)

    def forward(self, xyz: Tensor, t: Tensor) -> Tensor:
        coords = self.normalise(xyz, t)
        feats = []
        for planes in self.grids:
            prod = None
            for (a, b), plane in zip(PLANES, planes):
                grid = coords[:, (a, b)].reshape(1, -1, 1, 2)
                f = F.grid_sample(
                    plane, grid, mode="bilinear", padding_mode="border", align_corners=True
                )
                f = f[0, :, :, 0].T  # (N, features)
                prod = f if prod is None else prod * f
            feats.append(prod)
        return torch.cat(feats, dim=-1)

    def smoothness(self) -> Tensor:
        """Plane smoothness: mean squared first differences of every plane along both axes
        (a squared total variation, as in K-Planes; the 4D-GS code names it TV)."""
        terms = []
        for planes in self.grids:
            for p in planes:
                terms.append((p[..., 1:, :] - p[..., :-1, :]).pow(2).mean())
                terms.append((p[..., :, 1:] - p[..., :, :-1]).pow(2).mean())
        return torch.stack(terms).mean()

    def time_smoothness(self) -> Tensor:
        """Mean squared second difference along time of the three time planes (smooth motion:
        penalises acceleration, not velocity)."""
        terms = []
        for planes in self.grids:
            for (_, b), p in zip(PLANES, planes):
                if b == 3:
                    d2 = p[..., 2:, :] - 2 * p[..., 1:-1, :] + p[..., :-2, :]
                    terms.append(d2.pow(2).mean())
        return torch.stack(terms).mean()
