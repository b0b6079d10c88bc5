"""Flip-flop (block-coordinate ascent) for the matrix normal MLE (Dutilleul 1999).

Updates, with ``Sigma1`` the row and ``Sigma2`` the column covariance::

    Sigma1 <- (1 / (n m2)) sum_i Y_i Sigma2^{-1} Y_i^T
    Sigma2 <- (1 / (n m1)) sum_i Y_i^T Sigma1^{-1} Y_i

Each half-step maximises the log-likelihood exactly in one factor, so the log-likelihood is
monotone. After either half-step the trace term ``sum_i tr(Sigma1^{-1} Y_i Sigma2^{-1} Y_i^T)``
equals ``n m1 m2`` exactly, so the log-likelihood is read off the two Cholesky log-determinants:
``l = -(n m1 m2 / 2)(log 2 pi + 1) - (n m2 / 2) log det Sigma1 - (n m1 / 2) log det Sigma2``.

Layout: the data are copied once into two contiguous stacks, ``R = [Y_1 | ... | Y_n]`` viewed as
``(m1 n, m2)`` and ``C = [Y_1^T | ... | Y_n^T]`` viewed as ``(m2 n, m1)``. A half-step is the
Cholesky factor ``L2`` of the other factor, its triangular inverse (``m^3/3`` flops), one GEMM
``W = R L2^{-T}`` over all samples at once and one Gram product ``W W^T`` of ``W`` viewed as
``(m1, n m2)``: no per-sample loop and no copy inside the iteration.

Stopping: the relative log-likelihood change is below ``tol_ll`` AND the relative score residual
``||L1^{-1} S1 L1^{-T} - I||_F / sqrt(m1)`` (the natural gradient of the log-likelihood in
``Sigma1`` at the current pair, whose ``Sigma2``-gradient is zero) is below ``tol_score``. The
residual costs two ``m1^3`` GEMMs, so it is only evaluated once the log-likelihood test passes
(and at the last sweep).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from kron_mle.model import LOG_2PI, logdet_chol


class DivergenceError(RuntimeError):
    """A factor became numerically singular: the likelihood is unbounded on these data."""


@dataclass(frozen=True)
class FlipFlopConfig:
    """Stopping rule of the flip-flop.

    ``tol_ll``: relative log-likelihood change; ``tol_score``: relative score residual (both
    must hold); ``None`` picks ``1e-12``/``1e-8`` in float64 and ``1e-6``/``1e-3`` in float32.
    ``max_iter``: full sweeps (one ``Sigma1`` and one ``Sigma2`` update each).
    """

    max_iter: int = 5000
    tol_ll: float | None = None
    tol_score: float | None = None

    def __post_init__(self) -> None:
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        for name in ("tol_ll", "tol_score"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    def tolerances(self, dtype: torch.dtype) -> tuple[float, float]:
        f64 = dtype == torch.float64
        return (
            self.tol_ll if self.tol_ll is not None else (1e-12 if f64 else 1e-6),
            self.tol_score if self.tol_score is not None else (1e-8 if f64 else 1e-3),
        )


@dataclass
class EngineResult:
    """Raw output of an optimiser on batched data ``(B, ...)`` (before normalisation)."""

    factors: list[torch.Tensor]
    loglik: torch.Tensor
    trace: torch.Tensor
    n_iter: torch.Tensor
    converged: torch.Tensor
    score_residual: torch.Tensor


def checked_cholesky(S: torch.Tensor, name: str, it: int) -> torch.Tensor:
    """Cholesky factor of ``S`` ``(B, m, m)``; raise :class:`DivergenceError` if (near) singular."""
    L, info = torch.linalg.cholesky_ex(S)
    check_factor(L, name, it, info)
    return L


def check_factor(L: torch.Tensor, name: str, it: int, info: torch.Tensor | None = None) -> None:
    """Raise :class:`DivergenceError` when the Cholesky factor ``L`` is (numerically) singular.

    ``cond(L L^T) >= (max diag L / min diag L)^2`` is compared with ``0.1 / eps``; ``info`` is
    ``cholesky_ex``'s failure flag. One host synchronisation.
    """
    lo, hi = torch.aminmax(torch.diagonal(L, dim1=-2, dim2=-1), dim=-1)
    ok = hi <= lo * math.sqrt(0.1 / torch.finfo(L.dtype).eps)  # False for NaN too
    if info is not None:
        ok = ok & (info == 0)
    if not bool(ok.all()):
        worst = float((hi / lo).square().nan_to_num(float("inf")).max())
        hint = ""
        if L.dtype != torch.float64:
            hint = " (in float32 the factor may only be too ill-conditioned: retry in float64)"
        raise DivergenceError(
            f"{name} became singular at iteration {it} (condition number >= {worst:.3g}): the "
            f"likelihood is unbounded on these data (rank-deficient or degenerate samples, or "
            f"too few of them){hint}; check the data, add samples, or use shrinkage_fit"
        )


def stacks(Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two contiguous layouts of ``Y`` ``(B, n, m1, m2)``: ``(B, m1, n, m2)``, ``(B, m2, n, m1)``."""
    return Y.permute(0, 2, 1, 3).contiguous(), Y.permute(0, 3, 1, 2).contiguous()


