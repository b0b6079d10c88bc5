"""The compress entry point on a small MLP: budgets, reports, errors, refit, bad input."""

import math

import pytest
import torch

from lowrank_compress import compress
from lowrank_compress.allocation import LayerShape
from lowrank_compress.calibration import collect_statistics
from lowrank_compress.layers import LowRankLinear
from lowrank_compress.refit import cross_grams


def _mse_loss(model, batch):
    return model(batch).square().mean()


@pytest.mark.parametrize("method", ["svd", "asvd", "fwsvd", "whiten"])
def test_compress_replaces_layers_and_meets_budget(mlp_and_data, method):
    model, batches = mlp_and_data
    result = compress(model, 0.3, method, batches, loss_fn=_mse_loss)
    rep = result.report
    assert rep.linear_reduction >= 0.3
    assert rep.model_params_after == sum(p.numel() for p in result.model.parameters())
    assert rep.model_params_after < rep.model_params_before
    assert any(isinstance(m, LowRankLinear) for m in result.model.modules())
    assert all(type(m) is torch.nn.Linear for n, m in model.named_modules() if n.startswith("fc"))
    out = result.model(batches[0])
    assert out.shape == model(batches[0]).shape and out.dtype == torch.float64
    assert "| fc1 |" in rep.to_markdown()


def test_whiten_has_lowest_mean_layer_error(mlp_and_data):
    model, batches = mlp_and_data
    errors = {m: compress(model, 0.4, m, batches, loss_fn=_mse_loss).report.mean_measured_error
              for m in ("svd", "asvd", "fwsvd", "whiten")}
    assert all(errors["whiten"] <= e + 1e-12 for e in errors.values())


def test_model_scope_counts_whole_model(mlp_and_data):
    model, batches = mlp_and_data
    rep = compress(model, 0.25, "whiten", batches, scope="model").report
    assert rep.model_reduction >= 0.25 - 1e-9
    with pytest.raises(ValueError, match="more than the target linear layers hold"):
        compress(model, 0.3, "svd", scope="model", targets=["fc3"])


@pytest.mark.parametrize("allocation", ["energy", "greedy", "sensitivity"])
def test_allocations_run(mlp_and_data, allocation):
    model, batches = mlp_and_data
    rep = compress(model, 0.3, "whiten", batches, allocation=allocation, rank_multiple=2).report
    assert rep.linear_reduction >= 0.3
    assert all(r.rank is None or r.rank % 2 == 0 for r in rep.layers)


def test_data_free_greedy_uses_plain_spectra(mlp_and_data):
    model, _ = mlp_and_data
    rep = compress(model, 0.3, "svd", allocation="greedy").report
    assert rep.error_kind == "weight" and rep.linear_reduction >= 0.3


def test_refit_beats_plain_whitening_on_its_own_objective(mlp_and_data):
    """On the compressed path's inputs X̃, refit solves min ‖X̃Ŵᵀ − XWᵀ‖ over rank r exactly;
    the plain whitened fc3 (same rank) is one feasible point."""
    model, batches = mlp_and_data
    plain = compress(model, 0.5, "whiten", batches).model
    refit = compress(model, 0.5, "whiten", batches, refit=True).model
    assert plain.fc3.rank == refit.fc3.rank
    inputs = {}
    model.fc3.register_forward_hook(lambda m, i, o: inputs.__setitem__("x", i[0]))
    refit.fc3.register_forward_hook(lambda m, i, o: inputs.__setitem__("xt", i[0]))
    errs = {"plain": 0.0, "refit": 0.0}
    with torch.no_grad():
        for b in batches:
            model(b)
            refit(b)
            target = model.fc3(inputs["x"])
            for tag, layer in (("plain", plain.fc3), ("refit", refit.fc3)):
                errs[tag] += float((layer(inputs["xt"]) - target).square().sum())
    assert errs["refit"] <= errs["plain"] * (1 + 1e-9)


def test_refit_of_uncompressed_path_is_plain_whitening(mlp_and_data):
    model, batches = mlp_and_data
    plain = compress(model, 0.4, "whiten", batches, targets=["fc1"]).model
    refit = compress(model, 0.4, "whiten", batches, targets=["fc1"], refit=True).model
    torch.testing.assert_close(plain.fc1.weight(), refit.fc1.weight())


