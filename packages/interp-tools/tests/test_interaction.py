"""LIB basis construction: exact invariants (float64), reparametrisation invariance, graphs."""

import pytest
import torch

from interp_tools.interaction import (
    LIBConfig,
    edges_for_fraction,
    fit_lib,
    gini,
    integrated_gradients,
    interaction_graph,
    node_activations,
    pca_bases,
)
from interp_tools.toy import ModularConfig, ModularMLP, modular_inputs, train_modular_mlp

TOL = {"atol": 1e-9, "rtol": 1e-9}


def setup(hidden=(12, 9), p=5, seed=0):
    model = ModularMLP(ModularConfig(p=p, hidden=hidden), seed=seed).double()
    x, _ = modular_inputs(p, torch.float64)
    return model.layer_fns(), x


def coord_jacobian(fn, b_in, b_out, f):
    def g(z):
        return b_out.transform(fn(b_in.inverse(z[None])))[0]

    return torch.func.vmap(torch.func.jacrev(g))(b_in.transform(f)).detach()


@pytest.mark.parametrize("hidden", [(12, 9), (6, 14)])
def test_lib_coordinates_are_centred_diagonal_and_normalise_the_jacobian(hidden):
    layers, x = setup(hidden)
    bases = fit_lib(layers, x)
    acts = node_activations(layers, x)
    for l, (b, f) in enumerate(zip(bases, acts, strict=True)):
        z = b.transform(f)
        torch.testing.assert_close(z.mean(0), torch.zeros(b.size, dtype=z.dtype), **TOL)
        cov = z.T @ z / z.shape[0]
        torch.testing.assert_close(cov, torch.diag(b.scales), atol=1e-9, rtol=1e-7)
        assert (b.scales[:-1] >= b.scales[1:]).all()
        if l < len(layers):
            J = coord_jacobian(layers[l], b, bases[l + 1], f)
            gram = torch.einsum("nki,nkj->ij", J, J) / J.shape[0]
            torch.testing.assert_close(gram, torch.eye(b.size, dtype=gram.dtype), **TOL)


def test_running_through_lib_coordinates_reproduces_the_network():
    layers, x = setup((12, 9))
    bases = fit_lib(layers, x)
    z = bases[0].transform(x)
    for l, fn in enumerate(layers):
        z = bases[l + 1].transform(fn(bases[l].inverse(z)))
    out = bases[-1].inverse(z)
    with torch.no_grad():
        torch.testing.assert_close(out, node_activations(layers, x)[-1], **TOL)
    # the output basis is a pure rotation of the centred logits
    C = bases[-1].C
    torch.testing.assert_close(C.T @ C, torch.eye(C.shape[1], dtype=C.dtype), **TOL)


def test_lib_is_invariant_to_reparametrising_a_hidden_layer():
    layers, x = setup((12, 9), seed=1)
    A = torch.randn(12, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    A_inv = torch.linalg.inv(A)
    f0, f1, f2 = layers
    warped = [lambda v: f0(v) @ A.T, lambda h: f1(h @ A_inv.T), f2]
    plain = fit_lib(layers, x)
    other = fit_lib(warped, x)
    acts, acts_w = node_activations(layers, x), node_activations(warped, x)
    for b, bw, f, fw in zip(plain, other, acts, acts_w, strict=True):
        z, zw = b.transform(f), bw.transform(fw)
        signs = torch.sign((z * zw).sum(0))
        torch.testing.assert_close(zw * signs, z, atol=1e-7, rtol=1e-6)
        torch.testing.assert_close(bw.scales, b.scales, atol=1e-9, rtol=1e-7)


def test_pca_baseline_is_orthonormal_and_diagonal():
    layers, x = setup()
    for b, f in zip(pca_bases(layers, x), node_activations(layers, x), strict=True):
        torch.testing.assert_close(b.C.T @ b.C, torch.eye(b.size, dtype=b.C.dtype), **TOL)
        z = b.transform(f)
        torch.testing.assert_close(z.T @ z / len(z), torch.diag(b.scales), atol=1e-9, rtol=1e-7)


def test_integrated_gradients_exact_on_a_linear_layer_and_complete():
    layers, x = setup()
    bases = fit_lib(layers, x)
    acts = node_activations(layers, x)
    last = len(layers) - 1  # linear: IG with one step is already exact
    ig1 = integrated_gradients(layers[last], bases[last], bases[last + 1], acts[last], steps=1)
    ig8 = integrated_gradients(layers[last], bases[last], bases[last + 1], acts[last], steps=8)
    torch.testing.assert_close(ig1, ig8, **TOL)
    J = coord_jacobian(layers[last], bases[last], bases[last + 1], acts[last])
    z = bases[last].transform(acts[last])
    torch.testing.assert_close(ig1, J * z[:, None, :], **TOL)
    # completeness on a ReLU layer: Σ_j IG_ij → g(z) − g(0) as the steps grow
    ig = integrated_gradients(layers[0], bases[0], bases[1], acts[0], steps=400)
    z1 = bases[1].transform(acts[1])
    g0 = bases[1].transform(layers[0](bases[0].mean[None]))
    err = (ig.sum(-1) - (z1 - g0)).abs().max()
    assert err < 2e-2 * z1.abs().max()


def test_graph_sparsity_measures():
    e = torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    assert edges_for_fraction(e, 0.7) == 2 and edges_for_fraction(e, 1.0) == 4
    assert gini(torch.ones(5)) == pytest.approx(0.0)
    assert gini(torch.tensor([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)
    layers, x = setup()
    graph = interaction_graph(layers, x, fit_lib(layers, x), steps=2)
    assert [g.shape[1] for g in graph] == [b.size for b in fit_lib(layers, x)[:-1]]
    with pytest.raises(ValueError, match="fraction"):
        edges_for_fraction(e, 0.0)


def test_bad_input_is_a_clear_error():
    _, x = setup()
    with pytest.raises(ValueError, match="NaN"):
        fit_lib([lambda v: v * float("nan")], x)
    with pytest.raises(ValueError, match="rtol"):
        LIBConfig(rtol=1.5)
    with pytest.raises(ValueError, match="do not vary"):
        fit_lib([lambda v: v * 0.0], x)


def test_modular_mlp_learns_small_modulus():
    result = train_modular_mlp(ModularConfig(p=7, hidden=(32,)), steps=300, seed=0)
    assert result.accuracy == 1.0
    again = train_modular_mlp(ModularConfig(p=7, hidden=(32,)), steps=5, seed=0)
    assert again.losses == result.losses[:5]
