"""Calibration statistics streamed through forward hooks, with memory bounded by the layer sizes.

Per target ``nn.Linear`` (n inputs, m outputs) we accumulate, never storing activations:
the Gram matrix C = Σ xxᵀ (n, n), Σ|x| (n,), the token count, and for FWSVD the
row-summed squared gradients of a task loss Σ_b Σ_j (∂L_b/∂W_ij)² (m,).

Input rows are buffered (up to ``flush_rows``), and each buffer's XᵀX is formed in the
activations' own precision (float32 or float64; lower precisions are upcast to float32) and
added into a float64 accumulator. Layers that read the same input tensor (a transformer's
query/key/value) share one accumulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from accelerator_utils import progress as progress_bar

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


@dataclass
class CalibrationStats:
    """Statistics of every target layer, reusable across :func:`compress` calls."""

    layers: dict[str, LayerStats]
    row_fisher: dict[str, torch.Tensor] | None = None


class _Accumulator:
    """Buffers input rows (at most ``flush_rows``) and folds them into float64 sums."""

    def __init__(self, flush_rows: int) -> None:
        self.stats = LayerStats()
        self.rows: list[torch.Tensor] = []
        self.buffered = 0
        self.flush_rows = flush_rows

    def add(self, x: torch.Tensor) -> None:
        self.rows.append(x if x.dtype in (torch.float32, torch.float64) else x.float())
        self.buffered += x.shape[0]
        if self.buffered >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        x = torch.cat(self.rows)
        gram, abs_sum = (x.T @ x).double(), x.abs().sum(0).double()
        s = self.stats
        s.gram = gram if s.gram is None else s.gram.add_(gram)
        s.abs_sum = abs_sum if s.abs_sum is None else s.abs_sum.add_(abs_sum)
        s.count += x.shape[0]
        self.rows, self.buffered = [], 0


def _input_hook(name: str, owners: dict, seen: dict, flush_rows: int) -> Callable:
    """Record the layer's input; layers fed the same tensor share the first one's accumulator."""

    def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        raw = inputs[0].detach()
        key = (raw.data_ptr(), tuple(raw.shape), raw._version)
        if name not in owners:
            owners[name] = seen.get(key) or _Accumulator(flush_rows)
        acc = owners[name]
        if seen.get(key) is acc:
            return
        seen[key] = acc
        x = raw.reshape(-1, raw.shape[-1])
        if not bool(torch.isfinite(x).all()):
            raise ValueError(
                f"non-finite activation (NaN/Inf) entering layer {name!r} during "
                "calibration: check the model weights and the calibration inputs"
            )
        acc.add(x)

    return hook


def collect_statistics(
    model: nn.Module,
    batches: Iterable[Any],
    names: Sequence[str],
    *,
    forward: Forward = default_forward,
    flush_rows: int = 1024,
    progress: bool | None = None,
) -> dict[str, LayerStats]:
    """Run ``batches`` through ``model`` (no grad) and return Gram/|x| statistics per layer name.

    At most ``flush_rows`` input rows per distinct layer input are buffered at a time.
    """
    modules = dict(model.named_modules())
    owners: dict[str, _Accumulator] = {}
    seen: dict = {}
    handles = [modules[n].register_forward_hook(_input_hook(n, owners, seen, flush_rows))
               for n in names]
    try:
        with torch.no_grad():
            for batch in progress_bar(batches, desc="calibration", enabled=progress):
                forward(model, batch)
                seen.clear()
    finally:
        for h in handles:
            h.remove()
    for acc in set(owners.values()):
        acc.flush()
    missing = [n for n in names if n not in owners]
    if missing:
        raise ValueError(f"layer {missing[0]!r} saw no calibration input: is it used in forward?")
    return {n: owners[n].stats for n in names}


def collect_fisher(
    model: nn.Module,
    batches: Iterable[Any],
    names: Sequence[str],
    loss_fn: LossFn,
    *,
    progress: bool | None = None,
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
        for batch in progress_bar(batches, desc="fisher", enabled=progress):
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
