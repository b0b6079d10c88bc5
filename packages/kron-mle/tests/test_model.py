"""Log-density against the dense multivariate normal; sampler moments; Helmert contrasts."""

import numpy as np
import pytest
import torch
from scipy import stats

from kron_mle import logpdf, sample
from kron_mle.model import helmert_contrasts


def _dense(factors):
    out = factors[-1]
    for S in reversed(factors[:-1]):
        out = torch.kron(out, S)
    return out.numpy()


@pytest.mark.parametrize("dims", [(3, 2), (4, 3), (2, 3, 2)])
def test_logpdf_matches_dense_mvn(spd, dims):
    factors = [spd(m, seed=i) for i, m in enumerate(dims)]
    mean = torch.randn(dims, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    Y = sample(factors, 5, mean=mean, seed=2)
    # column-stacking vec (first index fastest) = Fortran order of each sample
    vec = np.stack([y.ravel(order="F") for y in Y.numpy()])
    ref = stats.multivariate_normal(mean.numpy().ravel(order="F"), _dense(factors)).logpdf(vec)
    np.testing.assert_allclose(logpdf(Y, factors, mean).numpy(), ref, rtol=1e-12)


def test_sampler_second_moments(spd):
    S1, S2 = spd(3, 0), spd(2, 1)
    Y = sample([S1, S2], 40000, seed=0)
    rows = torch.einsum("nij,nkj->ik", Y, Y) / Y.shape[0]  # E[Y Y^T] = S1 tr(S2)
    cols = torch.einsum("nji,njk->ik", Y, Y) / Y.shape[0]  # E[Y^T Y] = S2 tr(S1)
    np.testing.assert_allclose(rows, S1 * torch.trace(S2), rtol=0.05, atol=0.05)
    np.testing.assert_allclose(cols, S2 * torch.trace(S1), rtol=0.05, atol=0.05)


def test_sampler_is_seeded_and_has_the_mean(spd):
    f = [spd(2, 0), spd(3, 1)]
    a, b = sample(f, 4, seed=7), sample(f, 4, seed=7)
    assert torch.equal(a, b)
    big = sample(f, 20000, mean=torch.full((2, 3), 5.0, dtype=torch.float64), seed=1)
    np.testing.assert_allclose(big.mean(0), np.full((2, 3), 5.0), atol=0.06, rtol=0)


def test_helmert_contrasts_are_orthonormal_centring():
    Y = torch.randn(1, 6, 3, 2, dtype=torch.float64)
    H = helmert_contrasts(Y)[0]
    C = Y[0] - Y[0].mean(0)
    np.testing.assert_allclose(
        torch.einsum("nij,nkl->ijkl", H, H), torch.einsum("nij,nkl->ijkl", C, C), atol=1e-12
    )
    assert H.shape == (5, 3, 2)


def test_logpdf_rejects_bad_factors(spd):
    Y = sample([spd(3, 0), spd(2, 1)], 4, seed=0)
    with pytest.raises(ValueError, match="positive definite"):
        logpdf(Y, [-torch.eye(3, dtype=torch.float64), spd(2, 1)])
    with pytest.raises(ValueError, match="shape"):
        logpdf(Y, [spd(2, 0), spd(2, 1)])


def test_seed_and_generator_never_touch_global_state(spd):
    factors = [spd(3, 0), spd(2, 1)]
    state = torch.get_rng_state()
    a = sample(factors, 4, seed=7)
    b = sample(factors, 4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(sample(factors, 4), sample(factors, 4))  # seed=None: fresh entropy
    with pytest.raises(ValueError, match="either seed or generator"):
        sample(factors, 4, seed=1, generator=torch.Generator())
    with pytest.raises(TypeError, match="generator="):
        sample(factors, 4, seed=torch.Generator())
