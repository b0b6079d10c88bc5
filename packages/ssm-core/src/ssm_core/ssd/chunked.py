"""Chunked SSD algorithm (Mamba-2, Listing 1 of Dao & Gu 2024), memory linear in length.

Within each chunk of ``T`` steps the output is the quadratic form with a segment-sum mask;
across chunks a state of size ``(heads, head_dim, d_state)`` is passed by a short loop. All
decay exponents are sums of ``dt*A <= 0`` relative to a point inside the chunk, so they stay
``<= 0``. A length not divisible by ``T`` is padded with ``dt = 0`` steps, which leave the state
unchanged (decay ``exp(0) = 1``, input ``0``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ssm_core.ssd.ref import segsum


def ssd_chunked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    h0: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """Chunked SSD; same contract as :func:`ssm_core.ssd.ref.ssd_recurrent`."""
    b, length, h, p = x.shape
    n, T = B.shape[-1], chunk_size
    pad = (-length) % T
    if pad:
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
    c = x.shape[1] // T
    xdt = (x * dt[..., None]).reshape(b, c, T, h, p)
    B, C = B.reshape(b, c, T, h, n), C.reshape(b, c, T, h, n)
    dA = (dt * A).reshape(b, c, T, h).permute(0, 3, 1, 2)  # (b, h, c, T)
    cum = dA.cumsum(-1)

    # 1. intra-chunk outputs: quadratic form with the segment-sum mask
    L = torch.exp(segsum(dA))  # (b, h, c, T, T)
    y = torch.einsum("bcihn,bcjhn,bhcij,bcjhp->bcihp", C, B, L, xdt)

    # 2. each chunk's own contribution to the state at its end
    to_end = torch.exp(cum[..., -1:] - cum)  # (b, h, c, T), exponents <= 0
    chunk_states = torch.einsum("bcjhn,bhcj,bcjhp->bchpn", B, to_end, xdt)

    # 3. pass states across chunks (a loop of c steps on small tensors)
    state = x.new_zeros(b, h, p, n) if h0 is None else h0
    chunk_decay = torch.exp(cum[..., -1])  # (b, h, c)
    starts = []
    for k in range(c):
        starts.append(state)
        state = chunk_decay[:, :, k, None, None] * state + chunk_states[:, k]
    starts = torch.stack(starts, 1)  # (b, c, h, p, n)

    # 4. contribution of each chunk's starting state to its outputs
    y = y + torch.einsum("bcihn,bchpn,bhci->bcihp", C, starts, torch.exp(cum))
    return y.reshape(b, c * T, h, p)[:, :length], state
