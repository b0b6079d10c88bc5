"""Flip-flop for the tensor normal ``Cov(vec Y_i) = Sigma_K (x) ... (x) Sigma_1``, any ``K >= 2``.

(Manceur & Dutilleul 2013; Hoff 2011.) The mode-``k`` update given the other factors is
``Sigma_k <- (m_k / (n M)) sum_i Y_(k) (x)_{j != k} Sigma_j^{-1} Y_(k)^T`` (``M = prod m_j``,
``Y_(k)`` the mode-``k`` unfolding).

Layout: the fully whitened data ``X = Y x_1 L_1^{-1} ... x_K L_K^{-1}`` are kept. With
``G = (m_k / (n M)) X_(k) X_(k)^T`` the update is ``Sigma_k <- L_k G L_k^T``, whose Cholesky
factor is ``L_k C`` with ``C = chol(G)``; then ``X <- X x_k C^{-1}``. One Gram product and one
GEMM with the small triangular inverse per mode, and ``||G - I||_F / sqrt(m_k)`` is the relative
score residual of mode ``k`` for free. After each mode update the trace term equals ``n M``, so the
log-likelihood is ``-(n M / 2)(log 2 pi + 1) - sum_k (n M / (2 m_k)) log det Sigma_k``.
"""

from __future__ import annotations

import math

import torch

from accelerator_utils import progress as progress_bar
from kron_mle.flipflop import (
    EngineResult,
    FlipFlopConfig,
    KeptState,
    check_factor,
    checked_cholesky,
    inverse_factor,
    loglik_const,
)
from kron_mle.model import logdet_chol, mode_apply, mode_gram, mode_solve


def tensor_flipflop(
    Y: torch.Tensor,
    *,
    init: list[torch.Tensor] | None = None,
    config: FlipFlopConfig | None = None,
    require_convergence: bool = True,
    progress: bool | None = None,
) -> EngineResult:
    """Flip-flop on zero-mean data ``Y`` ``(B, n, m1, ..., mK)``; ``init``: factors ``(B, m, m)``.

    One iteration updates every mode once, in order. Returns the factors, the log-likelihood
    ``(B,)``, its trace (one value per sweep), and per problem the sweeps it needed, whether it
    converged and its score residual (each problem of a batch keeps the state of the sweep at
    which it met the stopping rule). ``progress``: a bar over sweeps.
    """
    B, n = Y.shape[:2]
    dims = Y.shape[2:]
    total = math.prod(dims)
    config = config or FlipFlopConfig()
    tol_ll, tol_score = config.tolerances(Y.dtype)
    if init is None:
        chols = [torch.eye(m, dtype=Y.dtype, device=Y.device).expand(B, m, m) for m in dims]
        X = Y
    else:
        chols = [checked_cholesky(S, f"initial Sigma_{k + 1}", 0) for k, S in enumerate(init)]
        X = Y
        for k, L in enumerate(chols):
            X = mode_solve(X, L, k)
    const = loglik_const(n, total)
    trace, prev = [], None
    n_iter = torch.zeros(B, dtype=torch.long, device=Y.device)
    done = torch.zeros(B, dtype=torch.bool, device=Y.device)
    kept, freeze = KeptState(), require_convergence and B > 1
    with progress_bar(
        total=config.max_iter, desc="tensor flip-flop", unit="sweep", enabled=progress
    ) as bar:
        for it in range(1, config.max_iter + 1):
            resid = torch.zeros(B, dtype=Y.dtype, device=Y.device)
            for k, m in enumerate(dims):
                G = mode_gram(X, k) * (m / (n * total))
                eye = torch.eye(m, dtype=Y.dtype, device=Y.device)
                resid = torch.maximum(resid, torch.linalg.matrix_norm(G - eye) / math.sqrt(m))
                C = checked_cholesky(G, f"Sigma_{k + 1}", it)
                chols[k] = chols[k] @ C
                check_factor(chols[k], f"Sigma_{k + 1}", it)
                X = mode_apply(X, inverse_factor(C), k)  # GEMM with C^{-1}: faster than a TRSM
            ll = const - 0.5 * n * total * sum(logdet_chol(L) / m for L, m in zip(chols, dims))
            active = ~done if freeze else None
            n_iter = torch.where(done, n_iter, it)
            if prev is not None:
                rel = (ll - prev).abs() / ll.abs().clamp_min(1e-300)
                done = done | ((rel <= tol_ll) & (resid <= tol_score))
            prev = ll
            kept.update(active, chols, ll, resid)
            trace.append(kept.ll)
            bar.update(1)
            if require_convergence and bool(done.all()):
                break
    return EngineResult(kept.factors(), kept.ll, torch.stack(trace, -1), n_iter, done, kept.resid)
