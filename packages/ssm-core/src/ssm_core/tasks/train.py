"""Train a model on a synthetic task and evaluate it, including longer sequences."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from accelerator_utils import limit_threads, make_generator
from accelerator_utils import progress as progress_bar
from ssm_core.tasks.data import IGNORE, Induction, MarkovICL, SelectiveCopy, add_beta_loss
from ssm_core.tasks.models import make_model

TASKS = {"selective-copy": SelectiveCopy, "induction": Induction, "markov": MarkovICL}


@dataclass(frozen=True)
class TaskConfig:
    """What to train: task name, model kind (``mamba``/``s4d``), sizes and optimisation."""

    task: str = "selective-copy"
    model: str = "mamba"
    steps: int = 400
    batch: int = 32
    lr: float = 3e-3
    d_model: int = 64
    n_layers: int = 2
    seed: int = 0
    eval_batch: int = 256
    extrapolate: tuple[float, ...] = (2.0, 4.0)
    threads: int = 1
    eval_every: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {sorted(TASKS)}")
        if self.steps < 1 or self.batch < 1 or self.lr <= 0:
            raise ValueError(
                f"need steps >= 1, batch >= 1, lr > 0; got {self.steps}, {self.batch}, {self.lr}"
            )
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 (0: no curve), got {self.eval_every}")


@dataclass
class TaskResult:
    """Final metrics. ``accuracy`` on answer tokens at the training length (selective copy,
    induction); ``loss`` (nats) and ``baseline_loss`` of the add-one estimator (Markov);
    ``extrapolation``: {length factor: accuracy or loss}; ``history``: training losses;
    ``curve``: ``(step, accuracy or loss)`` every ``config.eval_every`` steps, on held-out
    batches of ``config.batch`` sequences; ``curve_seconds``: wall time since the start of
    training at each curve point (evaluations included)."""

    config: TaskConfig
    accuracy: float | None
    loss: float
    baseline_loss: float | None
    extrapolation: dict[float, float]
    seconds: float
    history: list[float] = field(default_factory=list)
    curve: list[tuple[int, float]] = field(default_factory=list)
    curve_seconds: list[float] = field(default_factory=list)

    def summary(self) -> str:
        c = self.config
        parts = [
            f"{c.task} / {c.model}: {c.steps} steps in {self.seconds:.0f} s, loss {self.loss:.4f}"
        ]
        if self.accuracy is not None:
            parts.append(f"accuracy {self.accuracy:.3f}")
        if self.baseline_loss is not None:
            parts.append(
                f"add-one estimator loss {self.baseline_loss:.4f} (gap {self.loss - self.baseline_loss:+.4f})"
            )
        if self.extrapolation:
            parts.append(
                "longer: " + ", ".join(f"x{k:g} {v:.3f}" for k, v in self.extrapolation.items())
            )
        return "; ".join(parts)


def _base_length(task) -> int:
    return task.context if isinstance(task, SelectiveCopy) else task.length


@torch.no_grad()
def _evaluate(model, task, batch: int, gen: torch.Generator, length: int) -> tuple[float, float]:
    tokens, targets = task.sample(batch, gen, length)
    logits = model(tokens)
    loss = float(F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE))
    mask = targets != IGNORE
    acc = float((logits.argmax(-1)[mask] == targets[mask]).float().mean())
    return loss, acc


def train_task(
    config: TaskConfig, *, seed: int | None = None, progress: bool | None = None
) -> TaskResult:
    """Train ``config.model`` on ``config.task`` with AdamW (one-cycle schedule), then evaluate.

    ``seed`` (default ``config.seed``) fixes the initialisation, the training data and the
    evaluation data; global RNG state is left as it was. ``progress``: show a bar (``None``: only
    on a terminal outside CI). Runs with ``config.threads`` torch/BLAS threads.
    """
    if seed is not None:
        config = replace(config, seed=seed)
    with limit_threads(config.threads):
        return _train(config, progress)


def _train(config: TaskConfig, progress: bool | None) -> TaskResult:
    task = TASKS[config.task]()
    model = make_model(config.model, task.vocab, config.d_model, config.n_layers, config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, config.lr, total_steps=config.steps, pct_start=0.1
    )
    gen, curve_gen = make_generator(config.seed), make_generator(config.seed + 2)
    markov = isinstance(task, MarkovICL)
    history: list[float] = []
    curve: list[tuple[int, float]] = []
    curve_seconds: list[float] = []
    start = time.perf_counter()
    bar = progress_bar(
        range(config.steps),
        total=config.steps,
        desc=f"{config.task}/{config.model}",
        enabled=progress,
    )
    for step in bar:
        tokens, targets = task.sample(config.batch, gen)
        loss = F.cross_entropy(model(tokens).transpose(1, 2), targets, ignore_index=IGNORE)
        if not torch.isfinite(loss):
            raise FloatingPointError("training loss became non-finite; lower the learning rate")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        history.append(loss.item())
        if config.eval_every and (step + 1) % config.eval_every == 0:
            l_c, a_c = _evaluate(model, task, config.batch, curve_gen, _base_length(task))
            curve.append((step + 1, l_c if markov else a_c))
            curve_seconds.append(time.perf_counter() - start)
            bar.set_postfix(loss=f"{history[-1]:.3f}", eval=f"{curve[-1][1]:.3f}")
    seconds = time.perf_counter() - start
    model.eval()
    eval_gen = make_generator(config.seed + 1)
    base = _base_length(task)
    loss, acc = _evaluate(model, task, config.eval_batch, eval_gen, base)
    extrap = {}
    for f in config.extrapolate:
        l_f, a_f = _evaluate(
            model, task, max(8, config.eval_batch // int(f)), eval_gen, int(base * f)
        )
        extrap[f] = l_f if markov else a_f
    baseline = None
    if markov:
        tokens, targets = task.sample(config.eval_batch, make_generator(config.seed + 1), base)
        baseline = add_beta_loss(tokens, targets, task.states, 1.0)
    acc_out = None if markov else acc
    return TaskResult(
        config, acc_out, loss, baseline, extrap, seconds, history, curve, curve_seconds
    )
