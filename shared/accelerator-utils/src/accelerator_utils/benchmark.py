"""Side-by-side benchmarks: candidates run interleaved in one process, reported as ratios.

Each round runs every candidate once, in an order rotated from round to round, so drift in the
machine's speed (thermal, other load) hits all candidates alike. The ratio to the baseline is
taken per round, and its median and interquartile range are reported with each median time.
Next to wall-clock time each timing records the process CPU time, whose ratio preemption by
other jobs does not inflate (it equals wall time for single-threaded CPU work on an idle
machine), and the comparison records the torch thread count it ran with.

>>> cmp = compare({"loop": slow, "vectorised": fast}, baseline="loop", repeats=7)
>>> print(cmp.to_markdown())
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from accelerator_utils.allocator import retain_freed_memory
from accelerator_utils.device import DeviceLike
from accelerator_utils.environment import environment, hardware_summary
from accelerator_utils.io import atomic_write_json, atomic_write_text
from accelerator_utils.timing import Timer, format_seconds


@dataclass(frozen=True)
class Row:
    """One candidate's result: seconds per call and the ratio of its time to the baseline's."""

    name: str
    median_s: float
    iqr_s: float
    ratio: float
    ratio_iqr: float
    calls_per_timing: int
    cpu_median_s: float = float("nan")
    cpu_ratio: float = float("nan")

    @property
    def speedup(self) -> float:
        """How many times faster than the baseline (baseline time / this time)."""
        return 1.0 / self.ratio


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare`."""

    title: str
    baseline: str
    rows: tuple[Row, ...]
    params: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no candidate {name!r}; candidates: {[r.name for r in self.rows]}")

    def speedup(self, name: str) -> float:
        """Baseline time / ``name``'s time, the median over rounds."""
        return self.row(name).speedup

    def to_markdown(self) -> str:
        params = [f"{k}={v}" for k, v in self.params.items()]
        if self.threads is not None:
            params.append(f"{self.threads} torch threads")
        lines = [
            f"**{self.title}**" + (f" ({', '.join(params)})" if params else ""),
            "",
            f"| candidate | median | IQR | time / {self.baseline} | speed-up | CPU time / {self.baseline} |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.name} | {format_seconds(r.median_s)} | {format_seconds(r.iqr_s)} "
                f"| {r.ratio:.3g} ± {r.ratio_iqr:.2g} | {r.speedup:.3g}× | {r.cpu_ratio:.3g} |"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "baseline": self.baseline,
            "params": self.params,
            "threads": self.threads,
            "rows": [asdict(r) | {"speedup": r.speedup} for r in self.rows],
        }


def _calls_for(fn: Callable[[], Any], device: DeviceLike, min_time_s: float) -> int:
    with Timer(device) as t:
        fn()
    return max(1, math.ceil(min_time_s / max(t.elapsed_s, 1e-9)))


def _iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[2] - q[0]


def compare(
    candidates: Mapping[str, Callable[[], Any]],
    *,
    baseline: str | None = None,
    title: str = "comparison",
    repeats: int = 7,
    warmup: int = 1,
    min_time_s: float = 0.02,
    device: DeviceLike = None,
    params: Mapping[str, Any] | None = None,
) -> Comparison:
    """Time ``candidates`` side by side, interleaved, and compare each with ``baseline``.

    Each timing repeats a call enough times to last at least ``min_time_s`` (calibrated once,
    per candidate), so microsecond-scale functions are measured above timer resolution.
    ``baseline`` defaults to the first candidate.
    """
    if not candidates:
        raise ValueError("compare needs at least one candidate")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats=} {warmup=}")
    names = list(candidates)
    baseline = names[0] if baseline is None else baseline
    if baseline not in candidates:
        raise ValueError(f"baseline {baseline!r} is not among the candidates {names}")
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    calls = {n: _calls_for(candidates[n], device, min_time_s) for n in names}
    per_call: dict[str, list[float]] = {n: [] for n in names}
    cpu_per_call: dict[str, list[float]] = {n: [] for n in names}
    for round_ in range(repeats):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for n in order:
            fn = candidates[n]
            cpu0 = time.process_time()
            with Timer(device) as t:
                for _ in range(calls[n]):
                    fn()
            cpu_per_call[n].append((time.process_time() - cpu0) / calls[n])
            per_call[n].append(t.elapsed_s / calls[n])
    rows = tuple(
        _row(n, per_call[n], per_call[baseline], cpu_per_call[n], cpu_per_call[baseline], calls[n])
        for n in names
    )
    return Comparison(title, baseline, rows, dict(params or {}), torch.get_num_threads())


