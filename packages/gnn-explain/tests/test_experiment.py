"""The benchmark protocol's matched-sparsity scoring against direct fidelity evaluations."""

import pytest
import torch

from gnn_explain.experiment import Instance, fidelity_curve, score_explanations
from gnn_explain.explain import Occlusion
from gnn_explain.metrics import fidelity


def _instance(graph):
    node_gt = torch.arange(graph.num_nodes) >= graph.num_nodes - 5  # the house
    src, dst = graph.edge_index
    return Instance(graph, None, node_gt, node_gt[src] & node_gt[dst])


def test_matched_fidelity_equals_direct_at_exact_sizes_and_interpolates(graph, graph_model):
    inst = _instance(graph)
    ex = Occlusion().explain(graph_model, graph)
    n = graph.num_nodes
    exact = 1 - 4 / n
    between = 1 - 4.5 / n
    s = score_explanations(graph_model, [inst], [ex], (exact, between))
    f4 = fidelity(graph_model, graph, ex.top_nodes(4), target=ex.target)
    f5 = fidelity(graph_model, graph, ex.top_nodes(5), target=ex.target)
    assert s.matched[exact][0] == pytest.approx(f4.fid_plus_prob, abs=1e-6)
    assert s.matched[exact][1] == pytest.approx(f4.fid_minus_prob, abs=1e-6)
    mid = (f4.fid_plus_prob + f5.fid_plus_prob) / 2
    assert s.matched[between][0] == pytest.approx(mid, abs=1e-6)
    curve = fidelity_curve(graph_model, inst, ex)
    assert sorted(f.size for f in curve) == list(range(1, n + 1))


def test_matched_is_none_where_a_hard_explanation_cannot_reach(graph, graph_model):
    from gnn_explain.explain import SubgraphX, SubgraphXConfig

    inst = _instance(graph)
    ex = SubgraphX(SubgraphXConfig(rollouts=2, num_samples=4, min_nodes=4)).explain(
        graph_model, graph
    )
    smallest = min(len(ids) for ids, _ in ex.candidates)
    too_sparse = 1 - (smallest - 0.5) / graph.num_nodes
    s = score_explanations(graph_model, [inst], [ex], (too_sparse,))
    assert s.matched[too_sparse] == (None, None)
    assert torch.is_tensor(ex.subgraph)


def test_matched_on_common_uses_the_instances_every_explainer_reaches():
    from gnn_explain.experiment import Scores, matched_on_common

    def scores(each):
        return Scores("x", 0.0, 0, 0, None, None, 0.0, matched_each={0.5: each})

    a = scores([(0.2, 0.1), (0.4, 0.3), (None, None)])
    b = scores([(0.6, 0.5), (None, None), (0.9, 0.9)])
    means, count = matched_on_common([a, b], 0.5)
    assert count == 1
    assert means[0] == pytest.approx((0.2, 0.1))
    assert means[1] == pytest.approx((0.6, 0.5))
    assert matched_on_common([scores([(None, None)]), scores([(0.1, 0.1)])], 0.5) == (
        [None, None],
        0,
    )
