"""Flip-flop (block-coordinate ascent) for the matrix normal MLE (Dutilleul 1999).

Updates, with ``Sigma1`` the row and ``Sigma2`` the column covariance::

    Sigma1 <- (1 / (n m2)) sum_i Y_i Sigma2^{-1} Y_i^T
    Sigma2 <- (1 / (n m1)) sum_i Y_i^T Sigma1^{-1} Y_i

Each half-step maximises the log-likelihood exactly in one factor, so the log-likelihood is
monotone. After either half-step the trace term ``sum_i tr(Sigma1^{-1} Y_i Sigma2^{-1} Y_i^T)``
equals ``n m1 m2`` exactly, so the log-likelihood is read off the two Cholesky log-determinants:
``l = -(n m1 m2 / 2)(log 2 pi + 1) - (n m2 / 2) log det Sigma1 - (n m1 / 2) log det Sigma2``.

Layout: the data are copied once into two contiguous stacks, ``R = [Y_1 | ... | Y_n]`` viewed as
``(m1 n, m2)`` and ``C = [Y_1^T | ... | Y_n^T]`` viewed as ``(m2 n, m1)``. A half-step is one
triangular solve ``W = R L2^{-T}`` (TRSM, all samples at once) and one Gram product ``W W^T`` of
``W`` viewed as ``(m1, n m2)``: no per-sample loop and no copy inside the iteration.

Stopping: the relative log-likelihood change is below ``tol_ll`` AND the relative score residual
``||L1^{-1} S1 L1^{-T} - I||_F / sqrt(m1)`` (the natural gradient of the log-likelihood in
``Sigma1`` at the current pair, whose ``Sigma2``-gradient is zero) is below ``tol_score``.
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
    check_factor(L, name, it, failed=bool((info != 0).any()))
    return L


def check_factor(L: torch.Tensor, name: str, it: int, *, failed: bool = False) -> None:
    """Raise :class:`DivergenceError` when the Cholesky factor ``L`` is (numerically) singular.

    ``cond(L L^T) >= (max diag L / min diag L)^2`` is compared with ``0.01 / eps``.
    """
    diag = torch.diagonal(L, dim1=-2, dim2=-1)
    cond = (diag.amax(-1) / diag.amin(-1)).pow(2)
    limit = 1e-2 / torch.finfo(L.dtype).eps
    if failed or not bool(torch.isfinite(cond).all()) or bool((cond > limit).any()):
        worst = float(cond.nan_to_num(float("inf")).max())
        raise DivergenceError(
            f"{name} became singular at iteration {it} (condition number >= {worst:.3g}): the "
            f"likelihood is unbounded on these data (rank-deficient or degenerate samples, or "
            f"too few of them); check the data, add samples, or use shrinkage_fit"
        )


def stacks(Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two contiguous layouts of ``Y`` ``(B, n, m1, m2)``: ``(B, m1, n, m2)``, ``(B, m2, n, m1)``."""
    return Y.permute(0, 2, 1, 3).contiguous(), Y.permute(0, 3, 1, 2).contiguous()


def half_step(stack: torch.Tensor, L_other: torch.Tensor) -> torch.Tensor:
    """``(1 / (n m')) sum_i Y_i Sigma'^{-1} Y_i^T`` from a stack ``(B, m, n, m')`` and ``chol(Sigma')``."""
    B, m, n, mo = stack.shape
    Wt = torch.linalg.solve_triangular(L_other, stack.view(B, m * n, mo).mT, upper=False)
    W = Wt.mT.view(B, m, n * mo)  # TRSM writes W^T column-major: W is contiguous, no copy
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

    ``init``: warm start ``(Sigma1, Sigma2)``, each ``(B, m, m)``; the first update is ``Sigma1``
    given ``init[1]`` (identity by default). Returns factors ``(B, m1, m1)``, ``(B, m2, m2)``,
    the log-likelihood ``(B,)``, its trace ``(B, iters)`` (one value per sweep), iterations and
    convergence per problem. ``require_convergence=False`` runs exactly ``max_iter`` sweeps
    (polishing).
    """
    B, n, m1, m2 = Y.shape
    config = config or FlipFlopConfig()
    tol_ll, tol_score = config.tolerances(Y.dtype)
    rows, cols = stacks(Y)
    if init is None:
        L2 = torch.eye(m2, dtype=Y.dtype, device=Y.device).expand(B, m2, m2)
    else:
        L2 = checked_cholesky(init[1], "initial Sigma2", 0)
    L1 = checked_cholesky(half_step(rows, L2), "Sigma1", 0)
    const = loglik_const(n, m1 * m2)
    trace, prev = [], None
    n_iter = torch.zeros(B, dtype=torch.long, device=Y.device)
    done = torch.zeros(B, dtype=torch.bool, device=Y.device)
    resid = torch.full((B,), float("inf"), dtype=Y.dtype, device=Y.device)
    for it in range(1, config.max_iter + 1):
        L2 = checked_cholesky(half_step(cols, L1), "Sigma2", it)
        S1 = half_step(rows, L2)
        resid = relative_residual(S1, L1)
        L1 = checked_cholesky(S1, "Sigma1", it)
        ll = const - 0.5 * n * (m2 * logdet_chol(L1) + m1 * logdet_chol(L2))
        trace.append(ll)
        n_iter = torch.where(done, n_iter, it)
        if prev is not None:
            rel = (ll - prev).abs() / ll.abs().clamp_min(1e-300)
            done = done | ((rel <= tol_ll) & (resid <= tol_score))
        prev = ll
        if require_convergence and bool(done.all()):
            break
    S1 = L1 @ L1.mT
    S2 = L2 @ L2.mT
    return EngineResult([S1, S2], trace[-1], torch.stack(trace, -1), n_iter, done, resid)


def relative_residual(S: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """``||L^{-1} S L^{-T} - I||_F / sqrt(m)`` for ``S`` and a Cholesky factor ``L`` ``(B, m, m)``."""
    m = S.shape[-1]
    G = torch.linalg.solve_triangular(L, S, upper=False)
    G = torch.linalg.solve_triangular(L, G.mT, upper=False)
    eye = torch.eye(m, dtype=S.dtype, device=S.device)
    return torch.linalg.matrix_norm(G - eye) / math.sqrt(m)


def score_residual(Y: torch.Tensor, sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """Relative score residual ``(B,)`` of ``(Sigma1, Sigma2)`` on zero-mean ``Y`` ``(B, n, m1, m2)``.

    The larger of the two factors' natural-gradient norms; zero exactly at a stationary point.
    """
    rows, cols = stacks(Y)
    L1 = checked_cholesky(sigma1, "Sigma1", 0)
    L2 = checked_cholesky(sigma2, "Sigma2", 0)
    r1 = relative_residual(half_step(rows, L2), L1)
    r2 = relative_residual(half_step(cols, L1), L2)
    return torch.maximum(r1, r2)
