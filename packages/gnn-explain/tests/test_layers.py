"""Sparse layers against dense-matrix formulas; batched forwards against separate ones."""

import pytest
import torch

from gnn_explain.graph import collate
from gnn_explain.nn import GCNConv, GINConv, ModelConfig, SAGEConv, build_model
from gnn_explain.nn.models import pool


def _dense(graph, weight=None):
    a = torch.zeros(graph.num_nodes, graph.num_nodes)
    w = torch.ones(graph.num_edges) if weight is None else weight
    a.index_put_((graph.edge_index[1], graph.edge_index[0]), w, accumulate=True)
    return a  # a[i, j] = weight of edge j -> i


@pytest.fixture
def setup(house_graph):
    torch.manual_seed(0)
    graph = house_graph(seed=2)
    w = torch.rand(graph.num_edges)
    return graph, w


def test_gcn_matches_dense(setup):
    graph, w = setup
    conv = GCNConv(4, 5)
    a = _dense(graph, w) + torch.eye(graph.num_nodes)
    d = a.sum(1).rsqrt()
    expected = (d[:, None] * a * d[None, :]) @ conv.lin(graph.x) + conv.bias
    assert torch.allclose(conv(graph.x, graph.edge_index, w), expected, atol=1e-5)


def test_unnormalised_gcn_is_a_plain_neighbour_sum(setup):
    graph, w = setup
    conv = GCNConv(4, 5, normalize=False)
    with torch.no_grad():
        conv.bias.copy_(torch.arange(5.0))
    expected = _dense(graph, w) @ conv.lin(graph.x) + conv.bias
    assert torch.allclose(conv(graph.x, graph.edge_index, w), expected, atol=1e-5)


def test_embedding_normalisation_and_linear_head(setup):
    graph, _ = setup
    cfg = ModelConfig(4, 3, hidden=6, num_layers=2, normalize_emb=True, linear_head=True)
    model = build_model(cfg, "graph").eval()
    z = model.embed(graph.x, graph.edge_index)  # (n, 12): two layers, each unit norm before ReLU
    assert torch.all(z.view(-1, 2, 6).norm(dim=-1) <= 1 + 1e-6)
    assert isinstance(model.head, torch.nn.Linear)
    layer = model.encoder.convs[0]
    first = torch.relu(torch.nn.functional.normalize(layer(graph.x, graph.edge_index), dim=-1))
    assert torch.allclose(z[:, :6], first, atol=1e-6)


def test_gin_matches_dense(setup):
    graph, w = setup
    conv = GINConv(4, 5)
    expected = conv.mlp(graph.x + _dense(graph, w) @ graph.x)
    assert torch.allclose(conv(graph.x, graph.edge_index, w), expected, atol=1e-5)


def test_sage_matches_dense(setup):
    graph, _ = setup
    conv = SAGEConv(4, 5)
    a = _dense(graph)
    mean = (a @ graph.x) / a.sum(1, keepdim=True).clamp(min=1)
    expected = conv.lin_self(graph.x) + conv.lin_nbr(mean)
    assert torch.allclose(conv(graph.x, graph.edge_index), expected, atol=1e-5)


@pytest.mark.parametrize("conv", ["gcn", "gin", "sage"])
def test_unit_edge_weight_is_no_weight(setup, conv, make_model):
    graph, _ = setup
    model = make_model("node", conv)
    ones = torch.ones(graph.num_edges)
    assert torch.allclose(
        model(graph.x, graph.edge_index),
        model(graph.x, graph.edge_index, edge_weight=ones),
        atol=1e-6,
    )


@pytest.mark.parametrize("conv", ["gcn", "gin", "sage"])
@pytest.mark.parametrize("how", ["mean", "max", "sum", "max+mean"])
def test_disjoint_union_equals_separate(conv, how, house_graph, make_model):
    graphs = [house_graph(seed=s, n_base=5 + s) for s in range(3)]
    model = make_model("graph", conv)
    cfg = type(model.config)(**{**model.config.__dict__, "pool": how})
    torch.manual_seed(0)
    model = build_model(cfg, "graph").eval()
    x, ei, batch = collate(graphs)
    together = model(x, ei, batch)
    apart = torch.cat([model(g.x, g.edge_index) for g in graphs])
    assert torch.allclose(together, apart, atol=1e-5)


def test_pool_reductions():
    h = torch.tensor([[1.0], [3.0], [5.0]])
    batch = torch.tensor([0, 0, 1])
    assert pool(h, batch, "mean").flatten().tolist() == [2.0, 5.0]
    assert pool(h, batch, "max").flatten().tolist() == [3.0, 5.0]
    assert pool(h, batch, "sum").flatten().tolist() == [4.0, 5.0]
    assert pool(h, batch, "max+mean").tolist() == [[3.0, 2.0], [5.0, 5.0]]
