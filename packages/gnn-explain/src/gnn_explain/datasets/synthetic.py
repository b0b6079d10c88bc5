"""Ground-truth benchmarks generated offline and seeded, following the original recipes.

Node classification (Ying et al. 2019, GNNExplainer): a base graph with motifs attached by one
edge each at evenly spaced base nodes (node ``k * (n_base // n_motifs)``, as the reference
generator), then ``round(0.01 * |E|)`` random edges between uniformly drawn node pairs as noise.
The base graph's nodes come first, then the motifs' nodes, motif by motif.

- BA-Shapes: Barabási-Albert base, 300 nodes, m = 5; 80 houses; labels 0 base, 1 house middle,
  2 house bottom, 3 house top (700 nodes); constant features (10 ones).
- BA-Community: two BA-Shapes graphs (independent seeds), joined by 350 random edges between them;
  labels 0-3 for the first, 4-7 for the second; features 10-dim Gaussian, std 0.5 (GNNExplainer):
  mean -1 in every dim for the first community, +1 in the first two dims and -1 in the rest for
  the second.
- Tree-Cycles: balanced binary tree of height 8 (511 nodes); 80 six-cycles; labels 0 base, 1 motif.
- Tree-Grid: the same tree; 80 3x3 grids; labels 0 base, 1 motif.

Graph classification (Luo et al. 2020, PGExplainer): BA-2Motifs, 1000 graphs, each a 20-node
Barabási-Albert tree (m = 1) with one motif attached by an edge from motif node 0 to a uniformly
drawn base node: 500 houses (label 0) and 500 five-cycles (label 1); features 10 dims of 0.1.

Splits: a seeded random permutation, 80 % train, 10 % validation, 10 % test.
Ground truth: the nodes of the motif (and the edges inside it) that a node belongs to, or that
the graph holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
from torch import Tensor

from accelerator_utils import numpy_rng
from gnn_explain.datasets.motifs import MOTIFS
from gnn_explain.graph import Graph, from_networkx


@dataclass(frozen=True)
class NodeDataset:
    """One graph with node labels; ``motif`` (n,) gives each node's motif id, -1 for the base."""

    name: str
    graph: Graph
    motif: Tensor
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor
    num_classes: int

    task = "node"

    def ground_truth(self, node: int) -> tuple[Tensor, Tensor]:
        """(node_gt (n,), edge_gt (E,)) bool: the motif containing ``node`` (empty for base nodes)."""
        m = int(self.motif[node])
        nodes = (self.motif == m) if m >= 0 else torch.zeros_like(self.motif, dtype=torch.bool)
        src, dst = self.graph.edge_index
        return nodes, nodes[src] & nodes[dst]

    def motif_nodes(self) -> Tensor:
        """Ids of every node that belongs to a motif (the nodes worth explaining)."""
        return (self.motif >= 0).nonzero().flatten()


@dataclass(frozen=True)
class GraphDataset:
    """Many graphs with graph labels; each Graph carries y, node_gt and edge_gt."""

    name: str
    graphs: list[Graph]
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor
    num_classes: int

    task = "graph"


def _splits(n: int, rng: np.random.Generator) -> tuple[Tensor, Tensor, Tensor]:
    perm = torch.from_numpy(rng.permutation(n))
    a, b = int(0.8 * n), int(0.9 * n)
    return perm[:a], perm[a:b], perm[b:]


def _attach(
    base: nx.Graph, motif: str, n_motifs: int, label_offset: int = 0
) -> tuple[nx.Graph, list[int], list[int]]:
    """Base plus motifs at evenly spaced base nodes: (graph, labels, motif ids)."""
    g = nx.Graph(base)
    n_base = base.number_of_nodes()
    labels = [label_offset] * n_base
    motif_id = [-1] * n_base
    spacing = n_base // n_motifs
    for k in range(n_motifs):
        shape, roles = MOTIFS[motif]()
        start = g.number_of_nodes()
        g.add_edges_from((start + u, start + v) for u, v in shape.edges())
        g.add_edge(start, k * spacing)
        labels += [label_offset + r for r in roles]
        motif_id += [k] * shape.number_of_nodes()
    return g, labels, motif_id


def _perturb(g: nx.Graph, rng: np.random.Generator, fraction: float = 0.01) -> None:
    """Add ``round(fraction * |E|)`` random edges between uniformly drawn distinct nodes."""
    n = g.number_of_nodes()
    for _ in range(round(fraction * g.number_of_edges())):
        u, v = rng.choice(n, size=2, replace=False)
        g.add_edge(int(u), int(v))


