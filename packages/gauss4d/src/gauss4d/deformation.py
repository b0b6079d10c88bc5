"""The 4D-GS deformation field: HexPlane features -> small MLP -> per-Gaussian deltas.

Heads predict Delta position (added), Delta log-scale (added) and a rotation delta. Deliberate
choice: the rotation delta is composed multiplicatively, ``q' = q * normalise((1, 0, 0, 0) + d)``,
so it stays a rotation whatever ``q``'s norm, where the reference code adds quaternions. The last
layer of every head starts at zero, so the field starts as the identity (the coarse scene).
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

    def deltas(self, means: Tensor, t: float) -> tuple[Tensor, Tensor, Tensor]:
        """(N, 3) Delta position, (N, 3) Delta log-scale, (N, 4) rotation delta at time t."""
        times = torch.full((means.shape[0],), float(t), dtype=means.dtype, device=means.device)
        h = torch.relu(self.trunk(self.encoder(means, times)))  # shared by the three heads
        return self.d_position(h), self.d_scale(h), self.d_rotation(h)

    def forward(self, g: Gaussians, t: float) -> Gaussians:
        dx, ds, dq = self.deltas(g.means, t)
        identity = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=dq.dtype, device=dq.device)
        q_delta = identity + dq
        q_delta = q_delta / q_delta.norm(dim=-1, keepdim=True)
        return Gaussians(
            g.means + dx,
            g.log_scales + ds,
            quat_multiply(g.unit_quats(), q_delta),
            g.opacity_logits,
            g.sh,
        )

    def regularisers(self) -> dict[str, Tensor]:
        return {"plane": self.encoder.smoothness(), "time": self.encoder.time_smoothness()}
