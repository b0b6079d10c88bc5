"""Sub-MoE merging: planted clusters recovered, exact references at full rank."""

import pytest
import torch

from lowrank_compress.moe import MoE, merge_experts, merge_weights


def _planted_moe(n_protos=2, per=3, noise=0.02, seed=0):
    torch.manual_seed(seed)
    moe = MoE(8, 16, n_protos * per, top_k=2).double()
    protos = [MoE(8, 16, 1, top_k=1).double().experts[0] for _ in range(n_protos)]
    with torch.no_grad():
        for e, ex in enumerate(moe.experts):
            src = protos[e // per]
            for part in ("up", "down"):
                for name in ("weight", "bias"):
                    p = getattr(getattr(src, part), name)
                    getattr(getattr(ex, part), name).copy_(p + noise * torch.randn_like(p))
    return moe


def test_moe_forward_matches_dense_reference():
    moe = _planted_moe()
    x = torch.randn(5, 8, dtype=torch.float64)
    idx, w = moe.routing(x)
    ref = torch.stack([sum(w[i, j] * moe.experts[int(idx[i, j])](x[i]) for j in range(2))
                       for i in range(5)])
    torch.testing.assert_close(moe(x), ref)


def test_planted_clusters_recovered_and_merge_beats_no_sharing():
    moe = _planted_moe()
    x = torch.randn(256, 8, dtype=torch.float64)
    res = merge_experts(moe, x, 2)
    assert res.clusters == [[0, 1, 2], [3, 4, 5]]
    with torch.no_grad():
        err = float((res.model(x) - moe(x)).square().mean() / moe(x).square().mean())
    assert err < 0.03
    assert sum(p.numel() for p in res.model.experts.parameters()) * 3 == sum(
        p.numel() for p in moe.experts.parameters())


def test_identical_experts_merge_exactly():
    moe = _planted_moe(noise=0.0)
    x = torch.randn(64, 8, dtype=torch.float64)
    res = merge_experts(moe, x, 2)
    torch.testing.assert_close(res.model(x), moe(x))


def test_full_rank_merge_is_frequency_weighted_average():
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    f = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    Us, V = merge_weights(ws, f, 6)
    torch.testing.assert_close(Us @ V.T, sum(fi * w for fi, w in zip(f, ws)))


def test_no_merge_reproduces_model():
    moe = _planted_moe()
    x = torch.randn(64, 8, dtype=torch.float64)
    res = merge_experts(moe, x, 6)
    torch.testing.assert_close(res.model(x), moe(x))


def test_bad_cluster_count():
    with pytest.raises(ValueError, match="n_clusters"):
        merge_experts(_planted_moe(), torch.randn(4, 8, dtype=torch.float64), 0)
