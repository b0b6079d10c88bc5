"""Sparse features in superposition (Elhage et al. 2022) as SAE ground truth.

x = Σ_i a_i d_i with n_features random unit directions d_i in d dims, each feature active
independently with probability p and magnitude a_i ~ U(low, high) when active.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from accelerator_utils import make_generator


@dataclass(frozen=True)
class SuperpositionData:
    """``directions`` [n_features, d] (unit rows); sample with ``sample(n, generator)``."""

    directions: torch.Tensor
    p: float
    low: float
    high: float

    @property
    def mean_l0(self) -> float:
        return self.p * self.directions.shape[0]

    def sample_codes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Feature activations [n, n_features]."""
        f = self.directions.shape[0]
        on = torch.rand(n, f, generator=generator) < self.p
        mag = self.low + (self.high - self.low) * torch.rand(n, f, generator=generator)
        return on * mag

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [n, d], codes [n, n_features])."""
        codes = self.sample_codes(n, generator)
        return codes @ self.directions, codes


def make_superposition(
    n_features: int = 512,
    d: int = 128,
    p: float = 0.01,
    low: float = 0.5,
    high: float = 1.5,
    seed: int | torch.Generator | None = 0,
) -> SuperpositionData:
    """Random unit feature directions; defaults: 512 features, p = 0.01, U(0.5, 1.5), 128 dims."""
    if not (0 < p <= 1 and 0 <= low <= high and n_features >= 1 and d >= 1):
        raise ValueError(
            f"need 0 < p <= 1, 0 <= low <= high, n_features, d >= 1; got {p=} {low=} {high=}"
        )
    dirs = torch.randn(n_features, d, generator=make_generator(seed))
    return SuperpositionData(dirs / dirs.norm(dim=1, keepdim=True), p, low, high)


@dataclass(frozen=True)
class RecoveryScores:
    """mmcs: mean over true features of the max |cos| with any decoder row;
    frac_matched: fraction of true features with max |cos| > threshold."""

    mmcs: float
    frac_matched: float
    max_cos: torch.Tensor  # [n_features]


def recovery_scores(
    true_dirs: torch.Tensor, decoder: torch.Tensor, threshold: float = 0.99
) -> RecoveryScores:
    """Compare true directions [F, d] with decoder rows [L, d]."""
    if true_dirs.shape[1] != decoder.shape[1]:
        raise ValueError(
            f"widths differ: true {tuple(true_dirs.shape)} vs decoder {tuple(decoder.shape)}"
        )
    t = true_dirs / true_dirs.norm(dim=1, keepdim=True)
    w = decoder / decoder.norm(dim=1, keepdim=True).clamp_min(1e-12)
    best = (t @ w.T).abs().max(dim=1).values
    return RecoveryScores(float(best.mean()), float((best > threshold).float().mean()), best)


def mcc(true_codes: torch.Tensor, latents: torch.Tensor) -> float:
    """Mean correlation coefficient after Hungarian matching of true features to latents.

    ``true_codes`` [N, F], ``latents`` [N, L] with L >= F; constant columns correlate 0.
    """
    from scipy.optimize import linear_sum_assignment

    if true_codes.shape[0] != latents.shape[0] or latents.shape[1] < true_codes.shape[1]:
        raise ValueError(
            f"need the same N and at least as many latents as features; got {tuple(true_codes.shape)}"
            f" and {tuple(latents.shape)}"
        )

    def standardise(a: torch.Tensor) -> torch.Tensor:
        a = a.double() - a.double().mean(0)
        norm = a.norm(dim=0)
        return a / torch.where(norm > 0, norm, torch.ones_like(norm))

    corr = (standardise(true_codes).T @ standardise(latents)).abs().numpy()
    rows, cols = linear_sum_assignment(-corr)
    return float(np.mean(corr[rows, cols]))
