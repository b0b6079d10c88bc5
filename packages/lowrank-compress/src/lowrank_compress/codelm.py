"""The code-LM setting: Python standard-library source as bytes, split by file, and training.

The corpus is read from the running interpreter's standard library (offline): every ``.py``
file outside ``site-packages`` and the test suites, in sorted path order. A file goes to the
held-out split when the CRC-32 of its relative path falls in the held-out fraction, so the
split is stable across runs and machines with the same Python version.
"""

from __future__ import annotations

import math
import sysconfig
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from accelerator_utils import atomic_torch_save, make_generator
from accelerator_utils import progress as progress_bar
from lowrank_compress.models.bytelm import ByteLM, ByteLMConfig, lm_loss

EXCLUDED_PARTS = ("site-packages", "test", "tests", "idle_test")


def stdlib_source_files(root: str | Path | None = None) -> list[Path]:
    """Sorted ``.py`` files of the standard library (``root``), test suites excluded."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files = [f for f in root.rglob("*.py")
             if not any(p in EXCLUDED_PARTS for p in f.relative_to(root).parts)]
    if not files:
        raise FileNotFoundError(f"no Python source found under {root}")
    return sorted(files)


def split_files(files: list[Path], root: str | Path | None = None, heldout: float = 0.05
                ) -> tuple[list[Path], list[Path]]:
    """(train, held-out) by the CRC-32 of each file's path relative to ``root``."""
    if not 0.0 < heldout < 1.0:
        raise ValueError(f"heldout must lie in (0, 1), got {heldout}")
    root = Path(root or sysconfig.get_paths()["stdlib"])
    cut = int(heldout * 2**32)
    test = [f for f in files if zlib.crc32(str(f.relative_to(root)).encode()) < cut]
    train = [f for f in files if f not in set(test)]
    return train, test


def read_bytes(files: list[Path]) -> np.ndarray:
    """The files' bytes concatenated (uint8, one newline between files)."""
    return np.frombuffer(b"\n".join(f.read_bytes() for f in files), dtype=np.uint8)


def stdlib_corpus(heldout: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(train bytes, held-out bytes) of the standard library's source."""
    train, test = split_files(stdlib_source_files(), heldout=heldout)
    return read_bytes(train), read_bytes(test)


def random_windows(data: np.ndarray, n: int, length: int, generator: torch.Generator
                   ) -> torch.Tensor:
    """``n`` windows (n, length) of byte ids starting at uniformly random offsets."""
    if data.size <= length:
        raise ValueError(f"corpus of {data.size} bytes is shorter than a window ({length})")
    starts = torch.randint(0, data.size - length, (n,), generator=generator).numpy()
    return torch.from_numpy(np.stack([data[s : s + length] for s in starts]).astype(np.int64))


def fixed_windows(data: np.ndarray, n: int, length: int) -> torch.Tensor:
    """``n`` evenly spaced, non-overlapping windows (n, length): a deterministic evaluation set."""
    if n * length > data.size:
        raise ValueError(f"{n} windows of {length} bytes exceed the corpus ({data.size} bytes)")
    starts = np.linspace(0, data.size - length, n).astype(np.int64)
    return torch.from_numpy(np.stack([data[s : s + length] for s in starts]).astype(np.int64))


@torch.no_grad()
def perplexity(model: torch.nn.Module, windows: torch.Tensor, batch_size: int = 16) -> float:
    """exp(mean next-byte cross-entropy) over ``windows`` (N, T+1), in bytes⁻¹."""
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        b = windows[i : i + batch_size]
        total += float(lm_loss(model, b)) * b.shape[0]
        count += b.shape[0]
    return math.exp(total / count)


@dataclass(frozen=True)
class TrainConfig:
    """AdamW with linear warm-up then cosine decay to ``min_lr_ratio``·lr.

    Training ends after ``steps`` steps or ``time_budget_s`` seconds of training, whichever
    comes first; the cosine follows whichever is further along, so a run on a slow or shared
    machine still anneals fully within its time budget (the step count then depends on speed).
    """

    steps: int = 3000
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.warmup < 0:
            raise ValueError(f"need steps >= 1, batch_size >= 1, warmup >= 0: {self}")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"need lr > 0 and min_lr_ratio in [0, 1]: {self}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be > 0 or None, got {self.time_budget_s}")

    def progress_at(self, step: int, seconds: float = 0.0) -> float:
        """Fraction of the run done, in [0, 1]: max of steps and time (if budgeted)."""
        done = step / self.steps
        if self.time_budget_s is not None:
            done = max(done, seconds / self.time_budget_s)
        return min(done, 1.0)

    def lr_at(self, step: int, seconds: float = 0.0) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        start = self.warmup / self.steps
        t = max(0.0, self.progress_at(step, seconds) - start) / max(1e-12, 1.0 - start)
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio)
                          * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _optimizer(model: ByteLM, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and n != "pos"]
    rest = [p for n, p in model.named_parameters() if not (p.ndim == 2 and n != "pos")]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr,
                             betas=(0.9, 0.95))


def train_bytelm(
    train_data: np.ndarray,
    model_config: ByteLMConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    seed: int | None = 0,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 100,
    log=None,
    progress: bool | None = None,
) -> tuple[ByteLM, dict]:
    """Train a :class:`ByteLM` on random windows of ``train_data`` (uint8 bytes).

    With ``checkpoint`` (a file), state is saved atomically every ``checkpoint_every`` steps
    and a run resumes from it. The returned info says how many steps and seconds ran (see
    :class:`TrainConfig` for the time budget). ``log(step, loss, lr)`` is called at each
    checkpoint.
    Randomness (init, windows) comes from ``seed`` only; global RNG state is not touched.
    ``None`` configs mean the defaults.
    """
    model_config = model_config or ByteLMConfig()
    train_config = train_config or TrainConfig()
    gen = make_generator(seed)
    model = ByteLM(model_config, generator=gen)
    opt = _optimizer(model, train_config)
    step, seen, elapsed = 0, 0, 0.0
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.is_file():
        state = torch.load(path, weights_only=False)
        if state["model_config"] != asdict(model_config):
            raise ValueError(f"checkpoint {path} is of another model shape: delete it or match")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        step, seen, elapsed = state["step"], state["tokens"], state["seconds"]

    def save() -> None:
        if path is not None:
            atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                               "generator": gen.get_state(), "step": step, "tokens": seen,
                               "seconds": elapsed, "model_config": asdict(model_config),
                               "train_config": asdict(train_config)}, path)

    t0, start, losses = time.perf_counter(), elapsed, []
    bar = progress_bar(total=train_config.steps, desc="train byte LM", enabled=progress)
    bar.update(step)
    model.train()
    while train_config.progress_at(step, elapsed) < 1.0:
        for group in opt.param_groups:
            group["lr"] = train_config.lr_at(step, elapsed)
        batch = random_windows(train_data, train_config.batch_size, model_config.context + 1, gen)
        loss = lm_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
        opt.step()
        step, seen = step + 1, seen + batch[:, 1:].numel()
        losses.append(loss.item())
        elapsed = start + time.perf_counter() - t0
        bar.update(1)
        done = train_config.progress_at(step, elapsed) >= 1.0
        if step % checkpoint_every == 0 or done:
            save()
            if log is not None:
                log(step, float(np.mean(losses[-checkpoint_every:])),
                    train_config.lr_at(step, elapsed))
    bar.close()
    model.eval()
    return model, {"steps": step, "planned_steps": train_config.steps, "tokens": seen,
                   "seconds": elapsed, "final_train_loss": float(np.mean(losses[-100:] or [0]))}
