r"""Float32 event stores (``RooNSBI::EventStore``): the per-event columns of NSBI channels.

A store holds named float32 columns of n events: ratio columns ``r_<proc>``, shape columns
``g_<proc>_<np>_lo/_hi`` as values (additive codes 0, 2, 4 and code 6) or as logarithms
``log:g_...`` (the exponential codes 1 and 5, ``RooNSBINLL::shapeColumn``), weights and the
pool measure. Store-form channels (:func:`roonsbi.models.unbinned.build_model`) own one; the
fast likelihood reads one (:mod:`roonsbi.models.fast`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..atomic import check_target
from ..checks import as_column, check_file
from ..library import cpp_errors, load
from ..naming import LOG_PREFIX, WEIGHT_NAME

ROOT = load()

__all__ = ["dequantized_columns", "make_store", "open_store", "shape_store_column", "store_rows", "write_store_file"]


def shape_store_column(code: int, name: str) -> str:
    """The store column of a shape variable ``name`` for a term with interpolation ``code``:
    ``log:<name>`` for the multiplicative codes 1 and 5, ``<name>`` otherwise.

    >>> shape_store_column(5, "g_S_eff_hi"), shape_store_column(4, "g_S_eff_hi")
    ('log:g_S_eff_hi', 'g_S_eff_hi')
    """
    return str(ROOT.RooNSBINLL.shapeColumn(int(code), name))


def make_store(columns: Mapping[str, np.ndarray], log_columns: Mapping[str, np.ndarray] | None = None,
               weights: np.ndarray | None = None) -> Any:
    """An EventStore (``std::shared_ptr<RooNSBI::EventStore>``) from arrays.

    ``columns`` are stored as float32 (ratio columns ``r_<proc>``, shape columns
    ``g_<proc>_<np>_lo/_hi`` of additive codes), ``log_columns`` as the float32 logarithm
    under ``"log:<name>"`` (shape columns of multiplicative codes).
    Arrays may be float32 already (no float64 copy is made then).
    """
    arrays: dict[str, np.ndarray] = {}
    n: int | None = None
    given = [*columns.items(), *((LOG_PREFIX + k, v) for k, v in (log_columns or {}).items())]
    if weights is not None:
        given.append((WEIGHT_NAME, weights))
    for name, values in given:  # 1-D real numbers of one length (TypeError/ValueError naming the column)
        if name in arrays:
            raise ValueError(f"event store column '{name}' is given twice (as a column and as a log column or "
                             "the weights): give each column once")
        arrays[name] = as_column(name, "event store", values, n, keep_float32=True)
        n = arrays[name].size if n is None else n
    store = ROOT.std.make_shared["RooNSBI::EventStore"](n or 0)
    with cpp_errors():
        for name, values in arrays.items():
            if name.startswith(LOG_PREFIX) and name[len(LOG_PREFIX):] in (log_columns or {}):
                store.addLogColumn(name, _buffer(np.ascontiguousarray(values, dtype=np.float64)))
            else:
                store.addColumn(name, _buffer(_contiguous(values)))
    return store


def _buffer(values: np.ndarray) -> Any:
    """``values`` as the C++ side takes it (cppyy passes no empty array as a pointer: nullptr then)."""
    return values if values.size else ROOT.nullptr


def _contiguous(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    dtype = np.float32 if values.dtype == np.float32 else np.float64
    return np.ascontiguousarray(values, dtype=dtype)


def open_store(path: str | os.PathLike, streaming: str = "auto") -> Any:
    """Map an EventStore file written by ``store.write(path)`` or :func:`write_store_file`.

    ``streaming`` (``EventStore::setStreaming``): ``"auto"`` streams the store when its file is larger than
    half the physical memory, ``"on"`` always, ``"off"`` never. A streamed store's passes (``RooNSBINLL``)
    read it in chunks, asking the kernel to read the next chunk ahead and releasing each chunk's pages
    after it: resident memory stays at about (threads x 2 chunks) of the file, every pass reads the
    file from disk, and the results are bitwise those of the in-memory path.
    """
    modes = {"off": 0, "on": 1, "auto": 2}
    if streaming not in modes:
        raise ValueError(f"streaming must be one of 'auto', 'on', 'off' (whether the passes over the store "
                         f"{os.fspath(path)!r} stream it from disk), got {streaming!r}")
    path = check_file(path, "event store file")
    with cpp_errors():
        store = ROOT.RooNSBI.EventStore.open(str(path))
    store.setStreaming(modes[streaming])
    return store


def write_store_file(path: str | os.PathLike, n: int, names: Sequence[str], columns: Iterable[Any], *,
                     overwrite: bool = False) -> Path:
    """Write an EventStore file column by column, without holding the store in memory.

    ``columns`` gives the ``n`` values of each column of ``names`` in that order (arrays, converted to
    float32; a generator makes one at a time). They go through ``RooNSBI::StoreWriter``, the writer of
    ``EventStore::write``: the file is the one ``store.write(path)`` writes for the same columns, to be
    mapped with :func:`open_store`. Atomic (``roonsbi.atomic``'s rules): the bytes go to a temporary file
    next to ``path`` that takes its place once complete; an existing ``path`` is replaced only with
    ``overwrite``; an error or an interrupt (e.g. in the generator) removes the temporary and leaves
    ``path`` as it was. Memory: one column.

    >>> import tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "events.store")
    >>> _ = write_store_file(path, 3, ["r_S", "weight"], (np.ones(3), np.full(3, 0.5)))
    >>> store = open_store(path)
    >>> store.size(), [str(c) for c in store.columnNames()], store_rows(store, "weight", 3).tolist()
    (3, ['r_S', 'weight'], [0.5, 0.5, 0.5])
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be the number of events, an integer >= 0, got {n!r}")
    names = [str(name) for name in names]
    path = check_target(path, overwrite)
    with cpp_errors():  # the names are checked there (one-line, each once)
        writer = ROOT.RooNSBI.StoreWriter.open(str(path), int(n), names, overwrite)
    try:
        written = 0
        for values in columns:
            if written == len(names):
                raise ValueError(f"columns gives more than the {len(names)} columns of names")
            col = as_column(names[written], "event store", values, int(n), keep_float32=True)
            with cpp_errors():
                writer.append(_buffer(np.ascontiguousarray(col, dtype=np.float32)))
            written += 1
        if written != len(names):
            raise ValueError(f"columns gives {written} columns for the {len(names)} of names (the first missing: "
                             f"'{names[written]}')")
        with cpp_errors():
            writer.commit()
    finally:
        writer.abort()  # removes the temporary file unless committed
    return path


