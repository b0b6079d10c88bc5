"""Activation patching: batched equals one-forward-per-index; attribution exact when linear."""

import pytest
import torch
from torch import nn

from interp_tools.hooks import HookPoint
from interp_tools.models import PatchingSplit, Transformer, TransformerConfig
from interp_tools.patching import (
    activation_patching,
    activation_patching_reference,
    attribution_patching,
)


def model_and_inputs():
    torch.manual_seed(0)
    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=12, n_ctx=6
    )
    model = Transformer(cfg).eval()
    return model, torch.randint(12, (3, 6)), torch.randint(12, (3, 6))


def metric(out):
    return out[:, -1, 1] - out[:, -1, 2]


@pytest.mark.parametrize("k", [1, 4, 16])
def test_batched_patching_equals_reference(k):
    model, clean, corrupted = model_and_inputs()
    sites = ["blocks.0.hook_resid_pre", "blocks.1.hook_attn_out"]
    fast = activation_patching(model, clean, corrupted, metric, sites, batch_patches=k)
    slow = activation_patching_reference(model, clean, corrupted, metric, sites)
    torch.testing.assert_close(fast.grid, slow.grid, atol=1e-5, rtol=0)
    heads = activation_patching(
        model, clean, corrupted, metric, ["blocks.1.attn.hook_z"], mode="head", batch_patches=k
    )
    heads_ref = activation_patching_reference(
        model, clean, corrupted, metric, ["blocks.1.attn.hook_z"], mode="head"
    )
    torch.testing.assert_close(heads.grid, heads_ref.grid, atol=1e-5, rtol=0)


@pytest.mark.parametrize("k", [2, 16])
def test_shared_prefix_equals_full_forward_patching(k):
    model, clean, corrupted = model_and_inputs()
    sites = [
        "hook_embed",
        "blocks.0.attn.hook_z",
        "blocks.0.attn.hook_k",
        "blocks.0.mlp.hook_post",
        "blocks.1.hook_resid_pre",
        "hook_resid_final",
    ]
    for mode, names in (
        ("position", sites),
        ("position", ["blocks.1.attn.hook_pattern"]),  # dim 1 holds heads: not causal
        ("head", ["blocks.1.attn.hook_z"]),
    ):
        shared = activation_patching(
            model, clean, corrupted, metric, names, mode=mode, batch_patches=k
        )
        full = activation_patching(
            model, clean, corrupted, metric, names, mode=mode, batch_patches=k, share_prefix=False
        )
        torch.testing.assert_close(shared.grid, full.grid, atol=1e-6, rtol=0)
        ref = activation_patching_reference(model, clean, corrupted, metric, names, mode=mode)
        torch.testing.assert_close(shared.grid, ref.grid, atol=1e-5, rtol=0)


def test_patching_split_of_every_hook_point():
    from interp_tools.hooks import hook_point_names, hooks

    model, clean, _ = model_and_inputs()
    T = clean.shape[1]
    for site in hook_point_names(model):
        split = model.patching_split(site)
        if split is None:
            assert site in ("hook_embed", "hook_pos_embed")
            continue
        assert split.causal == (not site.endswith(("scores", "pattern")))
        for start in (0, 2, T - 1) if split.causal else (0,):
            state = split.prefix(clean)  # the corrupted run (activation_patching: unhooked)
            shapes = []
            with hooks(model, {site: lambda a, shapes=shapes: shapes.append(a.shape)}):
                out = split.suffix(state, 3, start)
            assert shapes, f"{site} not reached by the suffix"
            assert shapes[0][0] == 3 * clean.shape[0]
            assert shapes[0][1] == T - start or not split.causal
            torch.testing.assert_close(out, model(clean).repeat(3, 1, 1), atol=1e-6, rtol=0)


def test_unreached_site_raises():
    model, clean, corrupted = model_and_inputs()
    model.unused = HookPoint()
    with pytest.raises(KeyError, match="not cached"):
        activation_patching(model, clean, corrupted, metric, ["unused"])
    # a split whose suffix skips the site (all blocks in the prefix) is caught
    model.patching_split = lambda site: PatchingSplit(
        lambda t: model._blocks(model._embed(t), 0),
        lambda x, copies, start: model._head(x.repeat(copies, 1, 1)),
        causal=False,
    )
    with pytest.raises(RuntimeError, match="not reached"):
        activation_patching(model, clean, corrupted, metric, ["blocks.0.hook_resid_pre"])


def test_patching_final_position_of_first_residual_restores_clean():
    # Patching the whole residual stream at layer 0 for every position = clean run; for an
    # attention model only positions ≤ the last matter, and the last one is the query.
    model, clean, corrupted = model_and_inputs()
    res = activation_patching(model, clean, corrupted, metric, ["hook_resid_final"])
    assert res.grid[0, -1].item() == pytest.approx(res.clean_metric, abs=1e-5)
    assert res.normalized()[0, -1].item() == pytest.approx(1.0, abs=1e-4)


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 5), nn.Linear(5, 2)
        self.h1, self.h2 = HookPoint(), HookPoint()

    def forward(self, x):  # x: [B, T, 3]
        return self.b(self.h2(self.a(self.h1(x)))).sum(dim=1)


def test_attribution_exact_on_linear_model():
    torch.manual_seed(1)
    model = Linear()
    clean, corrupted = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    lin = lambda out: out[:, 0] - 2 * out[:, 1]  # noqa: E731
    exact = activation_patching(model, clean, corrupted, lin, ["h1", "h2"])
    approx = attribution_patching(model, clean, corrupted, lin, ["h1", "h2"])
    torch.testing.assert_close(approx.grid, exact.grid, atol=1e-5, rtol=1e-5)


class Smooth(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 16), nn.Linear(16, 2)
        self.h1, self.h2 = HookPoint(), HookPoint()

    def forward(self, x):  # x: [B, T, 3]
        return self.b(self.h2(torch.tanh(self.a(self.h1(x))))).sum(dim=1)


def test_attribution_matches_patching_in_near_linear_regime(tmp_path):
    torch.manual_seed(2)
    model = Smooth()
    clean = torch.randn(2, 6, 3)
    corrupted = clean + 0.05 * torch.randn(2, 6, 3)
    lin = lambda out: out[:, 0] - out[:, 1]  # noqa: E731
    exact = activation_patching(model, clean, corrupted, lin, ["h1", "h2"])
    approx = attribution_patching(model, clean, corrupted, lin, ["h1", "h2"])
    assert approx.clean_metric == pytest.approx(exact.clean_metric)
    effects = torch.stack([(r.grid - r.corrupted_metric).flatten() for r in (exact, approx)])
    assert torch.corrcoef(effects)[0, 1] > 0.95
    png = exact.heatmap(tmp_path / "grid.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_bad_inputs():
    model, clean, corrupted = model_and_inputs()
    with pytest.raises(ValueError, match="differ in shape"):
        activation_patching(model, clean, corrupted[:2], metric, ["hook_embed"])
    with pytest.raises(ValueError, match="unknown patching mode"):
        activation_patching(model, clean, corrupted, metric, ["hook_embed"], mode="neuron")
    with pytest.raises(ValueError, match="one value per example"):
        activation_patching(model, clean, corrupted, lambda o: o.sum(), ["hook_embed"])
