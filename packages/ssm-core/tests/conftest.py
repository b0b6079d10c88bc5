"""Shared test helper. ``torch.testing.assert_close`` is avoided: its first call imports
``torch.distributed.tensor``, which costs seconds on a busy CPU."""

import pytest
import torch

from accelerator_utils import limit_threads


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small tensors run fastest on one thread, and CI machines are shared."""
    with limit_threads(1):
        yield


def _assert_close(actual, expected, rtol=1.3e-6, atol=1e-5):
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert actual.shape == expected.shape, (
        f"shapes differ: {tuple(actual.shape)} vs {tuple(expected.shape)}"
    )
    diff = (actual - expected).abs()
    bound = atol + rtol * expected.abs()
    worst = int((diff - bound).argmax()) if diff.numel() else 0
    assert bool((diff <= bound).all()), (
        f"not close: max abs diff {diff.max().item():.3e} at flat index {worst} (rtol={rtol}, atol={atol})"
    )


@pytest.fixture
def close():
    return _assert_close
