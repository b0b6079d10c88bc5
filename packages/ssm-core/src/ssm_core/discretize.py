"""Discretisation of ``x'(t) = A x(t) + B u(t)`` with step ``dt``: zero-order hold and bilinear.

Diagonal systems pass ``A`` as its diagonal (real or complex, any leading batch shape); dense
systems pass a square matrix. ``dt`` broadcasts against the diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Discrete:
    """``x_k = dA x_{k-1} + dB u_k``: ``dA`` like ``A`` (diagonal or matrix), ``dB`` like ``B``."""

    dA: Tensor
    dB: Tensor


def discretize(A: Tensor, B: Tensor, dt: Tensor | float, method: str = "zoh") -> Discrete:
    """ZOH: ``dA = exp(dt A)``, ``dB = A^{-1}(exp(dt A) - I) B``. Bilinear (Tustin):
    ``dA = (I - dt A/2)^{-1}(I + dt A/2)``, ``dB = (I - dt A/2)^{-1} dt B``.

    Shapes: diagonal ``A`` ``(..., N)`` with ``B`` ``(..., N)``; dense ``A`` ``(N, N)`` with
    ``B`` ``(N,)`` or ``(N, M)`` and scalar ``dt``.
    """
    dt = torch.as_tensor(dt, dtype=A.real.dtype if A.is_complex() else A.dtype, device=A.device)
    if not bool(torch.isfinite(dt).all()) or bool((dt <= 0).any()):
        raise ValueError("dt must be finite and > 0")
    if method not in ("zoh", "bilinear"):
        raise ValueError(f"unknown method {method!r}; choose 'zoh' or 'bilinear'")
    dense = (
        A.ndim == 2 and A.shape[0] == A.shape[1] and B.ndim in (1, 2) and B.shape[0] == A.shape[0]
    )
    if dense and dt.ndim == 0:
        return _dense(A, B, dt, method)
    dtA = dt * A
    if method == "zoh":
        dA = torch.exp(dtA)
        return Discrete(dA, (dA - 1) / A * B)
    denom = 1 - dtA / 2
    return Discrete((1 + dtA / 2) / denom, dt * B / denom)


def _dense(A: Tensor, B: Tensor, dt: Tensor, method: str) -> Discrete:
    n = A.shape[0]
    eye = torch.eye(n, dtype=A.dtype, device=A.device)
    if method == "bilinear":
        lhs = eye - dt * A / 2
        return Discrete(torch.linalg.solve(lhs, eye + dt * A / 2), torch.linalg.solve(lhs, dt * B))
    # ZOH by the augmented exponential exp([[A, B], [0, 0]] dt) = [[dA, dB], [0, I]] (works for singular A)
    b2 = B[:, None] if B.ndim == 1 else B
    m = b2.shape[1]
    aug = torch.zeros(n + m, n + m, dtype=A.dtype, device=A.device)
    aug[:n, :n], aug[:n, n:] = A, b2
    e = torch.linalg.matrix_exp(aug * dt)
    dB = e[:n, n:]
    return Discrete(e[:n, :n], dB[:, 0] if B.ndim == 1 else dB)
