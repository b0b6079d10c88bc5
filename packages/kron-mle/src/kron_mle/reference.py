"""Slow, plain-PyTorch references of the fast paths (per-sample loops, dense Kronecker products).

Kept beside the optimised engines so that tests can check them against the textbook formulas:
one sample at a time, explicit inverses, no batching, no layout tricks. Small sizes only.
"""

from __future__ import annotations

import math
from functools import reduce

import torch


def mode_update_reference(Y: torch.Tensor, factors: list[torch.Tensor], k: int) -> torch.Tensor:
    """``Sigma_k = (m_k / (n M)) sum_i Y_(k) (kron_{j != k} Sigma_j^{-1}) Y_(k)^T``, densely.

    ``Y``: ``(n, m1, ..., mK)``; ``factors[j]``: ``(m_j, m_j)``. The mode-``k`` unfolding keeps the
    other modes in row-major order, so the inverse covariance of its columns is the Kronecker
    product of the other factors' inverses in increasing mode order.
    """
    n, dims = Y.shape[0], Y.shape[1:]
    others = [torch.linalg.inv(S) for j, S in enumerate(factors) if j != k]
    P = reduce(torch.kron, others)
    total = math.prod(dims)
    out = torch.zeros(dims[k], dims[k], dtype=Y.dtype)
    for i in range(n):
        U = Y[i].movedim(k, 0).reshape(dims[k], -1)
        out += U @ P @ U.T
    return out * dims[k] / (n * total)


def flipflop_reference(
    Y: torch.Tensor, sweeps: int, init: list[torch.Tensor] | None = None
) -> tuple[list[torch.Tensor], list[float]]:
    """``sweeps`` flip-flop sweeps over all modes (mode 1 first) on zero-mean ``Y``.

    Returns the factors and the log-likelihood after each sweep, evaluated densely as
    ``sum_i log N(vec Y_i; 0, Sigma_K (x) ... (x) Sigma_1)`` with column-stacking ``vec``.
    """
    dims = Y.shape[1:]
    factors = init or [torch.eye(m, dtype=Y.dtype) for m in dims]
    trace = []
    for _ in range(sweeps):
        for k in range(len(dims)):
            factors[k] = mode_update_reference(Y, factors, k)
        trace.append(dense_loglik_reference(Y, factors))
    return factors, trace


def dense_loglik_reference(Y: torch.Tensor, factors: list[torch.Tensor]) -> float:
    """``sum_i log N(vec Y_i; 0, Sigma_K (x) ... (x) Sigma_1)`` with column-stacking ``vec``."""
    cov = reduce(torch.kron, list(reversed(factors)))
    vec = Y.permute(0, *range(Y.ndim - 1, 0, -1)).reshape(Y.shape[0], -1)  # first index fastest
    quad = (vec * torch.linalg.solve(cov, vec.T).T).sum()
    logdet = torch.linalg.slogdet(cov)[1]
    n, dim = vec.shape
    return float(-0.5 * (n * dim * math.log(2 * math.pi) + n * logdet + quad))
