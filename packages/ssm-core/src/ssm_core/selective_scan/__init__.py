"""Selective scan (S6): one entry point, three engines that agree.

* ``"ref"``: materialised sequential loop (:mod:`.ref`), the reference;
* ``"chunked"``: memory-bounded CPU engine with a custom backward (:mod:`.chunked`);
* ``"parallel"``: log-depth associative scan (:mod:`.parallel`), for GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ssm_core.precision import compute_dtype, upcast
from ssm_core.selective_scan.chunked import scan_chunked
from ssm_core.selective_scan.parallel import linear_scan, scan_parallel
from ssm_core.selective_scan.ref import scan_ref

ENGINES = {"ref": scan_ref, "chunked": scan_chunked, "parallel": scan_parallel}


@dataclass
class ScanResult:
    """Output ``y`` ``(batch, length, d)`` and the state after the last step ``(batch, d, n)``."""

    y: Tensor
    final_state: Tensor


def _check_inputs(x, delta, A, B, C, D, z, h0, delta_bias) -> None:
    if x.ndim != 3:
        raise ValueError(f"x must be (batch, length, d), got shape {tuple(x.shape)}")
    batch, length, d = x.shape
    if length == 0:
        raise ValueError("x has length 0: the scan needs at least one step")
    if A.ndim != 2 or A.shape[0] != d:
        raise ValueError(f"A must be (d={d}, n), got {tuple(A.shape)}")
    n = A.shape[1]
    expected = {
        "delta": (delta, (batch, length, d)),
        "B": (B, (batch, length, n)),
        "C": (C, (batch, length, n)),
        "D": (D, (d,)),
        "z": (z, (batch, length, d)),
        "initial_state": (h0, (batch, d, n)),
        "delta_bias": (delta_bias, (d,)),
    }
    for name, (t, shape) in expected.items():
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(
                f"{name} must have shape {shape} to match x {tuple(x.shape)} and A {tuple(A.shape)}, "
                f"got {tuple(t.shape)}"
            )
    for name, t in (("delta", delta), ("A", A)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(
                f"{name} contains NaN or Inf: the discretisation exp(delta*A) needs finite values"
            )


def auto_chunk_size(batch: int, d: int, n: int, elements: int = 2**18) -> int:
    """Chunk length whose ``(T, batch, d, n)`` buffers hold about ``elements`` values (so they
    stay in cache), clamped to ``[8, 256]``."""
    return max(8, min(256, elements // (batch * d * n)))


def selective_scan(
    x: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    *,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    initial_state: Tensor | None = None,
    engine: str = "chunked",
    chunk_size: int | None = None,
) -> ScanResult:
    """Selective scan ``y = SSM(exp(delta A), delta B, C)(x) + D x``, gated by ``silu(z)``.

    Shapes: ``x``, ``delta``, ``z`` ``(batch, length, d)``; ``A`` ``(d, n)`` (negative real parts
    for a stable scan); ``B``, ``C`` ``(batch, length, n)``; ``D``, ``delta_bias`` ``(d,)``;
    ``initial_state`` ``(batch, d, n)``. ``delta`` is a time step: if ``delta_softplus`` it is
    passed through ``softplus(delta + delta_bias)`` first, as in Mamba. ``chunk_size`` of the
    chunked engine: ``None`` picks :func:`auto_chunk_size` (about 1 MiB of float32 per buffer).
    Lower-precision inputs are scanned in float32 (``ssm_core.precision``): ``y`` comes back in
    ``x``'s dtype, the final state in the compute dtype.
    """
    _check_inputs(x, delta, A, B, C, D, z, initial_state, delta_bias)
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}")
    if chunk_size is None:
        chunk_size = auto_chunk_size(x.shape[0], x.shape[2], A.shape[1])
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    work = compute_dtype(x, delta, A, B, C, D, z, initial_state, delta_bias)
    out_dtype = x.dtype
    x, delta, A, B, C, D, z, initial_state, delta_bias = upcast(
        work, x, delta, A, B, C, D, z, initial_state, delta_bias
    )
    if delta_bias is not None:
        delta = delta + delta_bias
    if delta_softplus:
        delta = F.softplus(delta)
    kwargs = {"chunk_size": chunk_size} if engine == "chunked" else {}
    y, h = ENGINES[engine](x, delta, A, B, C, initial_state, **kwargs)
    if D is not None:
        y = y + x * D
    if z is not None:
        y = y * F.silu(z)
    return ScanResult(y.to(out_dtype), h)


__all__ = [
    "ENGINES",
    "ScanResult",
    "auto_chunk_size",
    "linear_scan",
    "scan_chunked",
    "scan_parallel",
    "scan_ref",
    "selective_scan",
]
