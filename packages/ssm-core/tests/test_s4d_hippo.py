"""HiPPO operators, discretisation and S4D: closed forms, NPLR structure, mode agreement."""

import math

import numpy as np
import pytest
import torch

from ssm_core.discretize import discretize
from ssm_core.hippo import KINDS, hippo, online_reconstruction
from ssm_core.s4d import S4D, S4DConfig, fft_conv, s4d_init, vandermonde_kernel


@pytest.mark.parametrize("kind", KINDS)
def test_hippo_nplr_normal_part(kind):
    op = hippo(kind, 9)
    S = op.S
    assert (S @ S.T - S.T @ S).abs().max() < 1e-10  # S is normal
    assert torch.linalg.eigvals(op.A).real.max() < 1e-9  # the projection is stable


def test_legs_closed_form():
    op = hippo("legs", 4)
    assert op.A[2, 1].item() == pytest.approx(-math.sqrt(15))
    assert op.A[1, 1].item() == -2 and op.A[1, 2].item() == 0
    assert op.B.tolist() == pytest.approx([1, math.sqrt(3), math.sqrt(5), math.sqrt(7)])


@pytest.mark.parametrize(
    "kind,sizes", [("legs", (4, 8, 16)), ("legt", (4, 8, 16)), ("fout", (5, 9, 17))]
)
def test_online_reconstruction_error_falls_with_N(kind, sizes):
    t = torch.linspace(0, 1, 600, dtype=torch.float64)
    signal = torch.sin(6 * t) + 0.5 * torch.cos(17 * t**2)
    errs = [online_reconstruction(signal, kind, N, window=300).rmse for N in sizes]
    assert errs[0] > errs[1] > errs[2]
    if kind != "fout":  # Fourier on a non-periodic window converges slowly (Gibbs)
        assert errs[2] < 0.02


def test_discretize_diagonal_matches_dense():
    g = torch.Generator().manual_seed(0)
    a = -torch.rand(4, generator=g, dtype=torch.float64) - 0.1
    b = torch.randn(4, generator=g, dtype=torch.float64)
    for method in ("zoh", "bilinear"):
        diag, dense = discretize(a, b, 0.3, method), discretize(torch.diag(a), b, 0.3, method)
        assert torch.allclose(torch.diag(dense.dA), diag.dA) and torch.allclose(dense.dB, diag.dB)


def test_zoh_is_exact_for_constant_input():
    """ZOH integrates x' = a x + b u exactly when u is constant over the step."""
    a, b, u, dt = -0.7, 1.3, 2.0, 0.4
    d = discretize(
        torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64), dt
    )
    exact = math.exp(a * dt) * 1.0 + b * u / a * (math.exp(a * dt) - 1)
    assert (d.dA * 1.0 + d.dB * u).item() == pytest.approx(exact, rel=1e-12)


def test_discretize_rejects_bad_dt():
    with pytest.raises(ValueError, match="dt must be finite"):
        discretize(torch.tensor([-1.0]), torch.tensor([1.0]), float("nan"))


def test_s4d_inits():
    lin = s4d_init("lin", 4)
    assert lin.imag.tolist() == pytest.approx([0, math.pi, 2 * math.pi, 3 * math.pi])
    inv = s4d_init("inv", 4)
    assert inv.imag[0].item() == pytest.approx(8 / math.pi * 7)
    legs = s4d_init("legs", 4)
    assert legs.real.tolist() == pytest.approx([-0.5] * 4) and bool((legs.imag > 0).all())


def test_vandermonde_kernel_matches_powers():
    dA = torch.tensor([[0.9 * np.exp(0.3j), 0.5 * np.exp(1j)]], dtype=torch.complex128)
    w = torch.tensor([[1 + 2j, -0.5j]], dtype=torch.complex128)
    K = vandermonde_kernel(dA, w, 7, block=3)
    want = [2 * sum((w[0, n] * dA[0, n] ** l).real.item() for n in range(2)) for l in range(7)]
    assert K[0].tolist() == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("block_elements", [2**19, 1, 2 * 2 * 18])  # one, 1-channel, 2+1 blocks
@pytest.mark.parametrize("channels_last", [True, False])
def test_fft_conv_matches_direct_convolution(block_elements, channels_last):
    g = torch.Generator().manual_seed(1)
    u, K = (
        torch.randn(2, 9, 3, generator=g, dtype=torch.float64),
        torch.randn(3, 9, generator=g, dtype=torch.float64),
    )
    direct = torch.stack([sum(K[:, j] * u[:, t - j] for j in range(t + 1)) for t in range(9)], 1)
    if channels_last:
        y = fft_conv(u, K, block_elements=block_elements)
    else:
        y = fft_conv(u.mT.contiguous(), K, channels_last=False, block_elements=block_elements).mT
    assert torch.allclose(y, direct, atol=1e-12)


@pytest.mark.parametrize("init", ["lin", "inv", "legs"])
def test_s4d_conv_equals_recurrence(init):
    torch.manual_seed(0)
    layer = S4D(S4DConfig(channels=3, d_state=8, init=init)).double()
    u = torch.randn(2, 33, 3, dtype=torch.float64)
    assert torch.allclose(layer(u, "conv"), layer(u, "recurrent"), atol=1e-10)  # autograd path
    with torch.no_grad():  # the in-place path
        assert torch.allclose(layer(u, "conv"), layer(u, "recurrent"), atol=1e-10)


def test_s4d_transposed_layout_equals_channels_last():
    g = torch.Generator().manual_seed(2)
    last = S4D(S4DConfig(channels=3, d_state=8), generator=g).double()
    first = S4D(S4DConfig(channels=3, d_state=8, transposed=True)).double()
    first.load_state_dict(last.state_dict())
    u = torch.randn(2, 21, 3, dtype=torch.float64, generator=g)
    for mode in ("conv", "recurrent"):
        assert torch.allclose(first(u.mT.contiguous(), mode).mT, last(u, mode), atol=1e-12)
    with pytest.raises(ValueError, match=r"u must be \(batch, 3, length\)"):
        first(u)


def test_s4d_recurrence_gradients_match_conv():
    layer = S4D(S4DConfig(channels=3, d_state=8), generator=torch.Generator().manual_seed(0))
    layer = layer.double()
    u = torch.randn(2, 17, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    grads = []
    for mode in ("conv", "recurrent"):
        layer.zero_grad()
        (layer(u, mode) ** 2).sum().backward()
        grads.append(torch.cat([q.grad.flatten() for q in layer.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-8, atol=1e-10)


def test_s4d_timescale_init_range_and_errors():
    layer = S4D(S4DConfig(channels=500, d_state=4), generator=torch.Generator().manual_seed(0))
    dt = layer.log_dt.exp()
    assert dt.min() >= 1e-3 and dt.max() <= 1e-1
    with pytest.raises(ValueError, match="even d_state"):
        S4DConfig(channels=2, d_state=5)
    with pytest.raises(ValueError, match="u must be"):
        layer(torch.zeros(1, 4, 3))
