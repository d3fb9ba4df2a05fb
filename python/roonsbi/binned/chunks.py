"""Sources of chunks of events and the checked columns read from one chunk.

A *source* of events is a dict of arrays (one chunk), a list of such dicts, a callable
returning an iterable of chunks (e.g. ``lambda: uproot.iterate("mc.root:events",
step_size="100 MB", library="np")``), or any other iterable of chunks (one pass only: not
enough for :class:`~roonsbi.binned.Quantiles`). Column names come from :mod:`roonsbi.naming`:
``r_<proc>`` (:func:`~roonsbi.naming.ratio_column`), ``g_<proc>_<np>_lo/_hi``
(:func:`~roonsbi.naming.shape_columns`) and ``weight`` (:data:`~roonsbi.naming.WEIGHT_NAME`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union, cast

import numpy as np

from ..naming import ratio_column, shape_columns
from ..spec import check_column
from .process import BinnedProcess

__all__ = ["Chunk", "ChunkSource", "Columns", "Source", "progress_bar", "read_chunk"]

Chunk = Mapping[str, Any]
Source = Union[Chunk, Sequence[Chunk], Callable[[], Iterable[Chunk]], Iterable[Chunk]]


class ChunkSource:
    """Chunks of events: re-iterable if the source allows it."""

    def __init__(self, source: Source, what: str):
        self.what = what
        self._used = False
        if isinstance(source, Mapping) or _is_record_array(source):
            self._factory: Callable[[], Iterable[Chunk]] | None = lambda: [cast(Chunk, source)]
            self._once = None
        elif isinstance(source, (list, tuple)):
            self._factory = lambda: source
            self._once = None
        elif callable(source):
            self._factory = source
            self._once = None
        elif isinstance(source, Iterable):
            self._factory = None
            self._once = source
        else:
            raise TypeError(f"{what}: expected a dict of arrays, a list of chunks, a callable returning chunks or an "
                            f"iterable of chunks, got {type(source).__name__}")

    @property
    def reiterable(self) -> bool:
        return self._factory is not None

    def __iter__(self) -> Iterator[Chunk]:
        if self._factory is not None:
            return iter(self._factory())
        if self._used:
            raise TypeError(f"{self.what}: this iterable of chunks can be read only once; pass a list of chunks or a "
                            "callable returning a fresh iterable (e.g. lambda: uproot.iterate(...))")
        self._used = True
        return iter(cast(Iterable[Chunk], self._once))


def _is_record_array(obj: Any) -> bool:
    return hasattr(obj, "fields") and not isinstance(obj, (list, tuple))


def _columns_of(chunk: Any) -> set[str]:
    if hasattr(chunk, "fields"):
        return set(chunk.fields)
    return set(chunk.keys())


def progress_bar(total: int | None, desc: str, enabled: bool | None) -> Any:
    """A tqdm progress bar over events (shown when ``enabled``, by default when stderr is a terminal)."""
    show = sys.stderr.isatty() if enabled is None else bool(enabled)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _NoProgress()
    return tqdm(total=total, desc=desc, unit="evt", unit_scale=True, disable=not show, leave=False)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Columns:
    """The columns needed from a chunk, checked."""

    ratios: np.ndarray  # (n, J)
    weights: np.ndarray  # (n,)
    shapes: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    column: np.ndarray | None  # the plain-histogram column, if any
    weighted: bool


def read_chunk(chunk: Any, index: int, offset: int, processes: Sequence[BinnedProcess],
               shapes: Sequence[tuple[str, str]], weight: str | None, column: str | None, what: str,
               need_weights: bool = False) -> Columns:
    """The ratio columns of ``processes``, the shape columns of ``shapes`` ((process, np) pairs), the
    plain-histogram ``column`` and the weights of one chunk, checked (ValueError naming ``what``,
    the chunk ``index``, the column and the first bad entry)."""
    have = _columns_of(chunk)
    needed = [ratio_column(p.name) for p in processes]
    for j, m in shapes:
        needed += list(shape_columns(j, m))
    if column is not None:
        needed.append(column)
    missing = [c for c in needed if c not in have]
    if missing:
        raise ValueError(f"{what}, chunk {index}: missing column(s) {missing} (columns present: {sorted(have)})")
    n = None

    def get(col: str, role: str, strictly_positive: bool | None) -> np.ndarray:
        nonlocal n
        arr = np.asarray(chunk[col], dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"{what}, chunk {index}: column '{col}' must be 1-D, got shape {arr.shape}")
        if n is None:
            n = arr.size
        elif arr.size != n:
            raise ValueError(f"{what}, chunk {index}: column '{col}' has {arr.size} entries but the other columns "
                             f"have {n}")
        if strictly_positive is not None:
            try:
                check_column(col, role, arr, strictly_positive)
            except ValueError as err:
                raise ValueError(f"{what}, chunk {index} (events from {offset}): {err}") from None
        elif not np.all(np.isfinite(arr)):
            bad = int(np.argmax(~np.isfinite(arr)))
            raise ValueError(f"{what}, chunk {index} (events from {offset}): {role} column '{col}' has "
                             f"{np.count_nonzero(~np.isfinite(arr))} NaN or infinite entries (first: entry {bad} = "
                             f"{arr[bad]})")
        return arr

    ratios = np.stack([get(ratio_column(p.name), "ratio", False) for p in processes], axis=1)
    sh = {}
    for j, m in shapes:
        lo, hi = shape_columns(j, m)
        sh[j, m] = (get(lo, "shape (-1 sigma)", True), get(hi, "shape (+1 sigma)", True))
    col = get(column, "observable", None) if column is not None else None
    weighted = weight is not None and weight in have
    if weight is not None and weighted:
        w = get(weight, "weight", None)
    elif need_weights:
        raise ValueError(f"{what}, chunk {index}: missing weight column '{weight}'")
    else:
        w = np.ones(ratios.shape[0])
    return Columns(ratios, w, sh, col, weighted)

