"""Progress bars for long work: tqdm when available and wanted, silent otherwise."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def progress_enabled(enabled: bool | None = None) -> bool:
    """``enabled`` if given; else on only when stderr is a terminal and ``CI`` is not set."""
    if enabled is not None:
        return enabled
    return sys.stderr.isatty() and not os.environ.get("CI")


class _Silent(Generic[T]):
    """The subset of tqdm's interface used here, doing nothing."""

    def __init__(self, iterable: Iterable[T] | None, total: int | None) -> None:
        self._iterable = iterable
        self.total = total
        self.n = 0

    def __iter__(self) -> Iterator[T]:
        if self._iterable is None:
            raise TypeError("this progress bar wraps no iterable; call update() instead")
        for item in self._iterable:
            yield item
            self.n += 1

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    enabled: bool | None = None,
    unit: str = "it",
) -> Any:
    """A tqdm bar over ``iterable`` (or a manual one with ``total``), or a silent stand-in.

    ``enabled=None`` shows the bar only on a terminal outside CI. Without tqdm installed the
    silent stand-in is used. Both support iteration, ``update``, ``set_postfix`` and ``close``.
    """
    if progress_enabled(enabled):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            return tqdm(
                iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False
            )
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    return _Silent(iterable, total)
