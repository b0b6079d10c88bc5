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
from torch.nn.modules import module as _torch_module

HookFn = Callable[[torch.Tensor], "torch.Tensor | None"]


_GLOBAL_HOOKS = tuple(
    getattr(_torch_module, n)
    for n in (
        "_global_forward_hooks",
        "_global_forward_pre_hooks",
        "_global_backward_hooks",
        "_global_backward_pre_hooks",
    )
    if hasattr(_torch_module, n)
)


class HookPoint(nn.Module):
    """An identity module marking a named site, cheap when nothing is attached to it.

    ``hooks()`` keeps the functions for a hook point in ``_hook_fns`` and a call runs them
    directly, so an unhooked call is a few flag checks instead of ``nn.Module``'s call path.
    Hooks registered the torch way (``register_forward_hook``, global module hooks, backward
    hooks) still work: whenever any is present the call goes through ``nn.Module.__call__``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._hook_fns: list[Callable[[torch.Tensor], torch.Tensor | None]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self._hook_fns:
            new = fn(x)
            if new is not None:
                x = new
        if (
            self._forward_hooks
            or self._forward_pre_hooks
            or self._backward_hooks
            or self._backward_pre_hooks
            or any(_GLOBAL_HOOKS)
        ):
            return super().__call__(x)
        return x


def _missing(model: nn.Module, name: str, known: Sequence[str]) -> KeyError:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return KeyError(f"no module named {name!r} in {type(model).__name__}{hint}")


def resolve_modules(model: nn.Module, names: Sequence[str]) -> list[nn.Module]:
    """The submodules ``names`` of ``model`` (one traversal); unknown names raise ``KeyError``
    with close matches."""
    if len(names) == 1 and not names[0]:
        return [model]
    if len(names) <= 2:  # a direct lookup is cheaper than a traversal for a few names
        try:
            return [model.get_submodule(name) for name in names]
        except AttributeError:
            pass
    modules = dict(model.named_modules(remove_duplicate=False))  # shared modules: every alias
    for name in names:
        if name not in modules:
            raise _missing(model, name, modules)
    return [modules[name] for name in names]


def resolve_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule ``name`` of ``model``; unknown names raise ``KeyError`` with close matches."""
    return resolve_modules(model, [name])[0]


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


def _checked(name: str, fn: HookFn) -> HookFn:
    """``fn`` with its result's shape checked against the activation's."""

    def checked(act: torch.Tensor) -> torch.Tensor | None:
        new = fn(act)
        if new is not None and new.shape != act.shape:
            raise ValueError(
                f"hook on {name!r} returned shape {tuple(new.shape)} but the activation has "
                f"shape {tuple(act.shape)}; return a tensor of the same shape (or None)"
            )
        return new

    return checked


def _wrap(name: str, fn: HookFn) -> Callable[[nn.Module, Any, Any], Any]:
    checked = _checked(name, fn)

    def forward_hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
        act, rebuild = _split(output)
        new = checked(act)
        return None if new is None else rebuild(new)

    return forward_hook


@contextlib.contextmanager
def _attached(targets: Sequence[tuple[str, nn.Module, HookFn, bool]]) -> Iterator[None]:
    """Attach (name, module, fn, check shape) for the block; always removed.

    On a ``HookPoint`` ``fn`` runs in its own cheap call path; on any other module it becomes
    a ``register_forward_hook`` hook.
    """
    handles = []
    attached: list[tuple[HookPoint, HookFn]] = []
    try:
        for name, module, fn, check in targets:
            if isinstance(module, HookPoint):
                attached.append((module, _checked(name, fn) if check else fn))
                module._hook_fns.append(attached[-1][1])
            else:
                handles.append(module.register_forward_hook(_wrap(name, fn)))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for point, fn in attached:
            point._hook_fns.remove(fn)


@contextlib.contextmanager
def hooks(model: nn.Module, fns: Mapping[str, HookFn | Sequence[HookFn]]) -> Iterator[nn.Module]:
    """Attach ``{module name: hook fn or list of fns}`` for the ``with`` block; always removed.

    All names are resolved before anything is attached, so a bad name attaches nothing.
    On a ``HookPoint`` the functions run in its own cheap call path; on any other module they
    are ``register_forward_hook`` hooks.
    """
    targets = [
        (name, module, fn, True)
        for name, module in zip(fns, resolve_modules(model, list(fns)), strict=True)
        for fn in ([fns[name]] if callable(fns[name]) else fns[name])
    ]
    with _attached(targets):
        yield model


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
    into: ActivationCache | None = None,
    **kwargs: Any,
) -> tuple[Any, ActivationCache]:
    """Run ``model`` and cache the outputs of ``names`` (default: every ``HookPoint``).

    ``detach=False`` keeps the graph so gradients can flow to cached activations.
    ``into``: a cache from an earlier call, filled in place. Each old entry is released when
    its new activation arrives, so in a loop the memory of the previous cache is reused piece
    by piece instead of being freed all at once and faulted in again (names not cached this
    time are dropped at the end).
    """
    if names is None:
        sites = [(n, m) for n, m in model.named_modules() if isinstance(m, HookPoint)]
    else:
        sites = list(zip(names, resolve_modules(model, list(names)), strict=True))
    if not sites:
        raise ValueError("nothing to cache: pass names=[...] (the model has no HookPoint)")
    cache = ActivationCache() if into is None else into
    acts = cache.acts

    def saver(name: str) -> HookFn:
        if detach:

            def save(act: torch.Tensor) -> None:
                acts[name] = act.detach()

        else:

            def save(act: torch.Tensor) -> None:
                acts[name] = act

        return save

    with _attached([(n, m, saver(n), False) for n, m in sites]):
        out = model(*args, **kwargs)
    for stale in set(acts) - {n for n, _ in sites}:
        del cache.acts[stale]
    return out, cache
