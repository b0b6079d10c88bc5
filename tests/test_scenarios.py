"""Cross-package scenarios: real uses of several packages together, each with a check that can fail.

Sizes are tiny so the whole file runs in well under a minute on 2 CPU cores.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from accelerator_utils import make_generator

V, PERIOD, LENGTH = 12, 3, 24


def periodic_batch(batch: int, gen: torch.Generator) -> torch.Tensor:
    """Sequences repeating a random pattern of PERIOD tokens: x[t+1] = x[t+1-PERIOD] (needs memory)."""
    pattern = torch.stack([torch.randperm(V, generator=gen)[:PERIOD] for _ in range(batch)])
    return pattern.repeat(1, LENGTH // PERIOD)


def lm_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Next-token loss on the predictable positions (from the second period on)."""
    logits = model(tokens[:, :-1])[:, PERIOD - 1 :]
    return F.cross_entropy(logits.reshape(-1, V), tokens[:, PERIOD:].reshape(-1))


def projections(model: torch.nn.Module) -> list[str]:
    """The Mamba blocks' input and output projections. (Not every Linear: ``dt_proj`` is applied
    through its weight inside the block, never called, so calibration hooks cannot see it.)"""
    return [n for n, _ in model.named_modules() if n.endswith(("in_proj", "out_proj"))]


@pytest.fixture(scope="module")
def trained_mamba():
    from ssm_core.lm import MambaLM, MambaLMConfig

    gen = make_generator(0)
    model = MambaLM(MambaLMConfig(vocab_size=V, d_model=32, n_layers=2), generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = lm_loss(model, periodic_batch(32, gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model, [periodic_batch(32, gen) for _ in range(4)], periodic_batch(64, gen)


def test_mamba_lm_learned_the_task(trained_mamba):
    model, _, held_out = trained_mamba
    with torch.no_grad():
        assert lm_loss(model, held_out).item() < 0.1 * math.log(V)


@pytest.mark.parametrize("method", ["svd", "whiten"])
def test_lowrank_compressed_mamba_decodes_like_its_parallel_forward(trained_mamba, method):
    """lowrank-compress on ssm-core: the compressed LM's step decoding equals its own parallel
    forward, and its loss rises by a measured, bounded amount (whitening no worse than SVD)."""
    from lowrank_compress import LowRankLinear, compress

    model, calibration, held_out = trained_mamba
    targets = projections(model)
    result = compress(
        model,
        0.3,
        method,
        calibration if method != "svd" else None,
        targets=targets,
        progress=False,
    )
    small = result.model.eval()
    assert sum(isinstance(m, LowRankLinear) for m in small.modules()) == len(targets)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        parallel = small(held_out[:4])
        _, states = small.forward_with_state(held_out[:4, :1], None)
        stepped = [small(held_out[:4, :1])[:, 0]]
        for t in range(1, held_out.shape[1]):
            logits, states = small.step(held_out[:4, t], states)
            stepped.append(logits)
        assert torch.allclose(torch.stack(stepped, 1), parallel, atol=1e-4, rtol=1e-4)
        base, after = lm_loss(model, held_out).item(), lm_loss(small, held_out).item()
    rise = after - base
    print(
        f"{method}: held-out loss {base:.4f} -> {after:.4f} (rise {rise:+.4f} nats) at 30 % removal"
    )
    assert rise < 0.5 * math.log(V)
    trained_mamba_rises[method] = rise
    if len(trained_mamba_rises) == 2:
        assert trained_mamba_rises["whiten"] <= trained_mamba_rises["svd"] + 1e-3


trained_mamba_rises: dict[str, float] = {}


def test_interp_hooks_cache_and_patch_an_ssm_model(trained_mamba):
    """interp-tools on ssm-core: cached shapes, and zero-ablating the second block's output
    projection gives exactly the logits of the first block's residual stream read out by the head.

    Hooks fire on modules called through ``__call__``; the LM drives its blocks through
    ``forward_with_state``, so block-level points are the blocks' projections, not the blocks."""
    from interp_tools.hooks import run_with_cache, run_with_hooks, zero_ablate

    model, _, held_out = trained_mamba
    x = held_out[:3]
    with torch.no_grad():
        _, cache = run_with_cache(
            model, x, names=["layers.0.out_proj", "layers.1.in_proj", "norm_f"]
        )
        assert cache["layers.0.out_proj"].shape == (3, LENGTH, 32)
        assert cache["layers.1.in_proj"].shape == (3, LENGTH, 2 * 64)
        patched = run_with_hooks(model, x, fns={"layers.1.out_proj": zero_ablate()})
        h = model.embedding(x)
        h = h + model.layers[0](model.norms[0](h))
        expected = model.norm_f(h) @ model.embedding.weight.T
        assert torch.allclose(patched, expected, atol=1e-5)
        assert not torch.allclose(patched, model(x), atol=1e-3)
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_interp_patching_restores_a_gnn(trained_mamba):
    """interp-tools on gnn-explain: patching every conv layer's clean activation into a run on
    corrupted features restores the clean logits exactly; patching none leaves them corrupted."""
    from gnn_explain.nn.models import ModelConfig, NodeClassifier
    from interp_tools.hooks import replace, run_with_cache, run_with_hooks

    torch.manual_seed(0)
    gnn = NodeClassifier(ModelConfig(in_dim=5, num_classes=3, hidden=8, num_layers=3)).eval()
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 0], [1, 0, 2, 1, 3, 2, 4, 3, 0, 4]])
    clean, corrupt = torch.randn(5, 5), torch.randn(5, 5)
    names = [f"encoder.convs.{i}" for i in range(3)]
    with torch.no_grad():
        clean_out, cache = run_with_cache(gnn, clean, edge_index, names=names)
        assert all(cache[n].shape == (5, 8) for n in names)
        restored = run_with_hooks(
            gnn, corrupt, edge_index, fns={n: replace(cache[n]) for n in names}
        )
        assert torch.allclose(restored, clean_out, atol=1e-6)
        assert not torch.allclose(gnn(corrupt, edge_index), clean_out, atol=1e-3)


