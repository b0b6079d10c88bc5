"""Shrinkage flip-flop: alpha = 0 is the MLE, alpha > 0 works without an MLE and conditions."""

import numpy as np
import pytest
import torch

from kron_mle import ShrinkageConfig, fit, sample, shrinkage_fit


def test_alpha_zero_is_the_mle(spd):
    Y = sample([spd(4, 0), spd(3, 1)], 10, seed=0)
    mle = fit(Y, method="flipflop")
    shr = shrinkage_fit(Y, alpha=0.0)
    np.testing.assert_allclose(shr.covariance(), mle.covariance(), rtol=1e-6)
    assert abs(float(shr.loglik - mle.loglik)) < 1e-9 * abs(float(mle.loglik))


def test_undersampled_and_more_shrinkage_is_better_conditioned():
    Y = torch.randn(2, 8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    conds = []
    for alpha in (0.05, 0.2, 0.5):
        res = shrinkage_fit(Y, alpha)
        assert res.converged and res.existence.status == "unbounded"
        assert bool(torch.isfinite(res.loglik))
        conds.append(float(torch.linalg.cond(res.sigma1)))
    assert conds[0] > conds[1] > conds[2] > 1


def test_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        ShrinkageConfig(alpha=1.0)


def test_batched_shrinkage_reports_each_problem(spd):
    Ys = torch.stack([sample([spd(4, s), spd(3, s + 1)], 3, seed=s) for s in range(3)])
    batch = shrinkage_fit(Ys, 0.3, batched=True)
    assert batch.n_iter.shape == (3,) and bool(batch.converged.all())
    for b in range(3):
        one = shrinkage_fit(Ys[b], 0.3)
        assert int(batch.n_iter[b]) == one.n_iter
        np.testing.assert_allclose(batch.sigma1[b], one.sigma1, rtol=1e-10, atol=1e-12)
