"""A small Mamba language model: embedding, residual pre-norm Mamba blocks, tied LM head;
prefill + step generation with the blocks' inference caches."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from accelerator_utils import make_generator
from accelerator_utils import progress as progress_bar
from ssm_core.mamba import Mamba, MambaConfig, MambaState


@dataclass(frozen=True)
class MambaLMConfig:
    """Vocabulary, depth and the per-block :class:`MambaConfig` keyword arguments."""

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    block: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vocab_size < 2 or self.n_layers < 1:
            raise ValueError(
                f"need vocab_size >= 2 and n_layers >= 1, got {self.vocab_size}, {self.n_layers}"
            )


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


@dataclass
class GenerationResult:
    """Generated token ids ``(batch, n_new)`` and the logits that produced them ``(batch, n_new, V)``."""

    tokens: Tensor
    logits: Tensor


class MambaLM(nn.Module):
    """Token ids ``(batch, length)`` → logits ``(batch, length, vocab_size)``."""

    def __init__(self, config: MambaLMConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        block = MambaConfig(d_model=config.d_model, **config.block)
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.norms = nn.ModuleList(RMSNorm(config.d_model) for _ in range(config.n_layers))
        self.layers = nn.ModuleList(
            Mamba(block, generator=generator) for _ in range(config.n_layers)
        )
        self.norm_f = RMSNorm(config.d_model)
        nn.init.normal_(self.embedding.weight, std=0.02, generator=generator)

    def _head(self, h: Tensor) -> Tensor:
        return self.norm_f(h) @ self.embedding.weight.T

    def forward(self, tokens: Tensor) -> Tensor:
        return self.forward_with_state(tokens, None)[0]

    def forward_with_state(
        self, tokens: Tensor, states: list[MambaState] | None
    ) -> tuple[Tensor, list[MambaState]]:
        """Logits for ``tokens`` continuing from per-layer ``states``; returns the new states."""
        self._check_tokens(tokens, 2)
        h = self.embedding(tokens)
        states = states or [None] * len(self.layers)
        new = []
        for norm, layer, s in zip(self.norms, self.layers, states):
            out, s = layer.forward_with_state(norm(h), s)
            h = h + out
            new.append(s)
        return self._head(h), new

    def step(self, token: Tensor, states: list[MambaState]) -> tuple[Tensor, list[MambaState]]:
        """One token per sequence ``(batch,)`` → logits ``(batch, V)`` and new states."""
        self._check_tokens(token, 1)
        h = self.embedding(token)
        new = []
        for norm, layer, s in zip(self.norms, self.layers, states):
            out, s = layer.step(norm(h), s)
            h = h + out
            new.append(s)
        return self._head(h), new

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        progress: bool | None = None,
    ) -> GenerationResult:
        """Prefill ``prompt`` ``(batch, length)`` in parallel, then decode one token per step.

        ``temperature == 0`` is greedy; otherwise tokens are sampled with ``generator`` (or, if
        none is given, a generator seeded with ``seed``; ``None``: fresh entropy), never from the
        global RNG. ``progress``: show a bar over the new tokens (``None``: only on a terminal
        outside CI).
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if generator is None and temperature != 0:
            generator = make_generator(seed, prompt.device)
        logits, states = self.forward_with_state(prompt, None)
        last = logits[:, -1]
        tokens, all_logits = [], []
        for _ in progress_bar(range(max_new_tokens), desc="decode", enabled=progress):
            nxt = self._pick(last, temperature, generator)
            tokens.append(nxt)
            all_logits.append(last)
            last, states = self.step(nxt, states)
        return GenerationResult(torch.stack(tokens, 1), torch.stack(all_logits, 1))

    @staticmethod
    def _pick(logits: Tensor, temperature: float, generator: torch.Generator | None) -> Tensor:
        if temperature == 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    def _check_tokens(self, tokens: Tensor, ndim: int) -> None:
        if tokens.ndim != ndim or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"tokens must be an integer tensor with {ndim} dims, got {tuple(tokens.shape)} {tokens.dtype}"
            )
        if tokens.numel() and (
            int(tokens.min()) < 0 or int(tokens.max()) >= self.config.vocab_size
        ):
            raise ValueError(
                f"token ids must lie in [0, {self.config.vocab_size}), got range "
                f"[{int(tokens.min())}, {int(tokens.max())}]"
            )
