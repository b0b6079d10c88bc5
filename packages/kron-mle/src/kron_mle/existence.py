"""When does the Kronecker covariance MLE exist, and when is it unique?

Matrix normal, exactly (Derksen & Makam 2021, arXiv:2007.10206; Drton, Kuriki & Hoff 2021,
arXiv:2003.06024). With ``n`` i.i.d. samples of size ``m1 x m2`` (``n - 1`` when the mean is
estimated), ``d = gcd(m1, m2)``, ``a = m1 / d``, ``b = m2 / d`` and ``q = a^2 + b^2 - n a b``,
for almost every data set:

* ``q >= 2``: the likelihood is unbounded, no MLE;
* ``q == 1``: an MLE exists; it is unique iff ``d == 1``;
* ``q == 0`` (only ``n = 2, m1 = m2``): an MLE exists; unique only for ``m1 = m2 = 1``;
* ``q < 0``: a unique MLE exists.

``q`` and ``d`` are invariant under castling ``(m1, m2, n) -> (n m2 - m1, m2, n)``, the reduction
that :mod:`kron_mle.rational` follows.

Tensor normal ``(m1, ..., mK)``. Derksen, Makam & Walter (2022, arXiv:2011.03849) settle every
case (a.s. boundedness, existence, uniqueness; bounded implies existence). This module
implements only part of their answer: (i) the necessary flattening condition
``m_j <= n prod_{i != j} m_i`` for every mode (equivalently ``m_j^2 <= n prod_i m_i``; otherwise
the mode-``j`` unfolding is rank deficient and the likelihood unbounded); (ii) the castling
reduction ``m_j -> n prod_{i != j} m_i - m_j`` while it shrinks a mode, dropping modes of size 1;
if at most two modes remain, the matrix rule above decides exactly; (iii) ``n >= prod m_i``
(the sample covariance is a.s. positive definite, so the likelihood is bounded): an MLE exists
(status ``"exists"``: uniqueness is not decided here). Not decided by this implementation: a
castling-minimal form with three or more modes larger than 1 that satisfies the flattening
condition with ``n < prod m_i`` (e.g. ``(30, 30, 30)`` with ``n = 5``): status ``"undecided"``.
Deciding it needs the stability/semistability criteria of Derksen-Makam-Walter for such
castling-minimal tuples, which are not implemented; ``fit`` then runs and relies on divergence
detection on the actual data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Status = Literal["unbounded", "unique", "not_unique", "exists", "undecided"]


class NoMLEError(ValueError):
    """The likelihood is unbounded for these sizes: no maximum likelihood estimate exists."""


@dataclass(frozen=True)
class Existence:
    """The existence/uniqueness verdict for ``n`` samples of shape ``dims``.

    ``status``: ``"unbounded"`` (no MLE), ``"unique"``, ``"not_unique"``, ``"exists"``
    (uniqueness not decided) or ``"undecided"``. ``q``/``d`` are the matrix-rule quantities of the
    (castling-reduced) pair, ``None`` when the rule does not apply. ``min_n`` is the smallest
    number of (effective) samples for which an MLE exists, where known. ``reduced`` is the
    castling-minimal form ``(dims, n)``.
    """

    dims: tuple[int, ...]
    n: int
    status: Status
    q: int | None
    d: int | None
    min_n: int | None
    reduced: tuple[tuple[int, ...], int]
    reason: str

    @property
    def exists(self) -> bool | None:
        if self.status == "undecided":
            return None
        return self.status != "unbounded"

    @property
    def unique(self) -> bool | None:
        return {"unique": True, "not_unique": False, "unbounded": False}.get(self.status)


def matrix_rule(m1: int, m2: int, n: int) -> tuple[Status, int, int]:
    """``(status, q, d)`` of the exact matrix-normal rule for ``n`` samples of ``m1 x m2``."""
    d = math.gcd(m1, m2)
    a, b = m1 // d, m2 // d
    q = a * a + b * b - n * a * b
    if q >= 2:
        return "unbounded", q, d
    if q == 1:
        return ("unique" if d == 1 else "not_unique"), q, d
    if q == 0:
        return ("unique" if m1 == m2 == 1 else "not_unique"), q, d
    return "unique", q, d


def matrix_min_n(m1: int, m2: int) -> int:
    """The smallest ``n`` with ``q <= 1``, i.e. for which the matrix-normal MLE exists."""
    d = math.gcd(m1, m2)
    a, b = m1 // d, m2 // d
    return max(1, -(-(a * a + b * b - 1) // (a * b)))


def castle_reduce(dims: tuple[int, ...], n: int) -> tuple[int, ...]:
    """Castle modes while that shrinks one, dropping unit modes; return the minimal form."""
    dims = tuple(m for m in dims if m > 1)
    changed = True
    while changed and len(dims) > 1:
        changed = False
        total = math.prod(dims)
        for j, m in enumerate(dims):
            other = n * total // m
            if 0 < other - m < m:
                dims = tuple(m2 for m2 in (*dims[:j], other - m, *dims[j + 1 :]) if m2 > 1)
                changed = True
                break
    return dims


def existence(dims: tuple[int, ...] | list[int], n: int) -> Existence:
    """Existence/uniqueness of the MLE for ``n`` zero-mean samples of shape ``dims``.

    With the mean estimated pass ``n - 1``. Matrix case exact; tensor case as in the module
    docstring.
    """
    dims = tuple(int(m) for m in dims)
    if len(dims) < 2 or any(m < 1 for m in dims) or n < 1:
        raise ValueError(f"need >= 2 positive mode sizes and n >= 1, got dims={dims}, n={n}")
    if len(dims) == 2:
        m1, m2 = dims
        status, q, d = matrix_rule(m1, m2, n)
        minimal = castle_reduce(dims, n) if status != "unbounded" else dims
        reason = _matrix_reason(m1, m2, n, status, q, d)
        return Existence(dims, n, status, q, d, matrix_min_n(m1, m2), (minimal, n), reason)
    return _tensor_existence(dims, n)


def _matrix_reason(m1: int, m2: int, n: int, status: Status, q: int, d: int) -> str:
    base = f"m1={m1}, m2={m2}, n={n}: gcd d={d}, q=a^2+b^2-n*a*b={q}"
    if status == "unbounded":
        return (
            f"{base} >= 2, so the likelihood is unbounded; at least "
            f"n={matrix_min_n(m1, m2)} samples are needed (the threshold is q <= 1)"
        )
    if status == "not_unique":
        return f"{base}: the MLE exists but is not unique (q={q}, d={d})"
    return f"{base}: the MLE exists and is unique"


def _tensor_existence(dims: tuple[int, ...], n: int) -> Existence:
    total = math.prod(dims)
    worst = max(dims)
    min_flat = max(1, -(-(worst * worst) // total))
    if worst * worst > n * total:
        reason = (
            f"mode of size {worst} exceeds n * (product of the other modes) = "
            f"{n * total // worst}: the flattening is rank deficient and the likelihood "
            f"unbounded; at least n={min_flat} samples are needed"
        )
        return Existence(dims, n, "unbounded", None, None, min_flat, (dims, n), reason)
    minimal = castle_reduce(dims, n)
    if len(minimal) <= 1:
        size = minimal[0] if minimal else 1
        status: Status = "unique" if n >= size else "unbounded"
        reason = f"castles down to a vector of size {size} with n={n}"
        return Existence(dims, n, status, None, None, None, (minimal, n), reason)
    if len(minimal) == 2:
        status, q, d = matrix_rule(minimal[0], minimal[1], n)
        reason = f"castles to the matrix case {minimal}: " + _matrix_reason(
            *minimal, n, status, q, d
        )
        return Existence(dims, n, status, q, d, None, (minimal, n), reason)
    if n >= total:
        reason = f"n={n} >= prod(dims)={total}: the sample covariance is positive definite a.s."
        return Existence(dims, n, "exists", None, None, None, (minimal, n), reason)
    reason = (
        f"flattening condition holds; castling-minimal form {minimal} with n={n} is not "
        f"decided by the implemented rules"
    )
    return Existence(dims, n, "undecided", None, None, None, (minimal, n), reason)


def require_existence(ex: Existence, *, mean_estimated: bool = False) -> None:
    """Raise :class:`NoMLEError` when ``ex`` says the likelihood is unbounded."""
    if ex.status != "unbounded":
        return
    hint = ""
    if ex.min_n is not None:
        extra = 1 if mean_estimated else 0
        hint = f"; provide at least {ex.min_n + extra} samples"
        if mean_estimated:
            hint += " (the mean is estimated, so one sample is spent on it)"
    raise NoMLEError(
        f"no maximum likelihood estimate exists: {ex.reason}{hint}, or use "
        f"kron_mle.shrinkage_fit for a regularised estimate"
    )
