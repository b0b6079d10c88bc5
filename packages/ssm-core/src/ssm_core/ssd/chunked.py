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


def decay_matrix(cum: Tensor) -> Tensor:
    """``M[..., i, j] = 2^(cum[i] - cum[j]) = 2^(a[j+1] + ... + a[i])`` for ``i >= j``, else 0.

    ``cum`` ``(..., T)``: cumulative sums of ``a <= 0`` *within one chunk* (the segment sums
    relative to the chunk). ``cum`` is non-increasing, also in rounded arithmetic, so every
    exponent is ``<= 0``; the difference costs an absolute exponent error of about
    ``|cum| * 2^-24`` in float32 (chunk-relative sums keep ``|cum|`` small), one fused pass
    instead of a masked cumulative sum over a ``(T, T)`` buffer (2x faster here).
    """
    T = cum.shape[-1]
    upper = torch.ones(T, T, dtype=torch.bool, device=cum.device).triu(1)
    return (cum[..., :, None] - cum[..., None, :]).masked_fill_(upper, -math.inf).exp2_()


def _carry(Cg: Tensor, chunk_states: Tensor, decay: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
    """Outputs of the state carried into each chunk, ``C_k s_k^T`` ``(b, g, c, T, r*p)``, and
    the final state ``(b, g, r, p, n)``, where ``s_{k+1} = decay_k s_k + chunk_states_k``.

    ``Cg`` ``(b, g, c, T, n)``, ``chunk_states`` ``(b, g, c, r, p, n)``, ``decay``
    ``(b, g, c, r, 1, 1)``, ``h0`` ``(b, g, r, p, n)``. Each chunk's product is taken as soon as
    its starting state exists, while that state is in cache, so the states of all chunks are
    never stored. Without autograd the state is updated in place by one ``addcmul`` per chunk
    and the products are written into the output buffer; with it, the same out of place.
    """
    b, g, c, T, n = Cg.shape
    rp = chunk_states.shape[3] * chunk_states.shape[4]
    tensors = (Cg, chunk_states, decay, h0)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        outs, state = [], h0
        for k in range(c):
            outs.append(Cg[:, :, k] @ state.reshape(b, g, rp, n).transpose(-1, -2))
            state = torch.addcmul(chunk_states[:, :, k], decay[:, :, k], state)
        return torch.stack(outs, 2), state
    y, state = Cg.new_empty(b, g, c, T, rp), h0.clone()
    for k in range(c):
        torch.matmul(Cg[:, :, k], state.reshape(b, g, rp, n).transpose(-1, -2), out=y[:, :, k])
        torch.addcmul(chunk_states[:, :, k], decay[:, :, k], state, out=state)
    return y, state


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

    # 1. intra-chunk scores C B^T o L, C B^T once per group (applied to dt x at the end)
    scores = (Cg @ Bg.transpose(-1, -2))[:, :, None] * decay_matrix(cum)  # (b,g,r,c,T,T)

    # 2. each chunk's own contribution to the state at its end, per group: (b, g, c, r*p, n)
    to_end = torch.exp2(cum[..., -1:] - cum).permute(0, 1, 3, 4, 2)  # (b, g, c, T, r), <= 1
    weighted = (xdt * to_end[..., None]).reshape(b, g, c, T, r * p)
    chunk_states = weighted.transpose(-1, -2) @ Bg

    # 3.+4. pass states across chunks (a loop of c steps) and, chunk by chunk, the outputs of
    # each chunk's starting state: C once per group, (b, g, c, T, r*p)
    h0 = x.new_zeros(b, h, p, n) if h0 is None else h0
    chunk_decay = torch.exp2(cum[..., -1]).transpose(2, 3)[..., None, None]  # (b, g, c, r, 1, 1)
    carried, state = _carry(
        Cg, chunk_states.reshape(b, g, c, r, p, n), chunk_decay, h0.reshape(b, g, r, p, n)
    )
    # decay and intra-chunk outputs (1.) are applied in place, head by head, reading the inputs
    # through strided views, so no other full-size temporary or copy is made
    y = carried.reshape(b, g, c, T, r, p)
    y.mul_(torch.exp2(cum).permute(0, 1, 3, 4, 2)[..., None])
    for gi in range(g):
        for ri in range(r):
            y[:, gi, :, :, ri].add_(scores[:, gi, ri] @ xdt[:, gi, :, :, ri])
    y = y.permute(0, 2, 3, 1, 4, 5)  # (b, c, T, g, r, p), contiguous when g == 1
    return y.reshape(b, c * T, h, p)[:, :length], state.reshape(b, h, p, n)
