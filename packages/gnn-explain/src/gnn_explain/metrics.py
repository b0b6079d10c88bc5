"""Explanation metrics: fidelity+/- (probability and accuracy forms), sparsity, the
characterisation score, and ground-truth ROC AUC and precision@k.

Fidelity follows Yuan et al. (SubgraphX) and Amara et al. (GraphFramEx), with absent nodes
zero-filled as in SubgraphX. With S the explanation's nodes and y the explained class
(the model's prediction on the full graph):
fid+ prob = p_y(G) - p_y(G without S), fid- prob = p_y(G) - p_y(S only);
fid+ acc = 1 - [argmax(G without S) = y], fid- acc = 1 - [argmax(S only) = y];
sparsity = 1 - |S| / n, n the nodes the model sees (node tasks: the L-hop subgraph).

Matched sparsity: explanations of different methods come at different sizes (SubgraphX's
best coalition with at most k nodes can hold fewer). :func:`interpolate_at` reads a
fidelity-vs-sparsity curve at a common level, as the paper's fidelity-vs-sparsity plots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from gnn_explain.explain.explainer import prepare
from gnn_explain.graph import Graph, masked_copies


@dataclass(frozen=True)
class Fidelity:
    """Fidelity of one hard explanation (see the module docstring)."""

    fid_plus_prob: float
    fid_minus_prob: float
    fid_plus_acc: float
    fid_minus_acc: float
    sparsity: float
    size: int

    @property
    def characterization(self) -> float:
        return characterization_score(self.fid_plus_acc, self.fid_minus_acc)


def fidelity(
    model: nn.Module, graph: Graph, nodes: Tensor, *, target: int, node: int | None = None
) -> Fidelity:
    """Fidelity of keeping/removing the node ids ``nodes`` (full-graph ids) for one prediction."""
    return fidelities(model, graph, [nodes], target=target, node=node)[0]


@torch.no_grad()
def fidelities(
    model: nn.Module,
    graph: Graph,
    node_sets: list[Tensor],
    *,
    target: int,
    node: int | None = None,
) -> list[Fidelity]:
    """:func:`fidelity` of each node-id set in ``node_sets`` (full-graph ids), all of them in
    one batched forward pass (1 + 2 * len(node_sets) masked copies of the graph)."""
    p = prepare(model, graph, node, target)
    keep_full = torch.zeros(len(node_sets), p.full_nodes)
    for row, nodes in zip(keep_full, node_sets):
        row[nodes] = 1.0
    keep = keep_full if p.subset is None else keep_full[:, p.subset]
    masks = torch.cat([torch.ones(1, p.num_nodes), 1.0 - keep, keep])
    x, ei, batch = masked_copies(p.x, p.edge_index, masks)
    probs = torch.softmax(p.logits(x, ei, batch), -1)
    pred, py = probs.argmax(-1), probs[:, target]
    k = len(node_sets)
    out = []
    for i in range(k):
        size = int(keep[i].sum())
        without, only = 1 + i, 1 + k + i
        out.append(
            Fidelity(
                fid_plus_prob=float(py[0] - py[without]),
                fid_minus_prob=float(py[0] - py[only]),
                fid_plus_acc=float(1 - int(pred[without] == target)),
                fid_minus_acc=float(1 - int(pred[only] == target)),
                sparsity=1.0 - size / p.num_nodes,
                size=size,
            )
        )
    return out


def interpolate_at(points: list[tuple[float, float]], level: float) -> float | None:
    """The value at ``level`` of the piecewise-linear curve through (sparsity, value)
    ``points`` (averaging values of equal sparsity); None outside the points' range."""
    if not points:
        return None
    by_s: dict[float, list[float]] = {}
    for s, v in points:
        by_s.setdefault(round(s, 12), []).append(v)
    xs = sorted(by_s)
    if not xs[0] - 1e-9 <= level <= xs[-1] + 1e-9:
        return None
    ys = [sum(by_s[x]) / len(by_s[x]) for x in xs]
    return float(np.interp(level, xs, ys))


def characterization_score(
    fid_plus: float, fid_minus: float, w_plus: float = 0.5, w_minus: float = 0.5
) -> float:
    """Weighted harmonic mean of fid+ and 1 - fid- (Amara et al. 2022); 0 if either is <= 0."""
    if fid_plus <= 0 or 1 - fid_minus <= 0:
        return 0.0
    return (w_plus + w_minus) / (w_plus / fid_plus + w_minus / (1 - fid_minus))


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    """ROC AUC of ``scores`` (m,) against bool ``labels`` (m,), ties counted half (Mann-Whitney)."""
    labels = labels.bool()
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        raise ValueError("ROC AUC needs both positive and negative ground-truth labels")
    s = scores.double()
    greater = (s[labels].unsqueeze(1) > s[~labels].unsqueeze(0)).double().sum()
    ties = (s[labels].unsqueeze(1) == s[~labels].unsqueeze(0)).double().sum()
    return float((greater + 0.5 * ties) / (pos * neg))


def precision_at_k(scores: Tensor, labels: Tensor, k: int) -> float:
    """Fraction of the ``k`` highest scores (ties by lower index) whose label is true."""
    if not 1 <= k <= len(scores):
        raise ValueError(f"k must be in [1, {len(scores)}], got {k}")
    top = torch.sort(-scores.double(), stable=True).indices[:k]
    return float(labels.bool()[top].float().mean())
