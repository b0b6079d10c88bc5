"""Per-layer methods against closed forms, and the whitening theorem."""

import pytest
import torch

from lowrank_compress.methods import (
    asvd_factors,
    calibration_error,
    fwsvd_factors,
    randomized_svd,
    svd_factors,
    whiten_factors,
)
from lowrank_compress.methods.whiten import NotPositiveDefiniteError


def _setup(m=20, n=30, rows=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(m, n, generator=g, dtype=torch.float64)
    scales = torch.logspace(0, -2, n, dtype=torch.float64)
    mix = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    X = (torch.randn(rows, n, generator=g, dtype=torch.float64) * scales) @ mix
    return W, X, X.T @ X


def test_svd_is_eckart_young():
    W, _, _ = _setup()
    U, V, est = svd_factors(W, 5)
    S = torch.linalg.svdvals(W)
    assert float((W - U @ V.T).square().sum()) == pytest.approx(float(S[5:].square().sum()))
    assert est == pytest.approx(float(S[5:].square().sum() / S.square().sum()))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("rank", [1, 4, 9])
def test_whiten_calibration_error_is_minimal(seed, rank):
    """Theorem: whitening minimises ‖X(W−Ŵ)ᵀ‖ over rank-r Ŵ, so it beats every other method."""
    W, X, C = _setup(seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    fisher = torch.rand(W.shape[0], generator=g, dtype=torch.float64) + 0.1
    U, V, est, solver = whiten_factors(W, C, rank)
    assert solver == "cholesky"
    e_w = calibration_error(W, U @ V.T, C)
    assert est == pytest.approx(e_w, rel=1e-9)
    direct = float((X @ (W - U @ V.T).T).square().sum() / (X @ W.T).square().sum())
    assert e_w == pytest.approx(direct, rel=1e-9)
    others = [svd_factors(W, rank), asvd_factors(W, X.abs().mean(0), rank),
              fwsvd_factors(W, fisher, rank)]
    for Uo, Vo, _ in others:
        assert e_w <= calibration_error(W, Uo @ Vo.T, C) * (1 + 1e-10)


def test_whiten_beats_random_rank_r_matrices():
    W, _, C = _setup(seed=3)
    U, V, _, _ = whiten_factors(W, C, 3)
    best = calibration_error(W, U @ V.T, C)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        A = U + 0.05 * torch.randn(U.shape, generator=g, dtype=torch.float64)
        B = V + 0.05 * torch.randn(V.shape, generator=g, dtype=torch.float64)
        assert best <= calibration_error(W, A @ B.T, C)


def test_cholesky_eigh_output_pca_agree():
    W, _, C = _setup(seed=4)
    approx = {}
    for solver in ("cholesky", "eigh", "output_pca"):
        U, V, _, used = whiten_factors(W, C, 6, solver=solver)
        assert used == solver
        approx[solver] = U @ V.T
    scale = float(approx["cholesky"].abs().max())
    for solver in ("eigh", "output_pca"):
        assert float((approx[solver] - approx["cholesky"]).abs().max()) / scale < 1e-5


def test_rank_deficient_gram_needs_damping_or_fallback():
    W, X, _ = _setup(rows=10)  # 10 samples < 30 features: C is singular
    C = X.T @ X
    C[0, 0] -= 1e-3  # and slightly indefinite in float64, so Cholesky really fails
    with pytest.raises(NotPositiveDefiniteError, match="damping"):
        whiten_factors(W, C, 4, solver="cholesky")
    U, V, _, used = whiten_factors(W, C, 4, solver="auto")
    assert used == "eigh" and torch.isfinite(U @ V.T).all()
    _, _, _, used = whiten_factors(W, X.T @ X, 4, solver="cholesky", damping=1e-3)
    assert used == "cholesky"


def test_whiten_with_identity_gram_is_plain_svd():
    W, _, _ = _setup()
    U, V, _, _ = whiten_factors(W, torch.eye(W.shape[1], dtype=torch.float64), 5)
    Us, Vs, _ = svd_factors(W, 5)
    torch.testing.assert_close(U @ V.T, Us @ Vs.T)


def test_asvd_and_fwsvd_with_flat_scales_are_plain_svd():
    W, _, _ = _setup()
    target = svd_factors(W, 4)
    for U, V, _ in (asvd_factors(W, torch.full((30,), 2.0, dtype=torch.float64), 4),
                    fwsvd_factors(W, torch.full((20,), 3.0, dtype=torch.float64), 4)):
        torch.testing.assert_close(U @ V.T, target[0] @ target[1].T)


def test_asvd_scaling_is_inverted_exactly_at_full_rank():
    W, X, _ = _setup()
    U, V, _ = asvd_factors(W, X.abs().mean(0), 20)
    torch.testing.assert_close(U @ V.T, W)
    U, V, _ = fwsvd_factors(W, torch.rand(20, dtype=torch.float64) + 0.1, 20)
    torch.testing.assert_close(U @ V.T, W)


def test_randomized_svd_close_to_optimal():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(300, 20, generator=g, dtype=torch.float64) @ torch.randn(
        20, 200, generator=g, dtype=torch.float64) + 0.01 * torch.randn(
        300, 200, generator=g, dtype=torch.float64)
    U, S, Vh = randomized_svd(A, 10, generator=g)
    s = torch.linalg.svdvals(A)
    err = float((A - (U * S) @ Vh).norm())
    assert err <= 1.03 * float(s[10:].norm())
    torch.testing.assert_close(S, s[:10], rtol=1e-6, atol=1e-8)
