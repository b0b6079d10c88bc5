"""Interaction graphs between consecutive node layers in a given basis, and their sparsity.

Edge (i, j) between coordinate j of layer l and coordinate i of layer l + 1 is the mean over
the data of the squared integrated gradient (Sundararajan et al. 2017) from the layer's mean
(coordinates 0) to the sample: IG_ij(x) = f̂_j ∫₀¹ ∂f̂^{l+1}_i/∂f̂_j(α f̂) dα, by the midpoint
rule with ``steps`` points. Exact for linear layers; Σ_j IG_ij = f̂^{l+1}_i(x) − f̂^{l+1}_i(0)
as steps → ∞ (completeness).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from interp_tools.interaction.basis import LayerBasis, LayerFn, node_activations


def integrated_gradients(
    fn: LayerFn, basis_in: LayerBasis, basis_out: LayerBasis, f: torch.Tensor, steps: int = 16
) -> torch.Tensor:
    """IG [N, k_out, k_in] of the next layer's coordinates w.r.t. this layer's, per sample."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")

    def g(z: torch.Tensor) -> torch.Tensor:
        return basis_out.transform(fn(basis_in.inverse(z[None])))[0]

    jac = torch.func.vmap(torch.func.jacrev(g))
    z = basis_in.transform(f)
    total = torch.zeros(z.shape[0], basis_out.size, basis_in.size, dtype=f.dtype)
    for a in (torch.arange(steps, dtype=f.dtype) + 0.5) / steps:
        total += jac(a * z)
    return (total / steps * z[:, None, :]).detach()


def interaction_graph(
    layers: Sequence[LayerFn],
    inputs: torch.Tensor,
    bases: Sequence[LayerBasis],
    steps: int = 16,
) -> list[torch.Tensor]:
    """Edge matrices [k_{l+1}, k_l]: E_x[IG_ij²] for every pair of consecutive node layers."""
    if len(bases) != len(layers) + 1:
        raise ValueError(f"need {len(layers) + 1} bases (one per node layer), got {len(bases)}")
    acts = node_activations(layers, inputs)
    return [
        integrated_gradients(fn, bases[l], bases[l + 1], acts[l], steps).pow(2).mean(0)
        for l, fn in enumerate(layers)
    ]


def edges_for_fraction(edges: torch.Tensor, fraction: float) -> int:
    """The fewest edges whose weights sum to ``fraction`` of the total (fewer = sparser)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    w = edges.flatten().sort(descending=True).values
    total = float(w.sum())
    if total <= 0:
        return 0
    reached = torch.cumsum(w, 0) >= fraction * total * (1 - 1e-12)
    return int(reached.nonzero()[0]) + 1


def gini(edges: torch.Tensor) -> float:
    """Gini coefficient of the edge weights (0: all equal, → 1: one edge holds everything)."""
    w = edges.flatten().sort().values.double()
    n = w.numel()
    if n == 0 or float(w.sum()) <= 0:
        return 0.0
    idx = torch.arange(1, n + 1, dtype=w.dtype)
    return float(((2 * idx - n - 1) * w).sum() / (n * w.sum()))
