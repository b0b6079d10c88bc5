"""Attribution patching (Nanda 2023; Syed et al. 2023): a first-order estimate of patching.

metric(patched) ≈ metric(corrupted) + Σ (clean_act − corrupted_act) · ∂metric/∂act, summed
over every dimension except the patched index; one forward + backward for all sites.
Exact when the metric is linear in the site's activation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from interp_tools.hooks import run_with_cache, run_with_hooks
from interp_tools.patching.activation import Metric, _check_inputs, _metric_mean
from interp_tools.patching.result import PatchingResult, mode_dim


def attribution_patching(
    model: nn.Module,
    clean: torch.Tensor,
    corrupted: torch.Tensor,
    metric: Metric,
    sites: Sequence[str],
    *,
    mode: str = "position",
) -> PatchingResult:
    """Gradient estimate of ``activation_patching`` for every (site, index) at once."""
    _check_inputs(clean, corrupted)
    dim = mode_dim(mode)
    B = clean.shape[0]
    with torch.no_grad():
        out_clean, clean_cache = run_with_cache(model, clean, names=sites)
        clean_metric = float(_metric_mean(metric, out_clean, B)[0])
    # A zero leaf added at every site: its gradient is the gradient wrt the activation,
    # and the graph through later sites is kept.
    deltas: dict[str, torch.Tensor] = {}
    acts: dict[str, torch.Tensor] = {}

    def tap(site: str):
        def fn(act: torch.Tensor) -> torch.Tensor:
            acts[site] = act.detach()
            deltas[site] = torch.zeros_like(act, requires_grad=True)
            return act + deltas[site]

        return fn

    with torch.enable_grad():
        out = run_with_hooks(model, corrupted, fns={s: tap(s) for s in sites})
        value = _metric_mean(metric, out, B)[0]
        grads = torch.autograd.grad(value, [deltas[s] for s in sites], allow_unused=True)
    rows = []
    for site, grad in zip(sites, grads):
        diff = clean_cache[site] - acts[site]
        grad = torch.zeros_like(diff) if grad is None else grad
        prod = (diff * grad).movedim(dim, 0)
        rows.append(prod.reshape(prod.shape[0], -1).sum(dim=1))
    corrupted_metric = float(value.detach())
    grid = torch.stack(rows).detach().cpu() + corrupted_metric
    return PatchingResult(grid, tuple(sites), mode, clean_metric, corrupted_metric)
