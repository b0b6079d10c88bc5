"""Path tables shared by the Max-of-K proofs (float64), with their operation counts.

For the query at the last position (token q) and a key token t at position i:
    scores[q, i, t] = (E[q] + P[K−1]) W_Q · W_Kᵀ (E[t] + P[i])ᵀ / √d_head       (EQKE + EQKP)
    OV[i, t, o]     = (E[t] + P[i]) W_V W_O W_U                                 (EVOU + PVOU)
    U[q, o]         = (E[q] + P[K−1]) W_U                                       (EUPU)
Margins against the best wrong answer o ≠ m:
    ov_margin[i, t, m] = OV[i, t, m] − max_{o≠m} OV[i, t, o]
    direct_margin[q, m] = U[q, m] − max_{o≠m} U[q, o]
The final logit gap (logit_m − logit_o) · Z = Σ_j e^{s_j} (OV_j[m] − OV_j[o] + U[m] − U[o]),
Z = Σ_j e^{s_j}, is therefore ≥ Σ_j e^{s_j} (ov_margin_j + direct_margin) for every o.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from interp_tools.maxofk.model import PathWeights


def margin_vs_best_other(a: torch.Tensor) -> torch.Tensor:
    """``a[..., m] − max_{o≠m} a[..., o]`` for every m, from the top two of each row."""
    top = a.topk(2, dim=-1)
    best_other = torch.where(
        torch.arange(a.shape[-1]) == top.indices[..., :1], top.values[..., 1:], top.values[..., :1]
    )
    return a - best_other


@dataclass(frozen=True)
class PathTables:
    """``scores`` [V, K, V] shifted by each query's max (a positive rescaling of e^s),
    ``ov_margin`` [K, V, V], ``direct_margin`` [V, V], the raw ``ov`` [K, V, V] and
    ``direct`` [V, V] logit tables, ``ops``: operations to build them."""

    scores: torch.Tensor
    ov_margin: torch.Tensor
    direct_margin: torch.Tensor
    ov: torch.Tensor
    direct: torch.Tensor
    ops: float
    score_ops: float = 0.0  # the part of ``ops`` spent on the exact ``scores``


def path_tables(w: PathWeights) -> PathTables:
    V, K, d, dh = w.d_vocab, w.n_ctx, w.E.shape[1], w.W_Q.shape[1]
    q = (w.E + w.P[-1]) @ w.W_Q  # [V, dh]
    s = ((q @ (w.E @ w.W_K).T)[:, None, :] + (q @ (w.P @ w.W_K).T)[:, :, None]) / math.sqrt(dh)
    s = s - s.amax(dim=(1, 2), keepdim=True)
    M = w.W_V @ w.W_O @ w.W_U  # [d, V]
    ov = (w.E @ M)[None] + (w.P @ M)[:, None]  # [K, V, V]
    U = (w.E + w.P[-1]) @ w.W_U
    score_ops = 2 * (V * d * dh + V * d * dh + K * d * dh + V * dh * V + V * dh * K) + 2 * V * K * V
    ops = score_ops + 2 * (d * dh * d + d * d * V + V * d * V + K * d * V) + 2 * V * d * V  # OV, U
    ops += 4 * (K * V * V + V * V)  # margins (top-2, select)
    return PathTables(
        s,
        margin_vs_best_other(ov),
        margin_vs_best_other(U),
        ov,
        U,
        float(ops),
        float(score_ops),
    )


def all_max_certified(t: PathTables) -> torch.Tensor:
    """[V] bool: the sequence (m, m, …, m) is provably correct (all positions known)."""
    V = t.scores.shape[0]
    m = torch.arange(V)
    es = t.scores[m, :, m].exp()  # [V, K]
    x = t.ov_margin[:, m, m].T + t.direct_margin[m, m][:, None]  # [V, K]
    return (es * x).sum(dim=1) > 0


def slot_margins(t: PathTables, direct_candidates: int = 0) -> tuple[torch.Tensor, float]:
    """Per-slot margins [q, m, i, t] ≤ min_{o≠m} (OV[i,t,m] − OV[i,t,o] + U[q,m] − U[q,o]).

    ``direct_candidates`` = 0: ov_margin + direct_margin (value and direct paths each at their
    own worst o). r > 0: the r wrong answers o with the largest direct logit U[q, o] are
    checked jointly, every other o through ov_margin + (U[q, m] − the (r+1)-th largest U[q, o]);
    the result only grows with r and equals the joint minimum at r = V − 1. Cost O(V³·K·r).
    """
    V, K = t.direct.shape[0], t.ov.shape[0]
    split = t.ov_margin.permute(2, 0, 1)[None]  # [1, m, i, t]
    if direct_candidates <= 0:
        return split + t.direct_margin[:, :, None, None], float(V**3 * K)
    r = min(direct_candidates, V - 1)
    m = torch.arange(V)
    wrong = t.direct[:, None, :].expand(V, V, V).clone()  # [q, m, o]
    wrong[:, m, m] = -float("inf")
    top = wrong.topk(min(r + 1, V - 1), dim=-1)
    gap = t.direct[:, :, None] - top.values  # [q, m, r(+1)]
    rest = gap[..., r] if r < V - 1 else torch.full((V, V), float("inf"), dtype=gap.dtype)
    ov_m = t.ov.permute(2, 0, 1)  # [m, i, t]
    ov_o = t.ov[:, :, top.indices[..., :r]].permute(2, 3, 0, 1, 4)  # [q, m, i, t, r]
    joint = (ov_m[None, ..., None] - ov_o + gap[:, :, None, None, :r]).amin(-1)
    ops = V * V * V * 2 + 3 * V**3 * K * r + 2 * V**3 * K
    return torch.minimum(joint, split + rest[:, :, None, None]), float(ops)
