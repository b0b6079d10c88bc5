"""SAE variants, training pieces, metrics with exact formulas, store and save/load."""

import pytest
import torch
from torch import nn

from interp_tools.hooks import HookPoint
from interp_tools.sae import (
    KINDS,
    ActivationStore,
    SAEConfig,
    SparseAutoencoder,
    TrainConfig,
    density_histogram,
    evaluate_sae,
    explained_variance,
    load_sae,
    loss_recovered,
    resample_dead,
    save_sae,
    train_sae,
)
from interp_tools.toy import make_superposition, mcc, recovery_scores


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_explained_variance_about_the_mean():
    x = torch.randn(50, 4, generator=gen())
    assert explained_variance(x, x) == 1.0
    assert explained_variance(x, x.mean(0).expand_as(x)) == pytest.approx(0.0, abs=1e-6)
    zero = explained_variance(x, torch.zeros_like(x))
    expected = 1 - x.pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    assert zero == pytest.approx(float(expected), rel=1e-6)


def identity_sae(d=4):
    sae = SparseAutoencoder(SAEConfig(d, d, kind="relu"))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
    return sae.eval()


def test_metrics_exact_on_hand_built_sae(tmp_path):
    sae = identity_sae()
    x = torch.tensor([[1.0, -1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 3.0], [-1.0, 2.0, 0.0, 1.0]])
    m = evaluate_sae(sae, x)
    recon = x.clamp_min(0)
    assert m.l0 == pytest.approx((2 + 1 + 2) / 3)
    assert m.mse == pytest.approx(float((x - recon).pow(2).mean()))
    assert m.dead_fraction == 0.25  # latent 2 never fires
    torch.testing.assert_close(m.densities, torch.tensor([1 / 3, 1 / 3, 0.0, 1.0]))
    assert m.dense_fraction == 0.75
    assert density_histogram(m.densities, tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_runs_and_has_gradients(kind):
    cfg = SAEConfig(8, 16, kind=kind, k=3, aux_k=4)
    sae = SparseAutoencoder(cfg, generator=gen())
    x = torch.randn(32, 8, generator=gen(1))
    out = sae(x, dead=torch.ones(16, dtype=torch.bool))
    assert out.recon.shape == (32, 8) and out.latents.shape == (32, 16)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert sae.W_enc.grad is not None and sae.W_enc.grad.abs().sum() > 0
    if kind == "topk":
        assert ((out.latents != 0).sum(1) <= 3).all()
        assert out.aux > 0  # AuxK active with every latent dead
    if kind == "batchtopk":
        assert (out.latents != 0).sum() <= 3 * 32
        sae.eval()
        assert sae.threshold > 0
        torch.testing.assert_close(
            sae.encode(x), torch.relu(sae.pre_acts(x)) * (sae.pre_acts(x) > sae.threshold)
        )
    if kind == "gated":
        assert (out.latents[sae.pre_acts(x) <= 0] == 0).all()


def test_jumprelu_straight_through_threshold_gradient():
    cfg = SAEConfig(3, 5, kind="jumprelu", jump_bandwidth=0.5, jump_init_threshold=0.2)
    sae = SparseAutoencoder(cfg, generator=gen())
    x = torch.randn(20, 3, generator=gen(2))
    latents = sae.encode(x)
    latents.sum().backward()
    z, theta = sae.pre_acts(x).detach(), sae.log_threshold.exp().detach()
    kernel = (((z - theta) / 0.5).abs() < 0.5).float()
    expected = (-(theta / 0.5) * kernel).sum(0) * theta  # chain rule through exp(log θ)
    torch.testing.assert_close(sae.log_threshold.grad, expected)
    torch.testing.assert_close(latents, z * (z > theta))


@pytest.mark.parametrize("kind", ["relu", "gated", "jumprelu"])
def test_decoder_normalisation_preserves_output(kind):
    sae = SparseAutoencoder(SAEConfig(6, 10, kind=kind), generator=gen())
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(10, 1, generator=gen(3)) + 0.5)
        sae.b_enc.add_(0.3)
    x = torch.randn(16, 6, generator=gen(4))
    before = sae(x).recon
    sae.normalize_decoder()
    torch.testing.assert_close(sae(x).recon, before, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(10))


def test_parallel_decoder_gradient_removed():
    sae = SparseAutoencoder(SAEConfig(6, 10, kind="relu"), generator=gen())
    sae(torch.randn(8, 6, generator=gen(5))).loss.backward()
    sae.remove_parallel_decoder_grad()
    assert (sae.W_dec.grad * sae.W_dec).sum(1).abs().max() < 1e-6


def test_resampling_restarts_dead_latents_at_inputs():
    sae = SparseAutoencoder(SAEConfig(6, 10, kind="relu"), generator=gen())
    opt = torch.optim.Adam(sae.parameters())
    x = torch.randn(64, 6, generator=gen(6))
    sae(x).loss.backward()
    opt.step()
    dead = torch.zeros(10, dtype=torch.bool)
    dead[[1, 4]] = True
    assert resample_dead(sae, x, dead, opt) == 2
    rows = sae.W_dec[[1, 4]].detach()
    torch.testing.assert_close(rows.norm(dim=1), torch.ones(2))
    cands = (x - sae.b_dec.detach()) / (x - sae.b_dec.detach()).norm(dim=1, keepdim=True)
    assert ((rows[:, None] - cands[None]).abs().sum(-1).min(dim=1).values < 1e-5).all()
    assert (opt.state[sae.W_dec]["exp_avg"][[1, 4]] == 0).all()