def dequantized_columns(store: Any) -> dict[str, np.ndarray]:
    """The store's columns as float64 arrays in the model's naming (logs exponentiated):
    the exact inputs the fast likelihood sees, to build a reference RooFit model from.
    A column stored both as values and as logarithms gives its values."""
    out = {}
    n = store.size()
    names = [str(name) for name in store.columnNames()]
    for name in sorted(names, key=lambda c: not c.startswith(LOG_PREFIX)):  # logs first, values win
        values = np.frombuffer(store.column(name), dtype=np.float32, count=n).astype(np.float64)
        if name.startswith(LOG_PREFIX):
            out[name[len(LOG_PREFIX):]] = np.exp(values)
        else:
            out[name] = values
    return out




def store_rows(store: Any, name: str, n: int) -> np.ndarray:
    """The first ``n`` rows of column ``name`` as float64 in the model's naming: the values the pdf
    reads (a column stored only as its logarithm ``log:<name>`` is exponentiated)."""
    if store.hasColumn(name):
        return np.frombuffer(store.column(name), dtype=np.float32, count=n).astype(np.float64)
    if store.hasColumn(LOG_PREFIX + name):
        return np.exp(np.frombuffer(store.column(LOG_PREFIX + name), dtype=np.float32, count=n).astype(np.float64))
    raise KeyError(f"the event store has no column '{name}' (nor '{LOG_PREFIX}{name}')")
