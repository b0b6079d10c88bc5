"""Compact proofs of Max-of-K accuracy (Gross et al. 2024, arXiv:2406.11779)."""

from interp_tools.maxofk.brute_force import (
    BoundResult,
    all_sequences,
    brute_force_accuracy,
    brute_force_accuracy_paths,
)
from interp_tools.maxofk.cubic import cubic_bound
from interp_tools.maxofk.model import PathWeights, correct, make_model, maxofk_config, path_weights
from interp_tools.maxofk.subcubic import subcubic_bound
from interp_tools.maxofk.train import (
    MaxOfKTrainResult,
    load_model,
    save_model,
    shipped_checkpoint,
    shipped_seeds,
    train_maxofk,
)

__all__ = [
    "BoundResult",
    "MaxOfKTrainResult",
    "PathWeights",
    "all_sequences",
    "brute_force_accuracy",
    "brute_force_accuracy_paths",
    "correct",
    "cubic_bound",
    "load_model",
    "make_model",
    "maxofk_config",
    "path_weights",
    "save_model",
    "shipped_checkpoint",
    "shipped_seeds",
    "subcubic_bound",
    "train_maxofk",
]
