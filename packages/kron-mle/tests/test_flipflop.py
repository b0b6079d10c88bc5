"""Flip-flop: against a per-sample loop reference, monotone log-likelihood, free log-likelihood,
stationarity, batching, float32, warm starts; the tensor engine against the matrix one."""

import math

import numpy as np
import pytest
import torch

from kron_mle import FlipFlopConfig, loglik, sample
from kron_mle.flipflop import flipflop, score_residual
from kron_mle.reference import (
    dense_loglik_reference,
    flipflop_reference,
    mode_update_reference,
)
from kron_mle.tensor import tensor_flipflop


def ref_row_update(Y, S2):
    """Slow reference: (1 / (n m2)) sum_i Y_i S2^{-1} Y_i^T, one sample at a time."""
    n, _, m2 = Y.shape
    inv = torch.linalg.inv(S2)
    return sum(Y[i] @ inv @ Y[i].T for i in range(n)) / (n * m2)


def ref_col_update(Y, S1):
    n, m1, _ = Y.shape
    inv = torch.linalg.inv(S1)
    return sum(Y[i].T @ inv @ Y[i] for i in range(n)) / (n * m1)


@pytest.fixture
def data(spd):
    return sample([spd(5, 0), spd(3, 1)], 6, seed=3)


def test_one_sweep_matches_the_loop_reference(data):
    out = flipflop(data[None], config=FlipFlopConfig(max_iter=1), require_convergence=False)
    S1 = ref_row_update(data, torch.eye(3, dtype=torch.float64))
    S2 = ref_col_update(data, S1)
    S1 = ref_row_update(data, S2)
    np.testing.assert_allclose(out.factors[0][0], S1, rtol=1e-12)
    np.testing.assert_allclose(out.factors[1][0], S2, rtol=1e-12)


def test_loglik_is_monotone_and_free(data):
    out = flipflop(data[None])
    trace = out.trace[0]
    assert bool((trace[1:] - trace[:-1] >= -1e-9 * trace.abs().max()).all())
    # the log-determinant formula equals the full log-likelihood (trace term included)
    direct = loglik(data, [out.factors[0][0], out.factors[1][0]])
    assert abs(direct - float(out.loglik[0])) < 1e-9 * abs(direct)
    assert bool(out.converged[0])
    assert float(score_residual(data[None], *(f for f in out.factors))[0]) < 1e-7


def test_batched_equals_one_by_one(spd):
    Ys = torch.stack([sample([spd(4, s), spd(3, s + 9)], 5, seed=s) for s in range(3)])
    batch = flipflop(Ys)
    for b in range(3):
        single = flipflop(Ys[b : b + 1])
        assert abs(float(single.loglik[0] - batch.loglik[b])) < 1e-9 * abs(float(batch.loglik[b]))


def test_float32_and_warm_start(data):
    out64 = flipflop(data[None])
    out32 = flipflop(data[None].float())
    assert out32.loglik.dtype == torch.float32
    assert abs(float(out32.loglik[0]) - float(out64.loglik[0])) < 1e-4 * abs(float(out64.loglik))
    warm = flipflop(data[None], init=(out64.factors[0], out64.factors[1]))
    assert int(warm.n_iter[0]) <= 3
    assert abs(float(warm.loglik[0] - out64.loglik[0])) < 1e-10 * abs(float(out64.loglik[0]))


def test_tensor_engine_equals_matrix_engine_for_k2(data):
    mat = flipflop(data[None])
    ten = tensor_flipflop(data[None])
    assert abs(float(mat.loglik[0] - ten.loglik[0])) < 1e-9 * abs(float(mat.loglik[0]))
    kron_m = torch.kron(mat.factors[1][0], mat.factors[0][0])
    kron_t = torch.kron(ten.factors[1][0], ten.factors[0][0])
    np.testing.assert_allclose(kron_t, kron_m, rtol=1e-6, atol=1e-8)


def test_engines_match_the_dense_reference(spd):
    """Matrix and tensor engines against the per-sample dense-Kronecker reference, sweep by sweep."""
    Y2 = sample([spd(4, 0), spd(3, 1)], 5, seed=8)
    fast = flipflop(Y2[None], config=FlipFlopConfig(max_iter=3), require_convergence=False)
    # the matrix engine: Sigma1 given Sigma2 = I, then 3 sweeps of (Sigma2, Sigma1) updates
    ref = [torch.eye(4, dtype=torch.float64), torch.eye(3, dtype=torch.float64)]
    ref[0] = mode_update_reference(Y2, ref, 0)
    for _ in range(3):
        ref[1] = mode_update_reference(Y2, ref, 1)
        ref[0] = mode_update_reference(Y2, ref, 0)
    np.testing.assert_allclose(fast.factors[0][0], ref[0], rtol=1e-10)
    np.testing.assert_allclose(fast.factors[1][0], ref[1], rtol=1e-10)
    dense = dense_loglik_reference(Y2, ref)
    assert abs(float(fast.loglik[0]) - dense) < 1e-10 * abs(dense)
    Y3 = sample([spd(2, 0), spd(3, 1), spd(2, 2)], 4, seed=9)
    fac3, trace3 = flipflop_reference(Y3, 2)
    fast3 = tensor_flipflop(Y3[None], config=FlipFlopConfig(max_iter=2), require_convergence=False)
    for S_fast, S_ref in zip(fast3.factors, fac3):
        np.testing.assert_allclose(S_fast[0], S_ref, rtol=1e-10)
    np.testing.assert_allclose(fast3.trace[0], trace3, rtol=1e-12)


def test_tensor_k3_monotone_and_stationary(spd):
    factors = [spd(3, 0), spd(4, 1), spd(2, 2)]
    Y = sample(factors, 4, seed=5)
    out = tensor_flipflop(Y[None])
    trace = out.trace[0]
    assert bool((trace[1:] - trace[:-1] >= -1e-9 * trace.abs().max()).all())
    direct = loglik(Y, [f[0] for f in out.factors])
    assert abs(direct - float(out.loglik[0])) < 1e-9 * abs(direct)
    # stationarity: one more mode-1 update leaves Sigma_1 unchanged (up to the tolerance)
    again = tensor_flipflop(
        Y[None], init=out.factors, config=FlipFlopConfig(max_iter=1), require_convergence=False
    )
    assert abs(float(again.loglik[0] - out.loglik[0])) < 1e-9 * abs(float(out.loglik[0]))


def test_stopping_rule_needs_both_tests(spd):
    """The relative LL change alone would stop at sweep 2 (tol_ll = 1); the score test keeps the
    flip-flop going until the reported residual is below tol_score."""
    Y = sample([spd(11, 5), spd(10, 6)], 2, seed=7)[None]
    loose = flipflop(Y, config=FlipFlopConfig(tol_ll=1.0, tol_score=math.inf))
    both = flipflop(Y, config=FlipFlopConfig(max_iter=50_000, tol_ll=1.0, tol_score=1e-6))
    assert int(loose.n_iter[0]) == 2 and bool(loose.converged[0])
    assert int(both.n_iter[0]) > 2 and bool(both.converged[0])
    assert float(both.score_residual[0]) <= 1e-6 < float(loose.score_residual[0])
    assert float(both.loglik[0]) > float(loose.loglik[0])