def test_topk_recovers_toy_features_and_mcc():
    data = make_superposition(24, 12, p=0.08, seed=0)
    x, _ = data.sample(5000, gen(7))
    cfg = SAEConfig(12, 24, kind="topk", k=2)
    result = train_sae(x, cfg, TrainConfig(steps=150, batch_size=128, lr=1e-2), seed=0)
    scores = recovery_scores(data.directions, result.sae.W_dec.detach())
    assert scores.mmcs > 0.9
    xt, codes = data.sample(2000, gen(8))
    assert mcc(codes, result.sae.encode(xt).detach()) > 0.6
    assert result.history[-1]["mse"] < result.history[0]["mse"]


def test_mcc_and_recovery_exact_on_permutations():
    codes = torch.rand(200, 5, generator=gen(9))
    perm = torch.tensor([3, 0, 4, 1, 2])
    assert mcc(codes, 2 * codes[:, perm]) == pytest.approx(1.0)
    dirs = torch.randn(5, 7, generator=gen(10))
    assert recovery_scores(dirs, -3 * dirs[perm]).frac_matched == 1.0


def test_bad_inputs_are_clear_errors():
    sae = SparseAutoencoder(SAEConfig(6, 10))
    with pytest.raises(ValueError, match="d_in=6"):
        sae(torch.randn(4, 5))
    with pytest.raises(ValueError, match="unknown SAE kind"):
        SAEConfig(6, 10, kind="softmax")
    bad = torch.randn(100, 6)
    bad[3, 2] = float("nan")
    with pytest.raises(FloatingPointError, match="learning rate"):
        train_sae(bad, SAEConfig(6, 10, kind="relu"), TrainConfig(steps=50, batch_size=100))


def test_save_load_roundtrip(tmp_path):
    sae = SparseAutoencoder(SAEConfig(6, 10, kind="gated"), generator=gen()).eval()
    x = torch.randn(5, 6)
    load = load_sae(save_sae(sae, tmp_path / "s"))
    assert load.cfg == sae.cfg
    torch.testing.assert_close(load(x).recon, sae(x).recon)
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_sae(tmp_path / "missing")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 3)
        self.hook = HookPoint()

    def forward(self, x):
        return self.b(self.hook(torch.relu(self.a(x))))


def test_store_streams_with_bounded_memory():
    net = Net()
    seen = []

    def next_inputs():
        x = torch.randn(10, 4, generator=gen(len(seen)))
        seen.append(x)
        return x

    store = ActivationStore(net, next_inputs, "hook", batch_size=8, n_batches=7, buffer_rows=32)
    batches = list(store)
    assert len(batches) == 7 and all(b.shape == (8, 6) for b in batches)
    assert store.peak_rows <= 32
    produced = torch.relu(net.a(torch.cat(seen))).detach()
    for row in torch.cat(batches):
        assert (produced - row).abs().sum(1).min() < 1e-6


def test_loss_recovered_is_one_for_a_perfect_sae():
    net, x, y = Net(), torch.randn(20, 4, generator=gen(11)), torch.randn(20, 3, generator=gen(12))
    res = loss_recovered(net, x, "hook", identity_sae(6), lambda out: (out - y).pow(2).mean())
    assert res["recovered"] == pytest.approx(1.0)
    assert res["zero"] != res["clean"]


def test_attention_output_sae_pieces():
    from interp_tools.models import Transformer, TransformerConfig
    from interp_tools.sae import attention_output_activations, head_attribution

    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=2, d_head=4, d_mlp=None, d_vocab=10, n_ctx=5
    )
    model = Transformer(cfg)
    acts = attention_output_activations(model, torch.randint(10, (3, 5)), layer=1)
    assert acts.shape == (15, 8)
    sae = SparseAutoencoder(SAEConfig(8, 4, kind="relu"))
    with torch.no_grad():
        sae.W_dec.zero_()
        sae.W_dec[0, :4] = 1.0  # head 0 only
        sae.W_dec[1, 4:] = 2.0  # head 1 only
        sae.W_dec[2] = 1.0  # both equally
    share = head_attribution(sae, 2)
    torch.testing.assert_close(share[:3], torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="multiple"):
        head_attribution(sae, 3)


def test_two_gloo_processes_match_one_process(tmp_path):
    """TopK with AuxK active (dead_after small): gradients, firing counts and AuxK all sync."""
    from interp_tools.sae import train_sae_multiprocess

    x = torch.randn(512, 6, generator=gen(13))
    cfg = SAEConfig(6, 12, kind="topk", k=2)
    train = TrainConfig(steps=20, batch_size=64, lr=1e-2, dead_after=64)
    single = train_sae(x, cfg, train, seed=5).sae
    multi = load_sae(train_sae_multiprocess(x, cfg, train, tmp_path / "ddp", world=2, seed=5))
    for name, p in single.state_dict().items():
        torch.testing.assert_close(multi.state_dict()[name], p, atol=1e-5, rtol=1e-4)
