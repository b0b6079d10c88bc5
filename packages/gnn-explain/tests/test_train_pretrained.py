"""Training with early stopping, and the shipped pre-trained model."""

import torch

from gnn_explain.datasets import ba_2motifs
from gnn_explain.graph import collate
from gnn_explain.nn import ModelConfig, TrainConfig, train
from gnn_explain.pretrained import load_pretrained


def _accuracy(model, ds, idx):
    x, ei, batch = collate([ds.graphs[int(i)] for i in idx])
    y = torch.stack([ds.graphs[int(i)].y for i in idx])
    with torch.no_grad():
        return float((model(x, ei, batch).argmax(-1) == y).float().mean())


def test_early_stopping_restores_the_best_epoch():
    ds = ba_2motifs(seed=1, num_graphs=40)
    cfg = ModelConfig(10, 2, hidden=8, num_layers=2, conv="gin")
    result = train(ds, cfg, TrainConfig(epochs=30, patience=3, lr=0.01, batch_size=16))
    assert not result.model.training
    assert result.epochs_run <= result.best_epoch + 4
    assert result.val_acc == _accuracy(result.model, ds, ds.val_idx)
    assert result.test_acc == _accuracy(result.model, ds, ds.test_idx)


def test_pretrained_model_generalises_to_fresh_graphs():
    model = load_pretrained("ba-2motifs-gcn")
    assert not model.training
    fresh = ba_2motifs(seed=123, num_graphs=60)
    assert _accuracy(model, fresh, torch.arange(60)) >= 0.95


def test_training_is_seeded_and_leaves_the_global_rng_alone():
    ds = ba_2motifs(seed=1, num_graphs=20)
    cfg = ModelConfig(10, 2, hidden=4, num_layers=1, conv="gcn")
    state = torch.random.get_rng_state()
    a = train(ds, cfg, TrainConfig(epochs=2, batch_size=8), seed=5, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = train(ds, cfg, TrainConfig(epochs=2, batch_size=8, seed=5))
    c = train(ds, cfg, TrainConfig(epochs=2, batch_size=8), seed=6)
    pa, pb, pc = (torch.cat([p.flatten() for p in r.model.parameters()]) for r in (a, b, c))
    assert torch.equal(pa, pb)
    assert not torch.equal(pa, pc)
