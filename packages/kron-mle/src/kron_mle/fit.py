"""``fit``: the Kronecker covariance MLE of matrix or tensor data, and its result object."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from kron_mle.existence import Existence, existence, require_existence
from kron_mle.flipflop import (
    EngineResult,
    FlipFlopConfig,
    checked_cholesky,
    chol_score_residual,
    flipflop,
    loglik_const,
    score_residual,
)
from kron_mle.model import helmert_contrasts, logdet_chol
from kron_mle.rational import NotRationalError, castling_chain, rational_mle
from kron_mle.tensor import tensor_flipflop
from kron_mle.validation import ArrayLike, as_data, as_factors, check_mean

METHODS = ("auto", "flipflop", "rational")
NORMALIZATIONS = ("trace", "det", "first", "frobenius")


@dataclass
class KronFit:
    """The result of :func:`fit`. Unbatched: factors ``(m_k, m_k)``, scalars 0-d tensors,
    ``n_iter`` an ``int`` and ``converged`` a ``bool``; batched: a leading batch axis ``B`` on
    every tensor, and ``n_iter`` (long) and ``converged`` (bool) are ``(B,)`` tensors, one entry
    per problem.

    The covariance is ``scale * Sigma_K (x) ... (x) Sigma_1``, each ``factors[k]`` normalised as
    ``normalization`` says (``trace``: ``tr = m_k``; ``det``: ``det = 1``; ``first``:
    ``[0, 0] = 1``; ``frobenius``: ``||.||_F = 1``). ``loglik`` is in nats at the returned
    estimate (mean included when estimated); ``loglik_trace`` holds one value per sweep.
    ``score_residual``: relative natural-gradient norm; for rational fits that of the returned
    pair, for flip-flop fits the one of its stopping test (the pair before the last ``Sigma1``
    half-step, whose ``Sigma2`` is optimal).
    """

    factors: list[torch.Tensor]
    scale: torch.Tensor
    mean: torch.Tensor | None
    loglik: torch.Tensor
    loglik_trace: torch.Tensor
    n_iter: int | torch.Tensor
    converged: bool | torch.Tensor
    score_residual: torch.Tensor
    method: str
    existence: Existence
    n: int
    dims: tuple[int, ...]
    normalization: str

    @property
    def sigma1(self) -> torch.Tensor:
        """Row covariance factor (normalised)."""
        return self.factors[0]

    @property
    def sigma2(self) -> torch.Tensor:
        """Column covariance factor (normalised)."""
        return self.factors[1]

    @property
    def n_params(self) -> int:
        """Free parameters: ``sum m_k (m_k + 1) / 2 - (K - 1)``, plus ``prod m_k`` for the mean."""
        k = sum(m * (m + 1) // 2 for m in self.dims) - (len(self.dims) - 1)
        return k + (math.prod(self.dims) if self.mean is not None else 0)

    @property
    def aic(self) -> torch.Tensor:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> torch.Tensor:
        return -2.0 * self.loglik + self.n_params * math.log(self.n)

    def unnormalised(self) -> list[torch.Tensor]:
        """Factors whose Kronecker product is the covariance (the scale put on ``Sigma_1``)."""
        first = self.factors[0] * self.scale.reshape((*self.scale.shape, 1, 1))
        return [first, *self.factors[1:]]

    def covariance(self) -> torch.Tensor:
        """Dense ``Cov(vec Y) = scale * Sigma_K (x) ... (x) Sigma_1`` (``M x M``; small ``M`` only)."""
        if self.scale.ndim:
            raise ValueError("covariance() is for unbatched fits; index the factors per problem")
        out = self.factors[-1]
        for S in reversed(self.factors[:-1]):
            out = torch.kron(out.contiguous(), S.contiguous())
        return self.scale * out

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (unbatched fits)."""
        return {
            "dims": list(self.dims),
            "n": self.n,
            "method": self.method,
            "mean": "estimate" if self.mean is not None else "zero",
            "existence": self.existence.status,
            "existence_reason": self.existence.reason,
            "loglik": self.loglik.tolist(),
            "aic": self.aic.tolist(),
            "bic": self.bic.tolist(),
            "n_iter": _plain(self.n_iter),
            "converged": _plain(self.converged),
            "score_residual": self.score_residual.tolist(),
            "normalization": self.normalization,
            "scale": self.scale.tolist(),
            "factors": [S.tolist() for S in self.factors],
        }


