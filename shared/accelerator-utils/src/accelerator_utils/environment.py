"""A record of the hardware and software a measurement ran on."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from accelerator_utils.threads import thread_info


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Hardware, library versions and thread settings, for benchmark reports."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "numpy": np.__version__,
        "cuda_available": torch.cuda.is_available(),
        "threads": thread_info(),
    }
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
    return env


def hardware_summary(threads: int | str | None = None) -> str:
    """One line naming the hardware: ``CPU <model> (<n> torch threads) [+ GPU <name>]``.

    ``threads`` names the thread count the measurement ran with (e.g. recorded inside a
    ``limit_threads`` block); by default the current ``torch.get_num_threads()``.
    """
    threads = torch.get_num_threads() if threads is None else threads
    line = f"CPU {cpu_name()} ({threads} torch threads)"
    if torch.cuda.is_available():
        line += f" + GPU {torch.cuda.get_device_name()}"
    return line
