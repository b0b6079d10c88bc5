"""dtype resolution and one switch for float32 matmul precision across torch versions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

Precision = Literal["highest", "high", "medium"]
_DTYPES = {
    "float64": torch.float64,
    "double": torch.float64,
    "fp64": torch.float64,
    "float32": torch.float32,
    "float": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "half": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def resolve_dtype(dtype: str | torch.dtype, device: torch.device | str = "cpu") -> torch.dtype:
    """Turn a dtype name or ``torch.dtype`` into a floating ``torch.dtype`` valid on ``device``.

    Raises ``ValueError`` for unknown names and for float64 on MPS (which has no float64).
    """
    if isinstance(dtype, str):
        key = dtype.strip().lower().removeprefix("torch.")
        if key not in _DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}: use one of {sorted(set(_DTYPES))}")
        dtype = _DTYPES[key]
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"expected a floating dtype, got {dtype!r}")
    if torch.device(device).type == "mps" and dtype == torch.float64:
        raise ValueError("float64 is not supported on MPS: use dtype='float32' or device='cpu'")
    return dtype


def get_matmul_precision() -> Precision:
    """The current float32 matmul precision ("highest" means IEEE float32, no TF32)."""
    return torch.get_float32_matmul_precision()  # type: ignore[return-value]


def set_matmul_precision(precision: Precision) -> None:
    """Set float32 matmul precision: "highest" (IEEE), "high" (TF32), "medium" (bf16 passes).

    Works on torch versions with the legacy switch and on those with ``fp32_precision``.
    """
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"precision must be 'highest', 'high' or 'medium', got {precision!r}")
    torch.set_float32_matmul_precision(precision)


@contextlib.contextmanager
def matmul_precision(precision: Precision) -> Iterator[None]:
    """Context manager: float32 matmul precision inside the block, restored afterwards."""
    previous = get_matmul_precision()
    set_matmul_precision(precision)
    try:
        yield
    finally:
        set_matmul_precision(previous)