def _plain(x: Any) -> Any:
    return x.tolist() if isinstance(x, torch.Tensor) else x


def normalise(factors: Sequence[torch.Tensor], how: str) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Normalise each ``(B, m, m)`` factor as ``how`` says; return them and the total scale ``(B,)``."""
    out, scale = [], None
    for S in factors:
        m = S.shape[-1]
        if how == "trace":
            c = torch.diagonal(S, dim1=-2, dim2=-1).sum(-1) / m
        elif how == "det":
            c = torch.exp(torch.linalg.slogdet(S)[1] / m)
        elif how == "first":
            c = S[..., 0, 0]
        else:
            c = torch.linalg.matrix_norm(S)
        out.append(S / c.reshape(-1, 1, 1))
        scale = c if scale is None else scale * c
    return out, scale


def fit(
    Y: ArrayLike,
    *,
    method: str = "auto",
    mean: str = "estimate",
    normalization: str = "trace",
    batched: bool = False,
    init: KronFit | Sequence[ArrayLike] | None = None,
    polish: int | None = None,
    config: FlipFlopConfig | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    progress: bool | None = None,
) -> KronFit:
    """Maximum likelihood ``Cov(vec Y_i) = Sigma_K (x) ... (x) Sigma_1`` for data ``(n, m1, .., mK)``.

    ``Y``: NumPy array or torch tensor (any device), ``(n, m1, m2)`` for the matrix normal,
    ``(n, m1, ..., mK)`` for the tensor normal; with ``batched=True`` a leading axis ``B`` of
    independent problems fitted in one batched computation. ``method``: ``"rational"`` (closed
    form by castling, matrix case, then ``polish`` flip-flop sweeps; ``None``: none when castling
    takes at most one step, which is exact up to rounding, and 1 for longer chains),
    ``"flipflop"``, or
    ``"auto"`` (rational whenever castling ends in a vector case). ``mean``: ``"estimate"``
    (the covariance is then fitted on the ``n - 1`` Helmert contrasts and rescaled by
    ``(n - 1) / n``) or ``"zero"``. ``init``: warm start (a previous :class:`KronFit` or factors).
    ``dtype``: float64 by default, float32 allowed. ``progress``: a bar over flip-flop sweeps
    (``None``: only on a terminal outside CI). Batched fits report ``n_iter`` and ``converged``
    per problem; each problem keeps the state of the sweep at which it met the stopping rule.

    Raises :class:`~kron_mle.existence.NoMLEError` before iterating when no MLE exists, warns
    when it is not unique, and raises :class:`~kron_mle.flipflop.DivergenceError` when a factor
    becomes singular on the actual data.
    """
    Yt = as_data(Y, batched=batched, device=device, dtype=dtype)
    n, dims = Yt.shape[1], tuple(Yt.shape[2:])
    n_eff = check_mean(mean, n)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if polish is not None and polish < 0:
        raise ValueError(f"polish must be >= 0 sweeps, got {polish}")
    config = config or FlipFlopConfig()
    ex = existence(dims, n_eff)
    require_existence(ex, mean_estimated=mean == "estimate")
    if ex.status == "not_unique":
        warnings.warn(f"the MLE is not unique: {ex.reason}; returning one maximiser", stacklevel=2)
    Z = helmert_contrasts(Yt) if mean == "estimate" else Yt
    start = _init_factors(init, dims, Yt)
    chosen = _choose(method, dims, n_eff, start)
    if chosen == "rational":
        if polish is None:
            polish = 0 if len(castling_chain(dims[0], dims[1], n_eff) or ()) <= 2 else 1
        raw = _rational(Z, polish, config, progress)
    elif len(dims) == 2:
        init2 = None if start is None else (start[0], start[1])
        raw = flipflop(Z, init=init2, config=config, progress=progress)
    else:
        raw = tensor_flipflop(Z, init=start, config=config, progress=progress)
    factors, loglik, trace = raw.factors, raw.loglik, raw.trace
    if mean == "estimate":
        shrink = (n - 1) / n
        factors = [factors[0] * shrink, *factors[1:]]
        offset = 0.5 * n * math.prod(dims) * math.log(shrink)
        loglik, trace = loglik * (n / n_eff) - offset, trace * (n / n_eff) - offset
    factors, scale = normalise(factors, normalization)
    squeeze = (lambda t: t) if batched else (lambda t: t[0])
    return KronFit(
        factors=[squeeze(S) for S in factors],
        scale=squeeze(scale),
        mean=squeeze(Yt.mean(1)) if mean == "estimate" else None,
        loglik=squeeze(loglik),
        loglik_trace=squeeze(trace),
        n_iter=raw.n_iter if batched else int(raw.n_iter[0]),
        converged=raw.converged if batched else bool(raw.converged[0]),
        score_residual=squeeze(raw.score_residual),
        method=chosen,
        existence=ex,
        n=n,
        dims=dims,
        normalization=normalization,
    )


def _choose(method: str, dims: tuple[int, ...], n_eff: int, start: Any) -> str:
    rational_ok = len(dims) == 2 and castling_chain(dims[0], dims[1], n_eff) is not None
    if method == "rational" and not rational_ok:
        raise NotRationalError(
            f"no rational MLE for dims={dims} with n={n_eff} effective samples: castling does "
            f"not end in a vector case (tensor data or a castling-minimal triple); use "
            f"method='flipflop' or 'auto'"
        )
    if method == "auto":
        return "rational" if rational_ok and start is None else "flipflop"
    return method


def _rational(
    Z: torch.Tensor, polish: int, config: FlipFlopConfig, progress: bool | None
) -> EngineResult:
    """Closed form, then ``polish`` flip-flop sweeps from it (none: residual measured only, on
    the Cholesky factors that also give the log-likelihood).

    The castling chain always runs in float64 (cheap, and long chains lose too much accuracy in
    float32); the factors are then cast back and polished in ``Z``'s dtype.
    """
    s1, s2 = (S.to(Z.dtype) for S in rational_mle(Z.double()))
    if polish:
        raw = flipflop(
            Z,
            init=(s1, s2),
            config=FlipFlopConfig(max_iter=polish, kernel=config.kernel),
            require_convergence=False,
            progress=progress,
        )
        raw.n_iter = torch.full_like(raw.n_iter, polish)
        # the residual of the returned pair (the flip-flop's is that of the pair one step back)
        raw.score_residual = score_residual(Z, raw.factors[0], raw.factors[1])
    else:
        B, n, m1, m2 = Z.shape
        L1 = checked_cholesky(s1, "Sigma1", 0)
        L2 = checked_cholesky(s2, "Sigma2", 0)
        ll = loglik_const(n, m1 * m2) - 0.5 * n * (m2 * logdet_chol(L1) + m1 * logdet_chol(L2))
        zeros = torch.zeros(B, dtype=torch.long, device=Z.device)
        resid = chol_score_residual(Z, L1, L2)
        raw = EngineResult([s1, s2], ll, ll[:, None], zeros, resid, resid)
    _, tol_score = config.tolerances(Z.dtype)
    raw.converged = raw.score_residual <= max(tol_score, 1e3 * torch.finfo(Z.dtype).eps)
    return raw


def _init_factors(
    init: KronFit | Sequence[ArrayLike] | None,
    dims: tuple[int, ...],
    Yt: torch.Tensor,
) -> list[torch.Tensor] | None:
    """Warm-start factors ``(B, m, m)``, or ``None``; only their product's shape matters."""
    if init is None:
        return None
    factors = init.unnormalised() if isinstance(init, KronFit) else list(init)
    B = Yt.shape[0]
    checked = as_factors(factors, dims, Yt)
    return [S.expand(B, *S.shape[-2:]) if S.ndim == 2 else S for S in checked]
