"""Activation-aware SVD (ASVD, Yuan et al. 2023): scale input channels by mean|x|^α first."""

from __future__ import annotations

import torch

from lowrank_compress.methods.svd import split_factors, tail_energy


def asvd_factors(
    weight: torch.Tensor, abs_mean: torch.Tensor, rank: int, *, alpha: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """W (m, n) ≈ U Vᵀ from the SVD of W S, S = diag(mean|x_j|^α), then V ← S⁻¹ V.

    ``abs_mean`` (n,) is the mean absolute calibration activation of each input channel.
    Channels that never fire get the smallest positive scale, so S stays invertible.
    Returns U (m, r), V (n, r) and the relative tail energy of the scaled matrix.
    """
    scale = abs_mean.to(weight).pow(alpha)
    floor = float(scale.max()) * 1e-8 if float(scale.max()) > 0 else 1.0
    scale = scale.clamp_min(floor)
    U, S, Vh = torch.linalg.svd(weight * scale, full_matrices=False)
    Uf, Vf = split_factors(U, S, Vh, rank)
    return Uf, Vf / scale[:, None], tail_energy(S, rank)
