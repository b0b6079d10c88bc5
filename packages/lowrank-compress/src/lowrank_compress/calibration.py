"""Calibration statistics streamed through forward hooks, with memory bounded by the layer sizes.

Per target ``nn.Linear`` (n inputs, m outputs) we accumulate, never storing activations:
the Gram matrix C = Σ xxᵀ (n, n, float64), Σ|x| (n,), the token count, and for FWSVD the
row-summed squared gradients of a task loss Σ_b Σ_j (∂L_b/∂W_ij)² (m,).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from accelerator_utils import progress

Forward = Callable[[nn.Module, Any], Any]
LossFn = Callable[[nn.Module, Any], torch.Tensor]


def default_forward(model: nn.Module, batch: Any) -> Any:
    """``model(batch)``, or ``model(*batch)`` for a tuple/list batch."""
    return model(*batch) if isinstance(batch, (tuple, list)) else model(batch)


@dataclass
class LayerStats:
    """Accumulated statistics of one linear layer's inputs (and weight gradients)."""

    gram: torch.Tensor | None = None
    abs_sum: torch.Tensor | None = None
    count: int = 0
    row_fisher: torch.Tensor | None = None

    @property
    def abs_mean(self) -> torch.Tensor:
        """Mean |x_j| per input channel (n,)."""
        if self.abs_sum is None or self.count == 0:
            raise ValueError("no activations were recorded for this layer")
        return self.abs_sum / self.count


def _input_hook(name: str, stats: LayerStats) -> Callable:
    def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double()
        if not bool(torch.isfinite(x).all()):
            raise ValueError(
                f"non-finite activation (NaN/Inf) entering layer {name!r} during calibration: "
                "check the model weights and the calibration inputs"
            )
        if stats.gram is None:
            stats.gram = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64, device=x.device)
            stats.abs_sum = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
        stats.gram.addmm_(x.T, x)
        stats.abs_sum.add_(x.abs().sum(0))
        stats.count += x.shape[0]

    return hook


def collect_statistics(
    model: nn.Module,
    batches: Iterable[Any],
    names: Sequence[str],
    *,
    forward: Forward = default_forward,
    show_progress: bool | None = None,
) -> dict[str, LayerStats]:
    """Run ``batches`` through ``model`` (no grad) and return Gram/|x| statistics per layer name."""
    modules = dict(model.named_modules())
    stats = {name: LayerStats() for name in names}
    handles = [modules[n].register_forward_hook(_input_hook(n, stats[n])) for n in names]
    try:
        with torch.no_grad():
            for batch in progress(batches, desc="calibration", enabled=show_progress):
                forward(model, batch)
    finally:
        for h in handles:
            h.remove()
    for name, s in stats.items():
        if s.count == 0:
            raise ValueError(f"layer {name!r} saw no calibration input: is it used in forward?")
    return stats


def collect_fisher(
    model: nn.Module,
    batches: Iterable[Any],
    names: Sequence[str],
    loss_fn: LossFn,
    *,
    show_progress: bool | None = None,
) -> dict[str, torch.Tensor]:
    """Row importance I_i = Σ_batches Σ_j (∂L/∂W_ij)² (m,) for each named linear layer.

    ``loss_fn(model, batch)`` returns the scalar task loss of one batch. Gradients are taken
    for the named weights only; the model's ``requires_grad`` flags are restored afterwards.
    """
    modules = dict(model.named_modules())
    weights = {n: modules[n].weight for n in names}
    flags = {p: p.requires_grad for p in model.parameters()}
    fisher = {n: torch.zeros(w.shape[0], dtype=torch.float64, device=w.device)
              for n, w in weights.items()}
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        for w in weights.values():
            w.requires_grad_(True)
        for batch in progress(batches, desc="fisher", enabled=show_progress):
            loss = loss_fn(model, batch)
            if not bool(torch.isfinite(loss)):
                raise ValueError(f"the task loss is not finite ({float(loss)}) on a batch")
            grads = torch.autograd.grad(loss, list(weights.values()), allow_unused=True)
            for (n, _), g in zip(weights.items(), grads):
                if g is not None:
                    fisher[n] += g.double().square().sum(1)
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)
    return fisher
