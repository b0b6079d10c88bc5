"""The synthetic benchmarks follow their recipes and are seeded."""

import networkx as nx
import pytest
import torch

from gnn_explain.datasets import (
    ba_2motifs,
    ba_community,
    ba_shapes,
    load_dataset,
    tree_cycles,
    tree_grid,
)
from gnn_explain.graph import Graph, to_networkx


def _motif_subgraph(ds, m):
    nodes = (ds.motif == m).nonzero().flatten().tolist()
    return to_networkx(ds.graph).subgraph(nodes)


def test_ba_shapes_recipe():
    ds = ba_shapes(seed=1)
    g = ds.graph
    assert g.num_nodes == 700 and ds.num_classes == 4
    assert torch.bincount(g.y).tolist() == [300, 160, 160, 80]
    house = nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (4, 0), (4, 1)])
    for m in (0, 41, 79):
        assert nx.is_isomorphic(_motif_subgraph(ds, m), house)
    node_gt, edge_gt = ds.ground_truth(int((ds.motif == 7).nonzero()[0]))
    assert int(node_gt.sum()) == 5 and int(edge_gt.sum()) == 12
    assert not ds.ground_truth(0)[0].any()
    base_edges = 300 * 5 - 25 + 80 * 7  # BA(300, 5) edges + house edges + attachments
    assert g.num_edges // 2 >= base_edges - 20  # noise edges may duplicate existing ones
    assert len(ds.train_idx) == 560 and len(ds.val_idx) == 70 and len(ds.test_idx) == 70


def test_seeded():
    a, b, c = ba_shapes(seed=3), ba_shapes(seed=3), ba_shapes(seed=4)
    assert torch.equal(a.graph.edge_index, b.graph.edge_index)
    assert torch.equal(a.train_idx, b.train_idx)
    assert not torch.equal(a.train_idx, c.train_idx)


def test_tree_datasets():
    cycles, grid = tree_cycles(), tree_grid()
    assert cycles.graph.num_nodes == 511 + 80 * 6 and grid.graph.num_nodes == 511 + 80 * 9
    assert nx.is_isomorphic(_motif_subgraph(cycles, 3), nx.cycle_graph(6))
    assert nx.is_isomorphic(_motif_subgraph(grid, 3), nx.grid_2d_graph(3, 3))
    assert torch.bincount(cycles.graph.y).tolist() == [511, 480]


def test_ba_community():
    ds = ba_community()
    assert ds.graph.num_nodes == 1400 and ds.num_classes == 8
    assert float(ds.graph.x[:700, 0].mean()) < -0.8 and float(ds.graph.x[700:, 0].mean()) > 0.8


def test_ba_2motifs():
    ds = ba_2motifs(seed=0, num_graphs=20)
    labels = [int(g.y) for g in ds.graphs]
    assert labels.count(0) == labels.count(1) == 10
    for g in ds.graphs:
        assert isinstance(g, Graph) and g.num_nodes == 25
        nxg = to_networkx(g)
        assert nx.is_connected(nxg)
        motif = nxg.subgraph(range(20, 25))
        expected = (
            nx.cycle_graph(5)
            if int(g.y)
            else nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (4, 0), (4, 1)])
        )
        assert nx.is_isomorphic(motif, expected)
        assert int(g.node_gt.sum()) == 5 and torch.allclose(g.x, torch.full((25, 10), 0.1))
    with pytest.raises(ValueError, match="even"):
        ba_2motifs(num_graphs=3)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="choose one of"):
        load_dataset("cora")
