"""What the accelerated research packages share: device, dtype, seeding, timing, memory,
chunking, benchmarking, progress, thread control, atomic saves and distributed helpers.

Importing this package has no side effects: no thread, seed or precision setting changes.
"""

from importlib.metadata import version as _version

from accelerator_utils.allocator import (
    AllocatorSettings,
    in_fresh_process,
    minor_page_faults,
    page_faults_per_call,
    retain_freed_memory,
)
from accelerator_utils.benchmark import BenchmarkReport, Comparison, Row, compare
from accelerator_utils.chunking import MemoryBudgetError, chunk_size_for, chunked_apply, split_sizes
from accelerator_utils.device import DeviceLike, resolve_device, synchronize
from accelerator_utils.environment import environment, hardware_summary
from accelerator_utils.io import (
    atomic_torch_save,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
)
from accelerator_utils.memory import (
    PeakMemory,
    available_memory_bytes,
    current_rss_bytes,
    format_bytes,
)
from accelerator_utils.precision import matmul_precision, resolve_dtype, set_matmul_precision
from accelerator_utils.progress import progress, progress_enabled
from accelerator_utils.seeding import child_seeds, make_generator, numpy_rng, seed_everything
from accelerator_utils.threads import limit_threads, thread_info
from accelerator_utils.timing import Timer, TimingResult, format_seconds, measure
from accelerator_utils.validation import check_finite, check_shape

__version__ = _version("accelerator-utils")

__all__ = [
    "AllocatorSettings",
    "BenchmarkReport",
    "Comparison",
    "DeviceLike",
    "MemoryBudgetError",
    "PeakMemory",
    "Row",
    "Timer",
    "TimingResult",
    "__version__",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_text",
    "available_memory_bytes",
    "check_finite",
    "check_shape",
    "child_seeds",
    "chunk_size_for",
    "chunked_apply",
    "compare",
    "current_rss_bytes",
    "environment",
    "format_bytes",
    "format_seconds",
    "hardware_summary",
    "in_fresh_process",
    "limit_threads",
    "make_generator",
    "matmul_precision",
    "measure",
    "minor_page_faults",
    "numpy_rng",
    "page_faults_per_call",
    "progress",
    "progress_enabled",
    "resolve_device",
    "resolve_dtype",
    "retain_freed_memory",
    "seed_everything",
    "set_matmul_precision",
    "split_sizes",
    "synchronize",
    "thread_info",
]
