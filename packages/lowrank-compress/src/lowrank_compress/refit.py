"""Closed-form refit on the compressed path's own inputs (SVD-LLM's parameter update, no training).

Layers are compressed in order. For layer ℓ, let X be its inputs in the original model and X̃ its
inputs in the model whose earlier layers are already compressed. The rank-r Ŵ minimising
‖X̃ Ŵᵀ − X Wᵀ‖_F splits, with the least-squares target W* = (C̃⁻¹ C̃ₓ Wᵀ)ᵀ (C̃ = X̃ᵀX̃,
C̃ₓ = X̃ᵀX), as ‖X̃(Ŵ − W*)ᵀ‖² + const: it is the whitened truncation of W* under C̃.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from accelerator_utils import progress as progress_bar
from lowrank_compress.calibration import Forward
from lowrank_compress.factorize import Factorization
from lowrank_compress.methods import whiten_factors
from lowrank_compress.methods.whiten import damped_gram


def cross_grams(
    original: nn.Module, current: nn.Module, name: str, batches: Sequence[Any], forward: Forward
) -> tuple[torch.Tensor, torch.Tensor]:
    """C̃ = X̃ᵀX̃ and C̃ₓ = X̃ᵀX (float64) for layer ``name`` over ``batches``."""
    captured: dict[str, torch.Tensor] = {}

    def grab(key: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            captured[key] = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).double()

        return hook

    handles = [dict(original.named_modules())[name].register_forward_hook(grab("x")),
               dict(current.named_modules())[name].register_forward_hook(grab("xt"))]
    C = Cx = None
    try:
        with torch.no_grad():
            for batch in batches:
                forward(original, batch)
                forward(current, batch)
                x, xt = captured["x"], captured["xt"]
                C = xt.T @ xt if C is None else C.addmm_(xt.T, xt)
                Cx = xt.T @ x if Cx is None else Cx.addmm_(xt.T, x)
    finally:
        for h in handles:
            h.remove()
    return C, Cx


def refit_target(weight: torch.Tensor, C: torch.Tensor, Cx: torch.Tensor, damping: float
                 ) -> torch.Tensor:
    """W* = (C̃⁻¹ C̃ₓ Wᵀ)ᵀ by a Cholesky solve (least squares via eigh if C̃ is singular)."""
    rhs = Cx @ weight.detach().double().T
    Cd = damped_gram(C, damping)
    L, info = torch.linalg.cholesky_ex(Cd)
    if int(info) == 0:
        return torch.cholesky_solve(rhs, L).T
    lam, Q = torch.linalg.eigh(Cd)
    keep = lam > lam.max() * 1e-12
    return (Q[:, keep] @ ((Q[:, keep].T @ rhs) / lam[keep, None])).T


def refit_layers(
    original: nn.Module,
    current: nn.Module,
    ranks: dict[str, int],
    batches: Sequence[Any],
    replace: Callable[[str, Factorization], None],
    *,
    forward: Forward,
    damping: float = 0.0,
    solver: str = "auto",
    progress: bool | None = None,
) -> dict[str, Factorization]:
    """Compress ``current`` layer by layer (in ``ranks`` order) with refitted whitened factors.

    ``replace(name, factorization)`` swaps the layer in ``current``; it is called before the next
    layer's inputs are gathered, so each layer sees the compressed path's inputs.
    """
    out: dict[str, Factorization] = {}
    modules = dict(original.named_modules())
    for name in progress_bar(list(ranks), desc="refit", enabled=progress):
        C, Cx = cross_grams(original, current, name, batches, forward)
        target = refit_target(modules[name].weight, C, Cx, damping)
        fac = Factorization(*whiten_factors(target, C, ranks[name], damping=damping,
                                            solver=solver))
        replace(name, fac)
        out[name] = fac
    return out
