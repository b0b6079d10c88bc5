"""Sequence classifiers for the tasks: a Mamba LM and an LTI baseline built from S4D layers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssm_core.lm import MambaLM, MambaLMConfig, RMSNorm
from ssm_core.s4d import S4D, S4DConfig


class S4DLM(nn.Module):
    """Embedding, residual blocks of (RMSNorm, S4D, GELU, linear mixing), tied head."""

    def __init__(self, vocab: int, d_model: int, n_layers: int, d_state: int = 64):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model)
        self.norms = nn.ModuleList(RMSNorm(d_model) for _ in range(n_layers))
        self.ssms = nn.ModuleList(
            S4D(S4DConfig(channels=d_model, d_state=d_state)) for _ in range(n_layers)
        )
        self.mix = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(n_layers))
        self.norm_f = RMSNorm(d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.embedding(tokens)
        for norm, ssm, mix in zip(self.norms, self.ssms, self.mix):
            h = h + mix(F.gelu(ssm(norm(h))))
        return self.norm_f(h) @ self.embedding.weight.T


def make_model(kind: str, vocab: int, d_model: int, n_layers: int, seed: int) -> nn.Module:
    """``kind``: ``"mamba"`` (selective) or ``"s4d"`` (linear time-invariant baseline).

    ``nn.Module`` initialisers draw from the global generator, so it is seeded inside
    ``fork_rng``: the caller's global RNG state is restored afterwards.
    """
    if kind not in ("mamba", "s4d"):
        raise ValueError(f"unknown model {kind!r}; choose 'mamba' or 's4d'")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(kind, vocab, d_model, n_layers)


def _build(kind: str, vocab: int, d_model: int, n_layers: int) -> nn.Module:
    if kind == "mamba":
        return MambaLM(
            MambaLMConfig(
                vocab_size=vocab, d_model=d_model, n_layers=n_layers, block={"d_state": 16}
            )
        )
    return S4DLM(vocab, d_model, n_layers)
