"""Likelihood-ratio test of separability: ``Sigma = Sigma_K (x) ... (x) Sigma_1`` vs unstructured.

``T = 2 (l_unstructured - l_separable)`` at the two MLEs, needing more (effective) samples than
the dimension ``M = prod m_k``. Asymptotically ``T ~ chi^2`` with
``df = M (M + 1) / 2 - (sum_k m_k (m_k + 1) / 2 - (K - 1))``. Exactly, ``T`` is invariant under
``Y_i -> Y_i x_1 A_1 ... x_K A_K`` (and under the mean when it is estimated), so its null law does
not depend on the separable parameters (Mitchell, Genton & Gumpertz 2006): simulating ``T`` under
``Sigma = I`` gives an exact Monte-Carlo p-value ``(1 + #{T* >= T}) / (n_mc + 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy import stats

from accelerator_utils import progress as progress_bar
from kron_mle.flipflop import FlipFlopConfig, flipflop
from kron_mle.model import LOG_2PI, helmert_contrasts
from kron_mle.tensor import tensor_flipflop
from kron_mle.validation import ArrayLike, as_data, check_mean, random_generator


@dataclass(frozen=True)
class LRTResult:
    """LRT of separability. ``p_mc`` is ``None`` when ``n_mc == 0``."""

    statistic: float
    df: int
    p_chi2: float
    p_mc: float | None
    n_mc: int
    loglik_separable: float
    loglik_unstructured: float
    null_statistics: torch.Tensor | None


def lrt_statistics(
    Y: torch.Tensor, mean: str, config: FlipFlopConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(T, l_sep, l_unstr)``, each ``(B,)``, for batched data ``(B, n, m1, ..., mK)``."""
    n = Y.shape[1]
    dims = Y.shape[2:]
    M = math.prod(dims)
    n_eff = check_mean(mean, n)
    Z = helmert_contrasts(Y) if mean == "estimate" else Y
    engine = flipflop if len(dims) == 2 else tensor_flipflop
    ll_sep = engine(Z, config=config, progress=False).loglik
    V = Z.reshape(Z.shape[0], n_eff, M)
    S = V.mT @ V / n_eff
    ll_un = -0.5 * n_eff * (M * LOG_2PI + torch.linalg.slogdet(S)[1] + M)
    if mean == "estimate":  # the same affine map takes both to the mean-estimated likelihood
        offset = 0.5 * n * M * math.log((n - 1) / n)
        ll_sep, ll_un = ll_sep * (n / n_eff) - offset, ll_un * (n / n_eff) - offset
    return 2.0 * (ll_un - ll_sep), ll_sep, ll_un


def separability_lrt(
    Y: ArrayLike,
    *,
    mean: str = "estimate",
    n_mc: int = 199,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    chunk: int = 64,
    config: FlipFlopConfig | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    progress: bool | None = None,
) -> LRTResult:
    """Test ``H0: Cov(vec Y_i)`` is separable, for data ``(n, m1, ..., mK)`` with ``n > M``.

    ``n_mc`` null data sets are simulated (``chunk`` at a time, fitted as one batched problem)
    for the exact Monte-Carlo p-value; ``n_mc=0`` gives the chi-square p-value only. The null
    draws come from ``seed`` (an int; ``None``: fresh entropy) or ``generator`` (on the data's
    device), never from global RNG state. ``progress``: a bar over the Monte-Carlo chunks
    (``None``: only on a terminal outside CI).
    """
    Yt = as_data(Y, device=device, dtype=dtype)
    n, dims = Yt.shape[1], tuple(Yt.shape[2:])
    n_eff = check_mean(mean, n)
    M = math.prod(dims)
    if n_eff <= M:
        need = M + 1 + (1 if mean == "estimate" else 0)
        raise ValueError(
            f"the separability LRT needs more samples than the dimension "
            f"M={M}: got n={n} (mean={mean!r}); provide at least {need}"
        )
    if n_mc < 0 or chunk < 1:
        raise ValueError(f"need n_mc >= 0 and chunk >= 1, got {n_mc}, {chunk}")
    config = config or FlipFlopConfig(tol_ll=1e-11, tol_score=1e-6)
    T, ll_sep, ll_un = lrt_statistics(Yt, mean, config)
    df = M * (M + 1) // 2 - (sum(m * (m + 1) // 2 for m in dims) - (len(dims) - 1))
    t = float(T[0])
    p_chi2 = float(stats.chi2.sf(t, df))
    null, p_mc = None, None
    if n_mc:
        gen = random_generator(seed, generator, Yt.device)
        sizes = [min(chunk, n_mc - s) for s in range(0, n_mc, chunk)]
        parts = []
        bar = progress_bar(sizes, total=len(sizes), desc="LRT null", unit="chunk", enabled=progress)
        for size in bar:
            Z = torch.randn((size, n, *dims), generator=gen, device=Yt.device, dtype=Yt.dtype)
            parts.append(lrt_statistics(Z, mean, config)[0])
        null = torch.cat(parts)
        p_mc = (1 + int((null >= t).sum())) / (n_mc + 1)
    return LRTResult(t, df, p_chi2, p_mc, n_mc, float(ll_sep[0]), float(ll_un[0]), null)
