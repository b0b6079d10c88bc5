"""Sequential reference of the selective scan (S6, Gu & Dao 2023, Algorithm 2).

Layout used throughout the package: ``x``, ``delta`` are ``(batch, length, d)``; ``A`` is
``(d, n)``; ``B`` and ``C`` are ``(batch, length, n)``; states are ``(batch, d, n)``.

The recurrence, with ZOH for A and the simplified (Euler) rule for B, as in Mamba::

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * x_t
    y_t = <C_t, h_t>
"""

from __future__ import annotations

import torch
from torch import Tensor


def scan_ref(
    x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Materialised time loop: ``exp(delta A)`` and ``delta B x`` for every step, then a loop.

    Returns ``(y, h_last)`` with ``y`` ``(batch, length, d)`` and ``h_last`` ``(batch, d, n)``.
    Memory is ``O(batch * length * d * n)``; this is the slow, obviously-correct baseline.
    """
    batch, _, d = x.shape
    dA = torch.exp(delta[..., None] * A)  # (b, l, d, n)
    dBx = (delta * x)[..., None] * B[:, :, None, :]  # (b, l, d, n)
    h = x.new_zeros(batch, d, A.shape[1]) if h0 is None else h0
    ys = []  # unbind (not dA[:, t]) so autograd gathers the step gradients once: linear backward
    for dA_t, dBx_t, C_t in zip(dA.unbind(1), dBx.unbind(1), C.unbind(1), strict=True):
        h = dA_t * h + dBx_t
        ys.append(torch.einsum("bdn,bn->bd", h, C_t))
    return torch.stack(ys, dim=1), h
