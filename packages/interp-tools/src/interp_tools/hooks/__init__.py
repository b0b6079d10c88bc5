"""Hooks on any ``nn.Module`` by name: caching, patching and ablation, always removed."""

from interp_tools.hooks.ablations import add, mean_ablate, replace, resample_ablate, zero_ablate
from interp_tools.hooks.core import (
    ActivationCache,
    HookFn,
    HookPoint,
    hook_point_names,
    hooks,
    resolve_module,
    run_with_cache,
    run_with_hooks,
)

__all__ = [
    "ActivationCache",
    "HookFn",
    "HookPoint",
    "add",
    "hook_point_names",
    "hooks",
    "mean_ablate",
    "replace",
    "resample_ablate",
    "resolve_module",
    "run_with_cache",
    "run_with_hooks",
    "zero_ablate",
]
