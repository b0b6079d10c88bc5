r"""The closed-form (rational) MLE by castling (Drton, Grosdos & McCormack 2024, arXiv:2401.08280).

Why it is the MLE. For zero-mean data ``Y_1..Y_n`` (``m1 x m2``) stack ``Yt = [Y_1 | ... | Y_n]``
(``m1 x n m2``). For fixed ``Sigma2`` the best ``Sigma1`` is ``S1 = Yt P Yt^T / (n m2)`` with
``P = I_n (x) Sigma2^{-1}``, so the profile log-likelihood is, up to constants,

    l(Sigma2) = -(n m2 / 2) log det(Yt P Yt^T) - (n m1 / 2) log det Sigma2.

Replacing ``Yt`` by ``A Yt`` (any invertible ``A``) shifts ``l`` by a constant, so ``l`` depends on
the data only through the row space ``W`` of ``Yt`` (dimension ``m1`` when ``Yt`` has full rank),
a subspace of ``R^{n m2}``. Let ``U`` (``n m2 x m1``) and ``N`` (``n m2 x k``, ``k = n m2 - m1``) be
orthonormal bases of ``W`` and of its orthogonal complement. Jacobi's complementary-minor identity
for a positive-definite ``P`` reads ``det(U^T P U) = det(P) det(N^T P^{-1} N)``. With
``det P = det(Sigma2)^{-n}`` and ``Lambda = Sigma2^{-1}``:

    l = (n k / 2) log det Sigma2 - (n m2 / 2) log det(N^T (I_n (x) Sigma2) N) + const
      = -(n k / 2) log det Lambda - (n m2 / 2) log det(Nt (I_n (x) Lambda^{-1}) Nt^T) + const,

where ``Nt = N^T`` (``k x n m2``). This is exactly the profile log-likelihood of the *castled*
problem: ``n`` samples ``Y'_i`` of size ``k x m2`` (``Y'_i^T`` = block ``i`` of ``N``) with
column covariance ``Lambda``. Hence ``Sigma2_hat = Lambda_hat^{-1}``, and then
``Sigma1_hat = S1(Sigma2_hat)`` (one exact flip-flop half-step) completes the MLE. Castling
``(m1, m2, n) -> (n m2 - m1, m2, n)`` preserves ``gcd(m1, m2)`` and ``q = a^2 + b^2 - n a b``, so
existence and uniqueness carry over (Derksen & Makam 2021).

The recursion: while ``0 < n m2 - m1 < m1`` castle rows; else while ``0 < n m1 - m2 < m2``
castle columns (the transposed problem); it ends at a vector case (``m1 = 1`` or ``m2 = 1``:
``Sigma_hat = (1/n) sum_i y_i y_i^T``), where the MLE is explicit, or at a castling-minimal
triple where no rational formula applies (then :func:`castling_chain` returns ``None``). In the
coprime case ``m1 = n m2 - 1`` one step suffices: ``z`` spans the right kernel of ``Yt``,
``Z`` (``m2 x n``) holds its blocks, ``Sigma2_hat ~ (Z Z^T)^{-1}`` and
``Sigma1_hat = (1/(n m2)) sum_i Y_i Z Z^T Y_i^T``.

Kernels are computed by a complete QR of ``Yt^T`` (never determinants). Long chains lose accuracy
near the boundary, so :func:`kron_mle.fit` polishes the rational point with flip-flop sweeps
(``polish``; by default one after a chain of two or more castling steps, none after a single
step, whose closed form is exact up to rounding).
"""

from __future__ import annotations

import torch

from kron_mle.flipflop import DivergenceError, checked_cholesky


class NotRationalError(ValueError):
    """Castling ends at a castling-minimal triple: the MLE has no rational closed form here."""


def castling_chain(m1: int, m2: int, n: int) -> list[tuple[int, int, int]] | None:
    """The triples ``(m1, m2, n)`` visited by castling, ending in a vector case; else ``None``."""
    chain = [(m1, m2, n)]
    while m1 > 1 and m2 > 1:
        if 0 < n * m2 - m1 < m1:
            m1 = n * m2 - m1
        elif 0 < n * m1 - m2 < m2:
            m2 = n * m1 - m2
        else:
            return None
        chain.append((m1, m2, n))
    return chain


def right_kernel(Y: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis ``(B, n m2, n m2 - m1)`` of the right kernel of ``[Y_1 | ... | Y_n]``."""
    B, n, m1, m2 = Y.shape
    stacked_t = Y.permute(0, 1, 3, 2).reshape(B, n * m2, m1)  # = Yt^T
    Q, R = torch.linalg.qr(stacked_t, mode="complete")
    diag = torch.diagonal(R, dim1=-2, dim2=-1).abs()
    tol = diag.amax(-1) * n * m2 * torch.finfo(Y.dtype).eps
    if bool((diag.amin(-1) <= tol).any()):
        raise DivergenceError(
            f"the stacked data [Y_1 | ... | Y_n] ({m1} x {n * m2}) are rank deficient: the MLE "
            f"does not exist for these (degenerate) samples; check the data for duplicated or "
            f"linearly dependent rows"
        )
    return Q[..., m1:]


def castle(Y: torch.Tensor) -> torch.Tensor:
    """The castled data ``(B, n, n m2 - m1, m2)``: ``Y'_i^T`` is block ``i`` of the right kernel."""
    B, n, m1, m2 = Y.shape
    N = right_kernel(Y)
    return N.reshape(B, n, m2, n * m2 - m1).mT


def _vector_mle(y: torch.Tensor) -> torch.Tensor:
    """``(1/n) sum_i y_i y_i^T`` for ``y`` ``(B, n, m)``."""
    return y.mT @ y / y.shape[1]


def _normalise(S: torch.Tensor) -> torch.Tensor:
    """Scale ``S`` ``(B, m, m)`` to trace ``m`` (the scale is not identified; keeps chains tame)."""
    m = S.shape[-1]
    return S * (m / torch.diagonal(S, dim1=-2, dim2=-1).sum(-1)).reshape(-1, 1, 1)


def rational_mle(Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form MLE ``(Sigma1, Sigma2)`` of zero-mean data ``Y`` ``(B, n, m1, m2)``.

    Raises :class:`NotRationalError` when castling does not reach a vector case.
    """
    B, n, m1, m2 = Y.shape
    ones = torch.ones(B, 1, 1, dtype=Y.dtype, device=Y.device)
    if m1 == 1:
        return ones, _vector_mle(Y[:, :, 0, :])
    if m2 == 1:
        return _vector_mle(Y[:, :, :, 0]), ones
    if 0 < n * m2 - m1 < m1:
        _, lam = rational_mle(castle(Y))
        L_lam = checked_cholesky(_normalise(lam), "Lambda (castled Sigma2^{-1})", 0)
        # Sigma1 = (1/(n m2)) sum_i Y_i Lambda Y_i^T: one GEMM with chol(Lambda) on the row stack
        W = (Y.permute(0, 2, 1, 3).reshape(B, m1 * n, m2) @ L_lam).reshape(B, m1, n * m2)
        return (W @ W.mT) / (n * m2), torch.cholesky_inverse(L_lam).contiguous()
    if 0 < n * m1 - m2 < m2:
        s2, s1 = rational_mle(Y.mT)
        return s1, s2
    raise NotRationalError(
        f"(m1, m2, n) = ({m1}, {m2}, {n}) is castling-minimal: no rational MLE; use the flip-flop"
    )
