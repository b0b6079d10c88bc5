"""Input checks: data and factors are converted to torch and rejected early with a clear message."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from accelerator_utils import check_finite, make_generator, resolve_device

ArrayLike = torch.Tensor | np.ndarray

MEANS = ("estimate", "zero")


def as_data(
    Y: ArrayLike,
    *,
    batched: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Return ``Y`` as a floating tensor of shape ``(B, n, m1, ..., mK)`` (``B = 1`` unbatched).

    Accepts a NumPy array or a torch tensor of shape ``(n, m1, ..., mK)`` with ``K >= 2``
    (``(B, n, m1, ..., mK)`` when ``batched``). ``dtype`` defaults to float64 (float32 input
    stays float32); ``device`` defaults to the tensor's own device.
    """
    if not isinstance(Y, (torch.Tensor, np.ndarray)):
        raise TypeError(f"data must be a numpy array or torch tensor, got {type(Y).__name__}")
    if isinstance(Y, np.ndarray) and not Y.flags.writeable:
        # read-only arrays (np.load mmap, broadcast views): torch needs writable memory
        Y = Y.copy()
    t = torch.as_tensor(Y)
    if t.is_complex():
        raise TypeError("complex data are not supported: pass real-valued samples")
    if dtype is None:
        dtype = torch.float32 if t.dtype == torch.float32 else torch.float64
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    dev = t.device if device is None else resolve_device(device)
    t = t.to(device=dev, dtype=dtype)
    lead = 2 if batched else 1
    if t.ndim < lead + 2:
        want = "(B, n, m1, m2[, ...])" if batched else "(n, m1, m2[, ...])"
        raise ValueError(
            f"data must have shape {want}: samples on axis {lead - 1} and at least two "
            f"covariance modes, got shape {tuple(t.shape)}; for one sample add a leading axis "
            f"(Y[None])"
        )
    if any(s == 0 for s in t.shape):
        raise ValueError(f"data has an empty axis: shape {tuple(t.shape)}")
    check_finite(t, "data")
    return t if batched else t.unsqueeze(0)


def check_mean(mean: str, n: int) -> int:
    """Validate the mean option; return the effective sample size (n, or n - 1 if estimated)."""
    if mean not in MEANS:
        raise ValueError(f"mean must be one of {MEANS}, got {mean!r}")
    n_eff = n - 1 if mean == "estimate" else n
    if n_eff < 1:
        raise ValueError(
            f"too few samples: {n} sample(s) with mean='estimate' leaves no degrees of freedom; "
            f"pass at least 2 samples or use mean='zero'"
        )
    return n_eff


def as_factor(S: ArrayLike, m: int, name: str, like: torch.Tensor) -> torch.Tensor:
    """Return a symmetric positive-definite ``(..., m, m)`` factor on ``like``'s device/dtype."""
    t = torch.as_tensor(S).to(device=like.device, dtype=like.dtype)
    if t.ndim < 2 or t.shape[-2:] != (m, m):
        raise ValueError(f"{name} must have shape (..., {m}, {m}), got {tuple(t.shape)}")
    check_finite(t, name)
    if not torch.allclose(t, t.mT, rtol=1e-6, atol=1e-8 * float(t.detach().abs().max())):
        raise ValueError(f"{name} must be symmetric; symmetrise it with (S + S.T) / 2")
    _, info = torch.linalg.cholesky_ex(t)
    if bool((info != 0).any()):
        raise ValueError(f"{name} must be positive definite (its Cholesky factorisation failed)")
    return t


def as_factors(
    factors: Sequence[ArrayLike], dims: Sequence[int], like: torch.Tensor
) -> list[torch.Tensor]:
    """Validate one factor per mode (``Sigma_k`` of shape ``(m_k, m_k)``)."""
    if len(factors) != len(dims):
        raise ValueError(
            f"need {len(dims)} factors for modes of sizes {tuple(dims)}, got {len(factors)}"
        )
    return [as_factor(S, m, f"factor {k + 1}", like) for k, (S, m) in enumerate(zip(factors, dims))]


def random_generator(
    seed: int | None, generator: torch.Generator | None, device: torch.device
) -> torch.Generator:
    """The generator to draw from: ``generator`` if given, else a fresh one seeded by ``seed``.

    ``seed=None`` and no ``generator``: fresh OS entropy. Global RNG state is never touched.
    """
    if isinstance(seed, torch.Generator):
        raise TypeError("seed takes an int (or None); pass a torch.Generator as generator=...")
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both")
    if generator is not None:
        if generator.device.type != device.type:
            raise ValueError(
                f"generator is on {generator.device} but the draws are on {device}: "
                f"create it with torch.Generator(device={str(device)!r})"
            )
        return generator
    return make_generator(seed, device)