def inverse_factor(L: torch.Tensor, eye: torch.Tensor | None = None) -> torch.Tensor:
    """``L^{-1}`` of a lower-triangular ``(B, m, m)`` factor (``m^3 / 3`` flops, negligible)."""
    if eye is None:
        eye = torch.eye(L.shape[-1], dtype=L.dtype, device=L.device)
    return torch.linalg.solve_triangular(L, eye, upper=False)


def half_step(stack: torch.Tensor, Linv_other: torch.Tensor) -> torch.Tensor:
    """``(1 / (n m')) sum_i Y_i Sigma'^{-1} Y_i^T`` from a stack ``(B, m, n, m')``.

    ``Linv_other`` is ``L'^{-1}`` with ``L' L'^T = Sigma'``: ``W = stack L'^{-T}`` is one GEMM over
    all samples (faster than a TRSM with ``m n`` right-hand sides on CPU BLAS), then ``W W^T``.
    """
    B, m, n, mo = stack.shape
    W = (stack.view(B, m * n, mo) @ Linv_other.mT).view(B, m, n * mo)
    return (W @ W.mT) / (n * mo)


def loglik_const(n: int, total: int) -> float:
    """The data-free part ``-(n M / 2)(log 2 pi + 1)`` of the log-likelihood at a half-step."""
    return -0.5 * n * total * (LOG_2PI + 1.0)


def flipflop(
    Y: torch.Tensor,
    *,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    config: FlipFlopConfig | None = None,
    require_convergence: bool = True,
) -> EngineResult:
    """Flip-flop on zero-mean data ``Y`` ``(B, n, m1, m2)`` (``B`` independent problems).

    ``init``: warm start ``(Sigma1, Sigma2)``, each ``(B, m, m)``; the first update is ``Sigma2``
    given ``init[0]`` (without ``init``: ``Sigma1`` given ``Sigma2 = I`` comes first). Returns factors ``(B, m1, m1)``, ``(B, m2, m2)``,
    the log-likelihood ``(B,)``, its trace ``(B, iters)`` (one value per sweep), iterations and
    convergence per problem. ``require_convergence=False`` runs exactly ``max_iter`` sweeps
    (polishing).
    """
    B, n, m1, m2 = Y.shape
    config = config or FlipFlopConfig()
    tol_ll, tol_score = config.tolerances(Y.dtype)
    rows, cols = stacks(Y)
    eye1 = torch.eye(m1, dtype=Y.dtype, device=Y.device)
    eye2 = torch.eye(m2, dtype=Y.dtype, device=Y.device)
    if init is None:
        L1 = checked_cholesky(half_step(rows, eye2.expand(B, m2, m2)), "Sigma1", 0)
    else:
        L1 = checked_cholesky(init[0], "initial Sigma1", 0)
    Linv1 = inverse_factor(L1, eye1)
    const = loglik_const(n, m1 * m2)
    trace, prev = [], None
    n_iter = torch.zeros(B, dtype=torch.long, device=Y.device)
    done = torch.zeros(B, dtype=torch.bool, device=Y.device)
    resid = torch.full((B,), float("inf"), dtype=Y.dtype, device=Y.device)
    last = config.max_iter
    for it in range(1, config.max_iter + 1):
        L2 = checked_cholesky(half_step(cols, Linv1), "Sigma2", it)
        S1 = half_step(rows, inverse_factor(L2, eye2))
        L1 = checked_cholesky(S1, "Sigma1", it)
        ll = const - 0.5 * n * (m2 * logdet_chol(L1) + m1 * logdet_chol(L2))
        trace.append(ll)
        n_iter = torch.where(done, n_iter, it)
        if prev is not None:
            small = (ll - prev).abs() <= tol_ll * ll.abs()
            if bool(small.any()) or it == last:  # the score residual only when it can matter
                resid = whitened_residual(S1, Linv1)
                done = done | (small & (resid <= tol_score))
        elif it == last:
            resid = whitened_residual(S1, Linv1)
        prev = ll
        Linv1 = inverse_factor(L1, eye1)
        if require_convergence and bool(done.all()):
            break
    S1 = L1 @ L1.mT
    S2 = L2 @ L2.mT
    return EngineResult([S1, S2], trace[-1], torch.stack(trace, -1), n_iter, done, resid)


def whitened_residual(S: torch.Tensor, Linv: torch.Tensor) -> torch.Tensor:
    """``||L^{-1} S L^{-T} - I||_F / sqrt(m)`` for ``S`` ``(B, m, m)`` and ``Linv = L^{-1}``."""
    m = S.shape[-1]
    eye = torch.eye(m, dtype=S.dtype, device=S.device)
    return torch.linalg.matrix_norm(Linv @ S @ Linv.mT - eye) / math.sqrt(m)


def score_residual(Y: torch.Tensor, sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """Relative score residual ``(B,)`` of ``(Sigma1, Sigma2)`` on zero-mean ``Y`` ``(B, n, m1, m2)``.

    The larger of the two factors' natural-gradient norms; zero exactly at a stationary point.
    """
    rows, cols = stacks(Y)
    Linv1 = inverse_factor(checked_cholesky(sigma1, "Sigma1", 0))
    Linv2 = inverse_factor(checked_cholesky(sigma2, "Sigma2", 0))
    r1 = whitened_residual(half_step(rows, Linv2), Linv1)
    r2 = whitened_residual(half_step(cols, Linv1), Linv2)
    return torch.maximum(r1, r2)
