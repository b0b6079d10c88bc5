"""Stream shuffled activation batches from a model through a hook, with bounded memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from accelerator_utils import make_generator
from interp_tools.hooks import run_with_cache


class ActivationStore:
    """Iterable of ``n_batches`` batches [batch_size, d] of activations at ``site``.

    ``next_inputs()`` returns a fresh model input (e.g. a [B, T] token batch); its activations
    [..., d] are flattened to rows. At most ``buffer_rows`` rows are held: the buffer is filled,
    shuffled, half of it is served, then refilled (the usual mixing buffer of SAE trainers).
    ``peak_rows`` records the largest buffer held.
    """

    def __init__(
        self,
        model: nn.Module,
        next_inputs: Callable[[], torch.Tensor],
        site: str,
        *,
        batch_size: int,
        n_batches: int,
        buffer_rows: int,
        seed: int | torch.Generator | None = 0,
    ) -> None:
        if batch_size < 1 or n_batches < 1:
            raise ValueError(
                f"batch_size and n_batches must be >= 1, got {batch_size}, {n_batches}"
            )
        if buffer_rows < 2 * batch_size:
            raise ValueError(
                f"buffer_rows={buffer_rows} must be at least 2 × batch_size={batch_size}"
            )
        self.model, self.next_inputs, self.site = model, next_inputs, site
        self.batch_size, self.n_batches, self.buffer_rows = batch_size, n_batches, buffer_rows
        self.gen = make_generator(seed)
        self.peak_rows = 0

    @torch.no_grad()
    def _rows(self) -> torch.Tensor:
        _, cache = run_with_cache(self.model, self.next_inputs(), names=[self.site])
        act = cache[self.site]
        return act.reshape(-1, act.shape[-1])

    def _fill(self, buffer: torch.Tensor | None) -> torch.Tensor:
        parts = [] if buffer is None else [buffer]
        held = 0 if buffer is None else buffer.shape[0]
        while held < self.buffer_rows:
            rows = self._rows()[: self.buffer_rows - held]
            if rows.shape[0] == 0:
                raise ValueError(f"site {self.site!r} produced no activations")
            parts.append(rows)
            held += rows.shape[0]
        full = torch.cat(parts)
        self.peak_rows = max(self.peak_rows, full.shape[0])
        return full[torch.randperm(full.shape[0], generator=self.gen)]

    def __iter__(self) -> Iterator[torch.Tensor]:
        buffer = None
        served = 0
        while served < self.n_batches:
            buffer = self._fill(buffer)
            half = buffer.shape[0] // 2
            n = min(half // self.batch_size, self.n_batches - served)
            for i in range(n):
                yield buffer[i * self.batch_size : (i + 1) * self.batch_size]
            served += n
            buffer = buffer[n * self.batch_size :]

    def __len__(self) -> int:
        return self.n_batches
