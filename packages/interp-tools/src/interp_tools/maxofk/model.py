"""The Max-of-K model of Gross et al. (arXiv:2406.11779) and its path weights.

1 layer, 1 head, attention only, no layernorm, d_model = d_head = 32, vocabulary 64, n_ctx 4,
no biases. The answer is read at the last position: argmax of logits = max of the sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from accelerator_utils import make_generator
from interp_tools.models.transformer import Transformer, TransformerConfig


def maxofk_config(d_vocab: int = 64, n_ctx: int = 4, d_model: int = 32) -> TransformerConfig:
    """The paper's configuration (vocabulary and context length adjustable for small checks)."""
    return TransformerConfig(
        n_layers=1,
        d_model=d_model,
        n_heads=1,
        d_head=d_model,
        d_mlp=None,
        d_vocab=d_vocab,
        n_ctx=n_ctx,
        layernorm=False,
        bias=False,
    )


def make_model(cfg: TransformerConfig, seed: int | torch.Generator | None = 0) -> Transformer:
    """A freshly initialised Max-of-K model (seeded, no global RNG use)."""
    if cfg.n_layers != 1 or cfg.n_heads != 1 or cfg.d_mlp is not None or cfg.layernorm or cfg.bias:
        raise ValueError("Max-of-K proofs need 1 layer, 1 head, no MLP, no layernorm, no biases")
    gen = make_generator(seed)
    model = Transformer(cfg, seed=0)  # every parameter is re-drawn from gen below
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p.shape[-1] if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
    return model


@dataclass(frozen=True)
class PathWeights:
    """Weights as matrices acting on row vectors, float64.

    E [V, d], P [K, d], W_Q/W_K/W_V [d, d_head], W_O [d_head, d], W_U [d, V].
    """

    E: torch.Tensor
    P: torch.Tensor
    W_Q: torch.Tensor
    W_K: torch.Tensor
    W_V: torch.Tensor
    W_O: torch.Tensor
    W_U: torch.Tensor

    @property
    def d_vocab(self) -> int:
        return self.E.shape[0]

    @property
    def n_ctx(self) -> int:
        return self.P.shape[0]


def path_weights(model: Transformer) -> PathWeights:
    """Extract the path weights of a Max-of-K ``Transformer``."""
    attn = model.blocks[0].attn
    f = lambda t: t.detach().to(torch.float64)  # noqa: E731
    return PathWeights(
        E=f(model.W_E.weight),
        P=f(model.W_pos.weight),
        W_Q=f(attn.W_Q.weight.T),
        W_K=f(attn.W_K.weight.T),
        W_V=f(attn.W_V.weight.T),
        W_O=f(attn.W_O.weight.T),
        W_U=f(model.W_U.weight.T),
    )


def correct(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Strict correctness [B]: the logit of the true max beats every other logit.

    ``logits`` [B, V] at the last position, ``tokens`` [B, K]. Ties count as wrong, so the
    accuracy is the quantity the proofs lower-bound.
    """
    target = tokens.max(dim=1).values
    true = logits.gather(1, target[:, None])
    others = logits.scatter(1, target[:, None], float("-inf"))
    return (true > others).all(dim=1)
