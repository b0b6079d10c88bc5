"""Peak memory of a block of code: CUDA allocator statistics, or the process's peak RSS on CPU.

On Linux the kernel's peak-RSS counter (``VmHWM``) can be reset by writing ``5`` to
``/proc/self/clear_refs``; where that is not possible a background thread samples the RSS.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from accelerator_utils.device import DeviceLike, synchronize

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def current_rss_bytes() -> int:
    """Resident set size of this process now, in bytes."""
    if _STATUS.exists():
        return _status_kib("VmRSS") * 1024
    import psutil  # optional dependency, only off Linux

    return int(psutil.Process().memory_info().rss)


def _status_kib(key: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not found in {_STATUS}")


def _reset_peak_rss() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@dataclass
class PeakMemory:
    """Context manager measuring peak memory on ``device`` inside the block.

    ``peak_bytes`` is the peak in the block (CUDA: allocated tensors; CPU: process RSS) and
    ``delta_bytes`` the part above the level at entry. ``method`` says how it was measured.
    """

    device: DeviceLike = "cpu"
    sample_interval_s: float = 0.001
    peak_bytes: int = field(default=0, init=False)
    baseline_bytes: int = field(default=0, init=False)
    method: str = field(default="", init=False)

    @property
    def delta_bytes(self) -> int:
        return max(0, self.peak_bytes - self.baseline_bytes)

    def __enter__(self) -> PeakMemory:
        self._device = torch.device(self.device if self.device is not None else "cpu")
        if self._device.type == "cuda":
            synchronize(self._device)
            torch.cuda.reset_peak_memory_stats(self._device)
            self.baseline_bytes = torch.cuda.memory_allocated(self._device)
            self.method = "cuda-allocator"
        elif _STATUS.exists() and _reset_peak_rss():
            self.baseline_bytes = current_rss_bytes()
            self.method = "vmhwm"
        else:
            self.baseline_bytes = current_rss_bytes()
            self.method = "sampling"
            self._stop = threading.Event()
            self._sampled = self.baseline_bytes
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.sample_interval_s):
            self._sampled = max(self._sampled, current_rss_bytes())

    def __exit__(self, *exc: object) -> None:
        if self.method == "cuda-allocator":
            synchronize(self._device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self._device)
        elif self.method == "vmhwm":
            self.peak_bytes = _status_kib("VmHWM") * 1024
        else:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self._sampled, current_rss_bytes())


def available_memory_bytes(device: DeviceLike = "cpu") -> int:
    """Memory that can still be allocated on ``device`` (CUDA: free; CPU: ``MemAvailable``)."""
    dev = torch.device(device if device is not None else "cpu")
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        return int(free)
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def format_bytes(n: float) -> str:
    """Human units: ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"
