"""HiPPO operators (Gu et al. 2020; "How to Train Your HiPPO", 2022): LegS, LegT, FouT.

Conventions (signs included, so ``A`` is the dynamics matrix):

* ``legt`` / ``fout``: ``c'(t) = A c(t) + B f(t)`` projects ``f`` on the window ``[t - 1, t]``
  (time in window lengths) onto an orthonormal basis ``p_n(s)``, ``s = x - t + 1`` in ``[0, 1]``:
  LegT ``p_n(s) = sqrt(2n+1) P_n(2s - 1)``; FouT ``1, sqrt2 cos(2 pi k s), sqrt2 sin(2 pi k s)``.
* ``legs``: ``c'(t) = (A c(t) + B f(t)) / t`` projects all of ``[0, t]`` with
  ``p_n(s) = sqrt(2n+1) P_n(2s - 1)``, ``s = x / t``.

Each ``A`` is normal plus low rank (NPLR): ``A = S - P P^T`` with ``S`` normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.polynomial import legendre
from torch import Tensor

from ssm_core.discretize import discretize

KINDS = ("legs", "legt", "fout")


@dataclass
class HiPPO:
    """Continuous-time operator ``(A (N, N), B (N,))`` and its NPLR factor ``P (N, r)``."""

    kind: str
    A: Tensor
    B: Tensor
    P: Tensor

    @property
    def S(self) -> Tensor:
        """The normal part ``A + P P^T``."""
        return self.A + self.P @ self.P.T


def hippo(kind: str, N: int, dtype: torch.dtype = torch.float64) -> HiPPO:
    """The ``(A, B)`` of a HiPPO measure with ``N`` coefficients, plus its low-rank ``P``."""
    if kind not in KINDS:
        raise ValueError(f"unknown HiPPO kind {kind!r}; choose one of {KINDS}")
    if N < 1 or (kind == "fout" and N % 2 == 0):
        raise ValueError(f"need N >= 1 (odd for fout: 1 constant + cos/sin pairs), got {N}")
    n = torch.arange(N, dtype=dtype)
    R = torch.sqrt(2 * n + 1)
    if kind == "legs":
        A = -torch.tril(R[:, None] * R[None, :], -1) - torch.diag(n + 1)
        B, P = R.clone(), torch.sqrt(n + 0.5)[:, None]
    elif kind == "legt":
        sign = torch.where(n[:, None] >= n[None, :], 1.0, (-1.0) ** (n[:, None] - n[None, :]))
        A = -R[:, None] * R[None, :] * sign.to(dtype)
        B = R.clone()
        P = torch.stack([R, R * (-1.0) ** n], 1) / math.sqrt(2)
    else:
        k = (n + 1).div(2, rounding_mode="floor")  # frequency of each coefficient
        D = torch.zeros(N, N, dtype=dtype)  # d/ds of the basis in the basis
        for j in range(1, N, 2):
            D[j, j + 1], D[j + 1, j] = -2 * math.pi * k[j], 2 * math.pi * k[j]
        p0 = torch.where(n == 0, 1.0, torch.where(n % 2 == 1, math.sqrt(2), 0.0)).to(dtype)
        # the series at the window edge converges to (f(t) + f(t-1)) / 2, so
        # f(t-1) ~ 2 p0.c - f(t): c' = -D c - 2 p0 p0^T c + 2 p0 f(t)
        A = -D - 2 * p0[:, None] * p0[None, :]
        B, P = 2 * p0, math.sqrt(2) * p0[:, None]
    return HiPPO(kind, A, B, P)


def basis(kind: str, N: int, s: np.ndarray) -> np.ndarray:
    """The orthonormal basis functions at points ``s`` in ``[0, 1]``: ``(len(s), N)``."""
    s = np.asarray(s, dtype=np.float64)
    if kind in ("legs", "legt"):
        return np.stack(
            [np.sqrt(2 * i + 1) * legendre.Legendre.basis(i)(2 * s - 1) for i in range(N)], 1
        )
    cols = [np.ones_like(s)]
    for k in range(1, (N - 1) // 2 + 1):
        cols += [
            math.sqrt(2) * np.cos(2 * math.pi * k * s),
            math.sqrt(2) * np.sin(2 * math.pi * k * s),
        ]
    return np.stack(cols, 1)


@dataclass
class Reconstruction:
    """Online projection result: final coefficients ``(N,)``, the window's sample points
    ``(M,)`` (indices into the signal), the reconstruction there ``(M,)`` and its RMSE."""

    coefficients: Tensor
    points: np.ndarray
    reconstruction: np.ndarray
    rmse: float


def online_reconstruction(
    signal: Tensor, kind: str, N: int, window: int | None = None
) -> Reconstruction:
    """Feed ``signal`` ``(L,)`` through the discretised HiPPO recurrence one sample at a time,
    then reconstruct the remembered history from the final state alone.

    ``legs`` remembers all ``L`` samples; ``legt``/``fout`` the last ``window`` samples.
    Bilinear discretisation; for ``legs`` the step ``1/k`` at sample ``k`` (scale invariant).
    """
    if signal.ndim != 1 or signal.shape[0] < 2:
        raise ValueError(
            f"signal must be 1-D with at least 2 samples, got shape {tuple(signal.shape)}"
        )
    f = signal.to(torch.float64)
    op = hippo(kind, N)
    L = f.shape[0]
    c = torch.zeros(N, dtype=torch.float64)
    if kind == "legs":
        for k in range(1, L + 1):
            d = discretize(op.A, op.B, 1.0 / k, "bilinear")
            c = d.dA @ c + d.dB * f[k - 1]
        points = np.arange(L)
        s = (points + 0.5) / L
    else:
        window = window or L
        if not 1 < window <= L:
            raise ValueError(f"window must lie in (1, {L}], got {window}")
        d = discretize(op.A, op.B, 1.0 / window, "bilinear")
        for k in range(L):
            c = d.dA @ c + d.dB * f[k]
        points = np.arange(L - window, L)
        s = (points - (L - window) + 0.5) / window
    rec = basis(kind, N, s) @ c.numpy()
    rmse = float(np.sqrt(np.mean((rec - f.numpy()[points]) ** 2)))
    return Reconstruction(c, points, rec, rmse)
