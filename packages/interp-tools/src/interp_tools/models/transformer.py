"""A small causal transformer (nanoGPT-like) with named hook points.

Hook points (``HookPoint`` modules, names as in ``named_modules()``)::

    hook_embed, hook_pos_embed                 [B, T, d_model]
    blocks.{l}.hook_resid_pre / hook_resid_mid / hook_resid_post   [B, T, d_model]
    blocks.{l}.attn.hook_q / hook_k / hook_v / hook_z              [B, T, H, d_head]
    blocks.{l}.attn.hook_scores / hook_pattern                     [B, H, T_q, T_k]
    blocks.{l}.hook_attn_out / hook_mlp_out                        [B, T, d_model]
    blocks.{l}.mlp.hook_pre / hook_post                            [B, T, d_mlp]
    hook_resid_final                                               [B, T, d_model]
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from accelerator_utils import make_generator
from interp_tools.hooks.core import HookPoint, hooks

KV = tuple[torch.Tensor, torch.Tensor]

# hook points indexed [B, T, ...] by position, inside a block (resid_final is [B, T, d] too)
_POSITIONAL = (
    "hook_resid_pre",
    "hook_resid_mid",
    "hook_resid_post",
    "hook_attn_out",
    "hook_mlp_out",
    "attn.hook_q",
    "attn.hook_k",
    "attn.hook_v",
    "attn.hook_z",
    "mlp.hook_pre",
    "mlp.hook_post",
)


@dataclass(frozen=True)
class PatchingSplit:
    """A forward split around a hook site, for activation patching.

    ``prefix(inputs)`` runs the part of the forward that no patch at the site can change and
    returns a state (``activation_patching`` runs each distinct ``prefix`` once per call, so
    a prefix shared by all sites runs once); ``suffix(state, copies, start)`` runs the rest on ``copies`` stacked
    copies of the batch and returns the full output [copies·B, ...]. ``causal``: a patch at
    positions ≥ ``start`` (activation dim 1) leaves every earlier position unchanged, so
    ``suffix`` may take ``start`` > 0: the site's hook then sees positions ≥ ``start`` only.
    """

    prefix: Callable[[torch.Tensor], Any]
    suffix: Callable[[Any, int, int], torch.Tensor]
    causal: bool


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the model. ``d_mlp=None`` gives an attention-only model."""

    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    d_head: int = 16
    d_mlp: int | None = 256
    d_vocab: int = 64
    n_ctx: int = 32
    layernorm: bool = True
    bias: bool = True

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "d_head", "d_vocab", "n_ctx"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"TransformerConfig.{name} must be >= 1, got {getattr(self, name)}"
                )
        if self.d_mlp is not None and self.d_mlp < 1:
            raise ValueError(f"d_mlp must be >= 1 or None (attention only), got {self.d_mlp}")


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """Re-draw ``model``'s Linear/Embedding/LayerNorm parameters from ``generator`` with
    PyTorch's default distributions: Linear U(±1/√fan_in) (weight and bias), Embedding N(0, 1),
    LayerNorm ones/zeros."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            bound = 1 / math.sqrt(m.in_features)
            nn.init.uniform_(m.weight, -bound, bound, generator=generator)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, generator=generator)
        elif isinstance(m, nn.LayerNorm):
            m.reset_parameters()


def _norm(cfg: TransformerConfig) -> nn.Module:
    return nn.LayerNorm(cfg.d_model) if cfg.layernorm else nn.Identity()


class Attention(nn.Module):
    """Multi-head causal self-attention with per-head hook points."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        inner = cfg.n_heads * cfg.d_head
        self.W_Q = nn.Linear(cfg.d_model, inner, bias=cfg.bias)
        self.W_K = nn.Linear(cfg.d_model, inner, bias=cfg.bias)
        self.W_V = nn.Linear(cfg.d_model, inner, bias=cfg.bias)
        self.W_O = nn.Linear(inner, cfg.d_model, bias=cfg.bias)
        for name in ("q", "k", "v", "scores", "pattern", "z"):
            setattr(self, f"hook_{name}", HookPoint())
        mask = torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool))
        self.register_buffer("mask", mask, persistent=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:2], self.cfg.n_heads, self.cfg.d_head)

    def forward(self, x: torch.Tensor, past: KV | None = None) -> torch.Tensor:
        """``x``: [B, T, d_model] → [B, T, d_model].

        ``past``: keys and values [B, s, H, d_head] of s earlier positions; ``x`` then holds
        positions s … s + T − 1 and attends to all s + T (the hook points see the new
        positions only)."""
        T = x.shape[1]
        q = self.hook_q(self._heads(self.W_Q(x)))
        k = self.hook_k(self._heads(self.W_K(x)))
        v = self.hook_v(self._heads(self.W_V(x)))
        s = 0
        if past is not None:
            s = past[0].shape[1]
            k, v = torch.cat([past[0], k], dim=1), torch.cat([past[1], v], dim=1)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(self.cfg.d_head)
        scores = self.hook_scores(scores.masked_fill(~self.mask[s : s + T, : s + T], float("-inf")))
        pattern = self.hook_pattern(scores.softmax(dim=-1))
        z = self.hook_z(torch.einsum("bhqk,bkhd->bqhd", pattern, v))
        return self.W_O(z.reshape(*z.shape[:2], -1))


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        assert cfg.d_mlp is not None
        self.W_in = nn.Linear(cfg.d_model, cfg.d_mlp, bias=cfg.bias)
        self.W_out = nn.Linear(cfg.d_mlp, cfg.d_model, bias=cfg.bias)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.W_out(self.hook_post(torch.nn.functional.gelu(self.hook_pre(self.W_in(x)))))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.ln1 = _norm(cfg)
        self.attn = Attention(cfg)
        self.ln2 = _norm(cfg) if cfg.d_mlp is not None else None
        self.mlp = MLP(cfg) if cfg.d_mlp is not None else None
        for name in ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"):
            setattr(self, f"hook_{name}", HookPoint())

    def forward(self, x: torch.Tensor, past: KV | None = None) -> torch.Tensor:
        """``x``: [B, T, d_model]; ``past``: earlier keys and values (``Attention.forward``)."""
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(self.ln1(x), past)))
        if self.mlp is not None:
            x = x + self.hook_mlp_out(self.mlp(self.ln2(x)))
        return self.hook_resid_post(x)


