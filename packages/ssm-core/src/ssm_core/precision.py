"""Mixed precision: scans and their states run in at least float32.

bfloat16 / float16 activations (``torch.autocast`` or a model cast with ``.to``) are upcast
before a scan and its outputs cast back, while the recurrent state stays in the compute dtype,
as in Mamba's reference kernels: exponentials of ``delta * A`` and running sums over thousands
of steps lose too much in 8 bits of mantissa. Under ``autocast`` the parameters (``A_log``,
``D``, ``dt_bias``) remain float32 as created.
"""

from __future__ import annotations

import torch
from torch import Tensor


def compute_dtype(*tensors: Tensor | None) -> torch.dtype:
    """The widest floating dtype among ``tensors`` and float32 (float64 stays float64)."""
    dtype = torch.float32
    for t in tensors:
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def upcast(dtype: torch.dtype, *tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """``tensors`` converted to ``dtype`` (``None`` passes through)."""
    return tuple(None if t is None else t.to(dtype) for t in tensors)
