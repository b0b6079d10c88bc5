"""GCN, GIN and GraphSAGE layers with sparse message passing by ``index_add``.

Every layer maps x (n, in_dim), edge_index (2, E) and an optional edge_weight (E,) in [0, 1]
to (n, out_dim). Messages flow from ``edge_index[0]`` (source) to ``edge_index[1]`` (target).
The edge weight lets explainers learn soft edge masks and take gradients with respect to edges.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _weights(edge_index: Tensor, edge_weight: Tensor | None, like: Tensor) -> Tensor:
    if edge_weight is None:
        return torch.ones(edge_index.shape[1], dtype=like.dtype, device=like.device)
    return edge_weight.to(like.dtype)


def aggregate_sum(h: Tensor, edge_index: Tensor, weight: Tensor | None = None) -> Tensor:
    """out[i] = sum over edges j -> i of weight_e * h[j] (weight None: all ones, skipping the
    multiplication). Shapes: h (n, d) -> (n, d)."""
    src, dst = edge_index
    msg = h[src] if weight is None else h[src] * weight.to(h.dtype).unsqueeze(-1)
    return torch.zeros_like(h).index_add_(0, dst, msg)


class GCNConv(nn.Module):
    """Kipf & Welling: out = D^-1/2 (A + I) D^-1/2 x W + b, with A's entries the edge weights.

    ``normalize=False`` drops the normalisation and the self-loops: out = A x W + b (a sum
    over in-neighbours, as PyTorch Geometric's ``GCNConv(normalize=False)``; the SubgraphX
    reference models for BA-2Motifs and BA-Shapes use it).
    """

    def __init__(
        self, in_dim: int, out_dim: int, bias: bool = True, normalize: bool = True
    ) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim), requires_grad=bias)
        self.normalize = normalize

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if not self.normalize:
            return aggregate_sum(self.lin(x), edge_index, edge_weight) + self.bias
        n = x.shape[0]
        w = _weights(edge_index, edge_weight, x)
        deg = torch.ones(n, dtype=x.dtype, device=x.device).index_add_(0, edge_index[1], w)
        inv_sqrt = deg.rsqrt()
        norm = inv_sqrt[edge_index[0]] * w * inv_sqrt[edge_index[1]]
        h = self.lin(x)
        return aggregate_sum(h, edge_index, norm) + h * (1.0 / deg).unsqueeze(-1) + self.bias


class GINConv(nn.Module):
    """Xu et al.: out = MLP((1 + eps) x + sum of neighbours), a two-layer ReLU MLP."""

    def __init__(
        self, in_dim: int, out_dim: int, bias: bool = True, train_eps: bool = False
    ) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, out_dim, bias=bias), nn.ReLU(), nn.Linear(out_dim, out_dim, bias=bias)
        )
        self.eps = nn.Parameter(torch.zeros(()), requires_grad=train_eps)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        return self.mlp((1 + self.eps) * x + aggregate_sum(x, edge_index, edge_weight))


class SAGEConv(nn.Module):
    """Hamilton et al. (mean aggregator): out = W_self x + W_nbr mean of neighbours."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.lin_self = nn.Linear(in_dim, out_dim, bias=bias)
        self.lin_nbr = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        w = _weights(edge_index, edge_weight, x)
        total = aggregate_sum(x, edge_index, w)
        count = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device).index_add_(
            0, edge_index[1], w
        )
        return self.lin_self(x) + self.lin_nbr(total / count.clamp(min=1.0).unsqueeze(-1))


CONVS = {"gcn": GCNConv, "gin": GINConv, "sage": SAGEConv}


def make_conv(
    kind: str, in_dim: int, out_dim: int, bias: bool = True, normalize: bool = True
) -> nn.Module:
    """A layer by name: ``"gcn"``, ``"gin"`` or ``"sage"``.

    Without ``bias`` a node with all-zero input features sends all-zero messages, so
    zero-filled (masked) nodes carry no signal of their own. ``normalize`` applies to GCN
    only (its degree normalisation and self-loops).
    """
    if kind not in CONVS:
        raise ValueError(f"unknown layer {kind!r}; choose one of {sorted(CONVS)}")
    if kind == "gcn":
        return GCNConv(in_dim, out_dim, bias=bias, normalize=normalize)
    return CONVS[kind](in_dim, out_dim, bias=bias)
