"""SSD: chunked, quadratic and recurrent forms agree; segment sums stay <= 0."""

import math

import pytest
import torch

from ssm_core.ssd import segsum, ssd
from ssm_core.ssd.chunked import decay_matrix


def make(b=2, l=13, h=4, p=3, g=2, n=5, dtype=torch.float64, seed=0, grad=False):
    gen = torch.Generator().manual_seed(seed)
    t = {
        "x": torch.randn(b, l, h, p, generator=gen, dtype=dtype),
        "dt": torch.rand(b, l, h, generator=gen, dtype=dtype) * 0.5 + 0.05,
        "A": -(torch.rand(h, generator=gen, dtype=dtype) + 0.2),
        "B": torch.randn(b, l, g, n, generator=gen, dtype=dtype),
        "C": torch.randn(b, l, g, n, generator=gen, dtype=dtype),
        "initial_state": torch.randn(b, h, p, n, generator=gen, dtype=dtype),
    }
    return {k: v.requires_grad_(grad) for k, v in t.items()}


def test_segsum_definition_and_sign():
    a = -torch.rand(7, dtype=torch.float64)
    s = segsum(a)
    for i in range(7):
        for j in range(7):
            want = sum(a[j + 1 : i + 1].tolist()) if i >= j else -math.inf
            assert s[i, j].item() == pytest.approx(want, abs=1e-12)
    assert bool((s[torch.isfinite(s)] <= 0).all())
    close = torch.allclose(decay_matrix(a.cumsum(0)[None]), torch.exp2(s)[None], rtol=1e-14)
    assert close  # the chunked form's 2 ** segsum from chunk-relative cumulative sums
    a32 = -torch.rand(4, 64, generator=torch.Generator().manual_seed(0)) * 0.25  # |cum| <= 16
    m32 = decay_matrix(a32.cumsum(-1))
    m64 = torch.exp2(segsum(a32.double()))
    assert bool((m32 <= 1).all()) and float((m32 - m64).abs().max()) <= 2e-6  # float32


def test_recurrent_matches_scalar_loop(close):
    t = make(b=1, l=4, h=2, p=2, g=1, n=2)
    r = ssd(**t, form="recurrent")
    h = t["initial_state"][0].clone()
    for s in range(4):
        for k in range(2):
            dec = math.exp(t["dt"][0, s, k].item() * t["A"][k].item())
            h[k] = dec * h[k] + t["dt"][0, s, k] * torch.outer(t["x"][0, s, k], t["B"][0, s, 0])
            close(r.y[0, s, k], h[k] @ t["C"][0, s, 0], rtol=1e-12, atol=1e-12)
    close(r.final_state[0], h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("form", ["chunked", "quadratic"])
@pytest.mark.parametrize("length,chunk", [(1, 4), (13, 4), (16, 8), (7, 64), (10, 1)])
def test_forms_match_recurrent_float64(form, length, chunk, close):
    t = make(l=length)
    ref = ssd(**t, form="recurrent")
    r = ssd(**t, form=form, chunk_size=chunk)
    close(r.y, ref.y, rtol=1e-11, atol=1e-11)
    close(r.final_state, ref.final_state, rtol=1e-11, atol=1e-11)


def test_chunked_float32_documented_tolerance():
    t = make(b=1, l=300, h=4, p=8, g=1, n=16)
    ref = ssd(**t, form="recurrent")
    r = ssd(**{k: v.float() for k, v in t.items()}, form="chunked", chunk_size=64)
    err = (r.y.double() - ref.y).abs().max() / ref.y.abs().max()
    assert err < 1e-5  # README: float32 chunked SSD within 1e-5 relative of float64


def test_long_decays_do_not_overflow():
    """Large dt*A over long chunks: a difference of cumsums would overflow exp; ours stays finite."""
    t = make(b=1, l=256, h=2, p=2, g=1, n=2, dtype=torch.float32)
    t["dt"] = torch.full_like(t["dt"], 5.0)
    r = ssd(**t, form="chunked", chunk_size=256)
    assert bool(torch.isfinite(r.y).all())


@pytest.mark.parametrize("form", ["chunked", "quadratic"])
def test_gradients_match_recurrent(form, close):
    t = make(l=9, grad=True)
    w = torch.randn(2, 9, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    grads = []
    for f in ("recurrent", form):
        r = ssd(**t, form=f, chunk_size=4)
        loss = (r.y * w).sum() + r.final_state.pow(2).sum()
        grads.append(torch.autograd.grad(loss, tuple(t.values())))
    for g0, g1 in zip(*grads):
        close(g1, g0, rtol=1e-10, atol=1e-10)


def test_chunked_state_chains_pieces(close):
    t = make(l=12)
    full = ssd(**t, chunk_size=4)
    cut = lambda s: {k: (v[:, s] if k not in ("A", "initial_state") else v) for k, v in t.items()}  # noqa: E731
    first = ssd(**cut(slice(0, 5)), chunk_size=4)
    second = ssd(**{**cut(slice(5, None)), "initial_state": first.final_state}, chunk_size=4)
    close(torch.cat([first.y, second.y], 1), full.y, rtol=1e-12, atol=1e-12)
    close(second.final_state, full.final_state, rtol=1e-12, atol=1e-12)


def test_bad_inputs():
    t = make()
    with pytest.raises(ValueError, match="multiple of the groups"):
        ssd(
            **{
                **t,
                "B": t["B"][:, :, :1].expand(-1, -1, 3, -1),
                "C": t["C"][:, :, :1].expand(-1, -1, 3, -1),
            }
        )
    bad = t["dt"].clone()
    bad[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="dt contains NaN or Inf"):
        ssd(**{**t, "dt": bad})
    with pytest.raises(ValueError, match="A must be <= 0"):
        ssd(**{**t, "A": -t["A"]})
    with pytest.raises(ValueError, match="initial_state must have shape"):
        ssd(**{**t, "initial_state": t["initial_state"][:, :2]})
    with pytest.raises(ValueError, match="chunk_size"):
        ssd(**t, chunk_size=0)
