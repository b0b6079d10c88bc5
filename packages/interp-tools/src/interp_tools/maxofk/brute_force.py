"""Exact accuracy of a Max-of-K model over all V^K inputs, by batched forward passes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from accelerator_utils import progress as progress_bar
from interp_tools.maxofk.model import correct, path_weights
from interp_tools.models.transformer import Transformer


@dataclass(frozen=True)
class BoundResult:
    """A (lower bound on) accuracy with its cost: ``flops`` counted, ``wall_s`` measured."""

    strategy: str
    accuracy: float
    n_correct: int
    n_total: int
    flops: float
    wall_s: float


def all_sequences(d_vocab: int, n_ctx: int, start: int, stop: int) -> torch.Tensor:
    """Sequences ``start..stop-1`` of all d_vocab^n_ctx in lexicographic order: [N, n_ctx]."""
    idx = torch.arange(start, stop, dtype=torch.int64)
    powers = d_vocab ** torch.arange(n_ctx - 1, -1, -1, dtype=torch.int64)
    return (idx[:, None] // powers) % d_vocab


def forward_flops(model: Transformer, n_seq: int) -> float:
    """Multiply-adds ×2 of one forward over ``n_seq`` sequences (matmuls only)."""
    c = model.cfg
    T, d, dh, V = c.n_ctx, c.d_model, c.d_head * c.n_heads, c.d_vocab
    per_seq = 2 * T * (3 * d * dh + dh * d + d * V) + 2 * 2 * T * T * dh
    return float(n_seq * per_seq)


@torch.no_grad()
def brute_force_accuracy(
    model: Transformer, *, chunk: int = 1 << 16, progress: bool | None = None
) -> BoundResult:
    """Run every input through ``model`` and count strictly correct answers."""
    V, K = model.cfg.d_vocab, model.cfg.n_ctx
    total = V**K
    t0 = time.perf_counter()
    n_correct = 0
    for start in progress_bar(range(0, total, chunk), desc="brute force", enabled=progress):
        tokens = all_sequences(V, K, start, min(start + chunk, total))
        n_correct += int(correct(model(tokens)[:, -1], tokens).sum())
    wall = time.perf_counter() - t0
    return BoundResult(
        "brute force", n_correct / total, n_correct, total, forward_flops(model, total), wall
    )


@torch.no_grad()
def brute_force_accuracy_paths(model: Transformer, *, progress: bool | None = None) -> BoundResult:
    """The same count from float64 path tables, last position only, one query token at a time.

    For query q, logits[t_0..t_{K−2}, o] = U[q, o] + Σ_i e^{s[q,i,t_i]} OV[i, t_i, o] / Z, built
    for the whole grid of the K−1 other tokens by broadcasting. Agrees with the model's float32
    forward except where a logit gap is within rounding (checked in tests and benchmarks).
    """
    w = path_weights(model)
    V, K, dh = w.d_vocab, w.n_ctx, w.W_Q.shape[1]
    t0 = time.perf_counter()
    q_vec = (w.E + w.P[-1]) @ w.W_Q
    keys = (w.E[None] + w.P[:, None]) @ w.W_K  # [K, V, dh]
    scores = torch.einsum("qh,ith->qit", q_vec, keys) / dh**0.5  # [V, K, V]
    scores = scores - scores.amax(dim=(1, 2), keepdim=True)
    ov = (w.E[None] + w.P[:, None]) @ (w.W_V @ w.W_O @ w.W_U)  # [K, V, V]
    direct = (w.E + w.P[-1]) @ w.W_U
    grid = torch.arange(V)
    n_correct = 0
    for q in progress_bar(range(V), desc="brute force (paths)", enabled=progress):
        num = (scores[q, K - 1, q].exp() * ov[K - 1, q]).expand(*([1] * (K - 1)), V)
        z = scores[q, K - 1, q].exp().reshape([1] * (K - 1))
        mx = torch.full([1] * (K - 1), q)
        for i in range(K - 1):
            shape = [1] * (K - 1)
            shape[i] = V
            e = scores[q, i].exp()
            num = num + (e[:, None] * ov[i]).view(*shape, V)
            z = z + e.view(shape)
            mx = torch.maximum(mx, grid.view(shape))
        logits = (direct[q] + num / z[..., None]).reshape(-1, V)
        target = mx.expand(z.shape).reshape(-1, 1)
        true = logits.gather(1, target)
        others = logits.scatter(1, target, float("-inf"))
        n_correct += int((true > others).all(dim=1).sum())
    wall = time.perf_counter() - t0
    total = V**K
    flops = float(total * (4 * V + 2 * (K - 1) * V))
    return BoundResult("brute force (paths)", n_correct / total, n_correct, total, flops, wall)
