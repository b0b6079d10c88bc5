"""Training with early stopping on validation accuracy; the best weights are restored."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from accelerator_utils import make_generator
from accelerator_utils import progress as progress_bar
from gnn_explain.datasets.synthetic import GraphDataset, NodeDataset
from gnn_explain.graph import collate
from gnn_explain.nn.models import ModelConfig, build_model


@dataclass(frozen=True)
class TrainConfig:
    """Adam with weight decay; stop after ``patience`` epochs without a better validation score."""

    epochs: int = 1000
    lr: float = 0.01
    weight_decay: float = 5e-4
    patience: int = 200
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.patience < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs, patience, batch_size and lr must be positive, got {self}")


@dataclass(frozen=True)
class TrainResult:
    """A trained model in eval mode and its accuracies at the best validation epoch."""

    model: nn.Module
    train_acc: float
    val_acc: float
    test_acc: float
    best_epoch: int
    epochs_run: int
    seconds: float


def _accuracy(logits: Tensor, y: Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean())


def node_scores(model: nn.Module, ds: NodeDataset) -> tuple[float, float, float, float]:
    """(train acc, val acc, test acc, val loss) for a node model."""
    g = ds.graph
    with torch.no_grad():
        logits = model(g.x, g.edge_index)
    accs = [_accuracy(logits[i], g.y[i]) for i in (ds.train_idx, ds.val_idx, ds.test_idx)]
    return (*accs, float(F.cross_entropy(logits[ds.val_idx], g.y[ds.val_idx])))


def _graph_logits(model: nn.Module, ds: GraphDataset, idx: Tensor) -> tuple[Tensor, Tensor]:
    x, ei, batch = collate([ds.graphs[int(i)] for i in idx])
    y = torch.stack([ds.graphs[int(i)].y for i in idx])
    return model(x, ei, batch), y


def graph_scores(model: nn.Module, ds: GraphDataset) -> tuple[float, float, float, float]:
    with torch.no_grad():
        out = [_graph_logits(model, ds, i) for i in (ds.train_idx, ds.val_idx, ds.test_idx)]
    accs = [_accuracy(logits, y) for logits, y in out]
    return (*accs, float(F.cross_entropy(*out[1])))


def train(
    dataset: NodeDataset | GraphDataset,
    model_cfg: ModelConfig,
    cfg: TrainConfig = TrainConfig(),
    *,
    seed: int | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train a node or graph classifier (by the dataset's task) and return it in eval mode.

    ``seed`` (default ``cfg.seed``) fixes the parameter initialisation and the batch order;
    the global RNG state is left untouched. ``progress``: show a bar (None: only on a
    terminal outside CI).
    """
    seed = cfg.seed if seed is None else seed
    model = init_model(model_cfg, dataset.task, seed)
    gen = make_generator(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    score = node_scores if dataset.task == "node" else graph_scores
    best, best_state, best_epoch, epoch = None, None, 0, 0
    start = time.perf_counter()
    bar = progress_bar(range(cfg.epochs), desc=f"train {dataset.name}", enabled=progress)
    for epoch in bar:
        model.train()
        if dataset.task == "node":
            _node_epoch(model, dataset, opt)
        else:
            _graph_epoch(model, dataset, opt, cfg.batch_size, gen)
        model.eval()
        tr, va, te, val_loss = score(model, dataset)
        key = (va, -val_loss)
        if best is None or key > best[0]:
            best, best_state, best_epoch = (
                (key, (tr, va, te)),
                copy.deepcopy(model.state_dict()),
                epoch,
            )
        bar.set_postfix(val=f"{va:.3f}")
        if epoch - best_epoch >= cfg.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    tr, va, te = best[1]
    return TrainResult(model, tr, va, te, best_epoch, epoch + 1, time.perf_counter() - start)


def init_model(model_cfg: ModelConfig, task: str, seed: int) -> nn.Module:
    """A freshly initialised model; the global RNG is forked, so its state is unchanged."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(model_cfg, task)


def _node_epoch(model: nn.Module, ds: NodeDataset, opt: torch.optim.Optimizer) -> None:
    g = ds.graph
    opt.zero_grad()
    logits = model(g.x, g.edge_index)
    F.cross_entropy(logits[ds.train_idx], g.y[ds.train_idx]).backward()
    opt.step()


def _graph_epoch(
    model: nn.Module,
    ds: GraphDataset,
    opt: torch.optim.Optimizer,
    batch_size: int,
    gen: torch.Generator,
) -> None:
    order = ds.train_idx[torch.randperm(len(ds.train_idx), generator=gen)]
    for chunk in order.split(batch_size):
        opt.zero_grad()
        logits, y = _graph_logits(model, ds, chunk)
        F.cross_entropy(logits, y).backward()
        opt.step()