def test_streamed_gram_equals_batch_gram(mlp_and_data):
    model, batches = mlp_and_data
    stats = collect_statistics(model, batches, ["fc1"])
    X = torch.cat(batches)
    torch.testing.assert_close(stats["fc1"].gram, X.T @ X)
    torch.testing.assert_close(stats["fc1"].abs_mean, X.abs().mean(0))
    C, Cx = cross_grams(model, model, "fc1", batches, lambda m, b: m(b))
    torch.testing.assert_close(C, X.T @ X)
    torch.testing.assert_close(Cx, X.T @ X)


def test_fwsvd_fisher_matches_manual_gradients(mlp_and_data):
    from lowrank_compress.calibration import collect_fisher

    model, batches = mlp_and_data
    fisher = collect_fisher(model, batches, ["fc2"], _mse_loss)["fc2"]
    manual = torch.zeros_like(fisher)
    for b in batches:
        model.zero_grad()
        _mse_loss(model, b).backward()
        manual += model.fc2.weight.grad.square().sum(1)
    torch.testing.assert_close(fisher, manual)


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.2, 1.5, math.nan])
def test_ratio_outside_unit_interval(mlp_and_data, ratio):
    model, _ = mlp_and_data
    with pytest.raises(ValueError, match="params_removed"):
        compress(model, ratio, "svd")


def test_bad_inputs_are_named(mlp_and_data):
    model, batches = mlp_and_data
    with pytest.raises(ValueError, match="needs calibration"):
        compress(model, 0.3, "whiten")
    with pytest.raises(ValueError, match="loss_fn"):
        compress(model, 0.3, "fwsvd", batches)
    with pytest.raises(ValueError, match=r"not nn\.Linear"):
        compress(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3)), 0.3, "svd", targets=["0"])
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        compress(torch.nn.Sequential(torch.nn.ReLU()), 0.3, "svd")
    bad = [b.clone() for b in batches]
    bad[1][3, 2] = float("nan")
    with pytest.raises(ValueError, match="non-finite activation"):
        compress(model, 0.3, "whiten", bad)
    with torch.no_grad():
        model.fc2.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="fc2"):
        compress(model, 0.3, "svd")


def test_too_few_samples_without_damping_falls_back_or_fails(mlp_and_data):
    model, _ = mlp_and_data
    few = [torch.randn(4, 24, dtype=torch.float64)]
    rep = compress(model, 0.3, "whiten", few).report
    assert any(r.solver == "eigh" for r in rep.layers)
    with pytest.raises(ValueError, match="not positive definite"):
        compress(model, 0.3, "whiten", few, solver="cholesky")


class _TwoBranches(torch.nn.Module):
    """out = A(x) + 0.01·B(x): B's relative error barely moves the output."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(24, 24, bias=False), torch.nn.Linear(24, 24, bias=False)

    def forward(self, x):
        return self.a(x) + 0.01 * self.b(x)


def test_sensitivity_weight_is_one_for_a_lone_layer(correlated_inputs):
    from lowrank_compress.calibration import collect_statistics, default_forward
    from lowrank_compress.compress import CompressConfig, _sensitivity_weights

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(24, 16, bias=False)).double()
    batch = [correlated_inputs(256, 24)]
    stats = collect_statistics(model, batch, ["0"])
    w = _sensitivity_weights(model, [LayerShape("0", 16, 24)], stats, {}, CompressConfig(0.5),
                             batch, default_forward, False)
    assert w["0"] == pytest.approx(1.0, rel=1e-9)


def test_greedy_compresses_the_insensitive_branch_more(correlated_inputs):
    torch.manual_seed(0)
    model = _TwoBranches().double()
    with torch.no_grad():
        model.b.weight.copy_(model.a.weight)  # identical spectra: only sensitivity differs
    batches = [correlated_inputs(256, 24, seed=s) for s in range(2)]
    ranks = {r.name: r.rank for r in compress(model, 0.4, "whiten", batches,
                                              allocation="greedy").report.layers}
    assert (ranks["a"] or 99) > (ranks["b"] or 99)
    plain = {r.name: r.rank for r in compress(model, 0.4, "whiten", allocation="greedy",
                                              statistics=compress(model, 0.4, "whiten", batches)
                                              .statistics).report.layers}
    # without batches greedy is unweighted: the two identical layers end within one step
    assert abs((plain["a"] or 12) - (plain["b"] or 12)) <= 2
