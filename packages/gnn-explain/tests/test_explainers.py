"""Every explainer under the one API, checked against exact references where one exists."""

import pytest
import torch

from gnn_explain.explain import (
    EXPLAINERS,
    GNNExplainer,
    GNNExplainerConfig,
    IntegratedGradients,
    Occlusion,
    PGExplainer,
    PGExplainerConfig,
    RandomExplainer,
    Saliency,
    SubgraphXConfig,
    make_explainer,
)
from gnn_explain.graph import Graph

FAST = {
    "subgraphx": {"config": SubgraphXConfig(rollouts=2, num_samples=4)},
    "subgraphx-reference": {"config": SubgraphXConfig(rollouts=1, num_samples=2)},
    "gnnexplainer": {"config": GNNExplainerConfig(epochs=5)},
    "pgexplainer": {"config": PGExplainerConfig(epochs=3)},
}


@pytest.mark.parametrize("name", sorted(EXPLAINERS))
@pytest.mark.parametrize("task", ["graph", "node"])
def test_every_explainer_returns_a_full_size_explanation(name, task, graph, make_model):
    model = make_model(task)
    node = 3 if task == "node" else None
    explainer = make_explainer(name, **FAST.get(name, {}))
    if isinstance(explainer, PGExplainer):
        explainer.fit(model, [(graph, node), (graph, 5 if node else None)])
    ex = explainer.explain(model, graph, node=node)
    assert ex.explainer == name and ex.node == node
    assert ex.node_mask.shape == (graph.num_nodes,)
    assert torch.isfinite(ex.node_mask).all()
    if ex.edge_mask is not None:
        assert ex.edge_mask.shape == (graph.num_edges,)
    with torch.no_grad():
        logits = model(graph.x, graph.edge_index)
    assert ex.target == int(logits[node if node is not None else 0].argmax())
    assert ex.time_s > 0 and ex.graphs_evaluated >= ex.forward_calls >= (name != "random")
    assert len(ex.nodes_at_size(4)) <= max(4, graph.num_nodes)


def _target_logit(model, x, graph, target, edge_weight=None):
    return model(x, graph.edge_index, edge_weight=edge_weight)[0, target]


def test_integrated_gradients_completeness(graph, graph_model):
    """Attributions sum to logit(x) - logit(0) (exact in the limit of many steps)."""
    ex = IntegratedGradients(steps=400).explain(graph_model, graph)
    with torch.no_grad():
        full = _target_logit(graph_model, graph.x, graph, ex.target)
        zero = _target_logit(graph_model, torch.zeros_like(graph.x), graph, ex.target)
    assert float(ex.node_mask.sum()) == pytest.approx(float(full - zero), abs=2e-3)


def test_saliency_matches_finite_differences(graph, graph_model):
    ex = Saliency().explain(graph_model, graph)
    x = graph.x.double()
    model = graph_model.double()
    h = 1e-6
    for node in (0, 9):
        total = 0.0
        for f in range(x.shape[1]):
            up, down = x.clone(), x.clone()
            up[node, f] += h
            down[node, f] -= h
            with torch.no_grad():
                d = (
                    _target_logit(model, up, graph, ex.target)
                    - _target_logit(model, down, graph, ex.target)
                ) / (2 * h)
            total += abs(float(d))
        assert float(ex.node_mask[node]) == pytest.approx(total, rel=1e-4, abs=1e-6)
    model.float()


def test_occlusion_matches_one_by_one(graph, graph_model):
    ex = Occlusion().explain(graph_model, graph)
    with torch.no_grad():
        base = torch.softmax(graph_model(graph.x, graph.edge_index), -1)[0, ex.target]
        for node in (0, 4, 12):
            x = graph.x.clone()
            x[node] = 0
            p = torch.softmax(graph_model(x, graph.edge_index), -1)[0, ex.target]
            assert float(ex.node_mask[node]) == pytest.approx(float(base - p), abs=1e-6)
    assert ex.forward_calls == 1 and ex.graphs_evaluated == graph.num_nodes + 1


def test_random_is_seeded(graph, graph_model):
    a = RandomExplainer(seed=1).explain(graph_model, graph)
    b = RandomExplainer(seed=1).explain(graph_model, graph)
    c = RandomExplainer(seed=2).explain(graph_model, graph)
    assert torch.equal(a.node_mask, b.node_mask) and not torch.equal(a.node_mask, c.node_mask)


