"""Rank-1 "size direction" bounds on the attention scores (Gross et al. 2024, §4.4).

The token part of EQKE, A Bᵀ with A = (E + P[K−1]) W_Q [V, dh] and B = E W_K [V, dh], is
split into its best rank-1 part σ u vᵀ (u, v: top singular vectors, found in factored form
by two thin QRs and a dh × dh SVD) and a residual R. The positional part EQKP [V, K] is kept
exact. Only differences within a query's row matter for attention, and for any row x,
max_t x_t − min_t x_t ≤ √2 ‖x‖, so after a per-query shift every score lies within
ε_q = ‖R_q‖ / (√2 √dh) of ŝ[q, i, t] = (σ u_q v_t + EQKP[q, i]) / √dh. ‖R_q‖² =
A_q (Bᵀ B) A_qᵀ − σ² u_q² (R_q is orthogonal to v), so the bound costs O(V·dh²): the V×V
matrix EQKE is never formed.
"""

from __future__ import annotations

import math

import torch

from interp_tools.maxofk.model import PathWeights


def rank1_score_bounds(w: PathWeights) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(s_lo, s_hi) [V, K, V] with s_lo ≤ s + c_q ≤ s_hi for a per-query shift c_q, and the
    operations used (materialising the [V, K, V] tables included)."""
    V, K, d, dh = w.d_vocab, w.n_ctx, w.E.shape[1], w.W_Q.shape[1]
    A = (w.E + w.P[-1]) @ w.W_Q  # [V, dh]
    B = w.E @ w.W_K  # [V, dh]
    qa, ra = torch.linalg.qr(A)
    qb, rb = torch.linalg.qr(B)
    u_s, sig, v_s = torch.linalg.svd(ra @ rb.T)
    u, v, sigma = qa @ u_s[:, 0], qb @ v_s[0], sig[0]
    if float(v.sum()) < 0:  # orient the size direction to grow with the token (cosmetic)
        u, v = -u, -v
    gram = B.T @ B
    row_sq = ((A @ gram) * A).sum(1) - (sigma * u) ** 2
    eps = row_sq.clamp_min(0).sqrt() / math.sqrt(2 * dh)  # [V]
    pos = A @ (w.P @ w.W_K).T  # [V, K]: EQKP, exact
    s_hat = ((sigma * u)[:, None, None] * v[None, None, :] + pos[:, :, None]) / math.sqrt(dh)
    s_hat = s_hat - s_hat.amax(dim=(1, 2), keepdim=True)
    ops = 2 * (2 * V * d * dh + 2 * 2 * V * dh * dh + dh**3 * 10 + V * dh * dh * 2 + V * dh)
    ops += 2 * (K * d * dh + V * dh * K) + 4 * V * K * V
    return s_hat - eps[:, None, None], s_hat + eps[:, None, None], float(ops)
