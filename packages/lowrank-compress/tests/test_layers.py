"""LowRankLinear and Tucker-2 layers: exact shapes, dtype, device, parameter savings."""

import pytest
import torch
from torch import nn

from lowrank_compress.layers import LowRankLinear, break_even_rank, saves_parameters
from lowrank_compress.tucker import tucker2_conv, tucker2_decompose, tucker2_parameters


def test_lowrank_linear_matches_dense_product():
    torch.manual_seed(0)
    U, V, b = torch.randn(12, 3), torch.randn(10, 3), torch.randn(12)
    layer = LowRankLinear.from_factors(U, V, b)
    x = torch.randn(2, 4, 10)
    torch.testing.assert_close(layer(x), x @ (U @ V.T).T + b)
    assert layer(x).shape == (2, 4, 12)
    assert sum(p.numel() for p in layer.parameters()) == 3 * (12 + 10) + 12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_device_preserved(dtype):
    layer = LowRankLinear(16, 8, 2, device="cpu", dtype=dtype)
    y = layer(torch.randn(3, 16, dtype=dtype))
    assert y.dtype == dtype and y.device.type == "cpu" and layer.U.dtype == dtype


def test_break_even_rank_rule():
    m, n = 12, 6  # r* = 4
    assert break_even_rank(m, n) == 4
    assert saves_parameters(m, n, 3) and not saves_parameters(m, n, 4)
    with pytest.raises(ValueError, match="saves no parameters"):
        LowRankLinear(n, m, 4)


def test_lowrank_linear_compiles():
    layer = LowRankLinear(16, 16, 4)
    x = torch.randn(5, 16)
    compiled = torch.compile(layer, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), layer(x))


def test_tucker2_full_rank_is_exact_and_shapes_kept():
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 10, 3, stride=2, padding=1, dilation=1).double()
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    full = tucker2_conv(conv, 10, 6)
    torch.testing.assert_close(full(x), conv(x))
    small = tucker2_conv(conv, 4, 3)
    assert small(x).shape == conv(x).shape and small[0].weight.dtype == torch.float64
    assert sum(p.numel() for p in small.parameters()) == tucker2_parameters(conv, 4, 3)


def test_tucker2_recovers_planted_multilinear_rank():
    g = torch.Generator().manual_seed(1)
    core = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    U_out = torch.linalg.qr(torch.randn(8, 3, generator=g, dtype=torch.float64))[0]
    U_in = torch.linalg.qr(torch.randn(5, 2, generator=g, dtype=torch.float64))[0]
    W = torch.einsum("abhw,oa,ib->oihw", core, U_out, U_in)
    torch.testing.assert_close(tucker2_decompose(W, 3, 2).reconstruct(), W)


def test_tucker2_hooi_not_worse_than_hosvd():
    W = torch.randn(12, 10, 3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    err = [float((tucker2_decompose(W, 4, 4, iterations=it).reconstruct() - W).norm())
           for it in (0, 5)]
    assert err[1] <= err[0] + 1e-12


def test_tucker2_rejects_grouped_conv():
    with pytest.raises(ValueError, match="groups=1"):
        tucker2_conv(nn.Conv2d(4, 4, 3, groups=2), 2, 2)
