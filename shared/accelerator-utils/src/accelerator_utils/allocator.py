"""The CPU allocator under torch: count the page faults it causes, and (explicitly) keep freed
memory in the process instead of handing it back to the kernel.

PyTorch has a caching allocator on CUDA but not on CPU: CPU tensors come from the C library's
``malloc``. glibc returns large freed blocks to the kernel (``munmap``, or trimming the heap top
once more than ``M_TRIM_THRESHOLD`` is free, a threshold it raises and lowers on its own), so a
workload that allocates tens of MB of fresh tensors per call (an activation cache, a chunked
scan's temporaries) page-faults those bytes back in, zero-filled by the kernel, on *every* call
-- or on none, depending on what else happens to sit at the heap top. Timings then swing by
tens of percent between otherwise identical runs. PyTorch's CPU tuning guide recommends an
allocator that keeps freed memory (jemalloc, tcmalloc); :func:`retain_freed_memory` gets the
same effect from glibc itself, at run time.

The library never changes the allocator implicitly: only :func:`retain_freed_memory` does, and
it is process-wide and cannot be undone (like preloading another allocator).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit systems


@dataclass(frozen=True)
class AllocatorSettings:
    """What :func:`retain_freed_memory` set (``applied`` False where glibc is not in use)."""

    applied: bool
    trim_threshold_bytes: int
    mmap_threshold_bytes: int

    def describe(self) -> str:
        if not self.applied:
            return "default (not glibc: retain_freed_memory had no effect)"
        return (
            f"glibc, freed memory retained (M_TRIM_THRESHOLD {self.trim_threshold_bytes >> 20} MiB,"
            f" M_MMAP_THRESHOLD {self.mmap_threshold_bytes >> 20} MiB)"
        )


def retain_freed_memory(
    trim_threshold_bytes: int = 1 << 30, mmap_threshold_bytes: int = _MMAP_THRESHOLD_MAX
) -> AllocatorSettings:
    """Make glibc keep freed memory for reuse instead of returning it to the kernel.

    Blocks up to ``mmap_threshold_bytes`` (at most 32 MiB, glibc's ceiling) come from the heap
    rather than fresh ``mmap`` pages, and the heap top is trimmed only once more than
    ``trim_threshold_bytes`` of it is free. Process-wide and irreversible; the resident size
    then stays near its peak. A no-op returning ``applied=False`` off glibc (macOS, Windows,
    musl).
    """
    if not 0 < mmap_threshold_bytes <= _MMAP_THRESHOLD_MAX:
        raise ValueError(
            f"mmap_threshold_bytes must be in (0, {_MMAP_THRESHOLD_MAX}] (glibc's ceiling), "
            f"got {mmap_threshold_bytes}"
        )
    if trim_threshold_bytes < 0:
        raise ValueError(f"trim_threshold_bytes must be >= 0, got {trim_threshold_bytes}")
    mallopt = _glibc_mallopt()
    applied = mallopt is not None
    if mallopt is not None:
        ok = mallopt(_M_TRIM_THRESHOLD, trim_threshold_bytes) == 1
        ok &= mallopt(_M_MMAP_THRESHOLD, mmap_threshold_bytes) == 1
        if not ok:
            raise RuntimeError("glibc rejected mallopt(M_TRIM_THRESHOLD/M_MMAP_THRESHOLD)")
    return AllocatorSettings(applied, trim_threshold_bytes, mmap_threshold_bytes)


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt`` (with a ``gnu_get_libc_version`` check), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - absent from musl and other C libraries
    except (OSError, AttributeError):
        return None
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def minor_page_faults() -> int | None:
    """Minor page faults of this process so far (None where ``getrusage`` is missing)."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def page_faults_per_call(fn: Callable[[], object], calls: int = 5) -> float:
    """Mean minor page faults per call of ``fn`` (NaN where they cannot be counted).

    Nonzero in steady state means the calls keep touching memory the kernel must map and
    zero afresh: freed memory went back to the kernel between calls.
    """
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    before = minor_page_faults()
    if before is None:
        return float("nan")
    for _ in range(calls):
        fn()
    return (minor_page_faults() - before) / calls


def in_fresh_process(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a newly spawned interpreter; its result (or exception).

    For measurements that must not see this process's allocator state: a peak RSS would
    include memory earlier work left mapped, page faults depend on what was freed before.
    ``fn`` must be importable by name (a module-level function) and its arguments picklable.
    """
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(fn, *args, **kwargs).result()
