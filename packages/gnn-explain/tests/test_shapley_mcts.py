"""SubgraphX parts: the Shapley sampler, pruning, the search, and batched == reference."""

import networkx as nx
import numpy as np
import pytest
import torch

from gnn_explain.explain import SubgraphX, SubgraphXConfig, SubgraphXReference
from gnn_explain.explain.algorithms.shapley import adjacency_sets, local_region, shapley_masks
from gnn_explain.explain.algorithms.subgraphx import main_component, prune_candidates
from gnn_explain.graph import to_networkx


def test_local_region_is_l_hop_neighbourhood(graph):
    adj = adjacency_sets(graph.edge_index, graph.num_nodes)
    g = to_networkx(graph)
    coalition = (8, 9)
    for hops in range(4):
        expected = set()
        for c in coalition:
            expected |= set(nx.ego_graph(g, c, radius=hops))
        assert local_region(adj, coalition, hops) == sorted(expected)


def test_shapley_masks_structure_and_uniform_coalition_size():
    region, coalition = list(range(2, 9)), (3, 4)
    inc, exc = shapley_masks(coalition, region, 12, 20000, seed=5)
    outside = [0, 1, 9, 10, 11]
    assert (inc[:, outside] == 1).all() and (exc[:, outside] == 1).all()
    assert (exc[:, list(coalition)] == 0).all() and (inc[:, list(coalition)] == 1).all()
    players = [2, 5, 6, 7, 8]
    assert torch.equal(inc[:, players], exc[:, players])
    # a uniformly random order puts the coalition at a uniform position: |S| ~ U{0..m}
    sizes = np.bincount(exc[:, players].sum(1).int().numpy(), minlength=6) / 20000
    assert np.allclose(sizes, 1 / 6, atol=0.015)
    again, _ = shapley_masks(coalition, region, 12, 20000, seed=5)
    assert torch.equal(inc, again)


def test_mc_shapley_matches_exact_shapley_of_a_game():
    """The sampler's estimate converges to the exact Shapley value of the coalition player."""
    rng = np.random.default_rng(0)
    players, coalition, n = [0, 1, 2, 3], (4,), 5
    w = rng.normal(size=n)

    def v(mask):  # a non-additive game on present nodes
        return np.tanh(mask @ w) + mask[0] * mask[4]

    exact = 0.0
    import itertools
    import math

    m = len(players)
    for r in range(m + 1):
        for s in itertools.combinations(players, r):
            mask = np.zeros(n)
            mask[list(s)] = 1
            with_c = mask.copy()
            with_c[4] = 1
            weight = math.factorial(r) * math.factorial(m - r) / math.factorial(m + 1)
            exact += weight * (v(with_c) - v(mask))
    inc, exc = shapley_masks(coalition, [0, 1, 2, 3, 4], n, 40000, seed=1)
    estimate = np.mean([v(a) - v(b) for a, b in zip(inc.numpy(), exc.numpy())])
    assert abs(estimate - exact) < 0.01


def test_prune_and_component(graph):
    adj = adjacency_sets(graph.edge_index, graph.num_nodes)
    g = to_networkx(graph)
    coalition = tuple(range(graph.num_nodes))
    cands = prune_candidates(adj, coalition, 4, False, None)
    degrees = [g.degree(u) for u in cands]
    assert degrees == sorted(degrees) and len(cands) == 4
    assert prune_candidates(adj, coalition, 100, True, 0)[-1] != 0
    for u in range(graph.num_nodes):
        rest = set(coalition) - {u}
        comps = list(nx.connected_components(g.subgraph(rest)))
        assert len(main_component(adj, rest, None)) == max(len(c) for c in comps)
        keep = min(rest)
        assert keep in main_component(adj, rest, keep)


@pytest.mark.parametrize("task", ["graph", "node"])
def test_batched_equals_reference(task, graph, make_model):
    model = make_model(task, "gin", seed=1)
    cfg = SubgraphXConfig(
        rollouts=3, num_samples=8, min_nodes=3, max_nodes=6, expand_children=4, seed=2
    )
    node = 9 if task == "node" else None
    fast = SubgraphX(cfg).explain(model, graph, node=node)
    slow = SubgraphXReference(cfg).explain(model, graph, node=node)
    assert fast.subgraph.tolist() == slow.subgraph.tolist()
    assert fast.score == pytest.approx(slow.score, abs=1e-5)
    assert fast.graphs_evaluated == slow.graphs_evaluated
    assert fast.forward_calls < slow.forward_calls == slow.graphs_evaluated


@pytest.mark.parametrize("task", ["graph", "node"])
def test_subgraphx_explanation_is_connected_and_sized(task, graph, make_model):
    model = make_model(task, "gcn")
    cfg = SubgraphXConfig(rollouts=4, num_samples=10, min_nodes=4, max_nodes=7)
    node = 10 if task == "node" else None
    ex = SubgraphX(cfg).explain(model, graph, node=node)
    g = to_networkx(graph)
    assert len(ex.subgraph) <= 7 and nx.is_connected(g.subgraph(ex.subgraph.tolist()))
    if node is not None:
        assert node in ex.subgraph.tolist()
    assert ex.node_mask.sum() == len(ex.subgraph)
    for ids, _ in ex.candidates:
        assert nx.is_connected(g.subgraph(ids.tolist()))
    best = max((c for c in ex.candidates if len(c[0]) <= 7), key=lambda c: c[1])
    assert ex.score == pytest.approx(best[1])
    assert len(ex.nodes_at_size(5)) <= 5


def test_config_validation():
    with pytest.raises(ValueError, match="rollouts"):
        SubgraphXConfig(rollouts=0)
    with pytest.raises(ValueError, match="c_puct"):
        SubgraphXConfig(c_puct=-1)


def test_node_task_keeps_the_explained_node_in_every_sample():
    inc, exc = shapley_masks((3, 4), [1, 2, 3, 4, 5], 8, 50, seed=0, keep=2)
    assert (inc[:, 2] == 1).all() and (exc[:, 2] == 1).all()