class Transformer(nn.Module):
    """Token + learned positional embeddings, ``n_layers`` blocks, final norm, unembedding.

    ``seed`` (an int or a generator): initialise from it (PyTorch's default distributions)
    without using the global RNG; ``None`` keeps PyTorch's default, global-RNG initialisation.
    """

    def __init__(
        self, cfg: TransformerConfig, *, seed: int | torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.cfg = cfg
        # with a seed, the default initialisation's global-RNG draws are undone afterwards
        fork = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
        with fork:
            self.W_E = nn.Embedding(cfg.d_vocab, cfg.d_model)
            self.W_pos = nn.Embedding(cfg.n_ctx, cfg.d_model)
            self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
            self.ln_final = _norm(cfg)
            self.W_U = nn.Linear(cfg.d_model, cfg.d_vocab, bias=cfg.bias)
        self.hook_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        self.hook_resid_final = HookPoint()
        if seed is not None:
            init_weights(self, make_generator(seed))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens``: [B, T] int64 with T ≤ n_ctx → logits [B, T, d_vocab]."""
        return self._head(self._blocks(self._embed(tokens), 0))

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"tokens must be an integer tensor [B, T], got {tokens.dtype} "
                f"of shape {tuple(tokens.shape)}"
            )
        T = tokens.shape[1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"sequence length {T} exceeds n_ctx={self.cfg.n_ctx}")
        pos = torch.arange(T, device=tokens.device)
        return self.hook_embed(self.W_E(tokens)) + self.hook_pos_embed(self.W_pos(pos))[None]

    def _blocks(self, x: torch.Tensor, start: int, stop: int | None = None) -> torch.Tensor:
        stop = len(self.blocks) if stop is None else stop
        for i in range(start, stop):  # indexing: a ModuleList slice builds a new module
            x = self.blocks[i](x)
        return x

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return self.W_U(self.hook_resid_final(self.ln_final(x)))

    def patching_split(self, site: str) -> PatchingSplit | None:
        """Split the forward around hook point ``site`` (``None`` for the embeddings).

        The prefix (``patching_state``, the same for every site, so run once per input) runs
        the corrupted batch once, keeping the residual stream entering each block, the keys
        and values and the logits; the suffix runs the blocks from the first one holding
        ``site`` (none for ``hook_resid_final``) on the stacked copies. For sites indexed by
        position the split is causal: from ``start`` on, earlier positions reuse the kept
        keys and values and the prefix's logits.
        """
        if site == "hook_resid_final":
            first, positional = self.cfg.n_layers, True
        elif site.startswith("blocks.") and site.split(".")[1].isdigit():
            first = int(site.split(".")[1])
            positional = site.split(".", 2)[2] in _POSITIONAL
            if first >= self.cfg.n_layers:
                return None
        else:
            return None
        return PatchingSplit(
            self.patching_state,
            lambda state, copies, start: self._tail(state, first, copies, start),
            positional,
        )

    def patching_state(self, tokens: torch.Tensor) -> dict[str, Any]:
        """One unpatched run of ``tokens``: the residual stream entering each block (and the
        final norm), each block's keys and values, and the logits (the prefix of every
        ``patching_split``)."""
        resid: list[torch.Tensor] = []
        kept: dict[str, torch.Tensor] = {}
        keep = {
            f"blocks.{j}.{name}": lambda a, key=f"{j}.{name}": kept.__setitem__(key, a)
            for j in range(self.cfg.n_layers)
            for name in ("attn.hook_k", "attn.hook_v")
        }
        with hooks(self, keep):
            x = self._embed(tokens)
            for block in self.blocks:
                resid.append(x)
                x = block(x)
            resid.append(x)
            out = self._head(x)
        kv = [(kept[f"{j}.attn.hook_k"], kept[f"{j}.attn.hook_v"]) for j in range(len(self.blocks))]
        return {"resid": resid, "kv": kv, "out": out}

    def _tail(self, state: dict[str, Any], first: int, copies: int, start: int) -> torch.Tensor:
        """Logits of ``copies`` stacked copies from block ``first`` on, positions ≥ ``start``
        recomputed, earlier ones from ``state``."""

        def rep(t: torch.Tensor) -> torch.Tensor:
            return t.repeat(copies, *[1] * (t.ndim - 1))

        x = rep(state["resid"][first][:, start:])
        for j in range(first, len(self.blocks)):
            k, v = state["kv"][j]
            past = (rep(k[:, :start]), rep(v[:, :start])) if start else None
            x = self.blocks[j](x, past)
        tail = self._head(x)
        return torch.cat([rep(state["out"][:, :start]), tail], dim=1) if start else tail
