"""bfloat16 activations: scans and states in float32, parameters untouched, modes still agree."""

import pytest
import torch

from ssm_core.mamba import Mamba, MambaConfig
from ssm_core.mamba2 import Mamba2, Mamba2Config
from ssm_core.selective_scan import selective_scan
from ssm_core.ssd import ssd

BF16 = torch.bfloat16


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_selective_scan_upcasts_bf16_and_keeps_the_state_float32():
    g = _gen()
    b, l, d, n = 2, 37, 6, 4
    x, delta, z = (torch.randn(b, l, d, generator=g).to(BF16) for _ in range(3))
    B, C = (torch.randn(b, l, n, generator=g).to(BF16) for _ in range(2))
    A = -torch.rand(d, n, generator=g) - 0.5
    D, bias = torch.randn(d, generator=g), torch.randn(d, generator=g)
    h0 = torch.randn(b, d, n, generator=g)
    kw = dict(delta_bias=bias, delta_softplus=True, initial_state=h0)
    low = selective_scan(x, delta, A, B, C, D, z, **kw)
    ref = selective_scan(*(t.float() for t in (x, delta, A, B, C, D, z)), **kw)
    assert low.y.dtype == BF16 and low.final_state.dtype == torch.float32
    assert torch.equal(low.y, ref.y.to(BF16))  # computed in float32, rounded once at the end
    assert torch.equal(low.final_state, ref.final_state)


def test_ssd_upcasts_bf16_and_keeps_the_state_float32():
    g = _gen(1)
    b, l, h, p, groups, n = 2, 19, 4, 3, 2, 5
    x = torch.randn(b, l, h, p, generator=g).to(BF16)
    dt = torch.rand(b, l, h, generator=g).to(BF16)
    B, C = (torch.randn(b, l, groups, n, generator=g).to(BF16) for _ in range(2))
    A = -torch.rand(h, generator=g)
    low = ssd(x, dt, A, B, C, chunk_size=8)
    ref = ssd(x.float(), dt.float(), A, B.float(), C.float(), chunk_size=8)
    assert low.y.dtype == BF16 and low.final_state.dtype == torch.float32
    assert torch.equal(low.y, ref.y.to(BF16))
    assert torch.equal(low.final_state, ref.final_state)


def _blocks():
    torch.manual_seed(0)
    yield Mamba(MambaConfig(d_model=16, d_state=8, chunk_size=8))
    torch.manual_seed(0)
    yield Mamba2(Mamba2Config(d_model=16, d_state=8, head_dim=8, n_groups=1, chunk_size=8))


@pytest.mark.parametrize("m", list(_blocks()), ids=["mamba", "mamba2"])
def test_autocast_bf16_forward_step_and_gradients(m):
    x = torch.randn(2, 24, 16, generator=_gen(2))
    full32 = m(x)
    with torch.autocast("cpu", dtype=BF16):
        full, final = m.forward_with_state(x, None)
        state = m.empty_state(2, dtype=x.dtype)
        steps = []
        for t in range(x.shape[1]):
            y, state = m.step(x[:, t], state)
            steps.append(y)
    assert final.ssm.dtype == torch.float32 and state.ssm.dtype == torch.float32
    scale = full32.abs().max()
    # bf16 keeps 8 bits of mantissa: a few parts in a thousand of the output scale
    assert (full.float() - full32).abs().max() <= 2e-2 * scale
    assert (torch.stack(steps, 1).float() - full.float()).abs().max() <= 2e-2 * scale
    assert (final.ssm - state.ssm).abs().max() <= 2e-2 * final.ssm.abs().max()
    with torch.autocast("cpu", dtype=BF16):
        m(x).float().pow(2).mean().backward()
    for name in ("A_log", "D"):
        p = getattr(m, name)
        assert p.dtype == torch.float32 and p.grad.dtype == torch.float32
        assert bool(torch.isfinite(p.grad).all()) and p.grad.abs().sum() > 0
    m.zero_grad()


@pytest.mark.parametrize("m", list(_blocks()), ids=["mamba", "mamba2"])
def test_model_cast_to_bf16_keeps_float32_states(m):
    m = m.to(BF16)
    x = torch.randn(1, 12, 16, generator=_gen(3)).to(BF16)
    y, state = m.forward_with_state(x, None)
    assert y.dtype == BF16 and state.ssm.dtype == torch.float32
    y_step, _ = m.step(x[:, 0], m.empty_state(1, dtype=BF16))
    assert y_step.dtype == BF16 and bool(torch.isfinite(y_step).all())
