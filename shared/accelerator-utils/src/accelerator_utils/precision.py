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


# torch >= 2.9 sets precision per backend (``fp32_precision``); mixing that with the legacy
# ``set_float32_matmul_precision`` makes the legacy getter raise, so each torch gets its own API.
_NEW_API = {
    "cuda": {"highest": "ieee", "high": "tf32", "medium": "tf32"},
    "mkldnn": {"highest": "ieee", "high": "tf32", "medium": "bf16"},
}


def _backends() -> dict[str, object] | None:
    """The per-backend matmul settings objects of the new API, or None on older torch."""
    cuda, mkldnn = torch.backends.cuda.matmul, getattr(torch.backends.mkldnn, "matmul", None)
    if not hasattr(cuda, "fp32_precision") or mkldnn is None:
        return None
    return {"cuda": cuda, "mkldnn": mkldnn}


def get_matmul_precision() -> Precision:
    """The current float32 matmul precision ("highest" means IEEE float32, no TF32)."""
    backends = _backends()
    if backends is None:
        return torch.get_float32_matmul_precision()  # type: ignore[return-value]
    if backends["mkldnn"].fp32_precision == "bf16":  # type: ignore[attr-defined]
        return "medium"
    return "high" if backends["cuda"].fp32_precision == "tf32" else "highest"  # type: ignore[attr-defined]


def set_matmul_precision(precision: Precision) -> None:
    """Set float32 matmul precision: "highest" (IEEE), "high" (TF32), "medium" (bf16 passes
    where the backend has them, else TF32). Uses whichever API this torch version has."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"precision must be 'highest', 'high' or 'medium', got {precision!r}")
    backends = _backends()
    if backends is None:
        torch.set_float32_matmul_precision(precision)
        return
    for name, obj in backends.items():
        obj.fp32_precision = _NEW_API[name][precision]  # type: ignore[attr-defined]


@contextlib.contextmanager
def matmul_precision(precision: Precision) -> Iterator[None]:
    """Context manager: float32 matmul precision inside the block, restored exactly afterwards."""
    backends = _backends()
    if backends is None:
        previous_legacy = torch.get_float32_matmul_precision()
    else:
        previous = {name: obj.fp32_precision for name, obj in backends.items()}  # type: ignore[attr-defined]
    set_matmul_precision(precision)
    try:
        yield
    finally:
        if backends is None:
            torch.set_float32_matmul_precision(previous_legacy)
        else:
            for name, obj in backends.items():
                obj.fp32_precision = previous[name]  # type: ignore[attr-defined]
