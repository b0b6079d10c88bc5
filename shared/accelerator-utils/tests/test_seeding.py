import random

import numpy as np
import pytest
import torch

from accelerator_utils import child_seeds, make_generator, numpy_rng, seed_everything


def test_seed_everything_reproduces_all_three():
    seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    assert a == b
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_child_seeds_are_deterministic_distinct_and_63_bit():
    s = child_seeds(7, 50)
    assert s == child_seeds(7, 50)
    assert len(set(s)) == 50
    assert all(0 <= x < 2**63 for x in s)
    assert child_seeds(8, 3) != s[:3]
    # spawning is prefix-stable: the first children do not depend on how many are asked for
    assert child_seeds(7, 3) == s[:3]


def test_make_generator_does_not_touch_global_state():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    g = make_generator(5)
    x = torch.rand(3, generator=g)
    assert torch.equal(torch.rand(3), expected)  # global stream unaffected
    assert torch.equal(x, torch.rand(3, generator=make_generator(5)))
    assert make_generator(g) is g


def test_numpy_rng_passthrough_and_seed():
    r = np.random.default_rng(1)
    assert numpy_rng(r) is r
    assert numpy_rng(3).integers(1 << 30) == numpy_rng(3).integers(1 << 30)
