"""A set of 3D Gaussians: parameters in unconstrained form and their activations."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gauss4d.sh import degree_of

_QUAT_EPS = 1e-8


@dataclass
class Gaussians:
    """N Gaussians stored as unconstrained leaves (what an optimiser updates).

    means: (N, 3) world positions. log_scales: (N, 3) log standard deviations.
    quats: (N, 4) rotation quaternions (w, x, y, z), any non-zero norm.
    opacity_logits: (N,) logit of opacity. sh: (N, K, 3) SH coefficients, K in {1, 4, 9, 16}.
    """

    means: Tensor
    log_scales: Tensor
    quats: Tensor
    opacity_logits: Tensor
    sh: Tensor

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        expected = {
            "means": (n, 3),
            "log_scales": (n, 3),
            "quats": (n, 4),
            "opacity_logits": (n,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"Gaussians.{name} must have shape {shape}, got {got}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise ValueError(f"Gaussians.sh must be (N, K, 3), got {tuple(self.sh.shape)}")
        degree_of(self.sh.shape[1])

    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        return degree_of(self.sh.shape[1])

    def tensors(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in PARAM_NAMES}

    def validate(self) -> None:
        """Raise ValueError naming the first non-finite parameter or degenerate quaternion."""
        for name, t in self.tensors().items():
            if not torch.isfinite(t).all():
                bad = (
                    int((~torch.isfinite(t)).flatten(1).any(1).sum())
                    if t.ndim > 1
                    else int((~torch.isfinite(t)).sum())
                )
                raise ValueError(f"Gaussians.{name} has NaN/Inf in {bad} Gaussians")
        norms = self.quats.detach().norm(dim=-1)
        if (norms < _QUAT_EPS).any():
            raise ValueError(
                f"{int((norms < _QUAT_EPS).sum())} quaternions have norm < {_QUAT_EPS}: "
                "a rotation needs a non-zero quaternion (use (1, 0, 0, 0) for identity)"
            )

    def scales(self) -> Tensor:
        return self.log_scales.exp()

    def opacities(self) -> Tensor:
        return torch.sigmoid(self.opacity_logits)

    def unit_quats(self) -> Tensor:
        return self.quats / self.quats.norm(dim=-1, keepdim=True)

    def detach(self) -> Gaussians:
        return Gaussians(**{k: v.detach().clone() for k, v in self.tensors().items()})

    def to(self, device: torch.device | str) -> Gaussians:
        return Gaussians(**{k: v.to(device) for k, v in self.tensors().items()})


PARAM_NAMES = ("means", "log_scales", "quats", "opacity_logits", "sh")


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """(N, 3, 3) rotation matrices of (N, 4) quaternions (w, x, y, z); normalises first.

    Raises ValueError for quaternions with norm below 1e-8 (no rotation is defined).
    """
    norms = quats.norm(dim=-1, keepdim=True)
    if (norms.detach() < _QUAT_EPS).any():
        raise ValueError("degenerate quaternion (norm < 1e-8); use (1, 0, 0, 0) for identity")
    w, x, y, z = (quats / norms).unbind(-1)
    rows = [
        1 - 2 * (y * y + z * z),
        2 * (x * y - w * z),
        2 * (x * z + w * y),
        2 * (x * y + w * z),
        1 - 2 * (x * x + z * z),
        2 * (y * z - w * x),
        2 * (x * z - w * y),
        2 * (y * z + w * x),
        1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*quats.shape[:-1], 3, 3)


def quat_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product ``a * b`` of (..., 4) quaternions (w, x, y, z)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def covariance_3d(scales: Tensor, quats: Tensor) -> Tensor:
    """(N, 3, 3) world covariances ``R diag(s^2) R^T`` from scales (N, 3) and quaternions (N, 4)."""
    m = quat_to_rotmat(quats) * scales[:, None, :]
    return m @ m.transpose(-1, -2)
