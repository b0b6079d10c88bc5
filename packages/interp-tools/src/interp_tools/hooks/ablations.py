"""Ready-made hook functions: replace, add, zero / mean / resample ablation.

Each returns a ``HookFn``; ``index`` (any tensor index, e.g. ``(slice(None), 3)`` for
position 3) restricts the edit to part of the activation, default all of it.
"""

from __future__ import annotations

from typing import Any

import torch

from interp_tools.hooks.core import HookFn

_ALL: Any = (...,)


def _edit(index: Any, make: Any) -> HookFn:
    def fn(act: torch.Tensor) -> torch.Tensor:
        out = act.clone()
        out[index] = make(act[index])
        return out

    return fn


def _check_like(value: torch.Tensor, part: torch.Tensor, what: str) -> torch.Tensor:
    try:
        return torch.broadcast_to(value.to(part.dtype), part.shape)
    except RuntimeError as exc:
        raise ValueError(
            f"{what}: value of shape {tuple(value.shape)} does not broadcast to the patched "
            f"activation of shape {tuple(part.shape)}"
        ) from exc


def replace(value: torch.Tensor, index: Any = _ALL) -> HookFn:
    """Set ``act[index] = value`` (broadcast)."""
    return _edit(index, lambda part: _check_like(value, part, "replace"))


def add(delta: torch.Tensor, index: Any = _ALL) -> HookFn:
    """``act[index] += delta`` (steering)."""
    return _edit(index, lambda part: part + _check_like(delta, part, "add"))


def zero_ablate(index: Any = _ALL) -> HookFn:
    """``act[index] = 0``."""
    return _edit(index, torch.zeros_like)


def mean_ablate(mean: torch.Tensor, index: Any = _ALL) -> HookFn:
    """Replace ``act[index]`` with a mean activation (e.g. over a reference batch)."""
    return replace(mean, index)


def resample_ablate(
    reference: torch.Tensor, generator: torch.Generator | None = None, index: Any = _ALL
) -> HookFn:
    """Replace each batch row of ``act[index]`` with a random row of ``reference[index]``.

    ``reference``: activations of the same site on other inputs, shape ``[N, *act.shape[1:]]``.
    """

    def make(part: torch.Tensor) -> torch.Tensor:
        ref = reference[index]
        if ref.shape[1:] != part.shape[1:]:
            raise ValueError(
                f"resample_ablate: reference rows {tuple(ref.shape[1:])} do not match the "
                f"activation rows {tuple(part.shape[1:])}"
            )
        rows = torch.randint(ref.shape[0], (part.shape[0],), generator=generator)
        return ref[rows.to(ref.device)].to(part.dtype)

    return _edit(index, make)