def test_gnnexplainer_keeps_the_prediction(graph, graph_model):
    ex = GNNExplainer(GNNExplainerConfig(epochs=60)).explain(graph_model, graph)
    m = ex.edge_mask
    assert ((m >= 0) & (m <= 1)).all()
    src, dst = graph.edge_index
    node_expected = torch.zeros(graph.num_nodes)
    for e in range(graph.num_edges):
        for u in (int(src[e]), int(dst[e])):
            node_expected[u] = max(node_expected[u], m[e])
    assert torch.allclose(ex.node_mask, node_expected)


def test_pgexplainer_needs_fit(graph, graph_model):
    with pytest.raises(RuntimeError, match="fit"):
        PGExplainer().explain(graph_model, graph)
    with pytest.raises(ValueError, match="at least one"):
        PGExplainer().fit(graph_model, [])


def test_node_task_masks_vanish_outside_the_computation_graph(house_graph, make_model):
    graph = house_graph(n_base=14)
    model = make_model("node")  # 2 layers: nodes more than 2 hops away cannot matter
    ex = Saliency().explain(model, graph, node=13)
    from gnn_explain.graph import k_hop_subgraph

    subset, *_ = k_hop_subgraph(13, 2, graph.edge_index, graph.num_nodes)
    outside = torch.ones(graph.num_nodes, dtype=torch.bool)
    outside[subset] = False
    assert (ex.node_mask[outside] == 0).all()


def test_bad_inputs(graph, graph_model, node_model):
    ex = Saliency()
    graph_model.train()
    with pytest.raises(ValueError, match=r"model.eval\(\)"):
        ex.explain(graph_model, graph)
    graph_model.eval()
    with pytest.raises(ValueError, match="features but the model expects"):
        ex.explain(graph_model, Graph(torch.ones(3, 7), torch.tensor([[0, 1], [1, 2]])))
    with pytest.raises(ValueError, match="out of range"):
        ex.explain(node_model, graph, node=99)
    with pytest.raises(ValueError, match="node=<id"):
        ex.explain(node_model, graph)
    with pytest.raises(ValueError, match="leave node=None"):
        ex.explain(graph_model, graph, node=1)
    with pytest.raises(ValueError, match="target class 5"):
        ex.explain(graph_model, graph, target=5)
    lonely = Graph(torch.ones(3, 4), torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="no neighbours"):
        ex.explain(node_model, lonely, node=2)
    with pytest.raises(ValueError, match="unknown explainer"):
        make_explainer("lime")


def test_pgexplainer_fit_is_seeded_and_leaves_the_global_rng_alone(graph, graph_model):
    state = torch.random.get_rng_state()
    cfg = PGExplainerConfig(epochs=2)
    a = PGExplainer(cfg).fit(graph_model, [(graph, None)], seed=3, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = PGExplainer(cfg).fit(graph_model, [(graph, None)], seed=3)
    ea, eb = a.explain(graph_model, graph), b.explain(graph_model, graph)
    assert torch.equal(ea.edge_mask, eb.edge_mask)
    c = PGExplainer(cfg).fit(graph_model, [(graph, None)], seed=4)
    assert not torch.equal(ea.edge_mask, c.explain(graph_model, graph).edge_mask)


def test_top_nodes_within_ranks_only_the_given_nodes():
    from gnn_explain.explain import Explanation

    mask = torch.tensor([0.0, -0.5, -0.1, 0.0, 0.3, -0.2])
    ex = Explanation("x", mask, None, None, None, 0, 4, 0.0, 0, 0)
    assert ex.top_nodes(3).tolist() == [4, 0, 3]  # zeros outside outrank negatives
    assert ex.top_nodes(3, within=torch.tensor([1, 2, 4, 5])).tolist() == [4, 2, 5]
    assert ex.top_nodes(9, within=torch.tensor([1, 4])).tolist() == [4, 1]
    assert ex.nodes_at_size(2, torch.tensor([1, 2, 4])).tolist() == [4, 2]


def test_best_per_size_keeps_the_top_candidate_of_each_size():
    from gnn_explain.explain import Explanation

    cands = [(torch.tensor([1, 2]), 0.1), (torch.tensor([2, 3]), 0.4), (torch.tensor([1]), 0.2)]
    ex = Explanation("x", torch.zeros(4), None, None, None, 0, None, 0.0, 0, 0, cands)
    best = ex.best_per_size()
    assert sorted(best) == [1, 2]
    assert best[2].tolist() == [2, 3] and best[1].tolist() == [1]
    assert (
        Explanation("x", torch.zeros(4), None, None, None, 0, None, 0.0, 0, 0).best_per_size() == {}
    )
