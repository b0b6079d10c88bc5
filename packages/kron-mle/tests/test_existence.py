"""The exact existence/uniqueness rule, castling invariance, and the refusal before iterating."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kron_mle import NoMLEError, existence, fit, sample
from kron_mle.existence import castle_reduce, matrix_min_n
from kron_mle.flipflop import DivergenceError, flipflop


@pytest.mark.parametrize(
    ("m1", "m2", "n", "status"),
    [
        (1, 1, 1, "unique"),  # one scalar sample
        (3, 3, 1, "not_unique"),  # q = 1, d = 3
        (3, 3, 2, "not_unique"),  # q = 0
        (1, 1, 2, "unique"),
        (3, 3, 3, "unique"),  # q < 0
        (4, 3, 2, "unique"),  # q = 1, d = 1
        (5, 3, 2, "unbounded"),  # q = 4
        (6, 4, 2, "not_unique"),  # d = 2, a = 3, b = 2, q = 1
        (1, 5, 4, "unbounded"),  # vector case needs n >= 5
        (1, 5, 5, "unique"),
        (8, 2, 4, "not_unique"),  # m1 = n m2: any Sigma2 is optimal
    ],
)
def test_matrix_rule_table(m1, m2, n, status):
    assert existence((m1, m2), n).status == status


def test_min_n_is_the_threshold():
    for m1 in range(1, 9):
        for m2 in range(1, 9):
            n0 = matrix_min_n(m1, m2)
            assert existence((m1, m2), n0).exists
            assert n0 == 1 or existence((m1, m2), n0 - 1).status == "unbounded"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 6))
def test_q_and_d_are_castling_invariant(m1, m2, n):
    ex = existence((m1, m2), n)
    if 0 < n * m2 - m1:
        castled = existence((n * m2 - m1, m2), n)
        assert (castled.q, castled.d, castled.status) == (ex.q, ex.d, ex.status)


def test_fit_refuses_before_iterating_with_the_threshold():
    Y = torch.randn(3, 5, 3, dtype=torch.float64)  # mean estimated: 2 contrasts, q = 4
    with pytest.raises(NoMLEError, match=r"q=a\^2\+b\^2-n\*a\*b=4.*at least 4 samples"):
        fit(Y)


def test_unbounded_data_really_diverge():
    """The rule is not conservative: the flip-flop on such data runs into a singular factor."""
    Y = torch.randn(1, 2, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(DivergenceError, match="singular"):
        flipflop(Y)


def test_not_unique_warns(spd):
    Y = sample([spd(3, 0), spd(3, 1)], 2, seed=0)
    with pytest.warns(UserWarning, match="not unique"):
        fit(Y, mean="zero")


def test_tensor_rules():
    assert existence((10, 2, 2), 1).status == "unbounded"  # 100 > 1 * 40: flattening fails
    assert existence((2, 2, 2), 8).status in ("exists", "unique")
    # (3, 2, 1) n = 1 with a unit mode is the matrix case (3, 2) with n = 1
    assert existence((3, 2, 1), 2).status == existence((3, 2), 2).status
    assert castle_reduce((3, 2), 2) == (2,)  # (3, 2, n=2) -> (1, 2): a vector of size 2
    ex = existence((4, 4, 4), 2)
    assert ex.status in ("undecided", "exists", "unique")
    assert math.prod(ex.reduced[0]) <= 64
