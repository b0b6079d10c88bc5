"""Reference forms of the SSD layer (Mamba-2, Dao & Gu 2024).

Layout: ``x`` ``(batch, length, heads, head_dim)``; ``dt`` ``(batch, length, heads)`` (positive
time steps); ``A`` ``(heads,)`` (negative: scalar-times-identity per head); ``B``, ``C``
``(batch, length, heads, d_state)`` (groups already broadcast to heads); states
``(batch, heads, head_dim, d_state)``. The recurrence::

    h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T        y_t = h_t C_t
"""

from __future__ import annotations

import torch
from torch import Tensor


def segsum(a: Tensor) -> Tensor:
    """``S[..., i, j] = a[..., j+1] + ... + a[..., i]`` for ``i >= j``, ``-inf`` above the diagonal.

    Built by a masked cumulative sum (not a difference of cumsums), so for ``a <= 0`` every
    finite entry is ``<= 0`` and ``exp(S)`` never overflows.
    """
    T = a.shape[-1]
    rep = a[..., :, None].expand(*a.shape, T)
    strict = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)
    s = rep.masked_fill(~strict, 0).cumsum(dim=-2)
    return s.masked_fill(~torch.ones_like(strict).tril(), float("-inf"))


def ssd_recurrent(
    x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Step-by-step recurrence; returns ``(y, final_state)``."""
    b, length, h, p = x.shape
    state = x.new_zeros(b, h, p, B.shape[-1]) if h0 is None else h0
    decay = torch.exp(dt * A)  # (b, l, h)
    ys = []
    for t in range(length):
        inp = torch.einsum("bhp,bhn->bhpn", x[:, t] * dt[:, t, :, None], B[:, t])
        state = decay[:, t, :, None, None] * state + inp
        ys.append(torch.einsum("bhpn,bhn->bhp", state, C[:, t]))
    return torch.stack(ys, 1), state


def ssd_quadratic(
    x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The "attention" form ``y = (L o C B^T) (dt x)`` with the 1-semiseparable mask
    ``L[i, j] = exp(dtA_{j+1} + ... + dtA_i)``; ``O(length^2)`` time and memory."""
    dA = (dt * A).transpose(1, 2)  # (b, h, l)
    L = torch.exp(segsum(dA))  # (b, h, l, l)
    xdt = x * dt[..., None]
    y = torch.einsum("bihn,bjhn,bhij,bjhp->bihp", C, B, L, xdt)
    to_end = L[:, :, -1]  # (b, h, l): decay from each step to the last
    final = torch.einsum("bhj,bjhn,bjhp->bhpn", to_end, B, xdt)
    if h0 is not None:
        from_start = torch.exp(dA.cumsum(-1))  # (b, h, l), exponents <= 0
        y = y + torch.einsum("bhi,bihn,bhpn->bihp", from_start, C, h0)
        final = final + from_start[:, :, -1, None, None] * h0
    return y, final
