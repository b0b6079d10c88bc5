"""Graph container, converters, k-hop extraction and disjoint-union batching."""

import networkx as nx
import pytest
import torch

from gnn_explain.graph import (
    Graph,
    as_graph,
    collate,
    from_networkx,
    k_hop_subgraph,
    masked_copies,
    to_networkx,
)


def test_networkx_round_trip():
    g = nx.petersen_graph()
    graph = from_networkx(g, feature_dim=3)
    assert graph.num_nodes == 10 and graph.num_edges == 2 * g.number_of_edges()
    back = to_networkx(graph)
    assert nx.is_isomorphic(back, g) and sorted(back.edges) == sorted(g.edges)
    assert torch.equal(graph.x, torch.ones(10, 3))


@pytest.mark.parametrize(
    ("x", "ei", "match"),
    [
        (torch.ones(3, 2), torch.tensor([[0, 1], [1, 3]]), "valid ids 0..2"),
        (torch.ones(3, 2), torch.tensor([[0, -1], [1, 2]]), "holds node ids"),
        (torch.ones(0, 2), torch.zeros(2, 0, dtype=torch.long), "empty"),
        (torch.ones(3, 2), torch.tensor([[0.0], [1.0]]), "torch.long"),
        (torch.ones(3), torch.tensor([[0], [1]]), "2-d tensor"),
        (torch.tensor([[1.0], [float("nan")], [0.0]]), torch.tensor([[0], [1]]), "non-finite"),
        (torch.ones(3, 2, dtype=torch.long), torch.tensor([[0], [1]]), "floating point"),
        (torch.ones(3, 2), torch.tensor([0, 1]), r"shape \(2, num_edges\)"),
    ],
)
def test_bad_graphs_are_refused(x, ei, match):
    with pytest.raises(ValueError, match=match):
        Graph(x, ei)


def test_ground_truth_shapes_checked():
    with pytest.raises(ValueError, match="node_gt"):
        Graph(torch.ones(3, 1), torch.tensor([[0], [1]]), node_gt=torch.ones(2, dtype=torch.bool))


@pytest.mark.parametrize("hops", [0, 1, 2, 3])
def test_k_hop_matches_networkx(hops, house_graph):
    graph = house_graph(seed=3, n_base=12)
    g = to_networkx(graph)
    for node in (0, 5, 14):
        subset, sub_ei, edge_ids, local = k_hop_subgraph(
            node, hops, graph.edge_index, graph.num_nodes
        )
        ego = nx.ego_graph(g, node, radius=hops)
        assert subset.tolist() == sorted(ego.nodes)
        assert subset[local] == node
        assert torch.equal(subset[sub_ei], graph.edge_index[:, edge_ids])
        assert len(edge_ids) == 2 * ego.number_of_edges()


def test_masked_copies_and_collate_agree(graph):
    masks = torch.rand(3, graph.num_nodes, generator=torch.Generator().manual_seed(1))
    x, ei, batch = masked_copies(graph.x, graph.edge_index, masks)
    parts = [Graph(graph.x * m.unsqueeze(-1), graph.edge_index) for m in masks]
    x2, ei2, batch2 = collate(parts)
    assert torch.allclose(x, x2) and torch.equal(ei, ei2) and torch.equal(batch, batch2)


def test_as_graph_accepts_duck_typed_pyg_data():
    cls = type("Data", (), {"__module__": "torch_geometric.data.data"})
    data = cls()
    data.x, data.edge_index, data.y = torch.ones(2, 1), torch.tensor([[0, 1], [1, 0]]), None
    assert as_graph(data).num_nodes == 2
    with pytest.raises(TypeError, match="torch_geometric"):
        as_graph(object())


def test_real_pyg_data_if_installed(graph):
    data_mod = pytest.importorskip("torch_geometric.data")
    from gnn_explain.graph import to_pyg

    data = to_pyg(graph)
    assert isinstance(data, data_mod.Data)
    assert torch.equal(as_graph(data).edge_index, graph.edge_index)