def _node_dataset(
    name: str,
    g: nx.Graph,
    labels: list[int],
    motif_id: list[int],
    x: Tensor | None,
    rng: np.random.Generator,
) -> NodeDataset:
    graph = from_networkx(g, x)
    motif = torch.tensor(motif_id)
    src, dst = graph.edge_index
    same = (motif[src] == motif[dst]) & (motif[src] >= 0)
    graph = Graph(graph.x, graph.edge_index, torch.tensor(labels), motif >= 0, same)
    tr, va, te = _splits(graph.num_nodes, rng)
    return NodeDataset(name, graph, motif, tr, va, te, int(max(labels)) + 1)


def _ba_shapes_graph(rng: np.random.Generator, label_offset: int = 0):
    base = nx.barabasi_albert_graph(300, 5, seed=int(rng.integers(2**31)))
    g, labels, motif_id = _attach(base, "house", 80, label_offset)
    _perturb(g, rng)
    return g, labels, motif_id


def ba_shapes(seed: int = 0) -> NodeDataset:
    """BA-Shapes: 700 nodes, 4 classes (see the module docstring for the recipe)."""
    rng = numpy_rng(seed)
    g, labels, motif_id = _ba_shapes_graph(rng)
    return _node_dataset("ba-shapes", g, labels, motif_id, None, rng)


def ba_community(seed: int = 0) -> NodeDataset:
    """BA-Community: 1400 nodes, 8 classes, Gaussian features."""
    rng = numpy_rng(seed)
    g1, l1, m1 = _ba_shapes_graph(rng)
    g2, l2, m2 = _ba_shapes_graph(rng, label_offset=4)
    n1 = g1.number_of_nodes()
    g = nx.disjoint_union(g1, g2)
    for _ in range(350):
        g.add_edge(int(rng.integers(n1)), n1 + int(rng.integers(g2.number_of_nodes())))
    mean1 = np.full(10, -1.0)
    mean2 = np.array([1.0, 1.0] + [-1.0] * 8)
    feats = np.concatenate(
        [rng.normal(mean1, 0.5, (n1, 10)), rng.normal(mean2, 0.5, (g2.number_of_nodes(), 10))]
    )
    motif_id = m1 + [m + 80 if m >= 0 else -1 for m in m2]
    x = torch.tensor(feats, dtype=torch.float32)
    return _node_dataset("ba-community", g, l1 + l2, motif_id, x, rng)


def _tree_dataset(name: str, motif: str, seed: int) -> NodeDataset:
    rng = numpy_rng(seed)
    g, labels, motif_id = _attach(nx.balanced_tree(2, 8), motif, 80)
    _perturb(g, rng)
    return _node_dataset(name, g, [min(label, 1) for label in labels], motif_id, None, rng)


def tree_cycles(seed: int = 0) -> NodeDataset:
    """Tree-Cycles: 511-node binary tree + 80 six-cycles (991 nodes), 2 classes."""
    return _tree_dataset("tree-cycles", "cycle6", seed)


def tree_grid(seed: int = 0) -> NodeDataset:
    """Tree-Grid: 511-node binary tree + 80 3x3 grids (1231 nodes), 2 classes."""
    return _tree_dataset("tree-grid", "grid", seed)


def ba_2motifs(seed: int = 0, num_graphs: int = 1000) -> GraphDataset:
    """BA-2Motifs: ``num_graphs`` graphs of 25 nodes, half houses (0), half five-cycles (1)."""
    if num_graphs < 2 or num_graphs % 2:
        raise ValueError(f"num_graphs must be an even number >= 2, got {num_graphs}")
    rng = numpy_rng(seed)
    graphs = []
    for i in range(num_graphs):
        label = int(i >= num_graphs // 2)
        base = nx.barabasi_albert_graph(20, 1, seed=int(rng.integers(2**31)))
        shape, _ = MOTIFS["cycle5" if label else "house"]()
        g = nx.disjoint_union(base, shape)
        g.add_edge(20, int(rng.integers(20)))
        graph = from_networkx(g, feature_dim=10, fill=0.1)
        node_gt = torch.arange(graph.num_nodes) >= 20
        src, dst = graph.edge_index
        graphs.append(
            Graph(
                graph.x, graph.edge_index, torch.tensor(label), node_gt, node_gt[src] & node_gt[dst]
            )
        )
    tr, va, te = _splits(num_graphs, rng)
    return GraphDataset("ba-2motifs", graphs, tr, va, te, 2)


DATASETS = {
    "ba-shapes": ba_shapes,
    "ba-community": ba_community,
    "tree-cycles": tree_cycles,
    "tree-grid": tree_grid,
    "ba-2motifs": ba_2motifs,
}


def load_dataset(name: str, seed: int = 0) -> NodeDataset | GraphDataset:
    """A benchmark by name (see ``DATASETS``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](seed=seed)
