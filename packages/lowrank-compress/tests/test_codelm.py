"""Byte-level LM, stdlib corpus split, training (resume = uninterrupted run), compress on it."""

import numpy as np
import pytest
import torch

from lowrank_compress import compress
from lowrank_compress.codelm import (
    TrainConfig,
    fixed_windows,
    perplexity,
    random_windows,
    split_files,
    stdlib_source_files,
    train_bytelm,
)
from lowrank_compress.models.bytelm import (
    ByteLM,
    ByteLMConfig,
    lm_inputs,
    lm_loss,
    load_bytelm,
    save_bytelm,
    target_linears,
)

TINY = ByteLMConfig(context=16, d_model=32, n_layers=2, n_heads=2, d_ff=64)


def test_causal_and_shapes():
    model = ByteLM(TINY, seed=0)
    x = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[:, 10:] = (y[:, 10:] + 1) % 256
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (2, 16, 256)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])
    with pytest.raises(ValueError, match="byte ids"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_init_from_seed_only():
    state = torch.random.get_rng_state()
    a, b, c = ByteLM(TINY, seed=3), ByteLM(TINY, seed=3), ByteLM(TINY, seed=4)
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.embed.weight, c.embed.weight)
    with pytest.raises(ValueError, match="divisible"):
        ByteLMConfig(d_model=30, n_heads=4)


def test_save_load_roundtrip(tmp_path):
    model = ByteLM(TINY, seed=0)
    save_bytelm(model, tmp_path, dtype=torch.float32)
    back = load_bytelm(tmp_path)
    x = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(x), back(x))
    with pytest.raises(FileNotFoundError, match="save_bytelm"):
        load_bytelm(tmp_path / "missing")


def test_split_by_file_is_disjoint_and_stable():
    files = stdlib_source_files()
    train, test = split_files(files)
    assert set(train).isdisjoint(test) and len(train) + len(test) == len(files)
    assert 0.01 < len(test) / len(files) < 0.15
    assert split_files(files) == (train, test)
    assert not any("test" in f.parts or "site-packages" in f.parts for f in files)


def test_windows():
    data = np.arange(1000, dtype=np.int64).astype(np.uint8)
    w = fixed_windows(data, 10, 33)
    assert w.shape == (10, 33) and torch.equal(w, fixed_windows(data, 10, 33))
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(random_windows(data, 4, 9, g1), random_windows(data, 4, 9, g2))
    with pytest.raises(ValueError, match="exceed"):
        fixed_windows(data, 100, 33)


def test_lr_schedule():
    cfg = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert cfg.lr_at(0) == pytest.approx(0.1) and cfg.lr_at(10) == pytest.approx(1.0)
    assert cfg.lr_at(100) == pytest.approx(0.1)
    timed = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1, time_budget_s=10.0)
    assert timed.progress_at(20, 10.0) == 1.0 and timed.lr_at(20, 10.0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="time_budget_s"):
        TrainConfig(time_budget_s=0.0)


class _Interrupt(Exception):
    pass


def _stop_at(step_to_stop: int):
    def log(step, loss, lr):
        if step == step_to_stop:
            raise _Interrupt

    return log


def test_resume_equals_uninterrupted(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 5000).astype(np.uint8)
    cfg = TrainConfig(steps=6, batch_size=2, warmup=2)
    full, info = train_bytelm(data, TINY, cfg, seed=1, progress=False)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(_Interrupt):  # killed right after the step-3 checkpoint
        train_bytelm(data, TINY, cfg, seed=1, checkpoint=ckpt, checkpoint_every=3,
                     log=_stop_at(3), progress=False)
    resumed, info2 = train_bytelm(data, TINY, cfg, seed=1, checkpoint=ckpt, checkpoint_every=3,
                                  progress=False)
    assert info["steps"] == info2["steps"] == 6 and info2["tokens"] == 6 * 2 * 16
    assert all(torch.equal(p, q) for p, q in zip(full.parameters(), resumed.parameters()))
    other, _ = train_bytelm(data, TINY, cfg, seed=2, progress=False)
    assert not torch.equal(other.embed.weight, full.embed.weight)
    with pytest.raises(ValueError, match="another model shape"):
        train_bytelm(data, ByteLMConfig(context=16, d_model=16, n_layers=1, n_heads=2, d_ff=32),
                     cfg, checkpoint=ckpt, progress=False)


def test_compress_bytelm_whiten_beats_svd():
    data = np.frombuffer(b"def f(x):\n    return x + 1\n" * 200, dtype=np.uint8)
    model, _ = train_bytelm(data, TINY, TrainConfig(steps=30, batch_size=8, warmup=5),
                            seed=0, progress=False)
    calib = list(random_windows(data, 16, 17, torch.Generator().manual_seed(0)).split(8))
    evals = fixed_windows(data, 8, 17)
    names = target_linears(model)
    assert len(names) == 12
    ppl = {m: perplexity(compress(model, 0.4, m, calib, targets=names, forward=lm_inputs,
                                  loss_fn=lm_loss, progress=False).model, evals)
           for m in ("svd", "whiten")}
    res = {m: compress(model, 0.4, m, calib, targets=names, forward=lm_inputs, loss_fn=lm_loss,
                       progress=False).report.mean_measured_error for m in ("svd", "whiten")}
    assert res["whiten"] <= res["svd"]
    assert np.isfinite(ppl["whiten"]) and ppl["whiten"] > 1.0
