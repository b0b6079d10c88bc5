"""Synthetic data with known ground truth."""

from interp_tools.toy.modular import (
    ModularConfig,
    ModularMLP,
    modular_inputs,
    train_modular_mlp,
)
from interp_tools.toy.superposition import (
    RecoveryScores,
    SuperpositionData,
    make_superposition,
    mcc,
    recovery_scores,
)

__all__ = [
    "ModularConfig",
    "ModularMLP",
    "RecoveryScores",
    "SuperpositionData",
    "make_superposition",
    "mcc",
    "modular_inputs",
    "recovery_scores",
    "train_modular_mlp",
]
