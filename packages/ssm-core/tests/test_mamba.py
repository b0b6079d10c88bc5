"""Mamba block and LM: chunked forward, step decoding and state hand-off equal the full forward."""

import pytest
import torch
import torch.nn.functional as F

from ssm_core.lm import MambaLM, MambaLMConfig
from ssm_core.mamba import Mamba, MambaConfig, dt_bias_init


def block(engine="chunked", chunk=4, seed=0):
    torch.manual_seed(seed)
    cfg = MambaConfig(d_model=8, d_state=4, d_conv=4, engine=engine, chunk_size=chunk)
    return Mamba(cfg).double()


def inputs(b=2, l=11, seed=1):
    return torch.randn(b, l, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_dt_init_range():
    bias = dt_bias_init(1000, 1e-3, 1e-1, 1e-4, torch.Generator().manual_seed(0))
    dt = F.softplus(bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 1e-1 * (1 + 1e-5)
    assert dt.log().std() > 1.0  # spread log-uniformly over two decades


@pytest.mark.parametrize("engine", ["ref", "chunked", "parallel"])
def test_block_engines_agree(engine, close):
    x = inputs()
    close(block(engine)(x), block("ref")(x), rtol=1e-12, atol=1e-12)


def test_block_matches_explicit_causal_conv(close):
    """The conv with the state prepended equals torch's padded causal conv."""
    m, x = block(), inputs()
    xs = m.in_proj(x).chunk(2, -1)[0].transpose(1, 2)
    ours = m.conv1d(torch.cat([m.empty_state(2, dtype=x.dtype).conv, xs], 2))
    theirs = F.conv1d(xs, m.conv1d.weight, m.conv1d.bias, padding=3, groups=xs.shape[1])[..., :11]
    close(ours, theirs)


def test_step_equals_parallel_token_by_token(close):
    m, x = block(), inputs(l=9)
    full = m(x)
    state = m.empty_state(2, dtype=x.dtype)
    for t in range(9):
        y, state = m.step(x[:, t], state)
        close(y, full[:, t], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cut", [1, 2, 5])
def test_conv_state_hand_off_prefill_then_step_and_chunks(cut, close):
    """Prefill ``cut`` tokens (fewer or more than d_conv - 1), then continue: equals one pass."""
    m, x = block(), inputs(l=10)
    full = m(x)
    y1, state = m.forward_with_state(x[:, :cut], None)
    close(
        state.conv,
        m.in_proj(x[:, :cut]).chunk(2, -1)[0].transpose(1, 2)[..., -3:]
        if cut >= 3
        else F.pad(m.in_proj(x[:, :cut]).chunk(2, -1)[0].transpose(1, 2), (3 - cut, 0)),
    )
    y_step, _s_step = m.step(x[:, cut], state)
    close(y_step, full[:, cut], rtol=1e-10, atol=1e-12)
    y2, _ = m.forward_with_state(x[:, cut:], state)
    close(torch.cat([y1, y2], 1), full, rtol=1e-10, atol=1e-12)


def test_block_gradients_match_reference_engine(close):
    x = inputs(l=7).requires_grad_()
    grads = []
    for e in ("ref", "chunked"):
        m = block(e, chunk=3)
        loss = m(x).pow(2).sum()
        grads.append(torch.autograd.grad(loss, [x, *m.parameters()]))
    for g0, g1 in zip(*grads):
        close(g1, g0, rtol=1e-9, atol=1e-11)


def test_block_bad_state_shape():
    m = block()
    state = m.empty_state(3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"MambaState\.conv must have shape"):
        m.forward_with_state(inputs(), state)
    with pytest.raises(ValueError, match="x must be"):
        m(torch.zeros(2, 5, 7, dtype=torch.float64))


def lm():
    torch.manual_seed(0)
    return MambaLM(
        MambaLMConfig(vocab_size=11, d_model=8, n_layers=2, block={"d_state": 4, "chunk_size": 4})
    ).double()


def test_lm_generation_logits_equal_forward_on_prefix(close):
    model = lm()
    prompt = torch.randint(0, 11, (2, 6), generator=torch.Generator().manual_seed(2))
    out = model.generate(prompt, 5)
    full = model(torch.cat([prompt, out.tokens], 1))
    close(out.logits, full[:, 5:10], rtol=1e-9, atol=1e-10)
    assert torch.equal(out.tokens, full[:, 5:10].argmax(-1))


def test_lm_sampling_is_seeded():
    model = lm()
    prompt = torch.zeros(1, 3, dtype=torch.long)
    a = model.generate(prompt, 6, temperature=1.0, generator=torch.Generator().manual_seed(3))
    b = model.generate(prompt, 6, temperature=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.tokens, b.tokens)
    before = torch.random.get_rng_state()
    c = model.generate(prompt, 12, temperature=1.0, seed=5, progress=False)
    d = model.generate(prompt, 12, temperature=1.0, seed=5, progress=False)
    e = model.generate(prompt, 12, temperature=1.0, seed=6, progress=False)
    assert torch.equal(c.tokens, d.tokens) and not torch.equal(c.tokens, e.tokens)
    assert torch.equal(torch.random.get_rng_state(), before)  # global RNG left alone


def test_lm_rejects_bad_tokens():
    with pytest.raises(ValueError, match="token ids must lie in"):
        lm()(torch.tensor([[0, 11]]))
