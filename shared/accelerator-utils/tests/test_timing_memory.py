import time

import pytest
import torch

from accelerator_utils import (
    PeakMemory,
    Timer,
    current_rss_bytes,
    format_bytes,
    format_seconds,
    measure,
)


def test_timer_measures_a_known_sleep():
    with Timer() as t:
        time.sleep(0.05)
    assert 0.045 <= t.elapsed_s <= 0.2


def test_measure_counts_warmup_and_repeats():
    calls = []
    res = measure(lambda: (calls.append(1), time.sleep(0.01)), warmup=2, repeats=5)
    assert len(calls) == 7
    assert len(res.times_s) == 5
    assert 0.009 <= res.median_s <= 0.1
    assert res.min_s <= res.median_s
    assert res.iqr_s >= 0
    with pytest.raises(ValueError):
        measure(lambda: None, repeats=0)


def test_formatting():
    assert format_seconds(0.0015) == "1.5 ms"
    assert format_seconds(2.0) == "2 s"
    assert format_bytes(1536) == "1.5 KiB"


def test_peak_memory_sees_a_transient_allocation():
    n = 64 * 2**20  # 64 MiB
    with PeakMemory("cpu") as pm:
        buf = torch.ones(n // 4, dtype=torch.float32)  # touch every page
        del buf
    assert pm.method in ("vmhwm", "sampling")
    # the allocation was freed before exit, yet the peak saw it
    assert pm.delta_bytes >= 0.8 * n, (pm.delta_bytes, pm.method)
    assert current_rss_bytes() > 0


def test_peak_memory_resets_between_blocks():
    with PeakMemory("cpu"):
        big = torch.ones(32 * 2**20)  # 128 MiB
        del big
    with PeakMemory("cpu") as second:
        small = torch.ones(2**20)
        del small
    assert second.delta_bytes < 64 * 2**20
