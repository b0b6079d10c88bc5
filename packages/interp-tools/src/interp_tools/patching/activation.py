"""Exact activation patching: clean activations patched into a corrupted run, one index at a time.

Batched: ``batch_patches`` = K copies of the corrupted batch run in one forward, copy k
patched at its own index, so one forward gives K grid cells. The model must treat batch rows
independently (no batch norm) and take one tensor input batched along dim 0.

A model may offer ``patching_split(site)`` (``models.PatchingSplit``): the part of the forward
that a patch cannot change then runs once, and only the rest runs on the K copies (for a
causal split, only the positions from the chunk's first patched one on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from accelerator_utils import progress as progress_bar
from interp_tools.hooks import hooks, replace, run_with_cache, run_with_hooks
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
    """Clean activations at ``sites`` and both unpatched metrics, from one forward of the
    clean and corrupted batches stacked (rows are independent)."""
    B = clean.shape[0]
    out, cache = run_with_cache(model, torch.cat([clean, corrupted]), names=sites)
    clean_metric, corrupted_metric = _metric_mean(metric, out, B).tolist()
    return {s: cache[s][:B] for s in sites}, clean_metric, corrupted_metric


Forward = Callable[[int, int], torch.Tensor]


def _runner(
    model: nn.Module, corrupted: torch.Tensor, site: str, share_prefix: bool, states: dict
) -> tuple[Forward, bool]:
    """``(forward, causal)``: ``forward(copies, start)`` is the output of the corrupted run on
    ``copies`` stacked copies of the batch, with the site's hook seeing positions ≥ ``start``
    (``start`` > 0 only when ``causal``).

    With a model offering ``patching_split(site)`` (and ``share_prefix``), the part of the
    forward that a patch cannot change runs once here (``states`` keeps each prefix's result
    for the other sites); otherwise every call runs the model.
    """
    split = getattr(model, "patching_split", None) if share_prefix else None
    parts = split(site) if split is not None else None
    if parts is None:

        def full(copies: int, start: int) -> torch.Tensor:
            return model(corrupted.repeat(copies, *[1] * (corrupted.ndim - 1)))

        return full, False
    if parts.prefix not in states:  # one prefix run per distinct prefix (e.g. one per model)
        states[parts.prefix] = parts.prefix(corrupted)
    state = states[parts.prefix]
    return (lambda copies, start: parts.suffix(state, copies, start)), parts.causal


def _index_masks(n: int, ndim: int, dim: int, k: int, device: torch.device) -> list[torch.Tensor]:
    """Boolean masks [K, 1, ..., n (at dim + 1), ...] selecting index ``start + j`` in copy j,
    one per chunk of ``k`` consecutive indices."""
    positions = torch.arange(n, device=device)
    masks = []
    for start in range(0, n, k):
        idx = positions[start : start + k]
        shape = [len(idx), 1] + [1] * (ndim - 1)
        shape[dim + 1] = n
        masks.append((idx[:, None] == positions[None]).view(shape))
    return masks


def _patch_site(
    model: nn.Module,
    site: str,
    ref: torch.Tensor,
    masks: list[torch.Tensor],
    run: Forward,
    first_index: list[int] | None,
    dim: int,
    metric: Metric,
) -> torch.Tensor:
    """Grid row of ``site``: one forward of K patched copies per mask, the hook attached once.

    ``first_index``: per mask, the first patched position, from which on a causal forward
    recomputes (``None``: the whole forward every time).
    """
    B = ref.shape[0]
    state: dict = {"calls": 0}

    def patch(act: torch.Tensor) -> torch.Tensor:
        mask, clean = state["mask"], state["ref"]
        state["calls"] += 1
        view = act.view(mask.shape[0], B, *act.shape[1:])
        return torch.where(mask, clean[None], view).view(act.shape)

    values = []
    n = ref.shape[dim]
    with hooks(model, {site: patch}):
        for c, mask in enumerate(masks):
            start = first_index[c] if first_index is not None else 0
            state["mask"] = mask.narrow(dim + 1, start, n - start)
            state["ref"] = ref.narrow(dim, start, n - start)
            out = run(mask.shape[0], start)
            values.append(_metric_mean(metric, out, B))
    if state["calls"] < len(masks):
        raise RuntimeError(
            f"patching site {site!r} was not reached by the forward pass; patch a module that "
            "the model calls (for a model with patching_split, one inside the suffix)"
        )
    return torch.cat(values)


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
    share_prefix: bool = True,
    progress: bool | None = None,
) -> PatchingResult:
    """Patch each (site, index) of ``clean`` into the run on ``corrupted``; batched by K.

    ``metric(output) -> [batch]`` per-example values (e.g. a logit difference); the grid holds
    its batch mean. ``mode``: ``"position"`` indexes activation dim 1, ``"head"`` dim 2.
    ``share_prefix``: when the model has ``patching_split(site)`` (as ``Transformer`` does),
    run the forward up to the site's block once on the corrupted batch and only the rest on
    the K patched copies (same result, less work). ``progress``: a bar over sites (None: only
    on a terminal outside CI).
    """
    _check_inputs(clean, corrupted)
    if batch_patches < 1:
        raise ValueError(f"batch_patches must be >= 1, got {batch_patches}")
    dim = mode_dim(mode)
    clean_acts, clean_metric, corrupted_metric = _baselines(model, clean, corrupted, metric, sites)
    rows = []
    states: dict = {}
    for site in progress_bar(sites, desc="patching", enabled=progress):
        ref = clean_acts[site]
        n = ref.shape[dim]
        masks = _index_masks(n, ref.ndim, dim, batch_patches, ref.device)
        run, causal = _runner(model, corrupted, site, share_prefix, states)
        starts = list(range(0, n, batch_patches)) if causal and dim == 1 else None
        rows.append(_patch_site(model, site, ref, masks, run, starts, dim, metric))
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
