"""Graphs as plain tensors: node features ``x`` (n, f) and ``edge_index`` (2, E).

Undirected graphs store both directions of every edge. Converters to and from networkx, the
optional acceptance of ``torch_geometric.data.Data`` and disjoint-union batching live here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import Tensor

from accelerator_utils import check_finite


@dataclass(frozen=True)
class Graph:
    """One graph.

    x: (n, f) float node features. edge_index: (2, E) long, source row then target row.
    y: (n,) long node labels or a 0-d long graph label, optional.
    node_gt / edge_gt: (n,) / (E,) bool ground-truth explanation masks, optional.
    """

    x: Tensor
    edge_index: Tensor
    y: Tensor | None = None
    node_gt: Tensor | None = None
    edge_gt: Tensor | None = None

    def __post_init__(self) -> None:
        validate_graph(self.x, self.edge_index)
        n, e = self.x.shape[0], self.edge_index.shape[1]
        for name, mask, size in (("node_gt", self.node_gt, n), ("edge_gt", self.edge_gt, e)):
            if mask is not None and tuple(mask.shape) != (size,):
                raise ValueError(f"{name} must have shape ({size},), got {tuple(mask.shape)}")

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def num_features(self) -> int:
        return int(self.x.shape[1])

    def to(self, device: torch.device | str) -> Graph:
        """The same graph with every tensor on ``device``."""
        moved = {
            k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()
        }
        return replace(self, **moved)


def validate_graph(x: Tensor, edge_index: Tensor) -> None:
    """Raise ``ValueError`` naming the problem if ``x``/``edge_index`` do not form a graph."""
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise ValueError(f"x must be a 2-d tensor (num_nodes, num_features), got {_shape(x)}")
    if x.shape[0] == 0:
        raise ValueError("the graph is empty (0 nodes): explainers need at least one node")
    if not x.is_floating_point():
        raise ValueError(f"x must be floating point, got {x.dtype}; convert with x.float()")
    check_finite(x, "x")
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, num_edges), got {_shape(edge_index)}")
    if edge_index.dtype != torch.long:
        raise ValueError(f"edge_index must be torch.long, got {edge_index.dtype}")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= x.shape[0]):
        raise ValueError(
            f"edge_index holds node ids in [{int(edge_index.min())}, {int(edge_index.max())}] "
            f"but the graph has {x.shape[0]} nodes (valid ids 0..{x.shape[0] - 1})"
        )


def _shape(t: Any) -> str:
    return str(tuple(t.shape)) if hasattr(t, "shape") else type(t).__name__


def as_graph(obj: Graph | Any) -> Graph:
    """A :class:`Graph` from a Graph or a ``torch_geometric.data.Data`` (no torch_geometric needed)."""
    if isinstance(obj, Graph):
        return obj
    if type(obj).__module__.startswith("torch_geometric"):
        y = getattr(obj, "y", None)
        return Graph(obj.x.float(), obj.edge_index.long(), y=y)
    raise TypeError(
        f"expected a gnn_explain.Graph or torch_geometric Data, got {type(obj).__name__}"
    )


def to_pyg(graph: Graph) -> Any:
    """A ``torch_geometric.data.Data`` (needs the optional ``pyg`` extra)."""
    try:
        from torch_geometric.data import Data
    except ImportError as err:
        raise ImportError("to_pyg needs torch_geometric: pip install 'gnn-explain[pyg]'") from err
    return Data(x=graph.x, edge_index=graph.edge_index, y=graph.y)


def from_networkx(
    g: nx.Graph, x: Tensor | None = None, *, feature_dim: int = 10, fill: float = 1.0
) -> Graph:
    """A Graph from a networkx graph whose nodes are 0..n-1; both directions of each edge.

    ``x`` defaults to constant features ``fill`` of size (n, feature_dim).
    """
    n = g.number_of_nodes()
    if sorted(g.nodes) != list(range(n)):
        g = nx.convert_node_labels_to_integers(g, ordering="sorted")
    edges = np.array(list(g.edges()), dtype=np.int64).reshape(-1, 2)
    edges = edges[edges[:, 0] != edges[:, 1]]
    both = np.concatenate([edges, edges[:, ::-1]], axis=0).T
    if x is None:
        x = torch.full((n, feature_dim), float(fill))
    return Graph(x, torch.from_numpy(np.ascontiguousarray(both)))


def to_networkx(graph: Graph, edge_mask: Tensor | None = None) -> nx.Graph:
    """An undirected networkx graph on nodes 0..n-1 (edge attribute ``weight`` from a mask)."""
    g = nx.Graph()
    g.add_nodes_from(range(graph.num_nodes))
    src, dst = graph.edge_index.tolist()
    weights = [1.0] * len(src) if edge_mask is None else edge_mask.tolist()
    for s, d, w in zip(src, dst, weights):
        if s != d:
            old = g.get_edge_data(s, d, {"weight": -np.inf})["weight"]
            g.add_edge(s, d, weight=max(old, w))
    return g


def k_hop_subgraph(
    node: int, num_hops: int, edge_index: Tensor, num_nodes: int
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Nodes within ``num_hops`` of ``node`` and the edges among them.

    Returns (subset (k,) sorted original ids, sub_edge_index (2, E') relabelled to 0..k-1,
    edge_ids (E',) positions in the original edge_index, position of ``node`` in subset).
    """
    if not 0 <= node < num_nodes:
        raise ValueError(f"target node {node} is out of range for a graph of {num_nodes} nodes")
    keep = torch.zeros(num_nodes, dtype=torch.bool, device=edge_index.device)
    keep[node] = True
    src, dst = edge_index
    for _ in range(num_hops):
        keep = keep | torch.zeros_like(keep).index_fill_(0, src[keep[dst]], True)
    subset = keep.nonzero().flatten()
    edge_ids = (keep[src] & keep[dst]).nonzero().flatten()
    relabel = torch.full((num_nodes,), -1, dtype=torch.long, device=edge_index.device)
    relabel[subset] = torch.arange(len(subset), device=edge_index.device)
    return subset, relabel[edge_index[:, edge_ids]], edge_ids, int(relabel[node])


def collate(graphs: list[Graph]) -> tuple[Tensor, Tensor, Tensor]:
    """Disjoint union of ``graphs``: (x (N, f), edge_index (2, E), batch (N,) graph ids)."""
    offsets = np.cumsum([0] + [g.num_nodes for g in graphs[:-1]])
    x = torch.cat([g.x for g in graphs])
    edge_index = torch.cat([g.edge_index + int(o) for g, o in zip(graphs, offsets)], dim=1)
    batch = torch.repeat_interleave(
        torch.arange(len(graphs)), torch.tensor([g.num_nodes for g in graphs])
    )
    return x, edge_index, batch.to(x.device)


def masked_copies(
    x: Tensor, edge_index: Tensor, node_masks: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Disjoint union of B copies of one graph, copy b with features ``x * node_masks[b]``.

    node_masks: (B, n) in [0, 1]. Returns x (B*n, f), edge_index (2, B*E), batch (B*n,).
    Absent nodes keep their edges and get zero features (SubgraphX's "zero filling").
    """
    b, n = node_masks.shape
    xs = (node_masks.unsqueeze(-1) * x.unsqueeze(0)).reshape(b * n, -1)
    offsets = torch.arange(b, device=x.device).repeat_interleave(edge_index.shape[1]) * n
    ei = edge_index.repeat(1, b) + offsets
    batch = torch.arange(b, device=x.device).repeat_interleave(n)
    return xs, ei, batch
