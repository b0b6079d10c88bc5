"""Train Max-of-K models with the paper's recipe: AdamW lr 1e-3, wd 0.01, batch 128 of fresh
uniform sequences, 3000 steps, cross-entropy on the last position only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from accelerator_utils import atomic_write, make_generator
from accelerator_utils import progress as progress_bar
from interp_tools.maxofk.model import make_model, maxofk_config
from interp_tools.models.transformer import Transformer, TransformerConfig


@dataclass
class MaxOfKTrainResult:
    model: Transformer
    losses: list[float] = field(default_factory=list)


def train_maxofk(
    cfg: TransformerConfig | None = None,
    *,
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    seed: int | None = 0,
    progress: bool | None = None,
) -> MaxOfKTrainResult:
    """Train from a seeded initialisation on freshly sampled sequences every step."""
    cfg = cfg or maxofk_config()
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    gen = make_generator(seed)
    model = make_model(cfg, gen)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    result = MaxOfKTrainResult(model)
    for _ in progress_bar(range(steps), desc="Max-of-K", enabled=progress):
        tokens = torch.randint(cfg.d_vocab, (batch_size, cfg.n_ctx), generator=gen)
        logits = model(tokens)[:, -1]
        loss = torch.nn.functional.cross_entropy(logits, tokens.max(dim=1).values)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"Max-of-K loss became {loss.item()}; lower the lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        result.losses.append(loss.item())
    model.eval()
    return result


CHECKPOINTS = Path(__file__).parent / "checkpoints"


def save_model(model: Transformer, path: str | Path) -> Path:
    """Save weights as safetensors (atomic); the config is the paper's, stored in metadata."""
    from safetensors.torch import save

    cfg = model.cfg
    meta = {"d_vocab": str(cfg.d_vocab), "n_ctx": str(cfg.n_ctx), "d_model": str(cfg.d_model)}
    path = Path(path)
    with atomic_write(path) as handle:
        handle.write(
            save({k: v.contiguous() for k, v in model.state_dict().items()}, metadata=meta)
        )
    return path


def load_model(path: str | Path) -> Transformer:
    """Load a Max-of-K model saved by ``save_model``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Max-of-K checkpoint at {path}")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    model = Transformer(
        maxofk_config(int(meta["d_vocab"]), int(meta["n_ctx"]), int(meta["d_model"])),
        seed=0,  # overwritten by the checkpoint; avoids the global RNG
    )
    model.load_state_dict(load_file(path))
    return model.eval()


def shipped_checkpoint(seed: int) -> Path:
    """Path of the trained checkpoint shipped for ``seed`` (see ``shipped_seeds``)."""
    path = CHECKPOINTS / f"maxofk_seed{seed}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no shipped checkpoint for seed {seed}; have {shipped_seeds()}")
    return path


def shipped_seeds() -> list[int]:
    return sorted(
        int(p.stem.removeprefix("maxofk_seed")) for p in CHECKPOINTS.glob("*.safetensors")
    )
