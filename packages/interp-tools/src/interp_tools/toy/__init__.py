"""Synthetic data with known ground truth."""

from interp_tools.toy.superposition import (
    RecoveryScores,
    SuperpositionData,
    make_superposition,
    mcc,
    recovery_scores,
)

__all__ = ["RecoveryScores", "SuperpositionData", "make_superposition", "mcc", "recovery_scores"]
