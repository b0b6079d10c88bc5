"""S4: the DPLR form reproduces HiPPO-LegS; Cauchy kernel equals powers of the dense matrix."""

import pytest
import torch

from ssm_core.hippo import hippo
from ssm_core.s4 import S4, S4Config, dplr_legs


def test_dplr_is_legs_in_eigenbasis():
    """With both conjugate halves, V (Lambda - P P^*) V^* rebuilds the real LegS matrix."""
    N = 6
    op = hippo("legs", N)
    lam, V = torch.linalg.eig(op.S)
    P = V.conj().T @ op.P[:, 0].to(V.dtype)
    A = V @ (torch.diag(lam) - P[:, None] * P.conj()[None, :]) @ V.conj().T
    assert torch.allclose(A.real, op.A, atol=1e-10) and A.imag.abs().max() < 1e-10
    half = dplr_legs(N)[0]
    assert half.shape == (3,) and bool((half.imag > 0).all())


def layer():
    torch.manual_seed(0)
    return S4(S4Config(channels=3, d_state=8, dt_min=0.05, dt_max=0.5)).double()


@pytest.mark.parametrize("length", [16, 15])
def test_cauchy_kernel_equals_dense_powers(length):
    m = layer()
    dA, dB, C = m.dense()
    h, ks = dB, []
    for _ in range(length):
        ks.append(2 * (C.conj() * h).sum(-1).real)
        h = torch.einsum("hmn,hn->hm", dA, h)
    assert torch.allclose(m.kernel(length), torch.stack(ks, -1), atol=1e-9)


def test_conv_equals_recurrence():
    m = layer()
    u = torch.randn(2, 21, 3, dtype=torch.float64)
    assert torch.allclose(m(u, "conv"), m(u, "recurrent"), atol=1e-9)
