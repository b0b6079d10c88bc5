"""Resolve a device request to a :class:`torch.device`, with clear errors for absent devices."""

from __future__ import annotations

import torch

DeviceLike = str | torch.device | None


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: DeviceLike = "auto", *, allow_mps: bool = False) -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:i" | "mps"`` (or a ``torch.device``) into a device.

    ``"auto"`` picks CUDA when available, then MPS only if ``allow_mps`` (MPS lacks float64 and
    some kernels, so it is opt-in), else the CPU. Asking for a device that is absent raises a
    ``RuntimeError`` that says what is available instead of failing later inside a kernel.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if allow_mps and _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec.strip().lower() if isinstance(spec, str) else spec)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"unknown device {spec!r}: use 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'"
        ) from exc
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {spec!r} was asked for but CUDA is not available "
                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
                "use device='cpu' or 'auto'"
            )
        count = torch.cuda.device_count()
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= count:
            raise RuntimeError(f"device {spec!r} asked for, but only {count} CUDA device(s) exist")
        return torch.device("cuda", index)
    if device.type == "mps":
        if not _mps_available():
            raise RuntimeError(f"device {spec!r} asked for but MPS is not available; use 'cpu'")
        return device
    raise ValueError(f"unsupported device type {device.type!r}: use 'cpu', 'cuda' or 'mps'")


def synchronize(device: DeviceLike = None) -> None:
    """Wait for queued work on ``device`` (a no-op on the CPU)."""
    dev = torch.device(device) if device is not None else None
    if dev is None or dev.type == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize(dev)
    elif dev.type == "mps" and _mps_available():
        torch.mps.synchronize()
