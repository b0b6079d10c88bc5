"""Activation patching (batched, exact) and attribution patching (gradient approximation)."""

from interp_tools.patching.activation import activation_patching, activation_patching_reference
from interp_tools.patching.attribution import attribution_patching
from interp_tools.patching.result import PatchingResult

__all__ = [
    "PatchingResult",
    "activation_patching",
    "activation_patching_reference",
    "attribution_patching",
]
