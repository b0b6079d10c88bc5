"""Half-step kernels (BLAS TRMM + SYRK, batched torch GEMM) against the per-sample reference."""

import numpy as np
import pytest
import torch

from kron_mle import FlipFlopConfig, sample
from kron_mle.flipflop import flipflop
from kron_mle.kernels import BlasHalfSteps, TorchHalfSteps, half_steps
from kron_mle.reference import mode_update_reference


def batch(spd, dims, n, B):
    return torch.stack(
        [sample([spd(m, 3 * b + k) for k, m in enumerate(dims)], n, seed=b) for b in range(B)]
    )


@pytest.mark.parametrize("kernel", [BlasHalfSteps, TorchHalfSteps])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_half_steps_match_the_reference(spd, kernel, dtype):
    dims, n, B = (5, 3), 4, 3
    Y = batch(spd, dims, n, B)
    S1 = torch.stack([spd(5, 20 + b) for b in range(B)])
    S2 = torch.stack([spd(3, 30 + b) for b in range(B)])
    steps = kernel(Y.to(dtype))
    L1, L2 = torch.linalg.cholesky(S1.to(dtype)), torch.linalg.cholesky(S2.to(dtype))
    rows, cols, rows_id = steps.rows(L2), steps.cols(L1), steps.rows(None)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    eye2 = torch.eye(3, dtype=torch.float64)
    for b in range(B):
        ref_rows = mode_update_reference(Y[b], [S1[b], S2[b]], 0)
        ref_cols = mode_update_reference(Y[b], [S1[b], S2[b]], 1)
        ref_id = mode_update_reference(Y[b], [S1[b], eye2], 0)
        np.testing.assert_allclose(rows[b].double(), ref_rows, rtol=tol, atol=tol)
        np.testing.assert_allclose(cols[b].double(), ref_cols, rtol=tol, atol=tol)
        np.testing.assert_allclose(rows_id[b].double(), ref_id, rtol=tol, atol=tol)
    # the outputs are fresh symmetric tensors, not views of reused buffers
    again = steps.rows(torch.linalg.cholesky(2 * S2.to(dtype)))
    np.testing.assert_allclose(again * 2, rows, rtol=tol, atol=tol)
    assert torch.equal(rows, rows.mT)


def test_blas_and_torch_kernels_give_the_same_iterates(spd):
    Y = batch(spd, (6, 4), 5, 1)
    runs = [
        flipflop(Y, config=FlipFlopConfig(max_iter=4, kernel=k), require_convergence=False)
        for k in ("blas", "torch")
    ]
    np.testing.assert_allclose(runs[0].trace, runs[1].trace, rtol=1e-12)
    for a, b in zip(runs[0].factors, runs[1].factors):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_kernel_choice_and_bad_kernels(spd):
    Y = batch(spd, (4, 3), 5, 2)
    assert isinstance(half_steps(Y[:1]), BlasHalfSteps)  # one CPU problem
    assert isinstance(half_steps(Y), TorchHalfSteps)  # many tiny problems: one batched call
    assert isinstance(half_steps(Y, "blas"), BlasHalfSteps)
    with pytest.raises(ValueError, match="kernel must be one of"):
        FlipFlopConfig(kernel="lapack")
    with pytest.raises(ValueError, match="kernel='torch'"):
        BlasHalfSteps(Y.half())
