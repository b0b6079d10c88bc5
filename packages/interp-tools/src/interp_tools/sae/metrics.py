"""SAE evaluation with exact formulas.

For activations x [N, d] and reconstructions x̂:
    L0      = (1/N) Σ_n #{i : f_i(x_n) ≠ 0}
    MSE     = (1/(N·d)) Σ_n Σ_j (x_nj − x̂_nj)²
    EV      = 1 − Σ_n ‖x_n − x̂_n‖² / Σ_n ‖x_n − x̄‖²    (mean predictor → 0, perfect → 1)
    density_i = (1/N) #{n : f_i(x_n) ≠ 0};  dead: density 0;  dense: density > dense_threshold
    loss recovered = (L_zero − L_sae) / (L_zero − L_clean)   (zero-ablation baseline)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from accelerator_utils import atomic_write
from interp_tools.hooks import replace, run_with_cache, run_with_hooks, zero_ablate
from interp_tools.sae.model import SparseAutoencoder


@dataclass(frozen=True)
class SAEMetrics:
    l0: float
    mse: float
    explained_variance: float
    dead_fraction: float
    dense_fraction: float
    densities: torch.Tensor  # [d_sae]


def explained_variance(x: torch.Tensor, recon: torch.Tensor) -> float:
    """1 − SSE / total sum of squares about the mean of ``x`` ([N, d])."""
    total = (x - x.mean(0)).pow(2).sum()
    if total <= 0:
        raise ValueError("explained variance needs activations that are not all equal")
    return float(1 - (x - recon).pow(2).sum() / total)


@torch.no_grad()
def evaluate_sae(
    sae: SparseAutoencoder, x: torch.Tensor, *, dense_threshold: float = 0.1, chunk: int = 8192
) -> SAEMetrics:
    """Metrics of ``sae`` on activations ``x`` [N, d_in], evaluated in chunks."""
    sae._check(x)
    if x.shape[0] < 2:
        raise ValueError("need at least 2 activation vectors to evaluate an SAE")
    recon, counts, l0 = [], torch.zeros(sae.cfg.d_sae), 0.0
    for part in x.split(chunk):
        f = sae.encode(part)
        active = f != 0
        counts += active.sum(0).cpu()
        l0 += float(active.sum())
        recon.append(sae.decode(f))
    r = torch.cat(recon)
    dens = counts / x.shape[0]
    return SAEMetrics(
        l0=l0 / x.shape[0],
        mse=float((x - r).pow(2).mean()),
        explained_variance=explained_variance(x, r),
        dead_fraction=float((dens == 0).float().mean()),
        dense_fraction=float((dens > dense_threshold).float().mean()),
        densities=dens,
    )


def density_histogram(
    densities: torch.Tensor, path: str | Path, title: str = "feature density"
) -> Path:
    """Histogram of log10 feature densities (dead latents counted separately) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alive = densities[densities > 0]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(alive.log10().numpy(), bins=40)
    ax.set_xlabel("log10 firing frequency")
    ax.set_ylabel("latents")
    ax.set_title(f"{title} ({int((densities == 0).sum())} dead)")
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
    return path


@torch.no_grad()
def loss_recovered(
    model: nn.Module,
    inputs: Any,
    site: str,
    sae: SparseAutoencoder,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
) -> dict[str, float]:
    """Splice ``sae`` into ``model`` at ``site`` (activations [..., d_in]).

    Returns clean, spliced and zero-ablated losses and
    ``recovered = (L_zero − L_sae) / (L_zero − L_clean)``.
    """
    out, cache = run_with_cache(model, inputs, names=[site])
    act = cache[site]
    recon = sae.decode(sae.encode(act.reshape(-1, act.shape[-1]))).view_as(act)
    clean = float(loss_fn(out))
    spliced = float(loss_fn(run_with_hooks(model, inputs, fns={site: replace(recon)})))
    zero = float(loss_fn(run_with_hooks(model, inputs, fns={site: zero_ablate()})))
    if zero == clean:
        raise ValueError(f"zero-ablating {site!r} leaves the loss unchanged; nothing to recover")
    return {
        "clean": clean,
        "sae": spliced,
        "zero": zero,
        "recovered": (zero - spliced) / (zero - clean),
    }
