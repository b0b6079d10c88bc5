"""Separability LRT: statistic, degrees of freedom, exact invariance, Monte-Carlo p-values."""

import numpy as np
import pytest
import torch

from kron_mle import fit, sample, separability_lrt


def test_statistic_matches_independent_likelihoods(spd):
    Y = sample([spd(3, 0), spd(2, 1)], 20, seed=4)
    res = separability_lrt(Y, n_mc=0)
    sep = fit(Y, method="flipflop")
    Yc = (Y - Y.mean(0)).numpy()
    vec = np.stack([y.ravel(order="F") for y in Yc])
    S = vec.T @ vec / 20
    ll_un = -0.5 * 20 * (6 * np.log(2 * np.pi) + np.linalg.slogdet(S)[1] + 6)
    assert abs(res.loglik_unstructured - ll_un) < 1e-9 * abs(ll_un)
    assert abs(res.loglik_separable - float(sep.loglik)) < 1e-8 * abs(ll_un)
    assert res.df == 21 - (6 + 3 - 1)
    assert res.p_mc is None and 0 < res.p_chi2 < 1


def test_statistic_is_invariant_under_the_group(spd):
    """T(A Y_i B^T + C) = T(Y_i): why the Monte-Carlo null is exact."""
    Y = torch.randn(15, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    A, B = spd(3, 5), spd(2, 6) + torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    moved = A @ Y @ B.T + 3.0
    t0 = separability_lrt(Y, n_mc=0).statistic
    t1 = separability_lrt(moved, n_mc=0).statistic
    assert abs(t0 - t1) < 1e-6 * abs(t0)


def test_monte_carlo_p_values(spd):
    null = sample([spd(3, 0), spd(2, 1)], 30, seed=2)
    res = separability_lrt(null, n_mc=49, seed=0)
    assert res.null_statistics.shape == (49,)
    assert 1 / 50 <= res.p_mc <= 1
    alt = torch.randn(30, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    alt[:, 0, 0] += 3 * alt[:, 2, 1]  # couples one row/column pair only: not separable
    bad = separability_lrt(alt, n_mc=49, seed=0)
    assert bad.p_mc == pytest.approx(1 / 50) and bad.p_chi2 < 1e-6


def test_needs_more_samples_than_dimension():
    with pytest.raises(ValueError, match="at least 8"):
        separability_lrt(torch.randn(7, 3, 2), n_mc=0)


def test_tensor_separability(spd):
    Y = sample([spd(2, 0), spd(2, 1), spd(2, 2)], 14, seed=3)
    res = separability_lrt(Y, n_mc=19, seed=1)
    assert res.df == 36 - (3 + 3 + 3 - 2)
    assert res.statistic > 0 and 0 < res.p_chi2 <= 1 and 1 / 20 <= res.p_mc <= 1


def test_monte_carlo_is_seeded_and_leaves_global_state_alone(spd):
    Y = sample([spd(2, 0), spd(2, 1)], 9, seed=5)
    state = torch.get_rng_state()
    a = separability_lrt(Y, n_mc=9, seed=3, chunk=4, progress=False)
    b = separability_lrt(Y, n_mc=9, generator=torch.Generator().manual_seed(3), chunk=4)
    assert torch.equal(a.null_statistics, b.null_statistics)
    assert torch.equal(torch.get_rng_state(), state)
