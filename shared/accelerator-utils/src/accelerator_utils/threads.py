"""Read and (explicitly) limit torch and BLAS thread counts.

On small machines oversubscribed BLAS makes small matrix products many times slower, so
benchmarks pin threads and record them. The library never changes thread counts implicitly:
only :func:`limit_threads` does, inside its block.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch


def thread_info() -> dict[str, Any]:
    """torch intra/inter-op threads, BLAS pools (via threadpoolctl if installed), CPU count."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
    }
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if var in os.environ:
            info[var] = os.environ[var]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    else:
        info["blas"] = [
            {
                "api": p.get("internal_api"),
                "threads": p.get("num_threads"),
                "lib": os.path.basename(p.get("filepath", "")),
            }
            for p in threadpool_info()
        ]
    return info


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """Inside the block, torch and every BLAS/OpenMP pool use ``n`` threads; restored after."""
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            yield
        else:
            with threadpool_limits(limits=n):
                yield
    finally:
        torch.set_num_threads(previous)
