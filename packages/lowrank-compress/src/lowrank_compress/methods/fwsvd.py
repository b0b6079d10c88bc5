"""Fisher-weighted SVD (FWSVD, Hsu et al. 2022): weight rows by their Fisher importance."""

from __future__ import annotations

import torch

from lowrank_compress.methods.svd import split_factors, tail_energy


def fwsvd_factors(
    weight: torch.Tensor, row_fisher: torch.Tensor, rank: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """W (m, n) ≈ U Vᵀ from the SVD of diag(√I) W, then U ← diag(√I)⁻¹ U.

    ``row_fisher`` (m,) is I_i = Σ_j Σ_batches (∂L/∂W_ij)², the accumulated squared gradient of
    the task loss summed over each output row. Rows with zero importance get the smallest
    positive weight. Returns U (m, r), V (n, r) and the relative tail energy of the scaled matrix.
    """
    d = row_fisher.to(weight).sqrt()
    floor = float(d.max()) * 1e-8 if float(d.max()) > 0 else 1.0
    d = d.clamp_min(floor)
    U, S, Vh = torch.linalg.svd(d[:, None] * weight, full_matrices=False)
    Uf, Vf = split_factors(U, S, Vh, rank)
    return Uf / d[:, None], Vf, tail_energy(S, rank)
