"""Exact activation patching: clean activations patched into a corrupted run, one index at a time.

Batched: ``batch_patches`` = K copies of the corrupted batch run in one forward, copy k
patched at its own index, so one forward gives K grid cells. The model must treat batch rows
independently (no batch norm) and take one tensor input batched along dim 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from accelerator_utils import progress as progress_bar
from interp_tools.hooks import replace, run_with_cache, run_with_hooks
from interp_tools.patching.result import PatchingResult, mode_dim

Metric = Callable[[torch.Tensor], torch.Tensor]


def _metric_mean(metric: Metric, out: torch.Tensor, batch: int) -> torch.Tensor:
    values = metric(out)
    if values.ndim != 1 or values.shape[0] % batch:
        raise ValueError(
            f"metric must return one value per example, shape [{batch}·K], got {tuple(values.shape)}"
        )
    if not torch.isfinite(values).all():
        raise ValueError("metric returned NaN/Inf; check the model outputs and the metric")
    return values.view(-1, batch).mean(dim=1)


def _check_inputs(clean: torch.Tensor, corrupted: torch.Tensor) -> None:
    if clean.shape != corrupted.shape:
        raise ValueError(
            f"clean {tuple(clean.shape)} and corrupted {tuple(corrupted.shape)} inputs differ in shape"
        )


def _baselines(
    model: nn.Module,
    clean: torch.Tensor,
    corrupted: torch.Tensor,
    metric: Metric,
    sites: Sequence[str],
) -> tuple[dict[str, torch.Tensor], float, float]:
    out_clean, cache = run_with_cache(model, clean, names=sites)
    clean_metric = float(_metric_mean(metric, out_clean, clean.shape[0])[0])
    corrupted_metric = float(_metric_mean(metric, model(corrupted), clean.shape[0])[0])
    return {s: cache[s] for s in sites}, clean_metric, corrupted_metric


@torch.no_grad()
def activation_patching(
    model: nn.Module,
    clean: torch.Tensor,
    corrupted: torch.Tensor,
    metric: Metric,
    sites: Sequence[str],
    *,
    mode: str = "position",
    batch_patches: int = 16,
    progress: bool | None = None,
) -> PatchingResult:
    """Patch each (site, index) of ``clean`` into the run on ``corrupted``; batched by K.

    ``metric(output) -> [batch]`` per-example values (e.g. a logit difference); the grid holds
    its batch mean. ``mode``: ``"position"`` indexes activation dim 1, ``"head"`` dim 2.
    ``progress``: a bar over sites (None: only on a terminal outside CI).
    """
    _check_inputs(clean, corrupted)
    if batch_patches < 1:
        raise ValueError(f"batch_patches must be >= 1, got {batch_patches}")
    dim = mode_dim(mode)
    clean_acts, clean_metric, corrupted_metric = _baselines(model, clean, corrupted, metric, sites)
    B = clean.shape[0]
    rows = []
    for site in progress_bar(sites, desc="patching", enabled=progress):
        ref = clean_acts[site]
        n = ref.shape[dim]
        values = []
        for start in range(0, n, batch_patches):
            idx = torch.arange(start, min(start + batch_patches, n), device=ref.device)
            K = len(idx)
            mask_shape = [K, 1] + [1] * (ref.ndim - 1)
            mask_shape[dim + 1] = n
            positions = torch.arange(n, device=ref.device)
            mask = (idx[:, None] == positions[None]).view(mask_shape)

            def patch(act: torch.Tensor, mask=mask, ref=ref, K=K) -> torch.Tensor:
                view = act.view(K, B, *act.shape[1:])
                return torch.where(mask, ref[None], view).view(act.shape)

            batch = corrupted.repeat(K, *[1] * (corrupted.ndim - 1))
            out = run_with_hooks(model, batch, fns={site: patch})
            values.append(_metric_mean(metric, out, B))
        rows.append(torch.cat(values))
    return PatchingResult(
        torch.stack(rows).cpu(), tuple(sites), mode, clean_metric, corrupted_metric
    )


@torch.no_grad()
def activation_patching_reference(
    model: nn.Module,
    clean: torch.Tensor,
    corrupted: torch.Tensor,
    metric: Metric,
    sites: Sequence[str],
    *,
    mode: str = "position",
    progress: bool | None = None,
) -> PatchingResult:
    """Slow reference: one forward per (site, index), patched with ``hooks.replace``."""
    _check_inputs(clean, corrupted)
    dim = mode_dim(mode)
    clean_acts, clean_metric, corrupted_metric = _baselines(model, clean, corrupted, metric, sites)
    rows = []
    for site in progress_bar(sites, desc="patching (reference)", enabled=progress):
        ref = clean_acts[site]
        row = []
        for i in range(ref.shape[dim]):
            index = (slice(None),) * dim + (i,)
            out = run_with_hooks(model, corrupted, fns={site: replace(ref[index], index)})
            row.append(_metric_mean(metric, out, clean.shape[0])[0])
        rows.append(torch.stack(row))
    return PatchingResult(
        torch.stack(rows).cpu(), tuple(sites), mode, clean_metric, corrupted_metric
    )
