"""The matrix/tensor normal model: conventions, log-density, log-likelihood and sampler.

Conventions. Matrix data have shape ``(n, m1, m2)``: ``n`` samples ``Y_i`` of size ``m1 x m2``
with ``vec(Y_i) ~ N(vec M, Sigma2 (x) Sigma1)`` and column-stacking ``vec`` (``Y.T.ravel()``, i.e.
Fortran order). ``Sigma1`` (``m1 x m1``) is the row covariance, ``Sigma2`` (``m2 x m2``) the
column covariance: ``E[(Y - M)(Y - M)^T] = Sigma1 tr(Sigma2)``. Tensor data ``(n, m1, ..., mK)``
have ``Cov(vec Y_i) = Sigma_K (x) ... (x) Sigma_1`` (first index fastest). Only the Kronecker
product is identified: ``(c Sigma1, Sigma2 / c)`` give the same law.

Internally every routine works on a leading batch axis: data ``(B, n, m1, ..., mK)`` and factors
``(B, m_k, m_k)``; mode ``k`` (0-based) of the data lives on axis ``2 + k``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from accelerator_utils import resolve_device
from kron_mle.validation import ArrayLike, as_data, as_factors, random_generator

LOG_2PI = math.log(2.0 * math.pi)


def mode_solve(X: torch.Tensor, L: torch.Tensor, k: int) -> torch.Tensor:
    """``X x_k L^{-1}``: apply the inverse of lower-triangular ``L`` ``(B, m, m)`` along mode ``k``.

    ``X`` has shape ``(B, n, m1, ..., mK)``; the result has the same shape.
    """
    Xk = X.movedim(2 + k, 1)
    shape = Xk.shape
    Z = torch.linalg.solve_triangular(L, Xk.reshape(shape[0], shape[1], -1), upper=False)
    return Z.reshape(shape).movedim(1, 2 + k)


def mode_apply(X: torch.Tensor, A: torch.Tensor, k: int) -> torch.Tensor:
    """``X x_k A``: multiply every mode-``k`` fibre of ``X`` by ``A`` ``(B, m', m)``."""
    Xk = X.movedim(2 + k, 1)
    shape = Xk.shape
    Z = A @ Xk.reshape(shape[0], shape[1], -1)
    return Z.reshape((shape[0], A.shape[-2], *shape[2:])).movedim(1, 2 + k)


def mode_gram(X: torch.Tensor, k: int) -> torch.Tensor:
    """``sum_i X_(k) X_(k)^T`` over samples and the other modes: ``(B, m_k, m_k)``."""
    Xk = X.movedim(2 + k, 1)
    flat = Xk.reshape(Xk.shape[0], Xk.shape[1], -1)
    return flat @ flat.mT


def logdet_chol(L: torch.Tensor) -> torch.Tensor:
    """``log det(L L^T)`` from a Cholesky factor ``(..., m, m)``."""
    return 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)


def whitened_logpdf(X: torch.Tensor, lds: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-sample log-density ``(B, n)`` from whitened residuals and the factors' log-dets."""
    dims = X.shape[2:]
    M = math.prod(dims)
    logdet = sum(ld * (M // m) for ld, m in zip(lds, dims))
    quad = X.reshape(X.shape[0], X.shape[1], -1).pow(2).sum(-1)
    return -0.5 * (M * LOG_2PI + quad + logdet.unsqueeze(-1))


def batched_logpdf(Y: torch.Tensor, chols: Sequence[torch.Tensor]) -> torch.Tensor:
    """Log-density ``(B, n)`` of zero-mean data ``(B, n, m1..mK)`` given Cholesky factors."""
    X = Y
    for k, L in enumerate(chols):
        X = mode_solve(X, L, k)
    return whitened_logpdf(X, [logdet_chol(L) for L in chols])


def logpdf(
    Y: ArrayLike, factors: Sequence[ArrayLike], mean: ArrayLike | None = None
) -> torch.Tensor:
    """Log-density of each sample: ``Y`` ``(n, m1, ..., mK)``, ``factors[k]`` ``(m_k, m_k)``.

    Returns a float tensor ``(n,)`` (nats). ``mean`` (``(m1, ..., mK)``) defaults to zero.
    """
    Yt = as_data(Y)
    if mean is not None:
        Yt = Yt - torch.as_tensor(mean).to(Yt)
    dims = Yt.shape[2:]
    facs = as_factors(factors, dims, Yt)
    chols = [torch.linalg.cholesky(S).unsqueeze(0) for S in facs]
    return batched_logpdf(Yt, chols)[0]


def loglik(Y: ArrayLike, factors: Sequence[ArrayLike], mean: ArrayLike | None = None) -> float:
    """Log-likelihood (nats) of all samples: the sum of :func:`logpdf`."""
    return float(logpdf(Y, factors, mean).sum())


def sample(
    factors: Sequence[ArrayLike],
    n: int,
    *,
    mean: ArrayLike | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Draw ``n`` samples ``(n, m1, ..., mK)`` of the matrix/tensor normal with these factors.

    Randomness: ``seed`` (an int; ``None`` draws fresh entropy) or a ``generator`` on
    ``device``; global RNG state is never touched.

    ``Y = M + Z x_1 L_1 x_2 ... x_K L_K`` with ``Z`` standard normal and ``L_k L_k^T = Sigma_k``,
    so ``Cov(vec Y) = Sigma_K (x) ... (x) Sigma_1`` (column-stacking vec).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if len(factors) < 2:
        raise ValueError("need at least two factors (row and column covariance)")
    dev = resolve_device(device) if device is not None else torch.device("cpu")
    like = torch.empty(0, device=dev, dtype=dtype)
    dims = [int(torch.as_tensor(S).shape[-1]) for S in factors]
    facs = as_factors(factors, dims, like)
    gen = random_generator(seed, generator, dev)
    X = torch.randn((1, n, *dims), generator=gen, device=dev, dtype=dtype)
    for k, S in enumerate(facs):
        X = mode_apply(X, torch.linalg.cholesky(S).unsqueeze(0), k)
    X = X[0]
    if mean is not None:
        X = X + torch.as_tensor(mean).to(X)
    return X


def helmert_contrasts(Y: torch.Tensor) -> torch.Tensor:
    """The ``n - 1`` orthonormal Helmert contrasts of ``Y`` ``(B, n, ...)`` along axis 1.

    ``H_j = (Y_1 + ... + Y_j - j Y_{j+1}) / sqrt(j (j + 1))``: i.i.d. ``N(0, Sigma)`` when the
    ``Y_i`` are i.i.d. ``N(M, Sigma)``, and ``sum_j H_j H_j^T = sum_i (Y_i - Ybar)(Y_i - Ybar)^T``.
    """
    n = Y.shape[1]
    j = torch.arange(1, n, device=Y.device, dtype=Y.dtype)
    shape = (1, n - 1) + (1,) * (Y.ndim - 2)
    csum = Y.cumsum(1)[:, :-1]
    return (csum - j.reshape(shape) * Y[:, 1:]) / torch.sqrt(j * (j + 1)).reshape(shape)
