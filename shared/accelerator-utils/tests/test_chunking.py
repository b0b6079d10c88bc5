import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from accelerator_utils import MemoryBudgetError, chunk_size_for, chunked_apply, split_sizes


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), budget_items=st.integers(1, 400))
def test_chunked_equals_unchunked_and_respects_budget(n, budget_items):
    x = torch.arange(n * 3, dtype=torch.float64).reshape(n, 3)
    bytes_per_item = 3 * 8 * 2  # input row + output row
    seen = []

    def fn(chunk):
        seen.append(chunk.shape[0])
        return chunk.square().sum(1, keepdim=True)

    out = chunked_apply(
        fn, x, bytes_per_item=bytes_per_item, budget_bytes=budget_items * bytes_per_item
    )
    assert torch.equal(out, fn(x))
    assert max(seen[:-1]) * bytes_per_item <= budget_items * bytes_per_item
    assert sum(seen[:-1]) == n


def test_chunking_along_other_dim_and_several_inputs():
    a = torch.randn(4, 50)
    b = torch.randn(4, 50)
    out = chunked_apply(lambda u, v: u * v, a, b, bytes_per_item=64, budget_bytes=64 * 7, dim=1)
    assert torch.equal(out, a * b)


def test_budget_too_small_raises_with_advice():
    with pytest.raises(MemoryBudgetError, match="raise budget_bytes"):
        chunk_size_for(100, 1000, total=10)
    with pytest.raises(ValueError, match="same size"):
        chunked_apply(
            lambda u, v: u, torch.zeros(3), torch.zeros(4), bytes_per_item=8, budget_bytes=80
        )


def test_split_sizes():
    assert split_sizes(10, 4) == [4, 4, 2]
    assert split_sizes(0, 4) == []
    with pytest.raises(ValueError):
        split_sizes(3, 0)


def _fails_above(limit, calls):
    def fn(chunk):
        calls.append(chunk.shape[0])
        if chunk.shape[0] > limit:
            raise torch.cuda.OutOfMemoryError("simulated out of memory")
        return chunk * 2

    return fn


def test_out_of_memory_backs_off_to_a_fitting_chunk():
    x = torch.arange(100.0)
    calls = []
    out = chunked_apply(_fails_above(20, calls), x, bytes_per_item=4, budget_bytes=4 * 100)
    assert torch.equal(out, x * 2)
    assert calls[:3] == [100, 50, 25] and set(calls[3:]) <= {12, 4}  # halved until it fits


def test_out_of_memory_at_the_floor_is_a_clear_error():
    with pytest.raises(MemoryBudgetError, match="floor 16"):
        chunked_apply(
            _fails_above(8, []), torch.zeros(64), bytes_per_item=4, budget_bytes=256, min_chunk=16
        )
