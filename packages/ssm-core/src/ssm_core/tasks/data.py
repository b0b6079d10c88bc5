"""Synthetic tasks with known answers: selective copying and induction heads (Mamba paper,
Sec. 4.1) and in-context learning of Markov chains ("From Markov to Laplace", 2024).

Every generator returns ``(tokens (batch, length), targets (batch, length))`` with target
``-100`` where no loss is taken (PyTorch's ignore index).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

IGNORE = -100


@dataclass(frozen=True)
class SelectiveCopy:
    """``n_data`` tokens from ``1..n_symbols`` scattered among ``context`` noise tokens (0), then
    ``n_data`` marker tokens; the model must emit the data tokens, in order, at the markers."""

    context: int = 64
    n_data: int = 8
    n_symbols: int = 8

    @property
    def vocab(self) -> int:
        return self.n_symbols + 2  # noise 0, symbols, marker

    def sample(
        self, batch: int, generator: torch.Generator, context: int | None = None
    ) -> tuple[Tensor, Tensor]:
        ctx = context or self.context
        if ctx < self.n_data:
            raise ValueError(f"context ({ctx}) must hold the {self.n_data} data tokens")
        data = torch.randint(1, self.n_symbols + 1, (batch, self.n_data), generator=generator)
        pos = (
            torch.rand(batch, ctx, generator=generator).argsort(1)[:, : self.n_data].sort(1).values
        )
        seq = torch.zeros(batch, ctx + self.n_data, dtype=torch.long)
        seq.scatter_(1, pos, data)
        seq[:, ctx:] = self.n_symbols + 1
        targets = torch.full_like(seq, IGNORE)
        targets[:, ctx:] = data
        return seq, targets


@dataclass(frozen=True)
class Induction:
    """Random tokens with one ``trigger`` followed by a target somewhere; the sequence ends with
    the trigger again and the model must recall the token that followed it earlier."""

    length: int = 64
    n_symbols: int = 16

    @property
    def vocab(self) -> int:
        return self.n_symbols + 1  # trigger is the last id

    def sample(
        self, batch: int, generator: torch.Generator, length: int | None = None
    ) -> tuple[Tensor, Tensor]:
        L = length or self.length
        if L < 4:
            raise ValueError(f"induction sequences need length >= 4, got {L}")
        trig = self.n_symbols
        seq = torch.randint(0, self.n_symbols, (batch, L), generator=generator)
        pos = torch.randint(0, L - 3, (batch,), generator=generator)
        rows = torch.arange(batch)
        seq[rows, pos] = trig
        seq[:, -1] = trig
        targets = torch.full_like(seq, IGNORE)
        targets[:, -1] = seq[rows, pos + 1]
        return seq, targets


@dataclass(frozen=True)
class MarkovICL:
    """Order-1 Markov chains over ``states`` symbols with transition rows ~ Dirichlet(1), a new
    chain per sequence; next-token targets everywhere."""

    length: int = 128
    states: int = 2

    @property
    def vocab(self) -> int:
        return self.states

    def sample(
        self, batch: int, generator: torch.Generator, length: int | None = None
    ) -> tuple[Tensor, Tensor]:
        L = length or self.length
        gamma = torch._standard_gamma(
            torch.ones(batch, self.states, self.states), generator=generator
        )
        P = gamma / gamma.sum(-1, keepdim=True)
        seq = torch.empty(batch, L + 1, dtype=torch.long)
        seq[:, 0] = torch.randint(0, self.states, (batch,), generator=generator)
        rows = torch.arange(batch)
        for t in range(L):
            seq[:, t + 1] = torch.multinomial(P[rows, seq[:, t]], 1, generator=generator)[:, 0]
        return seq[:, :-1], seq[:, 1:]


def add_beta_loss(tokens: Tensor, targets: Tensor, states: int, beta: float = 1.0) -> float:
    """Mean cross-entropy (nats) of the add-``beta`` estimator ``(n_ij + beta) / (n_i + S beta)``
    with counts from the prefix only: the Bayes-optimal predictor for Dirichlet(1) rows at beta=1."""
    b, L = tokens.shape
    counts = torch.zeros(b, states, states)
    rows = torch.arange(b)
    total = 0.0
    for t in range(L):
        i, j = tokens[:, t], targets[:, t]
        c = counts[rows, i]
        total += float(-torch.log((c[rows, j] + beta) / (c.sum(-1) + states * beta)).sum())
        counts[rows, i, j] += 1
    return total / (b * L)
