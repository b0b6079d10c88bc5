"""Wall-clock timing that synchronises the device: CUDA events on GPU, perf_counter on CPU."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from accelerator_utils.device import DeviceLike, synchronize


@dataclass(frozen=True)
class TimingResult:
    """Repeated timings of one callable, in seconds."""

    times_s: tuple[float, ...]
    warmup: int

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def min_s(self) -> float:
        return min(self.times_s)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.times_s)

    @property
    def iqr_s(self) -> float:
        """Interquartile range: the spread, robust to the odd slow repeat."""
        if len(self.times_s) < 2:
            return 0.0
        q = statistics.quantiles(self.times_s, n=4, method="inclusive")
        return q[2] - q[0]

    def __str__(self) -> str:
        return f"{format_seconds(self.median_s)} ± {format_seconds(self.iqr_s)} (median ± IQR, n={len(self.times_s)})"


def format_seconds(seconds: float) -> str:
    """Human units: ``1.23 ms``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


@dataclass
class Timer:
    """Context manager timing one block; synchronises ``device`` before start and stop.

    >>> with Timer() as t:
    ...     work()
    >>> t.elapsed_s
    """

    device: DeviceLike = None
    elapsed_s: float = field(default=float("nan"), init=False)

    def __enter__(self) -> Timer:
        self._cuda = _is_cuda(self.device)
        synchronize(self.device)
        if self._cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._stop = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._cuda:
            self._stop.record()
            self._stop.synchronize()
            self.elapsed_s = self._start.elapsed_time(self._stop) / 1e3
        else:
            synchronize(self.device)
            self.elapsed_s = time.perf_counter() - self._t0


def _is_cuda(device: DeviceLike) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def measure(
    fn: Callable[[], Any], *, warmup: int = 1, repeats: int = 5, device: DeviceLike = None
) -> TimingResult:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls, synchronising ``device``."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats=} {warmup=}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        with Timer(device) as t:
            fn()
        times.append(t.elapsed_s)
    return TimingResult(tuple(times), warmup)
