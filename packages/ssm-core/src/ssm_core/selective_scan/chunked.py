"""Fast, memory-bounded CPU engine for the selective scan, with a custom backward.

Forward: the sequence is cut into chunks of ``chunk_size`` steps. Per chunk the discretised
``exp(delta A)`` and ``delta B x`` are built time-major ``(T, batch, d, n)``, the recurrence runs
as one fused ``addcmul`` per step writing straight into a state buffer, and the outputs are a
single contraction with ``C``. Only the state at each chunk boundary is kept for backward.

Backward: chunks are visited in reverse; each recomputes its states from the saved boundary
state, runs the adjoint recurrence ``g_t = dL/dh_t + exp(delta_{t+1} A) g_{t+1}`` (again one
``addcmul`` per step) and reduces the parameter gradients. Peak extra memory is
``O(chunk_size * batch * d * n)`` instead of ``O(length * batch * d * n)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG2E = 1 / math.log(2)


def _discretise(x: Tensor, delta: Tensor, A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    """Time-major ``exp(delta A)`` and ``delta B x`` of one chunk: both ``(T, batch, d, n)``.

    ``exp(z)`` is evaluated as ``exp2(z log2 e)`` (with ``A log2 e`` formed once per chunk),
    which is about 3x faster than ``exp`` on CPUs where ``exp`` is not vectorised. (Reductions:
    matrix-vector products as multiply-and-sum, vector-matrix ones as ``matmul``, whichever was
    faster here.)
    """
    dt = delta.transpose(0, 1)  # (T, b, d)
    dA = torch.exp2(dt[..., None] * (A * LOG2E))
    dBx = (dt * x.transpose(0, 1))[..., None] * B.transpose(0, 1)[:, :, None, :]
    return dA, dBx


def _states(dA: Tensor, dBx: Tensor, h: Tensor) -> Tensor:
    """All states of one chunk, ``hs[t] = dA[t] * hs[t-1] + dBx[t]`` with ``hs[-1] = h``."""
    hs = torch.empty_like(dBx)
    for a, b, out in zip(dA.unbind(0), dBx.unbind(0), hs.unbind(0), strict=True):
        h = torch.addcmul(b, a, h, out=out)
    return hs


class _ChunkedScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, delta, A, B, C, h0, chunk_size):  # type: ignore[override]
        length = x.shape[1]
        h = h0
        ys, boundaries = [], []
        for s in range(0, length, chunk_size):
            e = min(s + chunk_size, length)
            boundaries.append(h)
            dA, dBx = _discretise(x[:, s:e], delta[:, s:e], A, B[:, s:e])
            hs = _states(dA, dBx, h)
            ys.append((hs * C[:, s:e].transpose(0, 1)[:, :, None]).sum(-1).transpose(0, 1))
            h = hs[-1].clone()
        ctx.save_for_backward(x, delta, A, B, C, *boundaries)
        ctx.chunk_size = chunk_size
        return torch.cat(ys, dim=1), h

    @staticmethod
    def backward(ctx, dy, dh_last):  # type: ignore[override]
        x, delta, A, B, C, *boundaries = ctx.saved_tensors
        length, cs = x.shape[1], ctx.chunk_size
        dx, ddelta = torch.zeros_like(x), torch.zeros_like(delta)
        dB, dC, dAp = torch.zeros_like(B), torch.zeros_like(C), torch.zeros_like(A)
        carry = torch.zeros_like(boundaries[0]) if dh_last is None else dh_last
        starts = list(range(0, length, cs))
        for k in reversed(range(len(starts))):
            s, e = starts[k], min(starts[k] + cs, length)
            xc, dtc, Bc, Cc = x[:, s:e], delta[:, s:e], B[:, s:e], C[:, s:e]
            dA, dBx = _discretise(xc, dtc, A, Bc)
            hs = _states(dA, dBx, boundaries[k])
            dyc = dy[:, s:e] if dy is not None else torch.zeros_like(xc)
            g = dyc.transpose(0, 1)[..., None] * Cc.transpose(0, 1)[:, :, None]
            g[-1] += carry
            gs, das = g.unbind(0), dA.unbind(0)
            for t in range(e - s - 2, -1, -1):
                torch.addcmul(gs[t], das[t + 1], gs[t + 1], out=gs[t])
            carry = dA[0] * g[0]
            h_prev = torch.cat([boundaries[k][None], hs[:-1]])
            dlog = g * h_prev * dA  # d loss / d (delta A), (T, b, d, n)
            gB = (g * Bc.transpose(0, 1)[:, :, None]).sum(-1).transpose(0, 1)  # dL/d(delta x)
            dAp += (dlog * dtc.transpose(0, 1)[..., None]).sum((0, 1))
            ddelta[:, s:e] = (dlog * A).sum(-1).transpose(0, 1) + gB * xc
            dx[:, s:e] = gB * dtc
            dB[:, s:e] = ((dtc * xc).transpose(0, 1)[:, :, None] @ g).squeeze(2).transpose(0, 1)
            dC[:, s:e] = (dyc.transpose(0, 1)[:, :, None] @ hs).squeeze(2).transpose(0, 1)
        return dx, ddelta, dAp, dB, dC, carry, None


def scan_chunked(
    x: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    h0: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """Selective scan by the chunked engine; same contract as :func:`scan_ref`."""
    if h0 is None:
        h0 = x.new_zeros(x.shape[0], x.shape[2], A.shape[1])
    return _ChunkedScan.apply(x, delta, A, B, C, h0, chunk_size)
