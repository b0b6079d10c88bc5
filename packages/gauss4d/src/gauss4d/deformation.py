"""The 4D-GS deformation field: HexPlane features -> small MLP -> per-Gaussian deltas.

Heads predict Delta position (added), Delta log-scale (added) and a rotation delta. Deliberate
choice: the rotation delta is composed multiplicatively, ``q' = q * normalise((1, 0, 0, 0) + d)``,
so it stays a rotation whatever ``q``'s norm, where the reference code adds quaternions. The last
layer of every head starts at zero, so the field starts as the identity (the coarse scene).

Optional (``DeformationConfig(color=True)``, off by default as in the paper): a fourth head adds
a Delta to each Gaussian's view-independent (degree-0) SH colour, for shading that changes with
time, e.g. a lit surface that turns away from the light. The reference code has a head for all
SH coefficients behind a flag; the degree-0 term is the part that time-varying diffuse shading
needs, and it keeps the field independent of the SH degree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gauss4d.gaussians import Gaussians, quat_multiply
from gauss4d.hexplane import HexPlane, HexPlaneConfig


@dataclass(frozen=True)
class DeformationConfig:
    hexplane: HexPlaneConfig = field(default_factory=HexPlaneConfig)
    hidden: int = 64
    depth: int = 1
    color: bool = False

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.depth < 0:
            raise ValueError("need hidden >= 1 and depth >= 0")


def _head(hidden: int, out: int) -> nn.Sequential:
    last = nn.Linear(hidden, out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), last)


class DeformationField(nn.Module):
    """Maps Gaussians at time ``t`` to their deformed copies."""

    def __init__(
        self, cfg: DeformationConfig, aabb: Tensor, generator: torch.Generator | None = None
    ):
        super().__init__()
        self.cfg = cfg
        self.encoder = HexPlane(cfg.hexplane, aabb, generator)
        layers: list[nn.Module] = [nn.Linear(cfg.hexplane.out_dim, cfg.hidden)]
        for _ in range(cfg.depth):
            layers += [nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden)]
        self.trunk = nn.Sequential(*layers)
        self.d_position = _head(cfg.hidden, 3)
        self.d_scale = _head(cfg.hidden, 3)
        self.d_rotation = _head(cfg.hidden, 4)
        self.d_color = _head(cfg.hidden, 3) if cfg.color else None
        self._init_linear(generator)

    @torch.no_grad()
    def _init_linear(self, generator: torch.Generator | None) -> None:
        """PyTorch's default Linear init, drawn from ``generator`` (not the global RNG); the
        zeroed last layers of the heads stay zero."""
        for m in self.modules():
            if isinstance(m, nn.Linear) and m.weight.abs().sum() > 0:
                bound = 1.0 / m.in_features**0.5
                m.weight.uniform_(-bound, bound, generator=generator)
                m.bias.uniform_(-bound, bound, generator=generator)

    def deltas(self, means: Tensor, t: float) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """(N, 3) Delta position, (N, 3) Delta log-scale, (N, 4) rotation delta and (N, 3)
        Delta degree-0 SH colour (None without the colour head) at time t."""
        times = torch.full((means.shape[0],), float(t), dtype=means.dtype, device=means.device)
        h = torch.relu(self.trunk(self.encoder(means, times)))  # shared by the heads
        dc = None if self.d_color is None else self.d_color(h)
        return self.d_position(h), self.d_scale(h), self.d_rotation(h), dc

    def forward(self, g: Gaussians, t: float) -> Gaussians:
        dx, ds, dq, dc = self.deltas(g.means, t)
        identity = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=dq.dtype, device=dq.device)
        q_delta = identity + dq
        q_delta = q_delta / q_delta.norm(dim=-1, keepdim=True)
        return Gaussians(
            g.means + dx,
            g.log_scales + ds,
            quat_multiply(g.unit_quats(), q_delta),
            g.opacity_logits,
            g.sh if dc is None else torch.cat([g.sh[:, :1] + dc[:, None], g.sh[:, 1:]], 1),
        )

    def regularisers(self) -> dict[str, Tensor]:
        return {"plane": self.encoder.smoothness(), "time": self.encoder.time_smoothness()}
