"""What every explainer shares: input checks, the L-hop restriction of node tasks, and a
counting evaluator of the target probability under node masks (zero-filled absent nodes)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gnn_explain.explain.explanation import Explanation
from gnn_explain.graph import Graph, as_graph, k_hop_subgraph, masked_copies


@dataclass(frozen=True)
class Raw:
    """What an algorithm returns, on the problem's local ids (see :class:`Explanation`)."""

    node_mask: Tensor
    edge_mask: Tensor | None = None
    subgraph: Tensor | None = None
    score: float | None = None
    candidates: list[tuple[Tensor, float]] | None = None


@dataclass(frozen=True)
class Problem:
    """One prediction to explain, restricted to what the model can see.

    Node tasks are restricted to the L-hop computation subgraph of ``node`` (L = the model's
    layer count), which gives exactly the full graph's prediction for ``node``. ``subset`` and
    ``edge_ids`` map local ids back to the full graph (None for graph tasks).
    """

    model: nn.Module
    x: Tensor
    edge_index: Tensor
    target: int
    node: int | None
    subset: Tensor | None
    edge_ids: Tensor | None
    full_nodes: int
    full_edges: int

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    def logits(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        edge_weight: Tensor | None = None,
    ) -> Tensor:
        """The target row(s) of the model's logits: (1, C), or (B, C) for a masked batch."""
        out = self.model(x, edge_index, batch=batch, edge_weight=edge_weight)
        if self.node is None:
            return out
        if batch is None:
            return out[self.node].unsqueeze(0)
        return out.view(-1, self.num_nodes, out.shape[-1])[:, self.node]

    def node_to_full(self, local: Tensor) -> Tensor:
        """(k,) values on local nodes -> (full_nodes,), zero outside the computation subgraph."""
        if self.subset is None:
            return local
        full = torch.zeros(self.full_nodes, dtype=local.dtype, device=local.device)
        return full.index_copy_(0, self.subset, local)

    def edge_to_full(self, local: Tensor) -> Tensor:
        if self.edge_ids is None:
            return local
        full = torch.zeros(self.full_edges, dtype=local.dtype, device=local.device)
        return full.index_copy_(0, self.edge_ids, local)

    def ids_to_full(self, ids: Tensor) -> Tensor:
        return ids if self.subset is None else self.subset[ids]


def prepare(model: nn.Module, graph: Graph, node: int | None, target: int | None) -> Problem:
    """Check the inputs and build the :class:`Problem` (target defaults to the prediction)."""
    graph = as_graph(graph)
    if model.training:
        raise ValueError(
            "the model is in training mode (dropout/batch-norm would make "
            "explanations random): call model.eval() first"
        )
    task = getattr(model, "task", "graph" if node is None else "node")
    in_dim = getattr(getattr(model, "config", None), "in_dim", graph.num_features)
    if in_dim != graph.num_features:
        raise ValueError(
            f"the graph has {graph.num_features} node features but the model expects {in_dim}"
        )
    if task == "node" and node is None:
        raise ValueError("a node-classification model needs node=<id of the node to explain>")
    if task == "graph" and node is not None:
        raise ValueError("a graph-classification model explains whole graphs: leave node=None")
    x, ei, subset, edge_ids, local = graph.x, graph.edge_index, None, None, None
    if node is not None:
        hops = getattr(model, "num_layers", 3)
        subset, ei, edge_ids, local = k_hop_subgraph(
            int(node), hops, graph.edge_index, graph.num_nodes
        )
        if len(subset) == 1:
            raise ValueError(
                f"node {node} has no neighbours: its prediction depends on no "
                "other node, so there is no subgraph to explain"
            )
        x = graph.x[subset]
    with torch.no_grad():
        logits = Problem(model, x, ei, 0, local, None, None, 0, 0).logits(x, ei)
    if target is None:
        target = int(logits.argmax(-1))
    elif not 0 <= target < logits.shape[-1]:
        raise ValueError(
            f"target class {target} is out of range: the model has {logits.shape[-1]} classes"
        )
    return Problem(
        model, x, ei, int(target), local, subset, edge_ids, graph.num_nodes, graph.num_edges
    )


class Evaluator:
    """Probability of the target class with node features multiplied by masks, counting calls.

    ``probs(masks)`` takes masks (B, n) and runs one disjoint-union forward per chunk of at
    most ``max_batch_nodes`` nodes; ``prob(mask)`` runs one plain forward on one graph.
    """

    def __init__(self, problem: Problem, max_batch_nodes: int = 500_000) -> None:
        self.p = problem
        self.max_batch = max(1, max_batch_nodes // max(problem.num_nodes, 1))
        self.forward_calls = 0
        self.graphs_evaluated = 0

    @torch.no_grad()
    def probs(self, masks: Tensor) -> Tensor:
        """(B, n) masks -> (B,) target probabilities."""
        out = []
        for chunk in masks.split(self.max_batch):
            x, ei, batch = masked_copies(self.p.x, self.p.edge_index, chunk)
            logits = self.p.logits(x, ei, batch)
            out.append(torch.softmax(logits, -1)[:, self.p.target])
            self.forward_calls += 1
            self.graphs_evaluated += len(chunk)
        return torch.cat(out) if out else masks.new_zeros(0)

    @torch.no_grad()
    def prob(self, mask: Tensor) -> float:
        """(n,) mask -> the target probability, from one unbatched forward pass."""
        logits = self.p.logits(self.p.x * mask.unsqueeze(-1), self.p.edge_index)
        self.forward_calls += 1
        self.graphs_evaluated += 1
        return float(torch.softmax(logits, -1)[0, self.p.target])


class Explainer(ABC):
    """Base class: ``explain(model, graph, node=None, target=None)`` -> :class:`Explanation`.

    Subclasses implement ``_explain(problem, evaluator)`` returning a :class:`Raw` on the
    problem's local ids.
    """

    name = "explainer"

    def explain(
        self, model: nn.Module, graph: Graph, *, node: int | None = None, target: int | None = None
    ) -> Explanation:
        start = time.perf_counter()
        problem = prepare(model, graph, node, target)
        ev = Evaluator(problem)
        raw = self._explain(problem, ev)
        edge_mask = raw.edge_mask
        return Explanation(
            explainer=self.name,
            node_mask=problem.node_to_full(raw.node_mask.detach().float()),
            edge_mask=None
            if edge_mask is None
            else problem.edge_to_full(edge_mask.detach().float()),
            subgraph=None if raw.subgraph is None else problem.ids_to_full(raw.subgraph),
            score=raw.score,
            candidates=None
            if raw.candidates is None
            else [(problem.ids_to_full(ids), score) for ids, score in raw.candidates],
            target=problem.target,
            node=node,
            time_s=time.perf_counter() - start,
            forward_calls=ev.forward_calls,
            graphs_evaluated=ev.graphs_evaluated,
        )

    @abstractmethod
    def _explain(self, problem: Problem, ev: Evaluator) -> Raw:
        """The explanation of ``problem`` on its local ids."""
