"""Max-of-K: path decomposition, exact brute force, and soundness of every proof."""

import itertools
import math

import pytest
import torch

from interp_tools.maxofk import (
    all_sequences,
    brute_force_accuracy,
    brute_force_accuracy_paths,
    correct,
    cubic_bound,
    load_model,
    make_model,
    maxofk_config,
    path_weights,
    save_model,
    shipped_checkpoint,
    shipped_seeds,
    subcubic_bound,
    train_maxofk,
)
from interp_tools.maxofk.cubic import _cell_counts_eq, _cell_counts_lt, cubic_cells
from interp_tools.maxofk.paths import path_tables


def test_enumeration_is_lexicographic_and_complete():
    seqs = all_sequences(3, 2, 0, 9)
    assert seqs.tolist() == [list(p) for p in itertools.product(range(3), repeat=2)]


def test_path_decomposition_reproduces_the_model():
    model = make_model(maxofk_config(7, 3, 8), seed=1)
    w = path_weights(model)
    tokens = torch.randint(7, (20, 3), generator=torch.Generator().manual_seed(0))
    x = w.E[tokens] + w.P  # [B, K, d]
    s = torch.einsum("bh,bkh->bk", x[:, -1] @ w.W_Q, x @ w.W_K) / math.sqrt(w.W_Q.shape[1])
    attn = s.softmax(-1)  # [B, K]: the last query attends to every position
    logits = (x[:, -1] + torch.einsum("bk,bkd->bd", attn, x @ w.W_V @ w.W_O)) @ w.W_U
    torch.testing.assert_close(logits.float(), model(tokens)[:, -1], atol=1e-5, rtol=1e-5)


def test_brute_force_matches_per_sequence_loop():
    model = make_model(maxofk_config(5, 3, 8), seed=2)
    result = brute_force_accuracy(model, chunk=17)
    loop = sum(
        bool(correct(model(torch.tensor([s]))[:, -1], torch.tensor([s]))[0])
        for s in itertools.product(range(5), repeat=3)
    )
    assert result.n_correct == loop and result.n_total == 125
    assert brute_force_accuracy_paths(model).n_correct == loop


@pytest.mark.parametrize("V,K", [(8, 3), (6, 4), (5, 2)])
def test_cells_partition_all_sequences(V, K):
    counts = torch.zeros(V, V, dtype=torch.int64)  # [query, max]
    for c in range(1, K):
        n_eq = _cell_counts_eq(V, K, c).sum(1)
        counts[range(V), range(V)] += n_eq
        counts += _cell_counts_lt(V, K, c).sum(2)
    counts[range(V), range(V)] += 1  # all-max sequences
    seqs = all_sequences(V, K, 0, V**K)
    expected = torch.zeros(V, V, dtype=torch.int64)
    expected.index_put_(
        (seqs[:, -1], seqs.max(1).values), torch.ones(V**K, dtype=torch.int64), accumulate=True
    )
    assert torch.equal(counts, expected)


@pytest.mark.parametrize("V,K,d", [(8, 3, 16), (6, 4, 8), (5, 2, 8)])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_bounds_sound_on_random_weights(V, K, d, seed, scale):
    model = make_model(maxofk_config(V, K, d), seed=seed)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    truth = brute_force_accuracy(model).accuracy
    cubic, sub = cubic_bound(model), subcubic_bound(model)
    assert sub.accuracy <= cubic.accuracy  # cubic cells dominate subcubic cells
    assert cubic.accuracy <= truth and sub.accuracy <= truth


def test_bounds_sound_and_tight_on_trained_small_model():
    cfg = maxofk_config(8, 3, 16)
    result = train_maxofk(cfg, steps=400, seed=3, lr=1e-2)
    assert result.losses[-1] < result.losses[0] / 5
    truth = brute_force_accuracy(result.model).accuracy
    cubic, sub = cubic_bound(result.model), subcubic_bound(result.model)
    assert truth > 0.9
    assert sub.accuracy <= cubic.accuracy <= truth
    assert cubic.accuracy >= 0.5 * truth
    assert sub.flops < cubic.flops < brute_force_accuracy(result.model).flops * 10