def _row(
    name: str,
    times: list[float],
    base: list[float],
    cpu: list[float],
    cpu_base: list[float],
    calls: int,
) -> Row:
    ratios = [c / b for c, b in zip(times, base)]
    cpu_ratios = [c / b for c, b in zip(cpu, cpu_base) if b > 0]
    return Row(
        name,
        statistics.median(times),
        _iqr(times),
        statistics.median(ratios),
        _iqr(ratios),
        calls,
        statistics.median(cpu),
        statistics.median(cpu_ratios) if cpu_ratios else float("nan"),
    )


@dataclass
class BenchmarkReport:
    """A package's benchmark results: comparisons and headline metrics, with the environment.

    ``write(directory)`` saves ``<name>.json`` (read by the monorepo's report tool) and
    ``<name>.md`` atomically.
    """

    package: str
    comparisons: list[Comparison] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, comparison: Comparison) -> Comparison:
        self.comparisons.append(comparison)
        return comparison

    def metric(
        self,
        name: str,
        value: float,
        unit: str = "",
        *,
        target: str | None = None,
        passed: bool | None = None,
        anchor: str | None = None,
    ) -> None:
        """Record a headline figure, with the target it is held to and whether it passed."""
        self.metrics.append(
            {
                "name": name,
                "value": value,
                "unit": unit,
                "target": target,
                "passed": passed,
                "anchor": anchor,
            }
        )

    def use_allocator(self, retain_freed: bool) -> bool:
        """Set up the CPU allocator for the run and record it as a metric: with
        ``retain_freed``, :func:`retain_freed_memory` (process-wide, irreversible), else the
        defaults. Returns whether freed memory is retained (False off glibc)."""
        if not retain_freed:
            self.metric("CPU allocator: defaults", False, "")
            return False
        settings = retain_freed_memory()
        self.metric(f"CPU allocator: {settings.describe()}", settings.applied, "")
        return settings.applied

    def threads_used(self) -> int | str | None:
        """The torch thread count the comparisons ran with (``"1-2"`` if they differ; None if none)."""
        counts = sorted({c.threads for c in self.comparisons if c.threads is not None})
        if not counts:
            return None
        return counts[0] if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "hardware": hardware_summary(self.threads_used()),
            "environment": environment(),
            "wall_time_s": time.time() - self.started,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "metrics": self.metrics,
        }

    def to_markdown(self) -> str:
        parts = [
            f"# Benchmarks of {self.package}",
            "",
            f"Hardware: {hardware_summary(self.threads_used())}",
            "",
        ]
        if self.metrics:
            parts += ["| metric | value | target | passed |", "|---|---:|---|---|"]
            for m in self.metrics:
                passed = "" if m["passed"] is None else ("yes" if m["passed"] else "NO")
                parts.append(
                    f"| {m['name']} | {m['value']:.4g} {m['unit']} | {m['target'] or ''} | {passed} |"
                )
            parts.append("")
        for c in self.comparisons:
            parts += [c.to_markdown(), ""]
        return "\n".join(parts)

    def write(self, directory: str | Path, name: str | None = None) -> Path:
        """Write ``<name>.json`` and ``<name>.md`` into ``directory``; return the JSON path."""
        directory = Path(directory)
        stem = name or self.package
        json_path = directory / f"{stem}.json"
        atomic_write_json(json_path, self.to_dict())
        atomic_write_text(directory / f"{stem}.md", self.to_markdown() + "\n")
        return json_path
