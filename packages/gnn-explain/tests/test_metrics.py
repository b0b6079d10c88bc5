"""Metrics against brute force and closed forms."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnn_explain.metrics import (
    characterization_score,
    fidelities,
    fidelity,
    interpolate_at,
    precision_at_k,
    roc_auc,
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=2, max_size=12))
def test_roc_auc_is_pairwise_ranking_probability(pairs):
    scores = torch.tensor([float(s) for s, _ in pairs])
    labels = torch.tensor([b for _, b in pairs])
    if labels.all() or not labels.any():
        with pytest.raises(ValueError, match="both positive and negative"):
            roc_auc(scores, labels)
        return
    pos = [s for s, b in pairs if b]
    neg = [s for s, b in pairs if not b]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    assert roc_auc(scores, labels) == pytest.approx(wins / (len(pos) * len(neg)))


def test_precision_at_k():
    scores = torch.tensor([0.9, 0.1, 0.8, 0.8, 0.0])
    labels = torch.tensor([1, 0, 0, 1, 1], dtype=torch.bool)
    assert precision_at_k(scores, labels, 1) == 1.0
    assert precision_at_k(scores, labels, 2) == 0.5  # tie 0.8 resolves to the lower index
    assert precision_at_k(scores, labels, 3) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(scores, labels, 6)


def test_characterization_score():
    assert characterization_score(1.0, 0.0) == 1.0
    assert characterization_score(0.5, 0.5) == pytest.approx(0.5)
    assert characterization_score(0.8, 0.4) == pytest.approx(1 / (0.5 / 0.8 + 0.5 / 0.6))
    assert characterization_score(0.0, 0.1) == 0.0


def test_fidelity_extremes_and_manual(graph, graph_model):
    with torch.no_grad():
        probs = torch.softmax(graph_model(graph.x, graph.edge_index), -1)[0]
    target = int(probs.argmax())
    everything = fidelity(graph_model, graph, torch.arange(graph.num_nodes), target=target)
    assert everything.fid_minus_prob == pytest.approx(0.0, abs=1e-6)
    assert everything.sparsity == 0.0 and everything.size == graph.num_nodes
    nodes = torch.tensor([0, 1, 2])
    f = fidelity(graph_model, graph, nodes, target=target)
    keep = torch.zeros(graph.num_nodes, 1)
    keep[nodes] = 1
    with torch.no_grad():
        p_without = torch.softmax(graph_model(graph.x * (1 - keep), graph.edge_index), -1)[0]
        p_only = torch.softmax(graph_model(graph.x * keep, graph.edge_index), -1)[0]
    assert f.fid_plus_prob == pytest.approx(float(probs[target] - p_without[target]), abs=1e-6)
    assert f.fid_minus_prob == pytest.approx(float(probs[target] - p_only[target]), abs=1e-6)
    assert f.fid_plus_acc == float(int(p_without.argmax()) != target)
    assert f.sparsity == pytest.approx(1 - 3 / graph.num_nodes)


def test_batched_fidelities_equal_one_at_a_time(graph, node_model):
    sets = [torch.tensor([9]), torch.tensor([9, 8, 0]), torch.tensor([9, 1, 2, 3])]
    together = fidelities(node_model, graph, sets, target=1, node=9)
    apart = [fidelity(node_model, graph, s, target=1, node=9) for s in sets]
    for a, b in zip(together, apart):
        assert a.size == b.size and a.sparsity == b.sparsity
        assert a.fid_plus_prob == pytest.approx(b.fid_plus_prob, abs=1e-6)
        assert a.fid_minus_prob == pytest.approx(b.fid_minus_prob, abs=1e-6)


def test_interpolate_at():
    points = [(0.8, 0.2), (0.5, 0.5), (0.6, 0.1), (0.6, 0.3)]  # equal sparsity: averaged
    assert interpolate_at(points, 0.5) == pytest.approx(0.5)
    assert interpolate_at(points, 0.55) == pytest.approx(0.35)
    assert interpolate_at(points, 0.7) == pytest.approx(0.2)
    assert interpolate_at(points, 0.9) is None
    assert interpolate_at([], 0.5) is None
