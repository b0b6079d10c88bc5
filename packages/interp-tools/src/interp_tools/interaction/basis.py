"""The local interaction basis (LIB) of Bushnaq et al. (2024, arXiv:2405.10928).

For node layers f⁰ (input), f¹, …, f^L (output) joined by functions f^{l+1} = F_l(f^l), LIB
coordinates f̂^l = (f^l − μ_l) C_l are built from the output backwards:

* output layer: centred and rotated to its principal axes (not whitened);
* layer l < L: centre (μ_l), rotate to the eigenbasis U of the covariance G = U D Uᵀ and
  whiten (D^{-1/2}; zero-variance directions dropped), then rotate by the eigenvectors V of
  M̃ = D^{1/2} Uᵀ M U D^{1/2} with M = E_x[Jᵀ J], J = ∂f̂^{l+1}/∂f^l the Jacobian of the
  next layer's LIB coordinates (V are the right singular vectors of the stacked Jacobians in
  whitened coordinates), and scale by Λ^{1/2} (Λ the eigenvalues of M̃, directions with
  Λ ≈ 0 dropped): C_l = U D^{-1/2} V Λ^{1/2}.

Consequences (tested): E[f̂^l] = 0, E[f̂^l f̂^lᵀ] = Λ (diagonal), and the Jacobian Ĵ of
f̂^{l+1} with respect to f̂^l satisfies E[Ĵᵀ Ĵ] = I; f^l = μ_l + f̂^l C_l⁺ on the data, so
running the network through LIB coordinates reproduces its computation; an invertible
reparametrisation of a hidden layer leaves its LIB coordinates unchanged (up to signs).
The PCA basis (centre and rotate, no whitening or Jacobian step) is the baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from accelerator_utils import progress as progress_bar

LayerFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LayerBasis:
    """Coordinates of one node layer: f̂ = (f − mean) @ C, f ≈ mean + f̂ @ C_pinv.

    ``mean`` [d], ``C`` [d, k], ``C_pinv`` [k, d], ``scales`` [k]: the variance of each
    coordinate (Λ for LIB, the PCA eigenvalues for PCA), sorted descending.
    """

    mean: torch.Tensor
    C: torch.Tensor
    C_pinv: torch.Tensor
    scales: torch.Tensor

    @property
    def size(self) -> int:
        return self.C.shape[1]

    def transform(self, f: torch.Tensor) -> torch.Tensor:
        """[N, d] activations → [N, k] coordinates."""
        return (f - self.mean) @ self.C

    def inverse(self, coords: torch.Tensor) -> torch.Tensor:
        """[N, k] coordinates → [N, d] activations (exact on the data's span)."""
        return self.mean + coords @ self.C_pinv


@dataclass(frozen=True)
class LIBConfig:
    """``rtol``: drop directions whose eigenvalue is below rtol × the largest (covariance
    and M̃ alike); ``chunk``: samples per batched Jacobian."""

    rtol: float = 1e-9
    chunk: int = 512

    def __post_init__(self) -> None:
        if not 0 <= self.rtol < 1:
            raise ValueError(f"LIBConfig.rtol must be in [0, 1), got {self.rtol}")
        if self.chunk < 1:
            raise ValueError(f"LIBConfig.chunk must be >= 1, got {self.chunk}")


def node_activations(layers: Sequence[LayerFn], inputs: torch.Tensor) -> list[torch.Tensor]:
    """[inputs, layers[0](inputs), …]: the L + 1 node layers, each [N, d_l]."""
    acts = [inputs]
    with torch.no_grad():
        for fn in layers:
            acts.append(fn(acts[-1]))
    for i, a in enumerate(acts):
        if a.ndim != 2:
            raise ValueError(f"node layer {i} has shape {tuple(a.shape)}; LIB needs [N, d]")
        if not torch.isfinite(a).all():
            raise ValueError(f"node layer {i} has NaN/Inf activations")
    return acts


def _eig_desc(sym: torch.Tensor, rtol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending, those ≥ rtol × max and > 0) and eigenvectors of ``sym``."""
    vals, vecs = torch.linalg.eigh((sym + sym.T) / 2)
    vals, vecs = vals.flip(0), vecs.flip(1)
    keep = vals > max(rtol * float(vals[0]), 0.0)
    return vals[keep], vecs[:, keep]


def pca_basis(f: torch.Tensor, rtol: float = 1e-9) -> LayerBasis:
    """Centre and rotate to the principal axes (orthonormal C; zero-variance axes dropped)."""
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {f.shape[0]}")
    mean = f.mean(0)
    centred = f - mean
    vals, vecs = _eig_desc(centred.T @ centred / f.shape[0], rtol)
    if vals.numel() == 0:
        raise ValueError("the activations do not vary: no direction to build a basis from")
    return LayerBasis(mean, vecs, vecs.T, vals)


def jacobian_gram(fn: LayerFn, f: torch.Tensor, out: LayerBasis, chunk: int = 512) -> torch.Tensor:
    """M = E_x[Jᵀ J] [d, d] with J = ∂ out.transform(fn(f)) / ∂f per sample."""

    def one(v: torch.Tensor) -> torch.Tensor:
        return out.transform(fn(v[None]))[0]

    jac = torch.func.vmap(torch.func.jacrev(one))
    M = torch.zeros(f.shape[1], f.shape[1], dtype=f.dtype, device=f.device)
    for start in range(0, f.shape[0], chunk):
        J = jac(f[start : start + chunk])  # [n, k, d]
        M += torch.einsum("nkd,nke->de", J, J).detach()
    return M / f.shape[0]


def lib_layer(
    fn: LayerFn, f: torch.Tensor, out: LayerBasis, cfg: LIBConfig | None = None
) -> LayerBasis:
    """The LIB basis of node layer ``f`` [N, d] given the next layer's basis ``out``."""
    cfg = cfg or LIBConfig()
    pca = pca_basis(f, cfg.rtol)
    U, D = pca.C, pca.scales
    Uw = U * D.sqrt()  # whitened coordinates w = (f − μ) U D^{-1/2}; f − μ = w Uwᵀ
    M = jacobian_gram(fn, f, out, cfg.chunk)
    lam, V = _eig_desc(Uw.T @ M @ Uw, cfg.rtol)
    if lam.numel() == 0:
        raise ValueError("the next layer does not depend on this one on the data: M is zero")
    C = (U / D.sqrt()) @ V * lam.sqrt()
    C_pinv = (V / lam.sqrt()).T @ Uw.T
    return LayerBasis(pca.mean, C, C_pinv, lam)


def fit_lib(
    layers: Sequence[LayerFn],
    inputs: torch.Tensor,
    cfg: LIBConfig | None = None,
    *,
    progress: bool | None = None,
) -> list[LayerBasis]:
    """LIB bases of the L + 1 node layers of ``layers`` applied to ``inputs`` [N, d_0].

    ``layers[l]`` maps a batch [n, d_l] to [n, d_{l+1}] and must be differentiable (use
    float64 for exact invariants). Built from the output backwards; ``progress``: a bar over
    layers (None: only on a terminal outside CI).
    """
    cfg = cfg or LIBConfig()
    if not layers:
        raise ValueError("fit_lib needs at least one layer function")
    acts = node_activations(layers, inputs)
    bases: list[LayerBasis] = [pca_basis(acts[-1], cfg.rtol)]
    for l in progress_bar(range(len(layers) - 1, -1, -1), desc="LIB", enabled=progress):
        bases.insert(0, lib_layer(layers[l], acts[l], bases[0], cfg))
    return bases


def pca_bases(
    layers: Sequence[LayerFn], inputs: torch.Tensor, rtol: float = 1e-9
) -> list[LayerBasis]:
    """The PCA baseline: every node layer centred and rotated to its principal axes."""
    return [pca_basis(a, rtol) for a in node_activations(layers, inputs)]