def test_shipped_checkpoints_load_and_prove(tmp_path):
    assert len(shipped_seeds()) >= 3
    for seed in shipped_seeds():
        model = load_model(shipped_checkpoint(seed))
        assert model.cfg == maxofk_config()
        tables = path_tables(path_weights(model))
        certified, covered, _ = cubic_cells(tables)
        assert covered == 64**4 and certified / covered > 0.9
        # sampled accuracy can only be compared loosely, the exact check lives in benchmarks
        tokens = torch.randint(64, (4096, 4), generator=torch.Generator().manual_seed(seed))
        assert correct(model(tokens)[:, -1], tokens).float().mean() > 0.95
    path = save_model(model, tmp_path / "m.safetensors")
    torch.testing.assert_close(load_model(path).W_E.weight, model.W_E.weight)
    with pytest.raises(FileNotFoundError, match="no shipped checkpoint"):
        shipped_checkpoint(99)


def test_bad_model_is_refused():
    with pytest.raises(ValueError, match="1 layer"):
        make_model(maxofk_config().__class__(n_layers=2, d_mlp=None, layernorm=False, bias=False))


@pytest.mark.parametrize("V,K,d", [(8, 3, 16), (6, 4, 8)])
@pytest.mark.parametrize("seed", range(3))
def test_cubic_variants_sound_and_ordered(V, K, d, seed):
    model = make_model(maxofk_config(V, K, d), seed=seed)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    truth = brute_force_accuracy(model).accuracy
    loose = cubic_bound(model, direct_candidates=0, exact_positions=False).accuracy
    positions = cubic_bound(model, direct_candidates=0).accuracy
    by_r = [cubic_bound(model, direct_candidates=r).accuracy for r in (1, 2, V - 1)]
    assert loose <= positions <= by_r[0] <= by_r[1] <= by_r[2] <= truth


def test_slot_margins_reach_the_joint_minimum():
    from interp_tools.maxofk.paths import slot_margins

    tables = path_tables(path_weights(make_model(maxofk_config(6, 3, 8), seed=5)))
    V = 6
    diff = tables.ov.permute(2, 0, 1)[None, :, :, :, None] - tables.ov[None, None]  # [1,m,i,t,o]
    direct = tables.direct[:, :, None, None, None] - tables.direct[:, None, None, None, :]
    joint = (diff + direct).clone()  # [q, m, i, t, o]
    joint[:, range(V), :, :, range(V)] = float("inf")
    exact = joint.amin(-1)
    full, _ = slot_margins(tables, V - 1)
    torch.testing.assert_close(full, exact)
    for r in (0, 1, 3):
        assert (slot_margins(tables, r)[0] <= exact + 1e-12).all()


@pytest.mark.parametrize("V,K,d", [(8, 3, 16), (6, 4, 8), (5, 2, 8)])
@pytest.mark.parametrize("seed", range(3))
def test_rank1_intervals_contain_the_scores_and_the_bound_is_sound(V, K, d, seed):
    from interp_tools.maxofk.rank1 import rank1_score_bounds

    model = make_model(maxofk_config(V, K, d), seed=seed)
    w = path_weights(model)
    s = path_tables(w).scores
    lo, hi = rank1_score_bounds(w)[:2]
    # a per-query shift c_q with lo ≤ s + c_q ≤ hi exists
    assert ((lo - s).amax(dim=(1, 2)) <= (hi - s).amin(dim=(1, 2)) + 1e-12).all()
    truth = brute_force_accuracy(model).accuracy
    rank1 = subcubic_bound(model, eqke="rank1").accuracy
    assert rank1 <= subcubic_bound(model).accuracy <= truth


def test_rank1_is_exact_for_a_rank1_eqke():
    model = make_model(maxofk_config(8, 3, 16), seed=0)
    with torch.no_grad():  # make E W_K rank 1: every key row a multiple of one vector
        model.blocks[0].attn.W_K.weight.copy_(
            torch.outer(model.blocks[0].attn.W_K.weight[:, 0], torch.ones(16)) / 4
        )
    from interp_tools.maxofk.rank1 import rank1_score_bounds

    w = path_weights(model)
    lo, hi = rank1_score_bounds(w)[:2]
    assert (hi - lo).abs().max() < 1e-7  # √(rounding) of the cancelling row norm
    with pytest.raises(ValueError, match="eqke"):
        subcubic_bound(model, eqke="rank2")
