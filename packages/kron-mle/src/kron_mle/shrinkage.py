"""Shrinkage flip-flop for the under-sampled case (no MLE, or an ill-conditioned one).

Each half-step of the flip-flop replaces the conditional MLE ``S_k`` of one factor by its linear
shrinkage toward a scaled identity with the same trace::

    Sigma_k <- (1 - alpha) S_k + alpha (tr(S_k) / m_k) I,     0 <= alpha < 1.

``alpha`` is the weight of the identity target in every update (``alpha = 0``: the plain
flip-flop, which then needs an existing MLE). For ``alpha > 0`` every iterate is positive
definite whatever ``n`` (even ``n = 1``), since ``tr(S_k) > 0`` for non-zero data, and the
eigenvalues of each factor are pulled toward their mean. The fixed point is a regularised
estimator (not the MLE); iteration stops when the trace-normalised factors change by less than
``tol`` (relative Frobenius norm) between sweeps. Matrix data only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from accelerator_utils import progress as progress_bar
from kron_mle.existence import existence
from kron_mle.fit import KronFit, normalise
from kron_mle.flipflop import checked_cholesky
from kron_mle.kernels import HalfSteps, half_steps
from kron_mle.model import batched_logpdf, helmert_contrasts
from kron_mle.validation import ArrayLike, as_data, check_mean


@dataclass(frozen=True)
class ShrinkageConfig:
    """``alpha`` in ``[0, 1)``: identity-target weight; ``tol``, ``max_iter``: stopping rule."""

    alpha: float = 0.1
    max_iter: int = 1000
    tol: float = 1e-10

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha < 1.0:
            raise ValueError(f"alpha must lie in [0, 1), got {self.alpha}")
        if self.max_iter < 1 or not self.tol >= 0:
            raise ValueError(f"need max_iter >= 1 and tol >= 0, got {self.max_iter}, {self.tol}")


def _shrink(S: torch.Tensor, alpha: float) -> torch.Tensor:
    m = S.shape[-1]
    mu = torch.diagonal(S, dim1=-2, dim2=-1).sum(-1) / m
    eye = torch.eye(m, dtype=S.dtype, device=S.device)
    return (1.0 - alpha) * S + alpha * mu.reshape(-1, 1, 1) * eye


def _relative_change(S: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
    m = S.shape[-1]
    a = S * (m / torch.diagonal(S, dim1=-2, dim2=-1).sum(-1)).reshape(-1, 1, 1)
    b = prev * (m / torch.diagonal(prev, dim1=-2, dim2=-1).sum(-1)).reshape(-1, 1, 1)
    return torch.linalg.matrix_norm(a - b) / torch.linalg.matrix_norm(a)


def _sweep(
    steps: HalfSteps, S1: torch.Tensor, alpha: float, it: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One shrinkage sweep from ``S1``: ``Sigma2`` (trace-normalised), then ``Sigma1``."""
    m2 = steps.m2
    S2 = _shrink(steps.cols(checked_cholesky(S1, "Sigma1", it)), alpha)
    S2 = S2 * (m2 / torch.diagonal(S2, dim1=-2, dim2=-1).sum(-1)).reshape(-1, 1, 1)
    S1 = _shrink(steps.rows(checked_cholesky(S2, "Sigma2", it)), alpha)
    return S1, S2


def shrinkage_fit(
    Y: ArrayLike,
    alpha: float = 0.1,
    *,
    mean: str = "estimate",
    normalization: str = "trace",
    batched: bool = False,
    config: ShrinkageConfig | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    progress: bool | None = None,
) -> KronFit:
    """Shrinkage flip-flop on matrix data ``(n, m1, m2)`` (``(B, n, m1, m2)`` when batched).

    Returns a :class:`~kron_mle.fit.KronFit` with ``method="shrinkage"``; its ``loglik`` is the
    (ordinary) log-likelihood at the regularised estimate, ``score_residual`` the last relative
    change of the factors, and ``existence`` the verdict for the plain MLE. Batched: ``n_iter``
    and ``converged`` per problem, each problem frozen at the sweep where it met ``tol``.
    ``progress``: a bar over sweeps (``None``: only on a terminal outside CI).
    """
    cfg = config or ShrinkageConfig(alpha=alpha)
    Yt = as_data(Y, batched=batched, device=device, dtype=dtype)
    if Yt.ndim != 4:
        raise ValueError(f"shrinkage_fit takes matrix data (n, m1, m2), got {tuple(Yt.shape[1:])}")
    n, m1, m2 = Yt.shape[1:]
    n_eff = check_mean(mean, n)
    Z = helmert_contrasts(Yt) if mean == "estimate" else Yt
    steps = half_steps(Z)
    B = Yt.shape[0]
    S1 = _shrink(steps.rows(None), cfg.alpha)
    S2 = torch.eye(m2, dtype=Yt.dtype, device=Yt.device).expand(B, m2, m2)
    change = torch.full((B,), float("inf"), dtype=Yt.dtype, device=Yt.device)
    n_iter = torch.zeros(B, dtype=torch.long, device=Yt.device)
    done = torch.zeros(B, dtype=torch.bool, device=Yt.device)
    bar = progress_bar(total=cfg.max_iter, desc="shrinkage", unit="sweep", enabled=progress)
    with bar:
        for it in range(1, cfg.max_iter + 1):
            S1_new, S2_new = _sweep(steps, S1, cfg.alpha, it)
            new_change = torch.maximum(_relative_change(S1_new, S1), _relative_change(S2_new, S2))
            keep = done[:, None, None]  # problems that met the rule stay where they were
            S1, S2 = torch.where(keep, S1, S1_new), torch.where(keep, S2, S2_new)
            change = torch.where(done, change, new_change)
            n_iter = torch.where(done, n_iter, it)
            done = done | (change <= cfg.tol)
            bar.update(1)
            if bool(done.all()):
                break
    if mean == "estimate":
        S1 = S1 * ((n - 1) / n)
    centred = Yt - Yt.mean(1, keepdim=True) if mean == "estimate" else Yt
    chols = [torch.linalg.cholesky(S1), torch.linalg.cholesky(S2)]
    ll = batched_logpdf(centred, chols).sum(-1)
    factors, scale = normalise([S1, S2], normalization)
    squeeze = (lambda t: t) if batched else (lambda t: t[0])
    return KronFit(
        factors=[squeeze(S) for S in factors],
        scale=squeeze(scale),
        mean=squeeze(Yt.mean(1)) if mean == "estimate" else None,
        loglik=squeeze(ll),
        loglik_trace=squeeze(ll[:, None]),
        n_iter=n_iter if batched else int(n_iter[0]),
        converged=done if batched else bool(done[0]),
        score_residual=squeeze(change),
        method="shrinkage",
        existence=existence((m1, m2), n_eff),
        n=n,
        dims=(m1, m2),
        normalization=normalization,
    )
