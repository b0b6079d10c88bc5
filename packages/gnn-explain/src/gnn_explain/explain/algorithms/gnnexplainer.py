"""GNNExplainer (Ying et al. 2019): learn a soft edge mask and a feature mask that keep the
prediction, with size and entropy regularisers. Defaults as PyTorch Geometric's.

loss = -log p_target(masked graph) + edge_size * sum(m) + edge_ent * mean(H(m))
       + feat_size * mean(f) + feat_ent * mean(H(f)),  m = sigmoid(edge logits),
f = sigmoid(feature logits), H the binary entropy. A node's score is the largest mask value
of its incident edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from accelerator_utils import make_generator
from gnn_explain.explain.explainer import Evaluator, Explainer, Problem, Raw

EPS = 1e-15


@dataclass(frozen=True)
class GNNExplainerConfig:
    epochs: int = 100
    lr: float = 0.01
    edge_size: float = 0.005
    edge_ent: float = 1.0
    feat_size: float = 1.0
    feat_ent: float = 0.1
    seed: int = 0


def entropy(m: Tensor) -> Tensor:
    """Elementwise binary entropy of probabilities m."""
    return -m * torch.log(m + EPS) - (1 - m) * torch.log(1 - m + EPS)


def edge_to_node(edge_index: Tensor, edge_mask: Tensor, num_nodes: int) -> Tensor:
    """(E,) edge scores -> (n,) node scores: the maximum over each node's incident edges."""
    out = torch.zeros(num_nodes, dtype=edge_mask.dtype)
    for row in edge_index:
        out = out.scatter_reduce(0, row, edge_mask, reduce="amax", include_self=True)
    return out


class GNNExplainer(Explainer):
    name = "gnnexplainer"

    def __init__(self, config: GNNExplainerConfig = GNNExplainerConfig()) -> None:
        self.config = config

    def _explain(self, problem: Problem, ev: Evaluator):
        cfg = self.config
        gen = make_generator(cfg.seed)
        n, e = problem.num_nodes, problem.edge_index.shape[1]
        std = torch.nn.init.calculate_gain("relu") * math.sqrt(2.0 / (2 * n))
        edge_logits = (1.0 + std * torch.randn(e, generator=gen)).requires_grad_(True)
        feat_logits = (0.1 * torch.randn(problem.x.shape[1], generator=gen)).requires_grad_(True)
        opt = torch.optim.Adam([edge_logits, feat_logits], lr=cfg.lr)
        for _ in range(cfg.epochs):
            opt.zero_grad()
            m, f = edge_logits.sigmoid(), feat_logits.sigmoid()
            logits = problem.logits(problem.x * f, problem.edge_index, edge_weight=m)
            loss = -torch.log_softmax(logits, -1)[0, problem.target]
            loss = loss + cfg.edge_size * m.sum() + cfg.edge_ent * entropy(m).mean()
            loss = loss + cfg.feat_size * f.mean() + cfg.feat_ent * entropy(f).mean()
            loss.backward()
            opt.step()
        ev.forward_calls += cfg.epochs
        ev.graphs_evaluated += cfg.epochs
        m = edge_logits.detach().sigmoid()
        return Raw(edge_to_node(problem.edge_index, m, n), m)
