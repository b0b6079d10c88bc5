"""A small byte-level causal transformer (GPT-style, pre-norm) for the code-LM experiment.

Every projection is an ``nn.Linear`` (query, key, value, output, MLP in/out), so
:func:`lowrank_compress.compress` can target them; the output head is tied to the byte
embedding and is not a target. Inputs are byte ids (B, T) with T ≤ ``context``; outputs
are next-byte logits (B, T, 256).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from accelerator_utils import atomic_write, atomic_write_json, make_generator

VOCAB = 256
WEIGHTS, CONFIG = "bytelm.safetensors", "bytelm.json"


@dataclass(frozen=True)
class ByteLMConfig:
    """Shape of a :class:`ByteLM`: context length (bytes), width, depth, heads, MLP width."""

    context: int = 256
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 1024

    def __post_init__(self) -> None:
        for name in ("context", "d_model", "n_layers", "n_heads", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")


class Block(nn.Module):
    """Pre-norm block: x + attn(ln(x)), then x + mlp(ln(x)); causal self-attention."""

    def __init__(self, cfg: ByteLMConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, cfg.d_ff), nn.Linear(cfg.d_ff, d)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        att = F.scaled_dot_product_attention(self._heads(self.q(h)), self._heads(self.k(h)),
                                             self._heads(self.v(h)), is_causal=True)
        x = x + self.o(att.transpose(1, 2).reshape(x.shape))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ByteLM(nn.Module):
    """Byte embedding + learned positions → blocks → final norm → tied output head."""

    def __init__(self, cfg: ByteLMConfig, *, seed: int | None = 0,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = cfg
        with torch.device("meta"):  # initialised below from seed/generator, not the global RNG
            self.embed = nn.Embedding(VOCAB, cfg.d_model)
            self.pos = nn.Parameter(torch.zeros(cfg.context, cfg.d_model))
            self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
            self.ln_f = nn.LayerNorm(cfg.d_model)
        self.to_empty(device="cpu")
        self.reset_parameters(generator if generator is not None else make_generator(seed))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """GPT-2 style init (normal 0.02; residual outputs scaled by 1/√(2·layers))."""
        resid = 0.02 / (2 * self.config.n_layers) ** 0.5
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif "ln" in name:
                    p.fill_(1.0)
                else:
                    std = resid if name.endswith(("o.weight", "fc2.weight")) else 0.02
                    p.normal_(0.0, std, generator=generator)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Next-byte logits (B, T, 256) of byte ids ``idx`` (B, T), T ≤ context."""
        if idx.ndim != 2 or idx.shape[1] > self.config.context:
            raise ValueError(f"need byte ids (B, T<= {self.config.context}), got "
                             f"{tuple(idx.shape)}")
        x = self.embed(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.embed.weight)


def lm_loss(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-byte cross-entropy (nats) of windows ``batch`` (B, T+1)."""
    logits = model(batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))


def lm_inputs(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """The forward used for calibration: logits of the window's first T bytes."""
    return model(batch[:, :-1])


def target_linears(model: ByteLM) -> list[str]:
    """Names of the block projections (q, k, v, o, fc1, fc2 of every block)."""
    return [f"blocks.{i}.{p}" for i in range(len(model.blocks))
            for p in ("q", "k", "v", "o", "fc1", "fc2")]


def save_bytelm(model: ByteLM, directory: str | Path, *, dtype: torch.dtype = torch.float16,
                metadata: dict | None = None) -> Path:
    """Write ``bytelm.safetensors`` (weights cast to ``dtype``) and ``bytelm.json``, atomically."""
    directory = Path(directory)
    state = {k: v.detach().to(dtype).contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_write(directory / WEIGHTS) as handle:
        handle.write(save_tensors(state))
    atomic_write_json(directory / CONFIG, {"config": asdict(model.config),
                                           "metadata": metadata or {}})
    return directory


def load_bytelm(directory: str | Path, *, dtype: torch.dtype = torch.float32) -> ByteLM:
    """Rebuild a :class:`ByteLM` saved by :func:`save_bytelm` (weights cast to ``dtype``)."""
    directory = Path(directory)
    if not (directory / CONFIG).is_file() or not (directory / WEIGHTS).is_file():
        raise FileNotFoundError(f"{directory} lacks {CONFIG} or {WEIGHTS}: is it a save_bytelm "
                                "output?")
    meta = json.loads((directory / CONFIG).read_text())
    model = ByteLM(ByteLMConfig(**meta["config"]))
    state = load_tensors((directory / WEIGHTS).read_bytes())
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()})
    return model.to(dtype)
