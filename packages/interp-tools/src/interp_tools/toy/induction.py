"""Induction heads on repeated random sequences with random repeat offsets (Olsson et al. 2022).

Each sequence is [filler, s, s] with s a random chunk of random length n, so the offset of the
repeat varies and a purely positional rule cannot predict the second copy; copying the token
that followed the previous occurrence (an induction circuit, needing 2 layers) can.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from accelerator_utils import make_generator
from accelerator_utils import progress as progress_bar
from interp_tools.hooks import run_with_cache
from interp_tools.models.transformer import Transformer, TransformerConfig


def repeated_sequences(
    batch: int, n_ctx: int, d_vocab: int, generator: torch.Generator, min_len: int = 3
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tokens [B, T], predictable [B, T] bool, offset [B]).

    ``predictable[b, p]``: position p lies in the second copy and is not the last position, so
    token p + 1 equals token p + 1 − offset, the token after the previous occurrence of p's.
    """
    max_len = n_ctx // 2
    if max_len < min_len:
        raise ValueError(f"n_ctx={n_ctx} too short for repeats of length >= {min_len}")
    tokens = torch.randint(d_vocab, (batch, n_ctx), generator=generator)
    n = torch.randint(min_len, max_len + 1, (batch,), generator=generator)
    pos = torch.arange(n_ctx)
    start2 = n_ctx - n  # second copy occupies [T − n, T)
    src = pos[None] - n[:, None]
    in_second = pos[None] >= start2[:, None]
    tokens = torch.where(in_second, tokens.gather(1, src.clamp_min(0)), tokens)
    predictable = (pos[None] >= start2[:, None]) & (pos[None] < n_ctx - 1)
    return tokens, predictable, n


def induction_score(
    pattern: torch.Tensor, offset: torch.Tensor, predictable: torch.Tensor
) -> torch.Tensor:
    """Mean attention [H] from each predictable position p to p − offset + 1.

    ``pattern`` [B, H, T, T], ``offset`` [B], ``predictable`` [B, T].
    """
    B, H, T, _ = pattern.shape
    q = torch.arange(T)
    k = (q[None] - offset[:, None] + 1).clamp(0, T - 1)  # [B, T]
    att = pattern.gather(3, k[:, None, :, None].expand(B, H, T, 1))[..., 0]  # [B, H, T]
    mask = predictable[:, None, :].to(att.dtype)
    return (att * mask).sum((0, 2)) / mask.sum((0, 2)).clamp_min(1)


@dataclass
class InductionResult:
    model: Transformer
    losses: list[float] = field(default_factory=list)
    repeat_loss: float = float("nan")
    score: float = float("nan")  # best head of the last layer


def train_induction(
    n_layers: int = 2,
    *,
    steps: int = 2000,
    batch_size: int = 64,
    n_ctx: int = 24,
    d_vocab: int = 32,
    d_model: int = 64,
    n_heads: int = 2,
    lr: float = 1e-3,
    seed: int | None = 0,
    progress: bool | None = None,
) -> InductionResult:
    """Train an attention-only model on next-token prediction over repeated sequences.

    ``seed`` drives the initialisation and the data (no global RNG); ``progress``: show a bar
    (None: only on a terminal outside CI).
    """
    gen = make_generator(seed)
    cfg = TransformerConfig(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_head=d_model // n_heads,
        d_mlp=None,
        d_vocab=d_vocab,
        n_ctx=n_ctx,
    )
    model = Transformer(cfg, seed=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    result = InductionResult(model)
    for _ in progress_bar(range(steps), desc=f"induction {n_layers}L", enabled=progress):
        tokens, _, _ = repeated_sequences(batch_size, n_ctx, d_vocab, gen)
        logits = model(tokens)[:, :-1]
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, d_vocab), tokens[:, 1:].reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        result.losses.append(loss.item())
    model.eval()
    tokens, predictable, offset = repeated_sequences(512, n_ctx, d_vocab, gen)
    site = f"blocks.{n_layers - 1}.attn.hook_pattern"
    with torch.no_grad():
        out, cache = run_with_cache(model, tokens, names=[site])
        nll = torch.nn.functional.cross_entropy(
            out[:, :-1].reshape(-1, d_vocab), tokens[:, 1:].reshape(-1), reduction="none"
        ).view(512, n_ctx - 1)
    mask = predictable[:, :-1]
    result.repeat_loss = float(nll[mask].mean())
    result.score = float(induction_score(cache[site], offset, predictable).max())
    return result
