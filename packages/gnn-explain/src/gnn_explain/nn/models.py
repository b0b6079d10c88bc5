"""Node- and graph-classification models built from a stack of message-passing layers.

Both models share one call signature, used by every explainer:
``model(x, edge_index, batch=None, edge_weight=None) -> logits``; node models return
(n, C), graph models (num_graphs, C) with ``batch`` (n,) the graph id of each node.
``embed`` returns the node embeddings the classifier head reads (PGExplainer uses them).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnn_explain.nn.layers import make_conv

POOLS = ("mean", "max", "sum", "max+mean")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture: ``conv`` in gcn/gin/sage, ``pool`` in mean/max/sum/max+mean (graph models
    only; ``max+mean`` concatenates both poolings, as PGExplainer's graph classifier).

    ``concat`` feeds the concatenation of every layer's output to the head (as in the
    GNNExplainer paper's node classifier); otherwise only the last layer's. ``bias=False``
    drops the layers' biases, so zero-filled nodes carry no signal of their own.
    ``normalize_adj=False`` makes GCN layers plain neighbour sums (no degree normalisation, no
    self-loops); ``normalize_emb`` L2-normalises every node embedding after each layer, before
    the ReLU; ``linear_head`` makes the graph head one linear layer (else Linear-ReLU-Linear).
    The SubgraphX reference models (DIG) use ``normalize_adj=False, normalize_emb=True`` with
    a linear head.
    """

    in_dim: int
    num_classes: int
    hidden: int = 20
    num_layers: int = 3
    conv: str = "gcn"
    pool: str = "mean"
    concat: bool = True
    bias: bool = True
    normalize_adj: bool = True
    normalize_emb: bool = False
    linear_head: bool = False

    def __post_init__(self) -> None:
        if min(self.in_dim, self.num_classes, self.hidden, self.num_layers) < 1:
            raise ValueError(f"dimensions and layer count must be >= 1, got {self}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {self.pool!r}")


class _Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        dims = [cfg.in_dim] + [cfg.hidden] * cfg.num_layers
        self.convs = nn.ModuleList(
            make_conv(cfg.conv, a, b, cfg.bias, cfg.normalize_adj)
            for a, b in itertools.pairwise(dims)
        )
        self.concat = cfg.concat
        self.normalize_emb = cfg.normalize_emb
        self.out_dim = cfg.hidden * (cfg.num_layers if cfg.concat else 1)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        outs = []
        for conv in self.convs:
            x = conv(x, edge_index, edge_weight)
            if self.normalize_emb:
                x = F.normalize(x, p=2.0, dim=-1)
            x = torch.relu(x)
            outs.append(x)
        return torch.cat(outs, dim=-1) if self.concat else x


class _Classifier(nn.Module):
    """Shared by both tasks: the config, the GNN encoder and ``embed`` (per-node embeddings)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.num_layers = cfg.num_layers
        self.encoder = _Encoder(cfg)

    def embed(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        return self.encoder(x, edge_index, edge_weight)


class NodeClassifier(_Classifier):
    """Per-node logits (n, C)."""

    task = "node"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.head = nn.Linear(self.encoder.out_dim, cfg.num_classes)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        edge_weight: Tensor | None = None,
    ) -> Tensor:
        return self.head(self.embed(x, edge_index, edge_weight))


class GraphClassifier(_Classifier):
    """Per-graph logits (num_graphs, C) from pooled node embeddings."""

    task = "graph"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        pooled = self.encoder.out_dim * (2 if cfg.pool == "max+mean" else 1)
        self.head = (
            nn.Linear(pooled, cfg.num_classes)
            if cfg.linear_head
            else nn.Sequential(
                nn.Linear(pooled, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.num_classes)
            )
        )

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        edge_weight: Tensor | None = None,
    ) -> Tensor:
        h = self.embed(x, edge_index, edge_weight)
        if batch is None:
            batch = torch.zeros(h.shape[0], dtype=torch.long, device=h.device)
        return self.head(pool(h, batch, self.config.pool))


def pool(h: Tensor, batch: Tensor, how: str) -> Tensor:
    """Pool node rows h (n, d) into (num_graphs, d) by graph id ``batch`` (n,);
    ``max+mean`` gives (num_graphs, 2 d), the max-pooled half first."""
    if how == "max+mean":
        return torch.cat([pool(h, batch, "max"), pool(h, batch, "mean")], dim=-1)
    num_graphs = int(batch.max()) + 1
    index = batch.unsqueeze(-1).expand_as(h)
    if how == "max":
        out = torch.full((num_graphs, h.shape[1]), -torch.inf, dtype=h.dtype, device=h.device)
        return out.scatter_reduce(0, index, h, reduce="amax", include_self=True)
    out = torch.zeros(num_graphs, h.shape[1], dtype=h.dtype, device=h.device).index_add_(
        0, batch, h
    )
    if how == "mean":
        count = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(h.dtype)
        out = out / count.unsqueeze(-1)
    return out


def build_model(cfg: ModelConfig, task: str) -> NodeClassifier | GraphClassifier:
    """A model for ``task`` in ``"node"``, ``"graph"``."""
    if task == "node":
        return NodeClassifier(cfg)
    if task == "graph":
        return GraphClassifier(cfg)
    raise ValueError(f"task must be 'node' or 'graph', got {task!r}")
