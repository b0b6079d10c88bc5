"""A small ReLU MLP trained on modular addition (a + b mod p), the LIB test bed.

Input: one-hot(a) ⊕ one-hot(b) [2p]; hidden ReLU layers; logits [p]. Trained full batch on
all p² pairs (the analysis is of the computation on this data distribution, not of
generalisation).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from accelerator_utils import make_generator
from accelerator_utils import progress as progress_bar
from interp_tools.models.transformer import init_weights


@dataclass(frozen=True)
class ModularConfig:
    """Modulus ``p`` and the hidden widths of the MLP."""

    p: int = 23
    hidden: tuple[int, ...] = (64, 64)

    def __post_init__(self) -> None:
        if self.p < 2:
            raise ValueError(f"ModularConfig.p must be >= 2, got {self.p}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"ModularConfig.hidden needs widths >= 1, got {self.hidden}")


class ModularMLP(nn.Module):
    """``layers[i]`` maps node layer i to node layer i + 1 (input, hidden..., logits)."""

    def __init__(self, cfg: ModularConfig, *, seed: int | torch.Generator | None = 0) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [2 * cfg.p, *cfg.hidden, cfg.p]
        with torch.random.fork_rng(devices=[]):
            self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        init_weights(self, make_generator(seed))

    def layer_fns(self) -> list[Callable[[torch.Tensor], torch.Tensor]]:
        """The functions between consecutive node layers: ReLU∘Linear, …, Linear (logits)."""
        fns: list[Callable[[torch.Tensor], torch.Tensor]] = []
        for i, lin in enumerate(self.linears):
            last = i == len(self.linears) - 1
            fns.append(lin if last else (lambda x, lin=lin: torch.relu(lin(x))))
        return fns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [N, 2p] one-hot pairs → logits [N, p]."""
        for fn in self.layer_fns():
            x = fn(x)
        return x


def modular_inputs(p: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """All p² pairs: (one-hot inputs [p², 2p], labels (a + b) mod p [p²])."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.flatten(), b.flatten()
    x = torch.cat([nn.functional.one_hot(a, p), nn.functional.one_hot(b, p)], dim=1)
    return x.to(dtype), (a + b) % p


@dataclass
class ModularTrainResult:
    model: ModularMLP
    losses: list[float] = field(default_factory=list)
    accuracy: float = float("nan")


def train_modular_mlp(
    cfg: ModularConfig | None = None,
    *,
    steps: int = 1500,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    seed: int | None = 0,
    progress: bool | None = None,
) -> ModularTrainResult:
    """Full-batch AdamW on all p² pairs. ``seed`` drives the initialisation (no global RNG);
    ``progress``: show a bar (None: only on a terminal outside CI)."""
    cfg = cfg or ModularConfig()
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    model = ModularMLP(cfg, seed=seed)
    x, y = modular_inputs(cfg.p)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    result = ModularTrainResult(model)
    for _ in progress_bar(range(steps), desc="modular MLP", enabled=progress):
        loss = nn.functional.cross_entropy(model(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"modular MLP loss became {loss.item()}; lower the lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        result.losses.append(loss.item())
    with torch.no_grad():
        result.accuracy = float((model(x).argmax(1) == y).float().mean())
    model.eval()
    return result
