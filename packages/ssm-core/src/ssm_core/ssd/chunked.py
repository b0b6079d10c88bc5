"""Chunked SSD algorithm (Mamba-2, Listing 1 of Dao & Gu 2024), memory linear in length.

Within each chunk of ``T`` steps the output is the quadratic form with a segment-sum mask;
across chunks a state of size ``(heads, head_dim, d_state)`` is passed by a short loop. All
decay exponents are sums of ``dt*A <= 0`` relative to a point inside the chunk, so they stay
``<= 0``. A length not divisible by ``T`` is padded with ``dt = 0`` steps, which leave the state
unchanged (decay ``exp(0) = 1``, input ``0``).

``B`` and ``C`` are shared by the ``r = heads // groups`` heads of a group, so every product that
involves only them is formed once per group: ``C B^T`` is ``(T, T)`` per group and chunk, and
the chunk states and the outputs of the carried states are single matrix products over all
``r * head_dim`` columns of a group. The main layout is ``(batch, groups, chunks, T, r, head_dim)``.
``exp`` is evaluated as ``exp2`` of exponents scaled by ``log2 e`` (several times cheaper on
CPUs where ``exp`` is not vectorised; the exponents keep their sign).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG2E = 1 / math.log(2)


def decay_matrix(a: Tensor) -> Tensor:
    """``2 ** segsum(a)``: ``M[..., i, j] = 2^(a[j+1] + ... + a[i])`` for ``i >= j``, else 0.

    The same masked cumulative sum as :func:`ssm_core.ssd.ref.segsum` (each entry sums only its
    own segment, so for ``a <= 0`` every exponent is ``<= 0`` and accurate), done in place on one
    ``(..., T, T)`` buffer.
    """
    T = a.shape[-1]
    lower = torch.ones(T, T, dtype=torch.bool, device=a.device).tril()
    s = torch.where(lower.tril(-1), a[..., :, None], 0.0).cumsum_(-2)
    return s.masked_fill_(~lower, -math.inf).exp2_()


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
    r = h // g
    pad = (-length) % T
    if pad:
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
    c = x.shape[1] // T

    # layouts: per group (b, g, c, T, n); per head (b, g, r, c, T); inputs (b, g, c, T, r, p)
    Bg = B.reshape(b, c, T, g, n).permute(0, 3, 1, 2, 4)
    Cg = C.reshape(b, c, T, g, n).permute(0, 3, 1, 2, 4)
    xdt = (x * dt[..., None]).reshape(b, c, T, g, r, p).permute(0, 3, 1, 2, 4, 5).contiguous()
    dA = (dt * (A * LOG2E)).reshape(b, c, T, g, r).permute(0, 3, 4, 1, 2)  # log2 decays
    cum = dA.cumsum(-1)  # (b, g, r, c, T), <= 0

    # 1. intra-chunk outputs: (C B^T o L) (dt x), C B^T once per group
    scores = (Cg @ Bg.transpose(-1, -2))[:, :, None] * decay_matrix(dA)  # (b,g,r,c,T,T)
    y = scores @ xdt.permute(0, 1, 4, 2, 3, 5)  # (b, g, r, c, T, p)

    # 2. each chunk's own contribution to the state at its end, per group: (b, g, c, r*p, n)
    to_end = torch.exp2(cum[..., -1:] - cum).permute(0, 1, 3, 4, 2)  # (b, g, c, T, r), <= 1
    weighted = (xdt * to_end[..., None]).reshape(b, g, c, T, r * p)
    chunk_states = weighted.transpose(-1, -2) @ Bg

    # 3. pass states across chunks (a loop of c steps on small tensors)
    state = x.new_zeros(b, h, p, n) if h0 is None else h0
    state = state.reshape(b, g, r, p, n)
    chunk_decay = torch.exp2(cum[..., -1])[..., None, None]  # (b, g, r, c, 1, 1)
    chunk_states = chunk_states.reshape(b, g, c, r, p, n)
    starts = torch.empty_like(chunk_states)
    for k in range(c):
        starts[:, :, k] = state
        state = chunk_decay[:, :, :, k] * state + chunk_states[:, :, k]

    # 4. contribution of each chunk's starting state to its outputs: C once per group
    carried = Cg @ starts.reshape(b, g, c, r * p, n).transpose(-1, -2)  # (b, g, c, T, r*p)
    carried = carried.reshape(b, g, c, T, r, p) * torch.exp2(cum).permute(0, 1, 3, 4, 2)[..., None]
    y = y.permute(0, 3, 4, 1, 2, 5) + carried.permute(0, 2, 3, 1, 4, 5)  # (b, c, T, g, r, p)
    return y.reshape(b, c * T, h, p)[:, :length], state.reshape(b, h, p, n)
