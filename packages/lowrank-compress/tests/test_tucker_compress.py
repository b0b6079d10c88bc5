"""Tucker-2 compression of conv stacks: budget, exactness at full rank, refit optimality."""

import pytest
import torch
from torch import nn

from lowrank_compress.tucker import tucker2_decompose
from lowrank_compress.tucker_compress import (
    _refit_sums,
    compress_convs,
    refit_tucker2,
    tucker2_ranks,
    tucker2_weight_params,
)


def _convnet(bias: bool = True) -> nn.Sequential:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1, bias=bias), nn.Tanh(),
                        nn.Conv2d(12, 16, 3, padding=1, stride=2, bias=bias)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return net


def _batches(n: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    mix = torch.randn(3, 3, generator=g, dtype=torch.float64)
    return [torch.einsum("nchw,cd->ndhw", torch.randn(8, 3, 9, 9, generator=g,
                                                      dtype=torch.float64), mix) + 0.5
            for _ in range(n)]


def test_ranks_respect_budget():
    conv = nn.Conv2d(32, 64, 3)
    r_out, r_in = tucker2_ranks(conv, 0.5)
    assert tucker2_weight_params(64, 32, 9, r_out, r_in) <= 0.5 * conv.weight.numel()
    assert tucker2_weight_params(64, 32, 9, r_out + 1, round((r_out + 1) / 2)) > \
        0.5 * conv.weight.numel()
    assert tucker2_ranks(nn.Conv2d(2, 2, 1), 0.1) is None


def test_budget_and_shapes():
    net = _convnet()
    res = compress_convs(net, 0.5)
    assert res.conv_reduction >= 0.5
    assert sum(r.params_after for r in res.layers) + (
        res.conv_params_before - sum(r.params_before for r in res.layers)) == res.conv_params_after
    x = _batches(1)[0]
    assert res.model(x).shape == net(x).shape
    assert torch.equal(net[0].weight, _convnet()[0].weight)  # the original is untouched


@pytest.mark.parametrize("bias", [True, False])
def test_refit_exact_at_full_rank(bias):
    conv = _convnet(bias)[0]
    model = nn.Sequential(conv)
    batches = _batches()
    U_in = torch.eye(3, dtype=torch.float64)
    sums = _refit_sums(model, model, "0", U_in, batches, lambda m, b: m(b))
    factors, b = refit_tucker2(conv, U_in, 12, sums, damping=0.0)
    torch.testing.assert_close(factors.reconstruct(), conv.weight, atol=1e-8, rtol=1e-8)
    if bias:
        torch.testing.assert_close(b, conv.bias, atol=1e-8, rtol=1e-8)
    else:
        assert b is None


@torch.no_grad()
def _objective(conv, factors, bias, batches):
    w = factors.reconstruct()
    return sum(float((nn.functional.conv2d(x, w, bias, conv.stride, conv.padding)
                      - conv(x)).square().sum()) for x in batches)


@pytest.mark.parametrize("bias", [True, False])
def test_refit_never_worse_than_data_free(bias):
    conv = _convnet(bias)[2]
    model = nn.Sequential(conv)
    batches = [torch.tanh(_convnet(bias)[0](x)).detach() for x in _batches()]
    for r_out, r_in in ((3, 4), (6, 6), (10, 2)):
        free = tucker2_decompose(conv.weight, r_out, r_in)
        sums = _refit_sums(model, model, "0", free.U_in, batches, lambda m, b: m(b))
        refit, b = refit_tucker2(conv, free.U_in, r_out, sums, damping=0.0)
        e_free = _objective(conv, free, conv.bias, batches)
        e_refit = _objective(conv, refit, b, batches)
        assert e_refit <= e_free * (1 + 1e-9)
        # optimal: random perturbations of the refit core only increase the error
        g = torch.Generator().manual_seed(r_out)
        for _ in range(3):
            noisy = type(refit)(refit.U_out, refit.core + 1e-3 * torch.randn(
                refit.core.shape, generator=g, dtype=torch.float64), refit.U_in)
            assert _objective(conv, noisy, b, batches) >= e_refit


@torch.no_grad()
def test_refit_end_to_end_better_on_calibration():
    net = _convnet()
    batches = _batches()
    free = compress_convs(net, 0.6)
    aware = compress_convs(net, 0.6, batches, refit=True)
    assert aware.conv_reduction == free.conv_reduction
    err = {k: sum(float((r.model(x) - net(x)).square().sum()) for x in batches)
           for k, r in (("free", free), ("aware", aware))}
    assert err["aware"] < err["free"]


def test_bad_input():
    net = _convnet()
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        compress_convs(net, 1.0)
    with pytest.raises(ValueError, match="calibration"):
        compress_convs(net, 0.5, refit=True)
    with pytest.raises(ValueError, match=r"groups=1 nn\.Conv2d"):
        compress_convs(net, 0.5, targets=["1"])
    with pytest.raises(ValueError, match="cannot keep"):
        compress_convs(net, 0.99)
