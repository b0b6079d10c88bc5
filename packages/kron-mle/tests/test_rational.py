"""The rational (castling) MLE: equal to the converged flip-flop, and exact in rational arithmetic."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from kron_mle import FlipFlopConfig, NotRationalError, castling_chain, existence, fit, sample
from kron_mle.flipflop import flipflop, score_residual
from kron_mle.rational import castle, rational_mle


@pytest.mark.parametrize(
    ("m1", "m2", "n"),
    [(7, 2, 4), (11, 3, 4), (4, 3, 2), (5, 4, 2), (3, 8, 3), (2, 7, 4), (11, 10, 2)],
)
def test_rational_equals_converged_flipflop(spd, m1, m2, n):
    assert existence((m1, m2), n).status == "unique"
    Y = sample([spd(m1, 1), spd(m2, 2)], n, seed=m1 + m2 + n)[None]
    s1, s2 = rational_mle(Y)
    ff = flipflop(Y, config=FlipFlopConfig(max_iter=20000, tol_ll=1e-15, tol_score=1e-10))
    L1, L2 = torch.linalg.cholesky(s1), torch.linalg.cholesky(s2)
    ld = 2 * torch.log(torch.diagonal(L1, dim1=-2, dim2=-1)).sum() * m2 * n
    ld = ld + 2 * torch.log(torch.diagonal(L2, dim1=-2, dim2=-1)).sum() * m1 * n
    ll = float(-0.5 * n * m1 * m2 * (np.log(2 * np.pi) + 1) - 0.5 * ld)
    assert ll >= float(ff.loglik[0]) - 1e-9 * abs(ll)
    assert abs(ll - float(ff.loglik[0])) < 1e-8 * abs(ll)
    k_rat = torch.kron(s2[0], s1[0])
    k_ff = torch.kron(ff.factors[1][0], ff.factors[0][0])
    np.testing.assert_allclose(k_rat, k_ff, rtol=1e-4, atol=1e-6 * float(k_ff.abs().max()))
    assert float(score_residual(Y, s1, s2)[0]) < 1e-8


def test_castling_chains():
    assert castling_chain(39, 4, 10) == [(39, 4, 10), (1, 4, 10)]
    assert castling_chain(21, 55, 3) == [(21, 55, 3), (21, 8, 3), (3, 8, 3), (3, 1, 3)]
    chain = castling_chain(31, 30, 2)
    assert chain[-1][0] == 1 or chain[-1][1] == 1
    assert len(chain) == 30
    assert castling_chain(5, 4, 10) is None  # castling-minimal: flip-flop territory
    with pytest.raises(NotRationalError):
        fit(torch.randn(10, 5, 4), method="rational", mean="zero")


def test_castled_data_span_the_kernel():
    Y = torch.randn(1, 3, 5, 2, dtype=torch.float64)  # n m2 - m1 = 1
    dual = castle(Y)
    assert dual.shape == (1, 3, 1, 2)
    stacked = Y[0].permute(1, 0, 2).reshape(5, 6)
    z = dual[0].mT.reshape(6)  # block i of z is dual_i^T
    assert float((stacked @ z).abs().max()) < 1e-12


def _mm(A, B):
    return [[sum(a * b for a, b in zip(row, col)) for col in zip(*B)] for row in A]


def _t(A):
    return [list(r) for r in zip(*A)]


def _inv(A):
    n = len(A)
    M = [list(r) + [Fraction(int(i == j)) for j in range(n)] for i, r in enumerate(A)]
    for c in range(n):
        p = next(r for r in range(c, n) if M[r][c] != 0)
        M[c], M[p] = M[p], M[c]
        M[c] = [x / M[c][c] for x in M[c]]
        for r in range(n):
            if r != c and M[r][c] != 0:
                M[r] = [x - M[r][c] * y for x, y in zip(M[r], M[c])]
    return [r[n:] for r in M]


def _kernel_vector(A):
    """Exact spanning vector of the 1-dim right kernel of a full-row-rank A (rows < cols)."""
    rows, cols = len(A), len(A[0])
    assert cols == rows + 1
    # z = (adjugate-free) solve A[:, :rows] x = -A[:, rows], z = (x, 1)
    B = [r[:rows] for r in A]
    x = _mm(_inv(B), [[-r[rows]] for r in A])
    return [v[0] for v in x] + [Fraction(1)]


def test_exact_rational_arithmetic_case():
    """(m1, m2, n) = (3, 2, 2): m1 = n m2 - 1. In exact arithmetic the castling formula gives a
    fixed point of both flip-flop updates (hence the MLE), and the float code reproduces it."""
    Ys = [
        [[2, -1], [0, 3], [1, 1]],
        [[1, 0], [-2, 1], [3, 2]],
    ]
    n, m1, m2 = 2, 3, 2
    Fr = [[[Fraction(v) for v in row] for row in Y] for Y in Ys]
    stacked = [[v for i in range(n) for v in Fr[i][r]] for r in range(m1)]  # [Y_1 | Y_2]
    z = _kernel_vector(stacked)
    assert all(v == 0 for v in (row[0] for row in _mm(stacked, [[v] for v in z])))
    Z = [[z[i * m2 + c] for i in range(n)] for c in range(m2)]  # column i = block i
    ZZt = _mm(Z, _t(Z))
    sigma2 = _inv(ZZt)
    sigma1 = [[Fraction(0)] * m1 for _ in range(m1)]
    for Y in Fr:
        term = _mm(_mm(Y, ZZt), _t(Y))
        sigma1 = [[a + b / (n * m2) for a, b in zip(r1, r2)] for r1, r2 in zip(sigma1, term)]
    # exact stationarity: the Sigma2-update given Sigma1 returns Sigma2 itself
    inv1 = _inv(sigma1)
    s2 = [[Fraction(0)] * m2 for _ in range(m2)]
    for Y in Fr:
        term = _mm(_mm(_t(Y), inv1), Y)
        s2 = [[a + b / (n * m1) for a, b in zip(r1, r2)] for r1, r2 in zip(s2, term)]
    assert s2 == sigma2
    exact = np.kron(np.array(sigma2, dtype=float), np.array(sigma1, dtype=float))
    res = fit(torch.tensor(Ys, dtype=torch.float64), mean="zero", method="rational", polish=0)
    np.testing.assert_allclose(res.covariance().numpy(), exact, rtol=1e-12)


@pytest.mark.parametrize(
    ("m1", "m2", "n", "sweeps"), [(11, 3, 4, 0), (3, 11, 4, 0), (21, 55, 3, 1)]
)
def test_default_polish_and_reported_fields(spd, m1, m2, n, sweeps):
    """One castling step is exact: no polishing sweep; longer chains get one. The reported
    score residual and log-likelihood are those of the returned pair, recomputed from scratch."""
    Y = sample([spd(m1, 3), spd(m2, 4)], n, seed=m1 * m2 + n)
    res = fit(Y, mean="zero", method="rational")
    assert res.n_iter == sweeps and res.converged and res.existence.status == "unique"
    s1, s2 = res.unnormalised()
    resid = score_residual(Y[None], s1[None], s2[None])[0]
    np.testing.assert_allclose(float(res.score_residual), float(resid), rtol=1e-6, atol=1e-10)
    assert float(res.score_residual) < 1e-9
    L1, L2 = torch.linalg.cholesky(s1), torch.linalg.cholesky(s2)
    X = torch.linalg.solve_triangular(L1, Y, upper=False)
    X = torch.linalg.solve_triangular(L2, X.mT, upper=False)
    ld = 2 * n * (m2 * L1.diagonal().log().sum() + m1 * L2.diagonal().log().sum())
    ll = -0.5 * (n * m1 * m2 * np.log(2 * np.pi) + float(ld) + float(X.square().sum()))
    assert abs(float(res.loglik) - ll) < 1e-10 * abs(ll)
    ff = fit(
        Y,
        mean="zero",
        method="flipflop",
        config=FlipFlopConfig(max_iter=20000, tol_ll=0.0, tol_score=1e-11),
    )
    assert abs(float(res.loglik - ff.loglik)) < 1e-10 * abs(ll)
