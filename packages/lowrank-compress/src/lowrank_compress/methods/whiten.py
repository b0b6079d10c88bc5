"""Truncation-aware data whitening (SVD-LLM, Wang et al. 2024).

For calibration inputs X (N, n) with Gram C = XᵀX and any square root C = S Sᵀ,
‖X Wᵀ − X Ŵᵀ‖_F = ‖(W − Ŵ) S‖_F, so the best rank-r Ŵ truncates the SVD of W S and maps back:
Ŵ = trunc_r(W S) S⁻¹. Three routes give the same Ŵ:

- ``cholesky``: S = L (C = L Lᵀ); the map back is a triangular solve, never an explicit inverse.
- ``eigh``: S = Q Λ^½; with the top-r left singular vectors P of W S, Ŵ = P Pᵀ W. It needs no
  inverse at all, so it also serves a rank-deficient C (the fallback of ``auto``).
- ``output_pca``: P = top-r eigenvectors of the output covariance W C Wᵀ, Ŵ = P Pᵀ W.

``damping`` adds damping·mean(diag C)·I to C (a ridge that makes a rank-deficient C definite).
"""

from __future__ import annotations

import torch

from lowrank_compress.methods.svd import split_factors, tail_energy

SOLVERS = ("auto", "cholesky", "eigh", "output_pca")


class NotPositiveDefiniteError(ValueError):
    """The calibration Gram matrix has no Cholesky factor (rank-deficient or indefinite)."""


def damped_gram(gram: torch.Tensor, damping: float) -> torch.Tensor:
    """C + damping·mean(diag C)·I in float64."""
    C = gram.double()
    if damping > 0:
        C = C + damping * float(C.diagonal().mean()) * torch.eye(C.shape[0], dtype=C.dtype,
                                                                 device=C.device)
    return C


def _cholesky(weight: torch.Tensor, C: torch.Tensor, rank: int):
    L, info = torch.linalg.cholesky_ex(C)
    if int(info) != 0:
        raise NotPositiveDefiniteError(
            f"the calibration Gram matrix ({C.shape[0]}x{C.shape[0]}) is not positive definite "
            f"(leading minor {int(info)} fails): too few calibration tokens or dead input "
            "channels. Set damping > 0 (e.g. 1e-4), or solver='auto' / 'eigh'"
        )
    U, S, Vh = torch.linalg.svd(weight @ L, full_matrices=False)
    Uf, Wf = split_factors(U, S, Vh, rank)
    # V = L⁻ᵀ Wf, so that U Vᵀ = U_r Σ_r Q_rᵀ L⁻¹, by a triangular solve Lᵀ V = Wf.
    V = torch.linalg.solve_triangular(L.T, Wf, upper=True)
    return Uf, V, tail_energy(S, rank)


def _eigh(weight: torch.Tensor, C: torch.Tensor, rank: int):
    lam, Q = torch.linalg.eigh(C)
    root = Q * lam.clamp_min(0).sqrt()
    P, S, _ = torch.linalg.svd(weight @ root, full_matrices=False)
    P = P[:, :rank]
    return P, weight.T @ P, tail_energy(S, rank)


def _output_pca(weight: torch.Tensor, C: torch.Tensor, rank: int):
    lam, vecs = torch.linalg.eigh(weight @ C @ weight.T)
    lam, vecs = lam.flip(0).clamp_min(0), vecs.flip(1)
    P = vecs[:, :rank]
    return P, weight.T @ P, tail_energy(lam.sqrt(), rank)


def whiten_factors(
    weight: torch.Tensor,
    gram: torch.Tensor,
    rank: int,
    *,
    damping: float = 0.0,
    solver: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor, float, str]:
    """Rank-``rank`` Ŵ = U Vᵀ minimising ‖X Wᵀ − X Ŵᵀ‖_F for the Gram ``gram`` = XᵀX (n, n).

    ``weight`` (m, n) should be float64. Returns U (m, r), V (n, r), the relative calibration
    error ‖X(W−Ŵ)ᵀ‖²/‖XWᵀ‖² predicted by the whitened spectrum, and the solver used
    (``auto`` tries Cholesky and falls back on eigh when C is not positive definite).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if damping < 0:
        raise ValueError(f"damping must be >= 0, got {damping}")
    C = damped_gram(gram, damping)
    if solver == "eigh":
        return (*_eigh(weight, C, rank), "eigh")
    if solver == "output_pca":
        return (*_output_pca(weight, C, rank), "output_pca")
    try:
        return (*_cholesky(weight, C, rank), "cholesky")
    except NotPositiveDefiniteError:
        if solver == "cholesky":
            raise
        return (*_eigh(weight, C, rank), "eigh")


def calibration_error(weight: torch.Tensor, approx: torch.Tensor, gram: torch.Tensor) -> float:
    """Relative per-layer error ‖X(W−Ŵ)ᵀ‖²_F / ‖XWᵀ‖²_F = tr(Δ C Δᵀ) / tr(W C Wᵀ), in float64."""
    C = gram.double()
    W = weight.detach().double()
    D = W - approx.detach().double()
    total = float(torch.einsum("ij,jk,ik->", W, C, W))
    return float(torch.einsum("ij,jk,ik->", D, C, D)) / total if total > 0 else 0.0
