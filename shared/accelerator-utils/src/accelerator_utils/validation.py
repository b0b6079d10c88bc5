"""Input checks that fail early with a message naming the problem and the fix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def check_finite(x: ArrayLike, name: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or Inf, saying how many and where the first is."""
    t = torch.as_tensor(x)
    if not t.is_floating_point() and not t.is_complex():
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or Inf), first at index "
            f"{first}: clean or impute the data before calling"
        )


def check_shape(x: ArrayLike, shape: Sequence[int | None], name: str) -> None:
    """Raise ``ValueError`` unless ``x.shape`` matches ``shape`` (``None`` matches any size)."""
    actual = tuple(x.shape)
    if len(actual) != len(shape) or any(s is not None and s != a for s, a in zip(shape, actual)):
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {actual}")
