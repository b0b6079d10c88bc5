"""Structured state-space duality (SSD, Mamba-2): chunked, quadratic and recurrent forms.

One entry point, :func:`ssd`, validates shapes, broadcasts grouped ``B``/``C`` to heads and
dispatches to a form; all forms agree (tested in float64 and float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ssm_core.precision import compute_dtype, upcast
from ssm_core.ssd.chunked import ssd_chunked
from ssm_core.ssd.ref import segsum, ssd_quadratic, ssd_recurrent

FORMS = {"chunked": ssd_chunked, "quadratic": ssd_quadratic, "recurrent": ssd_recurrent}


@dataclass
class SSDResult:
    """Output ``y`` ``(batch, length, heads, head_dim)`` and final state ``(batch, heads, head_dim, d_state)``."""

    y: Tensor
    final_state: Tensor


def _check(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor | None) -> None:
    if x.ndim != 4:
        raise ValueError(f"x must be (batch, length, heads, head_dim), got {tuple(x.shape)}")
    b, length, h, p = x.shape
    if length == 0:
        raise ValueError("x has length 0: SSD needs at least one step")
    if B.ndim != 4 or C.shape != B.shape or B.shape[:2] != (b, length):
        raise ValueError(
            f"B and C must both be (batch={b}, length={length}, groups, d_state), got "
            f"{tuple(B.shape)} and {tuple(C.shape)}"
        )
    if h % B.shape[2]:
        raise ValueError(f"heads ({h}) must be a multiple of the groups of B/C ({B.shape[2]})")
    for name, t, shape in (("dt", dt, (b, length, h)), ("A", A, (h,))):
        if tuple(t.shape) != shape:
            raise ValueError(
                f"{name} must have shape {shape} to match x {tuple(x.shape)}, got {tuple(t.shape)}"
            )
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or Inf: the decay exp(dt*A) needs finite values")
    if bool((A > 0).any()):
        raise ValueError("A must be <= 0 (a decay); pass A = -exp(A_log)")
    if h0 is not None and tuple(h0.shape) != (b, h, p, B.shape[3]):
        raise ValueError(
            f"initial_state must have shape {(b, h, p, B.shape[3])}, got {tuple(h0.shape)}"
        )


def ssd(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    *,
    initial_state: Tensor | None = None,
    form: str = "chunked",
    chunk_size: int = 64,
) -> SSDResult:
    """Multi-head SSD ``h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T``, ``y_t = h_t C_t``.

    ``B``, ``C``: ``(batch, length, groups, d_state)`` shared by ``heads // groups`` heads each.
    Lower-precision inputs run in float32 (``ssm_core.precision``): ``y`` comes back in ``x``'s
    dtype, the final state in the compute dtype.
    """
    _check(x, dt, A, B, C, initial_state)
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; choose one of {sorted(FORMS)}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    out_dtype = x.dtype
    x, dt, A, B, C, initial_state = upcast(
        compute_dtype(x, dt, A, B, C, initial_state), x, dt, A, B, C, initial_state
    )
    if form == "chunked":
        y, state = ssd_chunked(x, dt, A, B, C, initial_state, chunk_size)
    else:
        rep = x.shape[2] // B.shape[2]
        B, C = B.repeat_interleave(rep, dim=2), C.repeat_interleave(rep, dim=2)
        y, state = FORMS[form](x, dt, A, B, C, initial_state)
    return SSDResult(y.to(out_dtype), state)


__all__ = ["FORMS", "SSDResult", "segsum", "ssd", "ssd_chunked", "ssd_quadratic", "ssd_recurrent"]
