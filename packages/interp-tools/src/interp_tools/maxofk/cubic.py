"""The cubic proof for Max-of-K (after Gross et al. 2024, §4.3), O(V³·K) operations.

Sequences are grouped into cells (query token q, max m, copies c of m, largest non-max g).
Each key position i holding token t contributes term(i, t) = e^{s[q,i,t]}(ov_margin[i,t,m] +
D[q,m]) to a lower bound of every logit gap × Z (see ``paths``). In a cell the query position
is known exactly; the other K−1 positions hold the c (or c − 1) max copies, non-max tokens
≤ g and, when g is not the query, at least one copy of g itself. A non-max slot at position i
contributes at least W(i, g) = min_{t≤g} term(i, t) (the convexity step, per position: the
worst mixture of non-max tokens puts the worst token ≤ g in each slot); a max copy exactly
term(i, m); the g slot exactly term(i, g). The cell's bound is the minimum of the sum over
every assignment of these slot types to the K−1 positions (a permutation, not an independent
worst position per slot), enumerated explicitly. A cell is certified when the bound is > 0;
its sequences are counted combinatorially.

Output logits: ``direct_candidates`` = r checks the r wrong answers with the largest direct
logit jointly over the value and direct paths (``paths.slot_margins``); r = 0 pessimises
the two paths over the wrong answer separately, as the paper's cubic proof does.
``exact_positions=False`` pessimises every slot independently over positions (min over i per
slot, no exact g slot). With r = 0 and exact_positions=False this is the earlier, looser
version of this proof.
"""

from __future__ import annotations

import itertools
import time
from math import comb

import torch

from interp_tools.maxofk.brute_force import BoundResult
from interp_tools.maxofk.model import path_weights
from interp_tools.maxofk.paths import PathTables, all_max_certified, path_tables, slot_margins
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


def _assignments(n_pos: int, n_max: int, n_g: int) -> list[tuple[str, ...]]:
    """Distinct arrangements of ``n_max`` "m", ``n_g`` "g" and the rest "w" over n_pos slots."""
    kinds = ["m"] * n_max + ["g"] * n_g + ["w"] * (n_pos - n_max - n_g)
    return sorted(set(itertools.permutations(kinds))) if n_max + n_g <= n_pos else []


def _slot_min(
    y_max: torch.Tensor, y_g: torch.Tensor, w: torch.Tensor, n_max: int, n_g: int
) -> tuple[torch.Tensor, int]:
    """min over arrangements of Σ_i slot(i): ``y_max`` [q, m, i, 1], ``y_g``/``w`` [q, m, i, g]
    → ([q, m, g] (+inf when no arrangement exists), operations)."""
    best = torch.full(w.shape[:2] + w.shape[3:], float("inf"), dtype=w.dtype)
    pats = _assignments(w.shape[2], n_max, n_g)
    for pat in pats:
        total = torch.zeros_like(best)
        for i, kind in enumerate(pat):
            total = total + {"m": y_max, "g": y_g, "w": w}[kind][:, :, i]
        best = torch.minimum(best, total)
    return best, len(pats) * w.shape[2] * best.numel()


def cubic_cells(
    t: PathTables, *, exact_positions: bool = True, direct_candidates: int = 8
) -> tuple[int, int, float]:
    """(certified sequences, sequences covered by the cells, operations)."""
    V, K = t.scores.shape[0], t.scores.shape[1]
    r = torch.arange(V)
    es = t.scores.exp()  # [q, i, t]
    # term[q, m, i, t] = e^{s[q,i,t]} · (a lower bound of the slot's logit margin)
    margins, margin_ops = slot_margins(t, direct_candidates)
    term = es[:, None] * margins
    y_query = term[r, :, K - 1, r]  # [q, m]
    keys = term[:, :, : K - 1]  # [q, m, i, t]
    if not exact_positions:  # every slot independently at its worst position
        keys = keys.amin(dim=2, keepdim=True).expand(-1, -1, K - 1, -1)
    y_max = keys[:, r, :, r].permute(1, 0, 2)[..., None]  # [q, m, i, 1]
    w = keys.cummin(dim=3).values  # [q, m, i, g]: worst token ≤ g at position i
    y_g = keys if exact_positions else w
    certified = int(all_max_certified(t).sum())
    covered = V
    ops = margin_ops + 3 * V**3 * K + 2 * V**3 * K
    for c in range(1, K):
        # query = max: c − 1 further max copies, K − c non-max slots, one of them holds g
        slots_eq, n = _slot_min(y_max, y_g, w, c - 1, 1)
        ops += n
        bound_eq = y_query[r, r][:, None] + slots_eq[r, r]
        n_eq = _cell_counts_eq(V, K, c)
        # query < max: c max copies; a g slot when g > q (else the query is the largest non-max)
        with_g, n1 = _slot_min(y_max, y_g, w, c, 1)
        without_g, n2 = _slot_min(y_max, y_g, w, c, 0)
        ops += n1 + n2
        g_above_q = r[None, None, :] > r[:, None, None]
        bound_lt = y_query[:, :, None] + torch.where(g_above_q, with_g, without_g)
        n_lt = _cell_counts_lt(V, K, c)
        certified += int(n_eq[bound_eq > 0].sum() + n_lt[bound_lt > 0].sum())
        covered += int(n_eq.sum() + n_lt.sum())
    return certified, covered, float(ops)


def cubic_bound(
    model: Transformer, *, direct_candidates: int = 8, exact_positions: bool = True
) -> BoundResult:
    """A proven lower bound on the accuracy of ``model`` over all V^K inputs.

    ``direct_candidates`` and ``exact_positions``: see the module docstring (the defaults are
    the tightest cubic variant; ``direct_candidates=0, exact_positions=False`` the loosest).
    """
    t0 = time.perf_counter()
    tables = path_tables(path_weights(model))
    certified, covered, ops = cubic_cells(
        tables, exact_positions=exact_positions, direct_candidates=direct_candidates
    )
    total = tables.scores.shape[0] ** tables.scores.shape[1]
    if covered != total:
        raise RuntimeError(f"cells cover {covered} sequences, expected {total}: counting bug")
    wall = time.perf_counter() - t0
    name = (
        "cubic"
        if (direct_candidates, exact_positions) == (8, True)
        else (
            f"cubic (r={direct_candidates}, {'exact' if exact_positions else 'independent'} positions)"
        )
    )
    return BoundResult(name, certified / total, certified, total, tables.ops + ops, wall)
