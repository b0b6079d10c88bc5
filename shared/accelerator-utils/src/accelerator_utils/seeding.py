"""Seeding without hidden global state: generators and child seeds from ``SeedSequence``."""

from __future__ import annotations

import random

import numpy as np
import torch

SeedLike = int | np.random.SeedSequence | None


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's *global* generators (for scripts and notebooks).

    Library code should take a ``seed`` or ``generator`` argument instead (see
    :func:`make_generator`).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the global generator is the point
    torch.manual_seed(seed)


def child_seeds(seed: SeedLike, n: int) -> list[int]:
    """``n`` statistically independent 63-bit seeds derived from ``seed`` by ``SeedSequence.spawn``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [
        int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for child in root.spawn(n)
    ]


def make_generator(
    seed: int | torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A ``torch.Generator`` on ``device``: passed through if given, else seeded from ``seed``.

    ``seed=None`` draws fresh OS entropy (non-reproducible, but never touches global state).
    """
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device=torch.device(device))
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


def numpy_rng(seed: int | np.random.Generator | None = None) -> np.random.Generator:
    """A NumPy ``Generator``: passed through if given, else ``default_rng(seed)``."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
