import json
import os
import subprocess
import sys
import textwrap

import pytest

from accelerator_utils import (
    AllocatorSettings,
    in_fresh_process,
    page_faults_per_call,
    retain_freed_memory,
)

CHURN = """
import torch
from accelerator_utils import page_faults_per_call, retain_freed_memory
{setup}
def churn():  # one 4 MB and sixty 400 kB tensors written, then freed (an activation cache)
    ts = [torch.empty(n).fill_(1.0) for n in [1_000_000] + [100_000] * 60]
    del ts
for _ in range(5):  # past the first calls, in which glibc settles its free lists
    churn()
print(page_faults_per_call(churn, calls=10))
"""


def fresh_python(code: str) -> str:
    """What ``code`` prints when run by a new interpreter (a fresh allocator state)."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return out.stdout


def faults_in_fresh_process(setup: str) -> float:
    return float(fresh_python(CHURN.format(setup=setup)).split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and getrusage")
def test_retained_memory_stops_refaulting() -> None:
    # 28 MB freed per call (~6800 pages of 4 KiB). By default glibc's dynamic thresholds
    # (raised by the 4 MB block) trim the heap top each call in about half of fresh processes
    # (the lottery this function ends), and the kernel maps ~5800 zeroed pages back in per
    # call. With freed memory retained, steady state touches 10-30 pages per call (Python's
    # and torch's small objects; once 88 on a loaded CI machine). Every one of four processes
    # must stay under a tenth of the pages: a no-op retain_freed_memory fails ~15 in 16 runs.
    pages = (4_000_000 + 60 * 400_000) // 4096
    faults = [faults_in_fresh_process("assert retain_freed_memory().applied") for _ in range(4)]
    assert max(faults) < pages / 10, faults


def test_page_faults_per_call_counts_touched_pages() -> None:
    faults = page_faults_per_call(lambda: bytearray(64 << 20), calls=2)  # > glibc's mmap ceiling
    assert faults != faults or faults > 1000  # NaN where getrusage is missing


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        retain_freed_memory(mmap_threshold_bytes=64 << 20)
    with pytest.raises(ValueError, match="trim_threshold"):
        retain_freed_memory(trim_threshold_bytes=-1)
    with pytest.raises(ValueError, match="calls"):
        page_faults_per_call(lambda: None, calls=0)
    assert "retained" in AllocatorSettings(True, 1 << 30, 32 << 20).describe()


def test_in_fresh_process_runs_elsewhere_and_returns() -> None:
    assert in_fresh_process(os.getpid) != os.getpid()
    assert in_fresh_process(divmod, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        in_fresh_process(divmod, 1, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc")
def test_benchmark_report_applies_and_records_the_allocator() -> None:
    out = fresh_python("""
        import json
        from accelerator_utils import BenchmarkReport
        report = BenchmarkReport("x")
        kept = [report.use_allocator(False), report.use_allocator(True)]
        print(json.dumps([kept, [[m["name"], m["value"]] for m in report.metrics]]))
    """)
    kept, metrics = json.loads(out)
    assert kept == [False, True]
    assert metrics[0] == ["CPU allocator: defaults", False]
    assert metrics[1][0].startswith("CPU allocator: glibc, freed memory retained (M_TRIM_THRESHOLD")
    assert metrics[1][1] is True
