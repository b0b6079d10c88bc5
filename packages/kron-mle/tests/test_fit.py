"""fit(): normalisations, mean handling, numpy/torch input, batching, AIC/BIC, bad input."""

import math
import warnings

import numpy as np
import pytest
import torch

from kron_mle import (
    DivergenceError,
    FlipFlopConfig,
    NoMLEError,
    NotRationalError,
    fit,
    loglik,
    sample,
)


@pytest.fixture
def Y(spd):
    return sample([spd(4, 0), spd(3, 1)], 8, mean=torch.ones(4, 3, dtype=torch.float64), seed=2)


def _row_update(Yc, S2, n):
    inv = torch.linalg.inv(S2)
    return sum(y @ inv @ y.T for y in Yc) / (n * S2.shape[0])


def test_mean_estimated_is_the_centred_fixed_point_with_n(Y):
    """With the mean estimated the MLE solves the flip-flop equations on Y - Ybar with 1/n."""
    res = fit(Y, method="flipflop")
    S1, S2 = res.unnormalised()
    Yc = Y - Y.mean(0)
    np.testing.assert_allclose(_row_update(Yc, S2, 8), S1, rtol=1e-7, atol=1e-10)
    direct = loglik(Y, [S1, S2], mean=Y.mean(0))
    assert abs(direct - float(res.loglik)) < 1e-9 * abs(direct)
    np.testing.assert_allclose(res.mean, Y.mean(0))


@pytest.mark.parametrize("how", ["trace", "det", "first", "frobenius"])
def test_normalisations_keep_the_product(Y, how):
    ref = fit(Y, normalization="trace")
    res = fit(Y, normalization=how)
    np.testing.assert_allclose(res.covariance(), ref.covariance(), rtol=1e-12)
    for S in res.factors:
        m = S.shape[0]
        value = {
            "trace": torch.trace(S) / m,
            "det": torch.linalg.det(S),
            "first": S[0, 0],
            "frobenius": torch.linalg.matrix_norm(S),
        }[how]
        assert abs(float(value) - 1.0) < 1e-12


def test_numpy_and_torch_input_agree_and_aic_bic(Y):
    a, b = fit(Y), fit(Y.numpy())
    assert float(a.loglik) == float(b.loglik)
    k = 4 * 5 // 2 + 3 * 4 // 2 - 1 + 12
    assert a.n_params == k
    assert abs(float(a.aic) - (-2 * float(a.loglik) + 2 * k)) < 1e-9
    assert abs(float(a.bic) - (-2 * float(a.loglik) + k * math.log(8))) < 1e-9


def test_auto_picks_rational_and_matches_flipflop(spd):
    Y = sample([spd(7, 3), spd(2, 4)], 5, seed=1)  # mean estimated: n - 1 = 4, 7 = 4 * 2 - 1
    auto, ff = fit(Y), fit(Y, method="flipflop")
    assert auto.method == "rational" and ff.method == "flipflop" and auto.converged
    assert abs(float(auto.loglik - ff.loglik)) < 1e-9 * abs(float(ff.loglik))
    assert float(auto.loglik) >= float(ff.loglik) - 1e-9 * abs(float(ff.loglik))


def test_batched_problems_in_one_call(spd):
    Ys = torch.stack([sample([spd(5, s), spd(3, s + 5)], 6, seed=s) for s in range(4)])
    batch = fit(Ys, batched=True, method="flipflop")
    assert batch.loglik.shape == (4,) and batch.factors[0].shape == (4, 5, 5)
    for b in range(4):
        one = fit(Ys[b], method="flipflop")
        assert abs(float(one.loglik - batch.loglik[b])) < 1e-9 * abs(float(one.loglik))
    rational = fit(
        torch.stack([sample([spd(7, s), spd(2, s)], 4, seed=s) for s in range(3)]),
        batched=True,
        mean="zero",
    )
    assert rational.method == "rational" and rational.loglik.shape == (3,)


def test_tensor_fit_and_warm_start(spd):
    Y = sample([spd(3, 0), spd(2, 1), spd(4, 2)], 6, seed=0)
    res = fit(Y)
    assert res.method == "flipflop" and len(res.factors) == 3 and res.converged
    direct = loglik(Y, res.unnormalised(), mean=res.mean)
    assert abs(direct - float(res.loglik)) < 1e-9 * abs(direct)
    warm = fit(Y, init=res)
    assert warm.n_iter <= 3
    with pytest.raises(NotRationalError, match="tensor"):
        fit(Y, method="rational")


def test_float32(Y):
    res = fit(Y.float())
    assert res.loglik.dtype == torch.float32 and res.converged


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (torch.randn(5, 3), ValueError, "shape"),
        (torch.full((5, 3, 2), float("nan")), ValueError, "non-finite"),
        (torch.randn(1, 3, 2), ValueError, "too few samples"),
        (torch.randn(2, 6, 3), NoMLEError, "at least"),
        ([[1.0]], TypeError, "numpy array or torch tensor"),
    ],
)
def test_bad_input(data, error, match):
    with pytest.raises(error, match=match):
        fit(data)


