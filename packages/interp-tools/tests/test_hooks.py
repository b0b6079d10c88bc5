"""Hooks by name on arbitrary modules: caching, editing, removal, errors."""

import pytest
import torch
from torch import nn

from interp_tools.hooks import (
    add,
    hook_point_names,
    hooks,
    mean_ablate,
    replace,
    resample_ablate,
    run_with_cache,
    run_with_hooks,
    zero_ablate,
)
from interp_tools.models import Transformer, TransformerConfig


def tiny_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


class TupleOut(nn.Module):
    """An ssm-core-style module returning (output, state)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def forward(self, x):
        return self.inner(x), x.sum()


def test_cache_matches_manual_forward():
    model, x = tiny_mlp(), torch.randn(5, 4)
    out, cache = run_with_cache(model, x, names=["0", "1"])
    torch.testing.assert_close(cache["0"], model[0](x))
    torch.testing.assert_close(cache["1"], torch.relu(model[0](x)))
    torch.testing.assert_close(out, model(x))


def test_edits_change_output_as_expected():
    model, x = tiny_mlp(), torch.randn(5, 4)
    zeroed = run_with_hooks(model, x, fns={"1": zero_ablate()})
    torch.testing.assert_close(zeroed, model[2].bias.expand(5, 3))
    delta = torch.randn(8)
    added = run_with_hooks(model, x, fns={"1": add(delta)})
    torch.testing.assert_close(added, model[2](torch.relu(model[0](x)) + delta))
    mean = torch.ones(8)
    torch.testing.assert_close(
        run_with_hooks(model, x, fns={"1": mean_ablate(mean)}), model[2](mean).expand(5, 3)
    )
    part = run_with_hooks(model, x, fns={"1": replace(torch.zeros(5), (slice(None), 2))})
    h = torch.relu(model[0](x))
    h[:, 2] = 0
    torch.testing.assert_close(part, model[2](h))


def test_resample_takes_rows_of_reference():
    model, x = tiny_mlp(), torch.randn(6, 4)
    ref = torch.randn(3, 8)
    out = run_with_hooks(
        model, x, fns={"1": resample_ablate(ref, torch.Generator().manual_seed(0))}
    )
    candidates = model[2](ref)
    for row in out:
        assert torch.isclose(candidates, row).all(dim=1).any()


def test_several_hooks_compose_and_are_removed_even_on_error():
    model, x = tiny_mlp(), torch.randn(2, 4)
    base = model(x)
    with (
        pytest.raises(RuntimeError, match="boom"),
        hooks(model, {"0": zero_ablate(), "2": [add(torch.ones(3))]}),
    ):
        assert torch.allclose(model(x), model[2].bias.detach() + 1)
        raise RuntimeError("boom")
    assert all(not m._forward_hooks and not getattr(m, "_hook_fns", []) for m in model.modules())
    torch.testing.assert_close(model(x), base)


def test_unknown_name_suggests_close_match_and_attaches_nothing():
    model = Transformer(TransformerConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_mlp=16))
    with pytest.raises(KeyError, match=r"blocks\.0\.hook_resid_pre"):
        run_with_hooks(
            model,
            torch.zeros(1, 3, dtype=torch.long),
            fns={
                "blocks.0.hook_resid_post": zero_ablate(),
                "blocks.0.hook_resid_pr": zero_ablate(),
            },
        )
    assert all(not m._forward_hooks and not getattr(m, "_hook_fns", []) for m in model.modules())


def test_shape_mismatch_in_patch_is_a_clear_error():
    model, x = tiny_mlp(), torch.randn(2, 4)
    with pytest.raises(ValueError, match="does not broadcast"):
        run_with_hooks(model, x, fns={"1": replace(torch.zeros(7))})
    with pytest.raises(ValueError, match="same shape"):
        run_with_hooks(model, x, fns={"1": lambda a: a[:, :3]})


def test_tuple_outputs_are_hooked_on_first_element():
    model, x = TupleOut(), torch.randn(2, 4)
    out, state = run_with_hooks(model, x, fns={"": zero_ablate()})
    assert torch.equal(out, torch.zeros(2, 4)) and state == x.sum()


def test_transformer_hook_points_and_shapes():
    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=10, n_ctx=6
    )
    model = Transformer(cfg)
    names = hook_point_names(model)
    assert "blocks.1.attn.hook_z" in names and "blocks.0.mlp.hook_post" in names
    out, cache = run_with_cache(model, torch.randint(10, (3, 6)))
    assert out.shape == (3, 6, 10) and len(cache) == len(names)
    assert cache["blocks.0.attn.hook_z"].shape == (3, 6, 2, 8)
    assert cache["blocks.0.attn.hook_pattern"].shape == (3, 2, 6, 6)
    torch.testing.assert_close(cache["blocks.0.attn.hook_pattern"].sum(-1), torch.ones(3, 2, 6))
    assert cache["blocks.0.attn.hook_pattern"].triu(1).abs().max() == 0
    # resid_post is resid_mid plus mlp_out
    torch.testing.assert_close(
        cache["blocks.1.hook_resid_post"],
        cache["blocks.1.hook_resid_mid"] + cache["blocks.1.hook_mlp_out"],
    )


def test_transformer_is_causal():
    model = Transformer(
        TransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=10, n_ctx=6)
    )
    a = torch.randint(10, (1, 6))
    b = a.clone()
    b[0, 4:] = (b[0, 4:] + 1) % 10
    torch.testing.assert_close(model(a)[:, :4], model(b)[:, :4])


def small_transformer(seed: int = 0) -> Transformer:
    cfg = TransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=10)
    return Transformer(cfg, seed=seed).eval()


def test_hook_point_fast_path_matches_torch_hooks_and_keeps_them_working():
    model, x = small_transformer(), torch.randint(10, (2, 5))
    site = "blocks.0.hook_resid_mid"
    point = model.get_submodule(site)
    fast = run_with_hooks(model, x, fns={site: zero_ablate()})
    handle = point.register_forward_hook(lambda _m, _i, out: torch.zeros_like(out))
    try:
        torch_way = model(x)
    finally:
        handle.remove()
    torch.testing.assert_close(fast, torch_way)
    seen = []
    glob = torch.nn.modules.module.register_module_forward_hook(
        lambda m, _i, _o: seen.append(m) if m is point else None
    )
    try:
        model(x)
    finally:
        glob.remove()
    assert seen == [point]
    assert not point._hook_fns and not point._forward_hooks


def test_several_fns_on_one_hook_point_compose_in_order():
    model, x = small_transformer(), torch.randint(10, (2, 5))
    site = "blocks.1.hook_resid_pre"
    both = run_with_hooks(model, x, fns={site: [zero_ablate(), add(torch.ones(16))]})
    once = run_with_hooks(model, x, fns={site: replace(torch.ones(2, 5, 16))})
    torch.testing.assert_close(both, once)


def test_hook_point_shape_error_and_removal():
    model, x = small_transformer(), torch.randint(10, (2, 5))
    with pytest.raises(ValueError, match="same shape"):
        run_with_hooks(model, x, fns={"blocks.0.attn.hook_z": lambda a: a[:, :2]})
    assert all(not getattr(m, "_hook_fns", []) for m in model.modules())


def test_cache_into_refills_in_place_and_drops_stale_names():
    model = small_transformer()
    a, b = torch.randint(10, (2, 5)), torch.randint(10, (2, 5))
    _, cache = run_with_cache(model, a)
    _, fresh = run_with_cache(model, b, names=["hook_embed", "blocks.1.attn.hook_pattern"])
    out, same = run_with_cache(
        model, b, names=["hook_embed", "blocks.1.attn.hook_pattern"], into=cache
    )
    assert same is cache and sorted(same.keys()) == sorted(fresh.keys())
    for name in fresh.keys():
        torch.testing.assert_close(same[name], fresh[name])
    torch.testing.assert_close(out, model(b))


def test_transformer_seed_is_reproducible_without_global_rng():
    state = torch.random.get_rng_state()
    one, two = small_transformer(3), small_transformer(3)
    assert torch.equal(state, torch.random.get_rng_state())
    for p, q in zip(one.parameters(), two.parameters(), strict=True):
        assert torch.equal(p, q)
    bound = 1 / 16**0.5
    w = one.blocks[0].attn.W_Q.weight
    assert w.abs().max() <= bound and w.std() > 0.4 * bound


def test_shared_module_resolves_under_every_alias():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    x = torch.randn(2, 4)
    out, cache = run_with_cache(model, x, names=["0", "1", "2"])
    torch.testing.assert_close(cache["1"], torch.relu(shared(x)))
    torch.testing.assert_close(out, model(x))
