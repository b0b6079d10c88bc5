"""Chunked SSD algorithm (Mamba-2, Listing 1 of Dao & Gu 2024), memory linear in length.

Within each chunk of ``T`` steps the output is the quadratic form with a segment-sum mask;
across chunks a state of size ``(heads, head_dim, d_state)`` is passed by a short loop. All
decay exponents are sums of ``dt*A <= 0`` relative to a point inside the chunk, so they stay
``<= 0``. A length not divisible by ``T`` is padded with ``dt = 0`` steps, which leave the state
unchanged (decay ``exp(0) = 1``, input ``0``).

Tensors are laid out head-major and contiguous, ``(batch, heads, chunks, T, ...)``, so that every
product is a plain batched ``matmul`` without hidden copies.
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
    """Chunked SSD with grouped ``B``, ``C`` ``(batch, length, groups, d_state)``; same
    contract as :func:`ssm_core.ssd.ref.ssd_recurrent` otherwise."""
    b, length, h, p = x.shape
    g, n, T = B.shape[2], B.shape[3], chunk_size
    pad = (-length) % T
    if pad:
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
    c = x.shape[1] // T

    def heads(t: Tensor) -> Tensor:  # (b, l, g, n) -> contiguous (b, h, c, T, n)
        t = t.repeat_interleave(h // g, dim=2).reshape(b, c, T, h, n)
        return t.permute(0, 3, 1, 2, 4).contiguous()

    B, C = heads(B), heads(C)
    xdt = (
        (x * dt[..., None]).reshape(b, c, T, h, p).permute(0, 3, 1, 2, 4).contiguous()
    )  # (b, h, c, T, p)
    dA = (dt * A).reshape(b, c, T, h).permute(0, 3, 1, 2)  # (b, h, c, T)
    cum = dA.cumsum(-1)

    # 1. intra-chunk outputs: (C B^T o L) (dt x)
    scores = (C @ B.transpose(-1, -2)) * torch.exp(segsum(dA))  # (b, h, c, T, T)
    y = scores @ xdt

    # 2. each chunk's own contribution to the state at its end: (b, h, c, p, n)
    to_end = torch.exp(cum[..., -1:] - cum)  # exponents <= 0
    chunk_states = (xdt * to_end[..., None]).transpose(-1, -2) @ B

    # 3. pass states across chunks (a loop of c steps on small tensors)
    state = x.new_zeros(b, h, p, n) if h0 is None else h0
    chunk_decay = torch.exp(cum[..., -1])[..., None, None]  # (b, h, c, 1, 1)
    starts = torch.empty_like(chunk_states)
    for k in range(c):
        starts[:, :, k] = state
        state = chunk_decay[:, :, k] * state + chunk_states[:, :, k]

    # 4. contribution of each chunk's starting state to its outputs
    y = y + (C @ starts.transpose(-1, -2)) * torch.exp(cum)[..., None]
    y = y.permute(0, 2, 3, 1, 4).reshape(b, c * T, h, p)[:, :length]
    return y, state
