"""Global rank allocation: one parameter budget shared by all target layers.

Every layer is either kept dense (m·n parameters, no error) or factorized at an allowed rank
r (r·(m+n) parameters), where allowed ranks are the multiples of ``multiple_of`` below the
break-even r* = m·n/(m+n): a rank that saves nothing is never chosen.

Strategies:
- ``uniform``: every layer keeps the same fraction of its parameters.
- ``energy``: every layer keeps the same fraction τ of its (whitened) spectral energy.
- ``greedy``: minimise Σ w_ℓ · relative tail energy of the (whitened) spectra, removing at each
  step the parameters with the smallest error per parameter (lower convex hull of each layer's
  curve). The weights w_ℓ (default 1) let layers count by how much their relative error moves
  the model's output: :func:`lowrank_compress.compress` measures them (see there), because
  unweighted relative errors are not comparable across layers (on MiniLM an FFN output layer
  moves the embedding ~100× more per unit of relative error than a query/key projection).
- ``sensitivity``: the same greedy on measured per-layer costs (model-output error at a few ranks).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

STRATEGIES = ("uniform", "energy", "greedy", "sensitivity")


@dataclass(frozen=True)
class LayerShape:
    """A target layer: its name and weight shape (out_features m, in_features n)."""

    name: str
    out_features: int
    in_features: int

    @property
    def dense_params(self) -> int:
        return self.out_features * self.in_features

    def params_at(self, rank: int | None) -> int:
        """Weight parameters at ``rank`` (``None`` = dense)."""
        return self.dense_params if rank is None else rank * (self.out_features + self.in_features)

    def allowed_ranks(self, multiple_of: int = 1) -> np.ndarray:
        """Ascending ranks r ≥ 1 that are multiples of ``multiple_of`` with r(m+n) < mn."""
        m, n = self.out_features, self.in_features
        top = (m * n - 1) // (m + n)
        return np.arange(multiple_of, top + 1, multiple_of, dtype=np.int64)


def _round_down(x: float, multiple_of: int) -> int:
    return math.floor(x / multiple_of) * multiple_of


def uniform_ranks(layers: list[LayerShape], fraction: float, multiple_of: int = 1
                  ) -> dict[str, int | None]:
    """Each layer keeps (1 − fraction) of its parameters: r = ⌊(1 − fraction)·r*⌋."""
    ranks: dict[str, int | None] = {}
    for layer in layers:
        r_star = layer.dense_params / (layer.out_features + layer.in_features)
        r = _round_down((1.0 - fraction) * r_star, multiple_of)
        if r < 1:
            raise ValueError(
                f"removing {fraction:.0%} of layer {layer.name!r} leaves rank < {multiple_of}: "
                "lower params_removed or rank_multiple"
            )
        ranks[layer.name] = r if r < r_star else None
    return ranks


def _removed(layers: list[LayerShape], ranks: Mapping[str, int | None]) -> int:
    return sum(la.dense_params - la.params_at(ranks[la.name]) for la in layers)


def energy_ranks(layers: list[LayerShape], spectra: Mapping[str, np.ndarray], target: int,
                 multiple_of: int = 1) -> dict[str, int | None]:
    """The largest common retained-energy fraction τ whose ranks remove ≥ ``target`` params."""

    def ranks_for(tau: float) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for la in layers:
            e = np.asarray(spectra[la.name], dtype=np.float64) ** 2
            cum = np.cumsum(e) / max(e.sum(), 1e-300)
            need = int(np.searchsorted(cum, tau - 1e-12) + 1)
            allowed = la.allowed_ranks(multiple_of)
            fits = allowed[allowed >= need]
            out[la.name] = int(fits[0]) if fits.size else None
        return out

    lo, hi = 0.0, 1.0
    if _removed(layers, ranks_for(lo)) < target:
        raise ValueError("the budget cannot be met even at the smallest allowed ranks")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _removed(layers, ranks_for(mid)) >= target else (lo, mid)
    return ranks_for(lo)


def greedy_ranks(layers: list[LayerShape], costs: Mapping[str, np.ndarray], target: int,
                 multiple_of: int = 1) -> dict[str, int | None]:
    """Greedy on cost curves: ``costs[name][r]`` is the error at rank r (array over 0..max).

    From each layer's current state (dense first) the next move goes to the lower allowed rank
    with the smallest added cost per removed parameter; moves are taken globally in that order
    until ``target`` parameters are removed.
    """
    state: dict[str, int | None] = {la.name: None for la in layers}
    heap: list[tuple[float, int, str, int]] = []

    def push(la: LayerShape, tie: int) -> None:
        cur = state[la.name]
        allowed = la.allowed_ranks(multiple_of)
        lower = allowed if cur is None else allowed[allowed < cur]
        if lower.size == 0:
            return
        c = np.asarray(costs[la.name], dtype=np.float64)
        base = 0.0 if cur is None else c[cur]
        saved = la.params_at(cur) - lower * (la.out_features + la.in_features)
        ratio = (c[lower] - base) / saved
        best = int(np.argmin(ratio[::-1]))  # prefer the largest rank among ties
        j = lower.size - 1 - best
        heapq.heappush(heap, (float(ratio[j]), tie, la.name, int(lower[j])))

    by_name = {la.name: la for la in layers}
    for i, la in enumerate(layers):
        push(la, i)
    removed, tie = 0, len(layers)
    while removed < target:
        if not heap:
            raise ValueError("the budget cannot be met even at the smallest allowed ranks")
        _, _, name, rank = heapq.heappop(heap)
        la = by_name[name]
        removed += la.params_at(state[name]) - la.params_at(rank)
        state[name] = rank
        tie += 1
        push(la, tie)
    return state


def tail_costs(spectrum: np.ndarray) -> np.ndarray:
    """cost[r] = Σ_{i≥r} σ_i² / Σ σ_i² for r = 0..len(σ): the relative error of rank r."""
    e = np.asarray(spectrum, dtype=np.float64) ** 2
    total = max(e.sum(), 1e-300)
    return np.concatenate([np.cumsum(e[::-1])[::-1], [0.0]]) / total


def allocate_ranks(
    layers: list[LayerShape],
    params_to_remove: int,
    strategy: str = "uniform",
    *,
    spectra: Mapping[str, np.ndarray] | None = None,
    costs: Mapping[str, np.ndarray] | None = None,
    weights: Mapping[str, float] | None = None,
    multiple_of: int = 1,
) -> dict[str, int | None]:
    """Ranks (``None`` = keep dense) removing at least ``params_to_remove`` weight parameters.

    ``spectra`` (singular values per layer, descending) feed ``energy`` and ``greedy``;
    ``weights`` (≥ 0 per layer, default 1) scale ``greedy``'s tail costs; ``costs`` (error per
    rank 0..max) feed ``sensitivity``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"allocation must be one of {STRATEGIES}, got {strategy!r}")
    if multiple_of < 1:
        raise ValueError(f"rank multiple must be >= 1, got {multiple_of}")
    total = sum(la.dense_params for la in layers)
    if not 0 < params_to_remove < total:
        raise ValueError(f"need 0 < params to remove < {total} target parameters, got "
                         f"{params_to_remove}")
    if strategy == "uniform":
        return uniform_ranks(layers, params_to_remove / total, multiple_of)
    if strategy == "sensitivity":
        if costs is None:
            raise ValueError("allocation='sensitivity' needs measured costs")
        return greedy_ranks(layers, costs, params_to_remove, multiple_of)
    if spectra is None:
        raise ValueError(f"allocation={strategy!r} needs the layers' spectra")
    if strategy == "energy":
        return energy_ranks(layers, spectra, params_to_remove, multiple_of)
    if weights is not None and any(not (w >= 0 and math.isfinite(w)) for w in weights.values()):
        raise ValueError("greedy weights must be finite and >= 0")
    w = weights or {}
    return greedy_ranks(layers, {n: w.get(n, 1.0) * tail_costs(s) for n, s in spectra.items()},
                        params_to_remove, multiple_of)
