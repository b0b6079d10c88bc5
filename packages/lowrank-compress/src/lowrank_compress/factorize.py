"""One layer's factorization by the chosen method, and the error it makes."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lowrank_compress.calibration import LayerStats
from lowrank_compress.methods import (
    asvd_factors,
    calibration_error,
    fwsvd_factors,
    svd_factors,
    whiten_factors,
)
from lowrank_compress.methods.whiten import damped_gram


@dataclass(frozen=True)
class Factorization:
    """W ≈ U Vᵀ with U (m, r), V (n, r) in float64; errors are relative squared errors."""

    U: torch.Tensor
    V: torch.Tensor
    estimated_error: float
    solver: str

    def weight(self) -> torch.Tensor:
        return self.U @ self.V.T


def factorize(
    method: str,
    weight: torch.Tensor,
    rank: int,
    stats: LayerStats | None,
    row_fisher: torch.Tensor | None = None,
    *,
    damping: float = 0.0,
    solver: str = "auto",
    asvd_alpha: float = 0.5,
) -> Factorization:
    """Rank-``rank`` factors of ``weight`` (m, n) by ``method``; the estimate is the method's
    own objective (tail energy of the matrix it truncates)."""
    W = weight.detach().double()
    if method == "svd":
        return Factorization(*svd_factors(W, rank), "svd")
    if stats is None or stats.gram is None:
        raise ValueError(f"method {method!r} needs calibration statistics")
    if method == "asvd":
        return Factorization(*asvd_factors(W, stats.abs_mean, rank, alpha=asvd_alpha), "svd")
    if method == "fwsvd":
        if row_fisher is None:
            raise ValueError("method 'fwsvd' needs Fisher row importances (give loss_fn)")
        return Factorization(*fwsvd_factors(W, row_fisher, rank), "svd")
    if method == "whiten":
        return Factorization(*whiten_factors(W, stats.gram, rank, damping=damping, solver=solver))
    raise ValueError(f"unknown method {method!r}")


def whitened_spectrum(weight: torch.Tensor, gram: torch.Tensor | None, damping: float = 0.0
                      ) -> torch.Tensor:
    """Singular values of W S with C = S Sᵀ (those of W if ``gram`` is None), descending."""
    W = weight.detach().double()
    if gram is None:
        return torch.linalg.svdvals(W)
    lam, Q = torch.linalg.eigh(damped_gram(gram, damping))
    return torch.linalg.svdvals(W @ (Q * lam.clamp_min(0).sqrt()))


def layer_error(weight: torch.Tensor, approx: torch.Tensor, gram: torch.Tensor | None) -> float:
    """Relative calibration error tr(ΔCΔᵀ)/tr(WCWᵀ), or relative ‖Δ‖²_F without a Gram."""
    if gram is not None:
        return calibration_error(weight, approx, gram)
    W = weight.detach().double()
    return float((W - approx.detach().double()).square().sum() / W.square().sum().clamp_min(1e-300))