def test_sae_on_compressed_vs_original_model(trained_mamba):
    """interp-tools SAE on lowrank-compress output: explained variance of TopK SAEs trained on the
    first block's output of the original and of the 30 %-compressed model."""
    from interp_tools.hooks import run_with_cache
    from interp_tools.sae import SAEConfig, TrainConfig, evaluate_sae, train_sae
    from lowrank_compress import compress

    model, calibration, held_out = trained_mamba
    small = compress(
        model, 0.3, "whiten", calibration, targets=projections(model), progress=False
    ).model.eval()
    ev = {}
    for name, m in (("original", model), ("compressed", small)):
        with torch.no_grad():
            acts = torch.cat(
                [
                    run_with_cache(m, b, names=["layers.0.out_proj"])[1][
                        "layers.0.out_proj"
                    ].reshape(-1, 32)
                    for b in (*calibration, held_out)
                ]
            )
        train_acts, test_acts = acts[: -held_out.numel()], acts[-held_out.numel() :]
        sae = train_sae(
            train_acts,
            SAEConfig(d_in=32, d_sae=128, kind="topk", k=8),
            TrainConfig(steps=300, batch_size=256, lr=3e-3),
            seed=0,
            progress=False,
        ).sae
        ev[name] = evaluate_sae(sae, test_acts).explained_variance
    print(
        f"SAE explained variance: original {ev['original']:.4f}, compressed {ev['compressed']:.4f}, "
        f"difference {ev['compressed'] - ev['original']:+.4f}"
    )
    assert min(ev.values()) > 0.8
    assert abs(ev["compressed"] - ev["original"]) < 0.1


def test_kron_mle_kfac_factors_of_a_layer():
    """kron-mle on a K-FAC statistic of an ssm-core layer: per-sequence weight gradients of a
    Mamba block's out_proj are matrices G_i = sum_t g_t a_t^T (out x in); vec(G_i) has the
    column-stacked covariance ~ E[a a^T] (x) E[g g^T]. The Kronecker MLE must fit the empirical
    distribution at least as well as the plain K-FAC product, and no better than the full
    covariance, which it approximates with a measured relative error."""
    from kron_mle import fit, loglik
    from ssm_core.mamba import Mamba, MambaConfig

    gen = make_generator(1)
    block = Mamba(MambaConfig(d_model=4, d_state=4, expand=2), generator=gen).double()
    layer = block.out_proj  # Linear(8 -> 4)
    inputs, grads = [], []
    layer.register_forward_hook(lambda m, a, out: inputs.append(a[0].detach()))
    layer.register_full_backward_hook(lambda m, gi, go: grads.append(go[0].detach()))
    x = torch.randn(300, 6, 4, generator=gen, dtype=torch.float64)
    target = torch.randn(300, 6, 4, generator=gen, dtype=torch.float64)
    F.mse_loss(block(x), target, reduction="sum").backward()
    a, g = inputs[0], grads[0]  # (n, T, 8), (n, T, 4)
    G = torch.einsum("nto,nti->noi", g, a)  # per-sequence gradients (n, 4, 8)
    n = G.shape[0]
    vec = G.transpose(1, 2).reshape(n, -1)  # column-stacking vec
    full = vec.T @ vec / n
    kfac = [
        torch.einsum("nto,ntp->op", g, g) / n,
        torch.einsum("nti,ntj->ij", a, a) / n,
    ]  # [S1, S2]
    kfac[0] = kfac[0] * (full.trace() / (kfac[1].trace() * kfac[0].trace()))  # match total variance
    res = fit(G, mean="zero")
    product = torch.kron(res.sigma2 * res.scale, res.sigma1) if res.scale.ndim == 0 else None
    assert product is not None and product.shape == full.shape
    ll_mle, ll_kfac = res.loglik, loglik(G, kfac)
    ll_full = float(
        torch.distributions.MultivariateNormal(torch.zeros(32, dtype=torch.float64), full)
        .log_prob(vec)
        .sum()
    )
    rel = float(torch.linalg.norm(product - full) / torch.linalg.norm(full))
    print(
        f"K-FAC: loglik full {ll_full:.1f} >= MLE {ll_mle:.1f} >= K-FAC product {ll_kfac:.1f}; "
        f"relative Frobenius error of the MLE vs full covariance {rel:.3f}"
    )
    assert ll_kfac <= ll_mle + 1e-6 <= ll_full + 1e-6
    assert math.isclose(ll_mle, loglik(G, [res.sigma1 * res.scale, res.sigma2]), rel_tol=1e-8)
    assert rel < 0.5
