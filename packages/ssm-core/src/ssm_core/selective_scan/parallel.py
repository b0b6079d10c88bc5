"""Parallel associative scan for ``h_t = a_t * h_{t-1} + b_t`` (log depth, linear work).

The pairs ``(a, b)`` compose associatively: ``(a2, b2) o (a1, b1) = (a2 a1, a2 b1 + b2)``.
``linear_scan`` uses the odd-even (Blelloch-style) reduction: combine neighbouring pairs,
scan the half-length sequence recursively, then fill in the even positions. Work is
``O(length)`` and depth ``O(log length)``, which suits GPUs; autograd goes through plain ops.
"""

from __future__ import annotations

import torch
from torch import Tensor


def linear_scan(a: Tensor, b: Tensor, dim: int = 1) -> Tensor:
    """All states of ``h_t = a_t h_{t-1} + b_t`` with ``h_{-1} = 0``, scanning along ``dim``."""
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    a, b = a.movedim(dim, 0), b.movedim(dim, 0)
    return _scan(a, b).movedim(0, dim)


def _scan(a: Tensor, b: Tensor) -> Tensor:
    length = a.shape[0]
    if length == 1:
        return b
    if length % 2:  # pad with the identity element (a=1, b=0)
        a = torch.cat([a, a.new_ones(1, *a.shape[1:])])
        b = torch.cat([b, b.new_zeros(1, *b.shape[1:])])
    a_even, a_odd, b_even, b_odd = a[0::2], a[1::2], b[0::2], b[1::2]
    h_odd = _scan(a_odd * a_even, a_odd * b_even + b_odd)  # states at positions 1, 3, 5, ...
    h_prev = torch.cat([torch.zeros_like(h_odd[:1]), h_odd[:-1]])
    h_even = a_even * h_prev + b_even  # states at positions 0, 2, 4, ...
    return torch.stack([h_even, h_odd], dim=1).flatten(0, 1)[:length]


def scan_parallel(
    x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Selective scan through :func:`linear_scan`; same contract as :func:`scan_ref`."""
    dA = torch.exp(delta[..., None] * A)
    dBx = (delta * x)[..., None] * B[:, :, None, :]
    if h0 is not None:  # fold the initial state into the first input
        dBx = torch.cat([(dBx[:, :1] + dA[:, :1] * h0[:, None]), dBx[:, 1:]], dim=1)
    hs = linear_scan(dA, dBx, dim=1)
    return torch.einsum("bldn,bln->bld", hs, C), hs[:, -1]
