"""A subcubic proof for Max-of-K: O(V²·(K + d)) operations, cells (query q, max m, copies c).

Like the cubic proof, but non-max tokens (any t < m, any position) are pessimised with
separate bounds on score and value: their per-position term is at least
    X·e^{s_max}  if X < 0,  X·e^{s_min}  otherwise,
X = min_{i, t<m} ov_margin[i, t, m] + D[q, m], s_min/s_max = the extreme scores over
(i < K−1, t < m); prefix minima/maxima over t make every table quadratic in V.
This is not the paper's rank-1 "size direction" subcubic proof; it is the simplest
quadratic relaxation of the cubic one.
"""

from __future__ import annotations

import time
from math import comb

import torch

from interp_tools.maxofk.brute_force import BoundResult
from interp_tools.maxofk.model import path_weights
from interp_tools.maxofk.paths import PathTables, all_max_certified, path_tables
from interp_tools.models.transformer import Transformer


def _shift_prefix(x: torch.Tensor, fill: float) -> torch.Tensor:
    """out[..., m] = x[..., m − 1] (prefix statistic over t < m); out[..., 0] = fill."""
    return torch.cat([torch.full_like(x[..., :1], fill), x[..., :-1]], dim=-1)


def subcubic_cells(t: PathTables) -> tuple[int, int, float]:
    """(certified sequences, sequences covered, operations)."""
    V, K = t.scores.shape[0], t.scores.shape[1]
    r = torch.arange(V)
    s_keys = t.scores[:, : K - 1]  # [q, i, t]
    s_max = _shift_prefix(s_keys.amax(dim=1).cummax(dim=1).values, 0.0)  # [q, m]
    s_min = _shift_prefix(s_keys.amin(dim=1).cummin(dim=1).values, 0.0)
    # w_min[m] = min_{t<m} min_i ov_margin[i, t, m]: mask t ≥ m, then min over t.
    ov = t.ov_margin.amin(dim=0)  # [t, m]
    below = r[:, None] < r[None, :]  # [t, m]: t < m
    w_min = torch.where(below, ov, torch.inf).amin(dim=0)  # [m]
    x = w_min[None, :] + t.direct_margin  # [q, m]
    y_non = torch.where(x < 0, x * s_max.exp(), x * s_min.exp())
    es_max = s_keys[:, :, r].exp()  # [q, i, m]: key token m at position i
    y_max = (es_max * (t.ov_margin[: K - 1, r, r][None] + t.direct_margin[:, None, :])).amin(1)
    y_query = t.scores[r, K - 1, r].exp()[:, None] * (t.ov_margin[K - 1] + t.direct_margin)
    certified = int(all_max_certified(t).sum())
    covered = V
    mm = r.to(torch.int64)
    for c in range(1, K):
        bound_eq = y_query[r, r] + (c - 1) * y_max[r, r] + (K - c) * y_non[r, r]
        n_eq = comb(K - 1, c - 1) * mm ** (K - c)
        bound_lt = c * y_max + y_query + (K - 1 - c) * y_non  # [q, m]
        n_lt = torch.where(r[:, None] < r[None, :], comb(K - 1, c) * mm[None, :] ** (K - 1 - c), 0)
        certified += int(n_eq[bound_eq > 0].sum() + n_lt[bound_lt > 0].sum())
        covered += int(n_eq.sum() + n_lt.sum())
    ops = 4 * V * V * K + 3 * V * V * K + 3 * V * V + (K - 1) * 10 * V * V
    return certified, covered, float(ops)


def subcubic_bound(model: Transformer) -> BoundResult:
    """A proven lower bound on accuracy with quadratic-in-V cost."""
    t0 = time.perf_counter()
    tables = path_tables(path_weights(model))
    certified, covered, ops = subcubic_cells(tables)
    total = tables.scores.shape[0] ** tables.scores.shape[1]
    if covered != total:
        raise RuntimeError(f"cells cover {covered} sequences, expected {total}: counting bug")
    wall = time.perf_counter() - t0
    return BoundResult("subcubic", certified / total, certified, total, tables.ops + ops, wall)
