"""Sparse autoencoders: five variants, training, streaming store, metrics, save/load."""

from interp_tools.sae.attention import attention_output_activations, head_attribution
from interp_tools.sae.config import KINDS, SAEConfig, TrainConfig
from interp_tools.sae.distributed import train_sae_multiprocess
from interp_tools.sae.io import load_sae, save_sae
from interp_tools.sae.metrics import (
    SAEMetrics,
    density_histogram,
    evaluate_sae,
    explained_variance,
    loss_recovered,
)
from interp_tools.sae.model import SAEOutput, SparseAutoencoder
from interp_tools.sae.store import ActivationStore
from interp_tools.sae.train import SAETrainResult, resample_dead, train_sae

__all__ = [
    "KINDS",
    "ActivationStore",
    "SAEConfig",
    "SAEMetrics",
    "SAEOutput",
    "SAETrainResult",
    "SparseAutoencoder",
    "TrainConfig",
    "attention_output_activations",
    "density_histogram",
    "evaluate_sae",
    "explained_variance",
    "head_attribution",
    "load_sae",
    "loss_recovered",
    "resample_dead",
    "save_sae",
    "train_sae",
    "train_sae_multiprocess",
]
