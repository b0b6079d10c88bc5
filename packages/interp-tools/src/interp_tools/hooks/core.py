"""Register forward hooks by module name, cache activations, always remove the hooks.

A hook function receives the module's output activation (the first element when the
module returns a tuple) and returns ``None`` (leave it) or a tensor of the same shape
(replace it). Hooks work on any ``nn.Module``: names are those of ``named_modules()``.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

HookFn = Callable[[torch.Tensor], "torch.Tensor | None"]


class HookPoint(nn.Identity):
    """An identity module marking a named site; free when no hook is attached."""


def resolve_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule ``name`` of ``model``; unknown names raise ``KeyError`` with close matches."""
    modules = dict(model.named_modules())
    if name in modules:
        return modules[name]
    close = difflib.get_close_matches(name, list(modules), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise KeyError(f"no module named {name!r} in {type(model).__name__}{hint}")


def _split(output: Any) -> tuple[torch.Tensor, Callable[[torch.Tensor], Any]]:
    """The activation tensor inside a module output and a function rebuilding the output."""
    if isinstance(output, torch.Tensor):
        return output, lambda t: t
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return output[0], lambda t: (t, *output[1:])
    raise TypeError(
        f"hooked module returned {type(output).__name__}; hooks need a tensor or a tuple "
        "whose first element is a tensor"
    )


def _wrap(name: str, fn: HookFn) -> Callable[[nn.Module, Any, Any], Any]:
    def forward_hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        act, rebuild = _split(output)
        new = fn(act)
        if new is None:
            return None
        if new.shape != act.shape:
            raise ValueError(
                f"hook on {name!r} returned shape {tuple(new.shape)} but the activation has "
                f"shape {tuple(act.shape)}; return a tensor of the same shape (or None)"
            )
        return rebuild(new)

    return forward_hook


@contextlib.contextmanager
def hooks(model: nn.Module, fns: Mapping[str, HookFn | Sequence[HookFn]]) -> Iterator[nn.Module]:
    """Attach ``{module name: hook fn or list of fns}`` for the ``with`` block; always removed.

    All names are resolved before anything is attached, so a bad name attaches nothing.
    """
    targets = [(name, resolve_module(model, name)) for name in fns]
    handles = []
    try:
        for name, module in targets:
            group = fns[name]
            for fn in [group] if callable(group) else group:
                handles.append(module.register_forward_hook(_wrap(name, fn)))
        yield model
    finally:
        for handle in handles:
            handle.remove()


def run_with_hooks(
    model: nn.Module, *args: Any, fns: Mapping[str, HookFn | Sequence[HookFn]], **kwargs: Any
) -> Any:
    """``model(*args, **kwargs)`` with ``fns`` attached; hooks removed afterwards."""
    with hooks(model, fns):
        return model(*args, **kwargs)


@dataclass
class ActivationCache:
    """Cached activations by module name (each tensor as the module produced it)."""

    acts: dict[str, torch.Tensor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.acts:
            close = difflib.get_close_matches(name, list(self.acts), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"{name!r} was not cached{hint}")
        return self.acts[name]

    def __contains__(self, name: str) -> bool:
        return name in self.acts

    def __len__(self) -> int:
        return len(self.acts)

    def keys(self) -> list[str]:
        return list(self.acts)


def hook_point_names(model: nn.Module) -> list[str]:
    """Names of every ``HookPoint`` in ``model``."""
    return [n for n, m in model.named_modules() if isinstance(m, HookPoint)]


def run_with_cache(
    model: nn.Module,
    *args: Any,
    names: Sequence[str] | None = None,
    detach: bool = True,
    **kwargs: Any,
) -> tuple[Any, ActivationCache]:
    """Run ``model`` and cache the outputs of ``names`` (default: every ``HookPoint``).

    ``detach=False`` keeps the graph so gradients can flow to cached activations.
    """
    names = hook_point_names(model) if names is None else list(names)
    if not names:
        raise ValueError("nothing to cache: pass names=[...] (the model has no HookPoint)")
    cache = ActivationCache()

    def saver(name: str) -> HookFn:
        def save(act: torch.Tensor) -> None:
            cache.acts[name] = act.detach() if detach else act

        return save

    out = run_with_hooks(model, *args, fns={n: saver(n) for n in names}, **kwargs)
    return out, cache
