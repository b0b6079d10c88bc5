"""The three selective-scan engines agree with the sequential reference, forward and backward."""

import math

import pytest
import torch

from ssm_core.selective_scan import linear_scan, scan_chunked, scan_ref, selective_scan


def make_inputs(b=2, l=13, d=3, n=4, dtype=torch.float64, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    t = {
        "x": torch.randn(b, l, d, generator=g, dtype=dtype),
        "delta": torch.rand(b, l, d, generator=g, dtype=dtype) * 0.5 + 0.01,
        "A": -(torch.rand(d, n, generator=g, dtype=dtype) * 2 + 0.1),
        "B": torch.randn(b, l, n, generator=g, dtype=dtype),
        "C": torch.randn(b, l, n, generator=g, dtype=dtype),
        "h0": torch.randn(b, d, n, generator=g, dtype=dtype),
    }
    return {k: v.requires_grad_(grad) for k, v in t.items()}


def brute_force(x, delta, A, B, C, h0):
    """Plain Python loops over every index on floats: the definition of the recurrence."""
    x, delta, A, B, C, h = (v.tolist() for v in (x, delta, A, B, C, h0))
    y = []
    for i in range(len(x)):
        y.append([])
        for t in range(len(x[i])):
            for j in range(len(A)):
                for k in range(len(A[j])):
                    dt = delta[i][t][j]
                    h[i][j][k] = math.exp(dt * A[j][k]) * h[i][j][k] + dt * B[i][t][k] * x[i][t][j]
            y[i].append(
                [sum(h[i][j][k] * C[i][t][k] for k in range(len(A[j]))) for j in range(len(A))]
            )
    return torch.tensor(y, dtype=torch.float64), torch.tensor(h, dtype=torch.float64)


def test_reference_matches_brute_force(close):
    t = make_inputs(b=2, l=5, d=2, n=3)
    y, h = scan_ref(**t)
    yb, hb = brute_force(**t)
    close(y, yb, rtol=1e-12, atol=1e-12)
    close(h, hb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ["chunked", "parallel"])
@pytest.mark.parametrize("length,chunk", [(1, 4), (13, 4), (16, 4), (17, 64), (9, 1)])
def test_engines_match_reference_float64(engine, length, chunk, close):
    t = make_inputs(l=length)
    y0, h0 = scan_ref(**t)
    r = selective_scan(
        t["x"],
        t["delta"],
        t["A"],
        t["B"],
        t["C"],
        initial_state=t["h0"],
        engine=engine,
        chunk_size=chunk,
    )
    close(r.y, y0, rtol=1e-12, atol=1e-12)
    close(r.final_state, h0, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ["chunked", "parallel"])
def test_engines_float32_documented_tolerance(engine):
    t64 = make_inputs(b=2, l=200, d=8, n=16)
    y64, _ = scan_ref(**t64)
    t32 = {k: v.float() for k, v in t64.items()}
    r = selective_scan(
        t32["x"],
        t32["delta"],
        t32["A"],
        t32["B"],
        t32["C"],
        initial_state=t32["h0"],
        engine=engine,
        chunk_size=32,
    )
    err = (r.y.double() - y64).abs().max() / y64.abs().max()
    assert err < 1e-5  # README: float32 engines agree to 1e-5 relative to the float64 reference


def test_chunked_backward_gradcheck_float64():
    t = make_inputs(b=2, l=7, d=2, n=3, grad=True)
    fn = lambda *a: scan_chunked(*a, chunk_size=3)  # noqa: E731
    assert torch.autograd.gradcheck(fn, tuple(t.values()))


@pytest.mark.parametrize("engine", ["chunked", "parallel"])
def test_gradients_match_reference(engine, close):
    t = make_inputs(l=11, grad=True)
    z = torch.randn(2, 11, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    grads = []
    for e in ("ref", engine):
        r = selective_scan(
            t["x"],
            t["delta"],
            t["A"],
            t["B"],
            t["C"],
            initial_state=t["h0"],
            engine=e,
            chunk_size=4,
        )
        loss = (r.y * z).sum() + (r.final_state**2).sum()
        grads.append(torch.autograd.grad(loss, tuple(t.values())))
    for g0, g1 in zip(*grads):
        close(g1, g0, rtol=1e-10, atol=1e-10)


def test_initial_state_chains_pieces(close):
    t = make_inputs(l=12)
    y_full, h_full = scan_chunked(**t, chunk_size=5)
    cut = 7
    piece = lambda s, h: scan_chunked(  # noqa: E731
        t["x"][:, s], t["delta"][:, s], t["A"], t["B"][:, s], t["C"][:, s], h, chunk_size=5
    )
    y1, h1 = piece(slice(0, cut), t["h0"])
    y2, h2 = piece(slice(cut, None), h1)
    close(torch.cat([y1, y2], 1), y_full)
    close(h2, h_full)


def test_linear_scan_matches_cumulative_sum_and_product(close):
    g = torch.Generator().manual_seed(1)
    b = torch.randn(3, 21, generator=g, dtype=torch.float64)
    close(linear_scan(torch.ones_like(b), b), b.cumsum(1))
    a = torch.rand(3, 21, generator=g, dtype=torch.float64) + 0.5
    h = linear_scan(
        a,
        torch.cat(
            [torch.ones(3, 1, dtype=torch.float64), torch.zeros(3, 20, dtype=torch.float64)], 1
        ),
    )
    a_after_first = torch.cat([torch.ones(3, 1, dtype=torch.float64), a[:, 1:]], 1)
    close(h, a_after_first.cumprod(1))  # h_0 = b_0: a_0 never acts


def test_bad_inputs_raise_clear_errors():
    t = make_inputs()
    args = (t["x"], t["delta"], t["A"], t["B"], t["C"])
    with pytest.raises(ValueError, match="B must have shape"):
        selective_scan(t["x"], t["delta"], t["A"], t["B"][:, :, :2], t["C"])
    with pytest.raises(ValueError, match="initial_state must have shape"):
        selective_scan(*args, initial_state=torch.zeros(2, 3, 5, dtype=torch.float64))
    bad = t["delta"].clone()
    bad[0, 3, 1] = float("nan")
    with pytest.raises(ValueError, match="delta contains NaN"):
        selective_scan(t["x"], bad, t["A"], t["B"], t["C"])
    with pytest.raises(ValueError, match="chunk_size"):
        selective_scan(*args, chunk_size=0)
    with pytest.raises(ValueError, match="unknown engine"):
        selective_scan(*args, engine="cuda-kernel")
