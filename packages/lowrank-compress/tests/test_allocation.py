"""Rank allocation: budgets met, break-even respected, greedy against brute force."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowrank_compress.allocation import LayerShape, allocate_ranks, tail_costs

LAYERS = [LayerShape("a", 16, 12), LayerShape("b", 20, 10), LayerShape("c", 8, 24)]


def _spectra(seed):
    rng = np.random.default_rng(seed)
    return {la.name: np.sort(rng.gamma(1.0, size=min(la.out_features, la.in_features)))[::-1]
            * rng.uniform(0.5, 2) ** np.arange(min(la.out_features, la.in_features)) ** 0
            for la in LAYERS}


@settings(max_examples=15, deadline=None)
@given(fraction=st.floats(0.05, 0.6), strategy=st.sampled_from(["uniform", "energy", "greedy"]),
       multiple=st.sampled_from([1, 2]), seed=st.integers(0, 100))
def test_budget_met_and_never_at_break_even(fraction, strategy, multiple, seed):
    total = sum(la.dense_params for la in LAYERS)
    target = int(np.ceil(fraction * total))
    ranks = allocate_ranks(LAYERS, target, strategy, spectra=_spectra(seed), multiple_of=multiple)
    removed = sum(la.dense_params - la.params_at(ranks[la.name]) for la in LAYERS)
    assert removed >= target
    for la in LAYERS:
        r = ranks[la.name]
        if r is not None:
            assert r * (la.out_features + la.in_features) < la.dense_params
            assert r % multiple == 0 and r >= 1


def test_greedy_close_to_brute_force_optimum():
    spectra = _spectra(7)
    costs = {n: tail_costs(s) for n, s in spectra.items()}
    target = int(0.35 * sum(la.dense_params for la in LAYERS))
    greedy = allocate_ranks(LAYERS, target, "greedy", spectra=spectra)

    def cost(ranks):
        return sum(0.0 if r is None else costs[n][r] for n, r in ranks.items())

    options = [[None, *la.allowed_ranks().tolist()] for la in LAYERS]
    best = min(
        cost(dict(zip("abc", combo)))
        for combo in itertools.product(*options)
        if sum(la.dense_params - la.params_at(r) for la, r in zip(LAYERS, combo)) >= target
    )
    assert cost(greedy) <= 1.25 * best + 1e-12


def test_greedy_prefers_layer_with_fast_decaying_spectrum():
    spectra = {"a": 0.3 ** np.arange(12), "b": np.ones(10), "c": np.ones(8)}
    ranks = allocate_ranks(LAYERS, 150, "greedy", spectra=spectra)
    assert ranks["a"] is not None and ranks["b"] is None and ranks["c"] is None


def test_uniform_keeps_same_fraction():
    ranks = allocate_ranks([LayerShape("x", 64, 64)], 1024, "uniform")
    assert ranks["x"] == 24  # (1 - 1024/4096) * 32


def test_bad_budget_and_strategy():
    with pytest.raises(ValueError, match="params to remove"):
        allocate_ranks(LAYERS, 0, "uniform")
    with pytest.raises(ValueError, match="allocation must be one of"):
        allocate_ranks(LAYERS, 10, "magic")
    with pytest.raises(ValueError, match="spectra"):
        allocate_ranks(LAYERS, 10, "greedy")


def test_greedy_weights_shift_removal_to_cheap_layers():
    spectra = {la.name: np.linspace(2.0, 0.1, min(la.out_features, la.in_features))
               for la in LAYERS}
    plain = allocate_ranks(LAYERS, 200, "greedy", spectra=spectra)
    heavy_a = allocate_ranks(LAYERS, 200, "greedy", spectra=spectra,
                             weights={"a": 100.0, "b": 1.0, "c": 1.0})
    assert (heavy_a["a"] or 99) >= (plain["a"] or 99)
    assert heavy_a["a"] is None or heavy_a["a"] > (plain["a"] or 0)
    with pytest.raises(ValueError, match="weights"):
        allocate_ranks(LAYERS, 200, "greedy", spectra=spectra, weights={"a": -1.0})
