"""Truncated SVD (data-free, LoRD's one-shot recipe) and a randomised SVD for large weights."""

from __future__ import annotations

import torch

from accelerator_utils import make_generator


def split_factors(
    U: torch.Tensor, S: torch.Tensor, Vh: torch.Tensor, rank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """From an SVD M = U diag(S) Vh, the rank-``rank`` factors (U√S, Vh.T√S): (m, r), (n, r)."""
    root = S[:rank].sqrt()
    return U[:, :rank] * root, Vh[:rank].T * root


def tail_energy(S: torch.Tensor, rank: int) -> float:
    """Σ_{i≥rank} S_i² / Σ S_i²: the relative squared error of truncating to ``rank``."""
    energy = S.square()
    total = float(energy.sum())
    return float(energy[rank:].sum()) / total if total > 0 else 0.0


def svd_factors(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Best rank-``rank`` approximation of W (m, n) in Frobenius norm (Eckart–Young).

    Returns U (m, r), V (n, r) with W ≈ U Vᵀ, and the relative squared Frobenius error.
    """
    U, S, Vh = torch.linalg.svd(weight, full_matrices=False)
    return (*split_factors(U, S, Vh, rank), tail_energy(S, rank))


def randomized_svd(
    matrix: torch.Tensor,
    rank: int,
    *,
    oversample: int = 10,
    power_iterations: int = 2,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Halko–Martinsson–Tropp randomised SVD of A (m, n): U (m, r), S (r,), Vh (r, n).

    A Gaussian sketch of ``rank + oversample`` columns, ``power_iterations`` QR-stabilised
    power steps, then an exact SVD of the small projected matrix. The sketch is drawn from
    ``generator`` if given, else from a fresh generator seeded by ``seed`` (global RNG untouched).
    """
    m, n = matrix.shape
    if not 1 <= rank <= min(m, n):
        raise ValueError(f"rank must lie in [1, {min(m, n)}], got {rank}")
    width = min(rank + oversample, min(m, n))
    gen = generator if generator is not None else make_generator(seed, matrix.device)
    omega = torch.randn(n, width, generator=gen, dtype=matrix.dtype, device=matrix.device)
    Q, _ = torch.linalg.qr(matrix @ omega)
    for _ in range(power_iterations):
        Q, _ = torch.linalg.qr(matrix.T @ Q)
        Q, _ = torch.linalg.qr(matrix @ Q)
    Ub, S, Vh = torch.linalg.svd(Q.T @ matrix, full_matrices=False)
    return (Q @ Ub)[:, :rank], S[:rank], Vh[:rank]
