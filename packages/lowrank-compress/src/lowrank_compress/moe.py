"""A small mixture-of-experts layer and Sub-MoE expert merging (Li et al. 2025, seed version).

Experts are clustered by the similarity of their outputs on calibration inputs; within a
cluster, the experts' weights are concatenated along the input axis, [W_1 … W_c] (m, c·n),
and one SVD gives a shared basis U (m, r) and per-expert V_e (n, r) with W_e ≈ U Σ V_eᵀ.
The merged expert is U Σ (Σ_e f_e V_e)ᵀ, f_e the routing frequencies in the cluster
(at full rank this is the frequency-weighted average of the experts). The router is kept;
``expert_map`` sends each original expert to its cluster's merged expert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Expert(nn.Module):
    """A two-layer GELU MLP: d_model → d_hidden → d_model."""

    def __init__(self, d_model: int, d_hidden: int) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, d_hidden)
        self.down = nn.Linear(d_hidden, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class MoE(nn.Module):
    """Top-k routed experts. Input (..., d_model) → output (..., d_model).

    ``expert_map`` (n_router_outputs,) maps router outputs to expert modules (identity until
    experts are merged).
    """

    def __init__(self, d_model: int, d_hidden: int, n_experts: int, top_k: int = 2) -> None:
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"need 1 <= top_k <= n_experts, got {top_k=} {n_experts=}")
        self.router = nn.Linear(d_model, n_experts, bias=False)
        self.experts = nn.ModuleList(Expert(d_model, d_hidden) for _ in range(n_experts))
        self.top_k = top_k
        self.register_buffer("expert_map", torch.arange(n_experts))

    def routing(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k router outputs (rows, k) and their softmax weights (rows, k)."""
        logits = self.router(x)
        w, idx = logits.topk(self.top_k, dim=-1)
        return idx, w.softmax(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        idx, w = self.routing(x)
        idx = self.expert_map[idx]
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            rows, slot = (idx == e).nonzero(as_tuple=True)
            if rows.numel():
                out.index_add_(0, rows, expert(x[rows]) * w[rows, slot, None])
        return out.reshape(shape)


def cluster_experts(outputs: torch.Tensor, n_clusters: int) -> list[list[int]]:
    """Agglomerative (average-linkage) clusters of experts by cosine similarity of outputs.

    ``outputs`` (E, N, d): every expert's outputs on the same N calibration inputs.
    """
    flat = F.normalize(outputs.reshape(outputs.shape[0], -1).double(), dim=1)
    sim = (flat @ flat.T).numpy()
    clusters = [[e] for e in range(outputs.shape[0])]
    while len(clusters) > n_clusters:
        best, pair = -np.inf, (0, 1)
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                s = sim[np.ix_(clusters[a], clusters[b])].mean()
                if s > best:
                    best, pair = s, (a, b)
        a, b = pair
        clusters[a] = sorted(clusters[a] + clusters.pop(b))
    return sorted(clusters)


def merge_weights(weights: list[torch.Tensor], freqs: torch.Tensor, rank: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint SVD of [W_1 … W_c] (m, c·n): shared U Σ (m, r) and merged V = Σ f_e V_e (n, r)."""
    n = weights[0].shape[1]
    U, S, Vh = torch.linalg.svd(torch.cat([w.double() for w in weights], dim=1),
                                full_matrices=False)
    V_e = Vh[:rank].T.reshape(len(weights), n, rank)
    f = freqs.double() / freqs.double().sum()
    return U[:, :rank] * S[:rank], torch.einsum("e,enr->nr", f, V_e)


@dataclass
class MergeResult:
    """The merged MoE, the clusters of original experts and their routing frequencies."""

    model: MoE
    clusters: list[list[int]]
    frequencies: torch.Tensor


def routing_frequencies(moe: MoE, x: torch.Tensor) -> torch.Tensor:
    """Routing weight mass of each expert over calibration rows x (N, d_model): (E,)."""
    with torch.no_grad():
        idx, w = moe.routing(x)
    return torch.zeros(len(moe.experts), dtype=w.dtype).index_add_(0, idx.flatten(), w.flatten())


def merge_experts(moe: MoE, calibration: torch.Tensor, n_clusters: int,
                  rank: int | None = None) -> MergeResult:
    """Sub-MoE: merge ``moe``'s experts into ``n_clusters`` experts (rank ≤ ``rank`` each).

    ``calibration`` (N, d_model) are inputs to the MoE layer. Returns a new MoE whose router is
    the original's; merged weights are in the experts' dtype.
    """
    E = len(moe.experts)
    if not 1 <= n_clusters <= E:
        raise ValueError(f"n_clusters must lie in [1, {E}], got {n_clusters}")
    if calibration.ndim != 2 or calibration.shape[1] != moe.router.in_features:
        raise ValueError(f"calibration must be (N, {moe.router.in_features}), got "
                         f"{tuple(calibration.shape)}")
    with torch.no_grad():
        outputs = torch.stack([ex(calibration) for ex in moe.experts])
    clusters = cluster_experts(outputs, n_clusters)
    freqs = routing_frequencies(moe, calibration).clamp_min(1e-12)
    d_model, d_hidden = moe.experts[0].up.in_features, moe.experts[0].up.out_features
    merged = MoE(d_model, d_hidden, E, moe.top_k).to(moe.router.weight)
    merged.router.load_state_dict(moe.router.state_dict())
    merged.experts = nn.ModuleList(Expert(d_model, d_hidden) for _ in clusters).to(
        moe.router.weight)
    expert_map = torch.empty(E, dtype=torch.long)
    for c, members in enumerate(clusters):
        expert_map[members] = c
        f = freqs[members]
        for part in ("up", "down"):
            layers = [getattr(moe.experts[e], part) for e in members]
            r = min(rank or 10**9, *layers[0].weight.shape)
            Us, V = merge_weights([la.weight for la in layers], f, r)
            bias = torch.einsum("e,eo->o", f.double() / f.double().sum(),
                                torch.stack([la.bias.double() for la in layers]))
            target = getattr(merged.experts[c], part)
            with torch.no_grad():
                target.weight.copy_(Us @ V.T)
                target.bias.copy_(bias)
    merged.expert_map.copy_(expert_map)
    return MergeResult(merged, clusters, freqs)
