"""The one result type every explainer returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Explanation:
    """An explanation of one prediction, on the full input graph's node and edge ids.

    node_mask: (n,) float importance of each node (higher = more important).
    edge_mask: (E,) float importance of each edge, or None when the explainer scores nodes only.
    subgraph: (k,) long node ids of a hard subgraph (SubgraphX), or None for soft masks.
    score: the explainer's own score of its answer (SubgraphX: the Shapley value), or None.
    target: the explained class. node: the explained node (node tasks) or None (graph tasks).
    time_s: wall time of the explanation. forward_calls: model calls made;
    graphs_evaluated: graphs (masked copies) pushed through the model, across those calls.
    candidates: (node ids, score) of every hard subgraph a search scored (SubgraphX), or None.
    """

    explainer: str
    node_mask: Tensor
    edge_mask: Tensor | None
    subgraph: Tensor | None
    score: float | None
    target: int
    node: int | None
    time_s: float
    forward_calls: int
    graphs_evaluated: int
    candidates: list[tuple[Tensor, float]] | None = None

    def nodes_at_size(self, k: int, within: Tensor | None = None) -> Tensor:
        """At most ``k`` node ids: the best-scoring candidate of at most ``k`` nodes (the
        smallest if none is that small), else the hard subgraph, else :meth:`top_nodes`
        (ranked among the node ids ``within``, if given)."""
        if self.candidates:
            fits = [c for c in self.candidates if len(c[0]) <= k]
            if not fits:
                return min(self.candidates, key=lambda c: len(c[0]))[0]
            return max(fits, key=lambda c: c[1])[0]
        if self.subgraph is not None:
            return self.subgraph
        return self.top_nodes(k, within)

    def best_per_size(self) -> dict[int, Tensor]:
        """Size -> the best-scoring candidate of exactly that size (hard explanations with
        ``candidates``, e.g. SubgraphX; empty otherwise)."""
        best: dict[int, tuple[Tensor, float]] = {}
        for ids, score in self.candidates or []:
            k = len(ids)
            if k not in best or score > best[k][1]:
                best[k] = (ids, score)
        return {k: ids for k, (ids, _) in best.items()}

    def top_nodes(self, k: int, within: Tensor | None = None) -> Tensor:
        """The ``k`` most important node ids by ``node_mask``, ties by lower id.

        ``within`` (node ids, e.g. a node task's computation subgraph) restricts the ranking
        to those nodes: scores can be negative (gradients, occlusion), so nodes the model
        never sees (score 0) would otherwise outrank them. For node tasks the explained node
        is always included first.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        scores = self.node_mask.clone().double()
        if within is not None:
            outside = torch.ones_like(scores, dtype=torch.bool)
            outside[within] = False
            scores[outside] = -torch.inf
        if self.node is not None:
            scores[self.node] = torch.inf
        order = torch.sort(-scores, stable=True).indices
        count = len(order) if within is None else len(within)
        return order[: min(k, count)]
