"""A subcubic proof for Max-of-K: O(V²·(K·log V + d)) operations, minimum-gap cells.

Cells are (query q, max m, copies c). Non-max tokens t ≤ h at unknown positions are pessimised
with separate bounds on score and value: each contributes at least
    X·e^{s_max(h)}  if X < 0,  X·e^{s_min(h)}  otherwise,
X = min_{i, t≤h} ov_margin[i, t, m] + D[q, m]; s_min/s_max = extreme scores over (i < K−1,
t ≤ h). Prefix minima/maxima over t make each table quadratic in V, and the bound only falls
as the cutoff h grows, so a binary search finds per cell the largest h it certifies: the
cell's minimum certified gap is m − h. Certified: every sequence of the cell whose non-max
tokens are all ≤ h.

Scores may be given as intervals (s_lo ≤ s ≤ s_hi up to a per-query shift): each term X·e^s
then takes e^{s_hi} when X < 0 and e^{s_lo} otherwise. ``subcubic_bound(model, eqke="rank1")``
uses the rank-1 "size direction" intervals of ``rank1`` (the paper's subcubic proof family):
EQKE is never formed.
"""

from __future__ import annotations

import time
from math import comb

import torch

from interp_tools.maxofk.brute_force import BoundResult
from interp_tools.maxofk.model import path_weights
from interp_tools.maxofk.paths import PathTables, path_tables
from interp_tools.maxofk.rank1 import rank1_score_bounds
from interp_tools.models.transformer import Transformer


def _pessimise(x: torch.Tensor, s_lo: torch.Tensor, s_hi: torch.Tensor) -> torch.Tensor:
    """x·e^s minimised over s ∈ [s_lo, s_hi]."""
    return torch.where(x < 0, x * s_hi.exp(), x * s_lo.exp())


def _prefix_tables(
    t: PathTables, s_lo: torch.Tensor, s_hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """s_max[q, h], s_min[q, h] over (i < K−1, t ≤ h) and w_min[m, h] = min_{i, t≤h} ov_margin."""
    K = t.scores.shape[1]
    s_max = s_hi[:, : K - 1].amax(dim=1).cummax(dim=1).values
    s_min = s_lo[:, : K - 1].amin(dim=1).cummin(dim=1).values
    w_min = t.ov_margin.amin(dim=0).cummin(dim=0).values.T  # [m, h]
    return s_max, s_min, w_min


def subcubic_cells(
    t: PathTables, s_lo: torch.Tensor | None = None, s_hi: torch.Tensor | None = None
) -> tuple[int, int, float]:
    """(certified sequences, sequences covered, operations); scores default to the exact ones."""
    V, K = t.scores.shape[0], t.scores.shape[1]
    s_lo = t.scores if s_lo is None else s_lo
    s_hi = t.scores if s_hi is None else s_hi
    r = torch.arange(V)
    s_max, s_min, w_min = _prefix_tables(t, s_lo, s_hi)
    x_max = t.ov_margin[: K - 1, r, r][None] + t.direct_margin[:, None, :]  # [q, i, m]
    y_max = _pessimise(x_max, s_lo[:, : K - 1, r], s_hi[:, : K - 1, r]).amin(1)  # [q, m]
    x_query = t.ov_margin[K - 1] + t.direct_margin  # [q, m]
    y_query = _pessimise(x_query, s_lo[r, K - 1, r][:, None], s_hi[r, K - 1, r][:, None])
    q_idx, m_idx = r[:, None].expand(V, V), r[None, :].expand(V, V)
    is_eq = q_idx == m_idx

    def y_non(h: torch.Tensor) -> torch.Tensor:  # [q, m] at cutoffs h [q, m] (clamped ≥ 0)
        hc = h.clamp_min(0)
        x = w_min[m_idx, hc] + t.direct_margin
        return _pessimise(x, s_min[q_idx, hc], s_max[q_idx, hc])

    # all K tokens equal m: every position known
    x_all = t.ov_margin[:, r, r].T + t.direct_margin[r, r][:, None]  # [m, i]
    certified = int((_pessimise(x_all, s_lo[r, :, r], s_hi[r, :, r]).sum(1) > 0).sum())
    covered = V
    steps = max(1, (V + 1).bit_length())
    for c in range(1, K):
        n_non = torch.where(is_eq, K - c, K - 1 - c)
        fixed = torch.where(is_eq, y_query + (c - 1) * y_max, c * y_max + y_query)
        # binary search: lo certified (or below the smallest cutoff), hi not
        lo = torch.where(is_eq, -1, q_idx - 1)
        hi = m_idx.clone()
        for _ in range(steps):
            mid = (lo + hi) // 2
            active = hi - lo > 1
            ok = (fixed + n_non * y_non(mid)) > 0
            lo = torch.where(active & ok, mid, lo)
            hi = torch.where(active & ~ok, mid, hi)
        valid = q_idx < m_idx
        base = torch.where(is_eq, comb(K - 1, c - 1), comb(K - 1, c))
        free = (lo + 1).clamp_min(0) ** n_non
        n_cert = torch.where(is_eq | (valid & (lo >= q_idx)), base * free, 0)
        n_all = torch.where(is_eq | valid, base * m_idx**n_non, 0)
        certified += int(n_cert.sum())
        covered += int(n_all.sum())
    ops = 3 * V * V * K + 3 * V * V * K + 2 * V * V + (K - 1) * steps * 12 * V * V
    return certified, covered, float(ops)


def subcubic_bound(model: Transformer, *, eqke: str = "exact") -> BoundResult:
    """A proven lower bound on accuracy with subcubic cost.

    ``eqke``: ``"exact"`` (scores from the full EQKE, O(V²·d)) or ``"rank1"`` (the rank-1
    size direction with a bounded residual, O(V·d² + V²·K) for the scores).
    """
    if eqke not in ("exact", "rank1"):
        raise ValueError(f"eqke must be 'exact' or 'rank1', got {eqke!r}")
    t0 = time.perf_counter()
    w = path_weights(model)
    tables = path_tables(w)
    if eqke == "rank1":
        s_lo, s_hi, score_ops = rank1_score_bounds(w)
        table_ops = tables.ops - tables.score_ops + score_ops
    else:
        s_lo = s_hi = None
        table_ops = tables.ops
    certified, covered, ops = subcubic_cells(tables, s_lo, s_hi)
    total = tables.scores.shape[0] ** tables.scores.shape[1]
    if covered != total:
        raise RuntimeError(f"cells cover {covered} sequences, expected {total}: counting bug")
    wall = time.perf_counter() - t0
    name = "subcubic" if eqke == "exact" else "subcubic (rank-1 EQKE)"
    return BoundResult(name, certified / total, certified, total, table_ops + ops, wall)
