"""Flip-flop (block-coordinate ascent) for the matrix normal MLE (Dutilleul 1999).

Updates, with ``Sigma1`` the row and ``Sigma2`` the column covariance::

    Sigma1 <- (1 / (n m2)) sum_i Y_i Sigma2^{-1} Y_i^T
    Sigma2 <- (1 / (n m1)) sum_i Y_i^T Sigma1^{-1} Y_i

Each half-step maximises the log-likelihood exactly in one factor, so the log-likelihood is
monotone. After either half-step the trace term ``sum_i tr(Sigma1^{-1} Y_i Sigma2^{-1} Y_i^T)``
equals ``n m1 m2`` exactly, so the log-likelihood is read off the two Cholesky log-determinants:
``l = -(n m1 m2 / 2)(log 2 pi + 1) - (n m2 / 2) log det Sigma1 - (n m1 / 2) log det Sigma2``.

Layout: the data are copied once into a contiguous stack ``R = [Y_1 | ... | Y_n]``
``(m1, n, m2)``; each half-step whitens ``R`` by the Cholesky factor of the other covariance and
takes one Gram product over all samples (:mod:`kron_mle.kernels`: BLAS TRSM + SYRK on CPU, so a
sweep costs the flops of the two plain Gram products of the data; batched GEMMs elsewhere). No
per-sample loop and no inverse of a covariance; the BLAS path allocates nothing data-sized
inside the iteration.

Stopping: the relative log-likelihood change is below ``tol_ll`` AND the relative score residual
``||L1^{-1} S1 L1^{-T} - I||_F / sqrt(m1)`` (the natural gradient of the log-likelihood in
``Sigma1`` at the current pair, whose ``Sigma2``-gradient is zero) is below ``tol_score``. The
residual costs two ``m1^3`` triangular solves, so it is only evaluated once the log-likelihood
test passes (and at the last sweep).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from accelerator_utils import progress as progress_bar
from kron_mle.kernels import KERNELS, TorchHalfSteps, half_steps
from kron_mle.kernels import inverse_factor as inverse_factor
from kron_mle.model import LOG_2PI, logdet_chol


class DivergenceError(RuntimeError):
    """A factor became numerically singular: the likelihood is unbounded on these data."""


@dataclass(frozen=True)
class FlipFlopConfig:
    """Stopping rule of the flip-flop.

    ``tol_ll``: relative log-likelihood change; ``tol_score``: relative score residual (both
    must hold); ``None`` picks ``1e-12``/``1e-8`` in float64 and ``1e-6``/``1e-3`` in float32.
    The score test matters near the existence boundary, where the flip-flop converges
    sublinearly: on ``(101, 100, n = 2)`` the LL change drops below ``1e-12`` after ~11 000
    sweeps while the log-likelihood is still ``3e-8`` (relative) short of the optimum; with the
    score residual ``<= 1e-8`` also required it runs ~43 600 sweeps and ends ``1e-11`` from it.
    ``tol_score = math.inf`` switches the score test off (the LL change alone decides).
    ``max_iter``: full sweeps (one ``Sigma1`` and one ``Sigma2`` update each). ``kernel``: the
    half-step products of matrix data (:func:`kron_mle.kernels.half_steps`): ``"blas"`` (CPU
    TRSM + SYRK), ``"torch"`` (batched GEMM, any device) or ``"auto"``.
    """

    max_iter: int = 5000
    tol_ll: float | None = None
    tol_score: float | None = None
    kernel: str = "auto"

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {self.kernel!r}")
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


def loglik_const(n: int, total: int) -> float:
    """The data-free part ``-(n M / 2)(log 2 pi + 1)`` of the log-likelihood at a half-step."""
    return -0.5 * n * total * (LOG_2PI + 1.0)


class KeptState:
    """Per-problem state frozen at the sweep where each problem met the stopping rule.

    ``update(active, chols, ll, resid)`` takes the new state of the problems in ``active``
    (``(B,)`` bool; ``None``: all of them).
    """

    def __init__(self) -> None:
        self.chols: list[torch.Tensor] = []
        self.ll = self.resid = torch.empty(0)

    def update(
        self,
        active: torch.Tensor | None,
        chols: list[torch.Tensor],
        ll: torch.Tensor,
        resid: torch.Tensor,
    ) -> None:
        if active is None or not self.chols:
            self.chols, self.ll, self.resid = list(chols), ll, resid
            return
        a = active[:, None, None]
        self.chols = [torch.where(a, L, K) for L, K in zip(chols, self.chols)]
        self.ll = torch.where(active, ll, self.ll)
        self.resid = torch.where(active, resid, self.resid)

    def factors(self) -> list[torch.Tensor]:
        return [L @ L.mT for L in self.chols]


def flipflop(
    Y: torch.Tensor,
    *,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    config: FlipFlopConfig | None = None,
    require_convergence: bool = True,
    progress: bool | None = None,
) -> EngineResult:
    """Flip-flop on zero-mean data ``Y`` ``(B, n, m1, m2)`` (``B`` independent problems).

    ``init``: warm start ``(Sigma1, Sigma2)``, each ``(B, m, m)``; the first update is ``Sigma2``
    given ``init[0]`` (without ``init``: ``Sigma1`` given ``Sigma2 = I`` comes first). Returns
    factors ``(B, m1, m1)``, ``(B, m2, m2)``, the log-likelihood ``(B,)``, its trace
    ``(B, sweeps)`` (one value per sweep), and per problem the sweeps it needed and whether it
    converged. In a batch every problem keeps the state of the sweep at which it met the
    stopping rule (its results equal a fit of that problem alone); the batch runs until the
    last one does. ``require_convergence=False`` runs exactly ``max_iter`` sweeps (polishing).
    ``progress``: a bar over sweeps (``None``: only on a terminal outside CI).
    """
    B, n, m1, m2 = Y.shape
    config = config or FlipFlopConfig()
    tol_ll, tol_score = config.tolerances(Y.dtype)
    steps = half_steps(Y, config.kernel)
    if init is None:
        L1 = checked_cholesky(steps.rows(None), "Sigma1", 0)
    else:
        L1 = checked_cholesky(init[0], "initial Sigma1", 0)
    const = loglik_const(n, m1 * m2)
    trace, prev = [], None
    n_iter = torch.zeros(B, dtype=torch.long, device=Y.device)
    done = torch.zeros(B, dtype=torch.bool, device=Y.device)
    resid = torch.full((B,), float("inf"), dtype=Y.dtype, device=Y.device)
    kept, freeze = KeptState(), require_convergence and B > 1
    last = config.max_iter
    with progress_bar(total=last, desc="flip-flop", unit="sweep", enabled=progress) as bar:
        for it in range(1, last + 1):
            L2 = checked_cholesky(steps.cols(L1), "Sigma2", it)
            S1 = steps.rows(L2)
            L1_prev, L1 = L1, checked_cholesky(S1, "Sigma1", it)
            ll = const - 0.5 * n * (m2 * logdet_chol(L1) + m1 * logdet_chol(L2))
            active = ~done if freeze else None
            n_iter = torch.where(done, n_iter, it)
            if prev is not None:
                small = (ll - prev).abs() <= tol_ll * ll.abs()
                # the score residual only when it can matter (for a problem still running)
                if bool((small & ~done).any()) or it == last:
                    resid = whitened_residual(S1, L1_prev)
                    done = done | (small & (resid <= tol_score))
            elif it == last:
                resid = whitened_residual(S1, L1_prev)
            prev = ll
            kept.update(active, [L1, L2], ll, resid)
            trace.append(kept.ll)
            bar.update(1)
            if require_convergence and bool(done.all()):
                break
    return EngineResult(kept.factors(), kept.ll, torch.stack(trace, -1), n_iter, done, kept.resid)


def whitened_residual(S: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """``||L^{-1} S L^{-T} - I||_F / sqrt(m)`` for symmetric ``S`` and lower-triangular ``L``."""
    m = S.shape[-1]
    X = torch.linalg.solve_triangular(L, S, upper=False)
    X = torch.linalg.solve_triangular(L, X.mT, upper=False)
    eye = torch.eye(m, dtype=S.dtype, device=S.device)
    return torch.linalg.matrix_norm(X - eye) / math.sqrt(m)


def score_residual(Y: torch.Tensor, sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """Relative score residual ``(B,)`` of ``(Sigma1, Sigma2)`` on zero-mean ``Y`` ``(B, n, m1, m2)``.

    The larger of the two factors' natural-gradient norms; zero exactly at a stationary point.
    """
    L1 = checked_cholesky(sigma1, "Sigma1", 0)
    L2 = checked_cholesky(sigma2, "Sigma2", 0)
    return chol_score_residual(Y, L1, L2)


def chol_score_residual(Y: torch.Tensor, L1: torch.Tensor, L2: torch.Tensor) -> torch.Tensor:
    """:func:`score_residual` from the (checked) Cholesky factors ``L1``, ``L2`` of the pair."""
    steps = TorchHalfSteps(Y)
    r1 = whitened_residual(steps.rows(L2), L1)
    r2 = whitened_residual(steps.cols(L1), L2)
    return torch.maximum(r1, r2)
