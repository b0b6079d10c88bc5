"""Mamba-2 block: step decoding and chunked prefill equal the full forward."""

import pytest
import torch

from ssm_core.mamba2 import Mamba2, Mamba2Config


def block(chunk=4):
    torch.manual_seed(0)
    cfg = Mamba2Config(d_model=8, d_state=4, head_dim=4, n_groups=2, chunk_size=chunk)
    return Mamba2(cfg).double()


def inputs(l=10):
    return torch.randn(2, l, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def test_chunk_size_does_not_change_output(close):
    x = inputs(11)
    close(block(3)(x), block(64)(x), rtol=1e-11, atol=1e-12)


def test_step_equals_parallel_token_by_token(close):
    m, x = block(), inputs(9)
    full = m(x)
    state = m.empty_state(2, dtype=x.dtype)
    for t in range(9):
        y, state = m.step(x[:, t], state)
        close(y, full[:, t], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cut", [1, 2, 6])
def test_prefill_then_step_and_chunked_prefill(cut, close):
    m, x = block(), inputs(10)
    full = m(x)
    y1, state = m.forward_with_state(x[:, :cut], None)
    y_step, _ = m.step(x[:, cut], state)
    close(y_step, full[:, cut], rtol=1e-10, atol=1e-12)
    y2, _ = m.forward_with_state(x[:, cut:], state)
    close(torch.cat([y1, y2], 1), full, rtol=1e-10, atol=1e-12)


def test_config_and_state_errors():
    with pytest.raises(ValueError, match="multiple of head_dim"):
        Mamba2Config(d_model=8, head_dim=5)
    m = block()
    with pytest.raises(ValueError, match=r"state\.ssm must have shape"):
        s = m.empty_state(2, dtype=torch.float64)
        m.step(inputs()[:, 0], type(s)(s.conv, s.ssm[:, :1]))
