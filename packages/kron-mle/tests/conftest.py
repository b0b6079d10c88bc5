"""Shared fixtures: one BLAS thread (small dense problems) and random SPD factors."""

import numpy as np
import pytest
import torch

from accelerator_utils import limit_threads


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    with limit_threads(1):
        yield


def random_spd(m: int, seed: int) -> torch.Tensor:
    """A well-conditioned random SPD matrix (float64)."""
    A = np.random.default_rng(seed).standard_normal((m, m))
    return torch.as_tensor(A @ A.T / m + np.eye(m))


@pytest.fixture
def spd():
    return random_spd
