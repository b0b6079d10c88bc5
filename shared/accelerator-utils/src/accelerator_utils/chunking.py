"""Run a batched function over inputs in chunks whose size fits a memory budget.

On the CPU an out-of-memory condition is the OOM killer, not an exception, so the chunk size is
computed up front from a budget. On CUDA a chunk that still runs out of memory is halved and
retried, down to ``min_chunk``, after which a :class:`MemoryBudgetError` says what to change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from accelerator_utils.memory import available_memory_bytes


class MemoryBudgetError(RuntimeError):
    """The work does not fit the memory budget even at the smallest chunk."""


def chunk_size_for(
    budget_bytes: int, bytes_per_item: int, *, total: int, min_chunk: int = 1
) -> int:
    """Largest chunk of items whose working memory ``chunk * bytes_per_item`` fits the budget."""
    if bytes_per_item <= 0 or budget_bytes <= 0:
        raise ValueError(f"need positive sizes, got {budget_bytes=} {bytes_per_item=}")
    size = min(total, budget_bytes // bytes_per_item)
    if size < min_chunk:
        raise MemoryBudgetError(
            f"one chunk of {min_chunk} item(s) needs {min_chunk * bytes_per_item} bytes but the "
            f"budget is {budget_bytes} bytes: raise budget_bytes or lower the per-item cost"
        )
    return max(size, 1)


def chunked_apply(
    fn: Callable[..., torch.Tensor],
    *inputs: torch.Tensor,
    bytes_per_item: int,
    budget_bytes: int | None = None,
    budget_fraction: float = 0.5,
    dim: int = 0,
    min_chunk: int = 1,
) -> torch.Tensor:
    """``fn(*inputs)`` computed chunk by chunk along ``dim`` and concatenated along ``dim``.

    ``fn`` must act independently on each slice along ``dim`` (a batched function).
    ``bytes_per_item`` is the working memory one slice needs (inputs, temporaries, output).
    ``budget_bytes`` defaults to ``budget_fraction`` of the memory available on the inputs'
    device. A chunk that raises an out-of-memory error (CUDA; the CPU's OOM killer raises
    nothing, hence the budget) is halved and retried, never below ``min_chunk``.
    """
    if not inputs:
        raise ValueError("chunked_apply needs at least one input tensor")
    total = inputs[0].shape[dim]
    if any(x.shape[dim] != total for x in inputs):
        raise ValueError(
            f"all inputs need the same size along dim {dim}: {[x.shape for x in inputs]}"
        )
    device = inputs[0].device
    if budget_bytes is None:
        budget_bytes = int(available_memory_bytes(device) * budget_fraction)
    size = chunk_size_for(budget_bytes, bytes_per_item, total=max(total, 1), min_chunk=min_chunk)
    outputs: list[torch.Tensor] = []
    start = 0
    while start < total:
        stop = min(total, start + size)
        try:
            outputs.append(fn(*(x.narrow(dim, start, stop - start) for x in inputs)))
        except torch.cuda.OutOfMemoryError as exc:
            if size <= min_chunk:
                raise MemoryBudgetError(
                    f"out of memory at chunk size {size} (floor {min_chunk}) on {device}: "
                    "lower min_chunk, free memory, or use a smaller problem"
                ) from exc
            torch.cuda.empty_cache()
            size = max(min_chunk, size // 2)
            continue
        start = stop
    return torch.cat(outputs, dim=dim) if outputs else fn(*inputs)


def split_sizes(total: int, chunk: int) -> Sequence[int]:
    """Sizes of consecutive chunks of at most ``chunk`` covering ``total`` items."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return [min(chunk, total - s) for s in range(0, total, chunk)]
