"""The cubic proof for Max-of-K (after Gross et al. 2024, §4.3), O(V³·K) operations.

Sequences are grouped into cells (query token q, max m, copies c of m, largest non-max g).
Each key position j contributes e^{s_j}·(ov_margin_j + direct_margin) to a lower bound of
every logit gap × Z (see ``paths``). Within a cell, a max copy at an unknown position
contributes at least Y[q, m, m] = min_{i<K−1} e^{s[q,i,m]}(ov_margin[i,m,m] + D[q,m]); a
non-max token at an unknown position, ≤ g, at least min_{t≤g} Y[q, m, t] (the convexity
step: the worst mixture of non-max tokens is all of them equal to the worst one); the query
position is known exactly. A cell is certified when the sum is > 0; its sequences are
counted combinatorially.
"""

from __future__ import annotations

import time
from math import comb

import torch

from interp_tools.maxofk.brute_force import BoundResult
from interp_tools.maxofk.model import path_weights
from interp_tools.maxofk.paths import PathTables, all_max_certified, path_tables
from interp_tools.models.transformer import Transformer


def _cell_counts_eq(V: int, K: int, c: int) -> torch.Tensor:
    """[m, g]: sequences with query = max m, c copies of m, largest non-max exactly g < m."""
    g = torch.arange(V, dtype=torch.int64)
    per_g = (g + 1) ** (K - c) - g ** (K - c)
    valid = g[None, :] < g[:, None]
    return torch.where(valid, comb(K - 1, c - 1) * per_g[None, :], 0)


def _cell_counts_lt(V: int, K: int, c: int) -> torch.Tensor:
    """[q, m, g]: query q < m, c copies of m among the K−1 others, largest non-max exactly g."""
    r = torch.arange(V, dtype=torch.int64)
    q, m, g = r[:, None, None], r[None, :, None], r[None, None, :]
    e = K - 1 - c
    free = torch.where(q == g, (g + 1) ** e, (g + 1) ** e - g**e)
    valid = (q <= g) & (g < m)
    return torch.where(valid, comb(K - 1, c) * free, 0)


def cubic_cells(t: PathTables) -> tuple[int, int, float]:
    """(certified sequences, sequences covered by the cells, operations)."""
    V, K = t.scores.shape[0], t.scores.shape[1]
    r = torch.arange(V)
    es = t.scores.exp()  # [q, i, t]
    # term[q, m, i, t] = e^{s[q,i,t]} (ov_margin[i, t, m] + D[q, m])
    term = es[:, None] * (t.ov_margin.permute(2, 0, 1)[None] + t.direct_margin[:, :, None, None])
    Y = term[:, :, : K - 1].amin(dim=2)  # [q, m, t]
    y_query = term[r, :, K - 1, r]  # [q, m]
    y_max = Y[:, r, r]  # [q, m]
    y_non = Y.cummin(dim=2).values  # [q, m, g]
    certified = int(all_max_certified(t).sum())
    covered = V
    for c in range(1, K):
        bound_eq = y_query[r, r][:, None] + (c - 1) * y_max[r, r][:, None] + (K - c) * y_non[r, r]
        n_eq = _cell_counts_eq(V, K, c)
        bound_lt = c * y_max[:, :, None] + y_query[:, :, None] + (K - 1 - c) * y_non
        n_lt = _cell_counts_lt(V, K, c)
        certified += int(n_eq[bound_eq > 0].sum() + n_lt[bound_lt > 0].sum())
        covered += int(n_eq.sum() + n_lt.sum())
    ops = 3 * V**3 * K + V**3 * (K + 1) + (K - 1) * 8 * V**3
    return certified, covered, float(ops)


def cubic_bound(model: Transformer) -> BoundResult:
    """A proven lower bound on the accuracy of ``model`` over all V^K inputs."""
    t0 = time.perf_counter()
    tables = path_tables(path_weights(model))
    certified, covered, ops = cubic_cells(tables)
    total = tables.scores.shape[0] ** tables.scores.shape[1]
    if covered != total:
        raise RuntimeError(f"cells cover {covered} sequences, expected {total}: counting bug")
    wall = time.perf_counter() - t0
    return BoundResult("cubic", certified / total, certified, total, tables.ops + ops, wall)