def test_degenerate_data_raise_not_nan():
    Y = torch.randn(6, 4, 3, dtype=torch.float64)
    Y[:, 3] = Y[:, 0]  # a duplicated row in every sample: Sigma1 is singular
    with pytest.raises(DivergenceError, match="singular"):
        fit(Y, method="flipflop")
    with pytest.raises(DivergenceError):
        fit(torch.zeros(6, 4, 3))


def test_bad_options(Y):
    with pytest.raises(ValueError, match="method"):
        fit(Y, method="newton")
    with pytest.raises(ValueError, match="mean"):
        fit(Y, mean="median")
    with pytest.raises(ValueError, match="normalization"):
        fit(Y, normalization="max")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(spd):
    Y = sample([spd(7, 0), spd(2, 1)], 5, seed=0)
    for method in ("rational", "flipflop"):
        cpu, gpu = fit(Y, method=method), fit(Y.cuda(), method=method)
        assert gpu.sigma1.is_cuda
        assert abs(float(cpu.loglik) - float(gpu.loglik)) < 1e-9 * abs(float(cpu.loglik))


def test_vector_case_is_the_sample_covariance():
    Y = torch.randn(9, 1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    res = fit(Y, mean="zero")
    assert res.method == "rational"
    y = Y[:, 0, :]
    np.testing.assert_allclose(res.covariance(), y.T @ y / 9, rtol=1e-10)


@pytest.mark.parametrize("kernel", ["blas", "torch"])
def test_batched_fits_report_each_problem(spd, kernel):
    """Per-problem sweeps and flags; each problem equals its own fit, sweep for sweep."""
    Ys = torch.stack([sample([spd(5, s), spd(3, s + 5)], 7 + 3 * s, seed=s)[:7] for s in range(3)])
    Ys[2] = Ys[2] * torch.tensor([1.0, 30.0, 0.1], dtype=torch.float64)  # a start far off
    cfg = FlipFlopConfig(kernel=kernel)
    batch = fit(Ys, batched=True, method="flipflop", config=cfg)
    assert batch.n_iter.shape == (3,) and batch.converged.dtype == torch.bool
    assert bool(batch.converged.all())
    for b in range(3):
        one = fit(Ys[b], method="flipflop", config=cfg)
        assert int(batch.n_iter[b]) == one.n_iter and one.converged
        assert abs(float(one.loglik - batch.loglik[b])) <= 1e-12 * abs(float(one.loglik))
        np.testing.assert_allclose(batch.sigma1[b], one.sigma1, rtol=1e-10, atol=1e-12)
    assert len(set(batch.n_iter.tolist())) > 1  # the problems did need different counts


def test_progress_bar_over_sweeps(Y, capsys):
    pytest.importorskip("tqdm")
    quiet = fit(Y, method="flipflop", progress=False)
    assert capsys.readouterr().err == ""
    shown = fit(Y, method="flipflop", progress=True)
    assert "sweep" in capsys.readouterr().err
    assert float(shown.loglik) == float(quiet.loglik)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batched_tensor_shrinkage_and_lrt(spd):
    """The torch kernel on CUDA against the CPU engines; the BLAS kernel refuses CUDA data."""
    from kron_mle import separability_lrt, shrinkage_fit

    Ys = torch.stack([sample([spd(4, s), spd(3, s + 5)], 6, seed=s) for s in range(3)])
    cpu, gpu = (
        fit(Ys, batched=True, method="flipflop"),
        fit(Ys.cuda(), batched=True, method="flipflop"),
    )
    assert gpu.n_iter.shape == (3,) and bool(gpu.converged.all())
    np.testing.assert_allclose(gpu.loglik.cpu(), cpu.loglik, rtol=1e-9)
    T = sample([spd(2, 0), spd(3, 1), spd(2, 2)], 5, seed=1)
    assert abs(float(fit(T.cuda()).loglik) - float(fit(T).loglik)) < 1e-9 * abs(
        float(fit(T).loglik)
    )
    shr_c, shr_g = shrinkage_fit(Ys[0], 0.2), shrinkage_fit(Ys[0].cuda(), 0.2)
    np.testing.assert_allclose(shr_g.sigma1.cpu(), shr_c.sigma1, rtol=1e-8, atol=1e-10)
    Y = sample([spd(3, 0), spd(2, 1)], 30, seed=2)
    gen = torch.Generator(device="cuda").manual_seed(0)
    res = separability_lrt(Y.cuda(), n_mc=9, generator=gen)
    assert res.null_statistics.is_cuda and 1 / 10 <= res.p_mc <= 1
    with pytest.raises(ValueError, match="kernel='torch'"):
        fit(Ys[0].cuda(), method="flipflop", config=FlipFlopConfig(kernel="blas"))


def test_read_only_arrays_are_accepted_without_warning(Y):
    arr = Y.numpy().copy()
    arr.flags.writeable = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(arr, method="flipflop")
    assert not [w for w in caught if "not writable" in str(w.message)]
    assert float(res.loglik) == float(fit(Y, method="flipflop").loglik)
