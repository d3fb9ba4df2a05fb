"""Toy results in chunks of JSON lines: resumable and mergeable.

A toy study with ``results=FOLDER`` writes every finished toy as one JSON line (a record: the
study ``kind``, the POI and its tested value ``mu``, the ``parameters`` the toy was generated at,
its ``seed`` = ``{"entropy": s, "spawn_key": [j, k]}`` and the test statistic ``t``) into chunk
files ``FOLDER/toys-<id>.jsonl`` of ``chunk_size`` lines, each written atomically
(:mod:`roonsbi.atomic`): an interrupted study loses at most the toys of its last, unwritten
chunk. Run again with the same folder, it reads the records, skips the toys they hold and runs
the others (**resume**). Several jobs that run different toys of one study (``first_toy=``) into
different folders **merge** by copying their chunk files into one folder (the names do not
collide), or with :func:`merge_records`. Floats are written with ``repr`` (exact round trip), so
a resumed study gives bit-identical results.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     with ToyLog(d, chunk_size=2) as log:
...         for k in range(3):
...             log.add({"kind": "t", "poi": "mu", "mu": 1.0, "parameters": {"mu": 1.0},
...                      "seed": {"entropy": 1, "spawn_key": [0, k]}, "t": 0.1 * k})
...     sorted(r["t"] for r in ToyLog(d).records().values())
[0.0, 0.1, 0.2]
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..atomic import write_text

__all__ = ["ToyLog", "merge_records", "record_key"]

Key = tuple[str, str, int, tuple[int, ...]]


def record_key(record: Mapping[str, Any]) -> Key:
    """The identity of a toy: (kind, poi, seed entropy, spawn key)."""
    seed = record["seed"]
    return str(record["kind"]), str(record["poi"]), int(seed["entropy"]), tuple(int(k) for k in seed["spawn_key"])


def _same_toy(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a["mu"] == b["mu"] and a["parameters"] == b["parameters"]


class ToyLog:
    """The records of one results folder: read on creation, new ones written in chunks.

    ``folder`` is created if missing. Use as a context manager (the last, partial chunk is
    written on exit, also on an exception) or call :meth:`flush`."""

    def __init__(self, folder: str | os.PathLike, chunk_size: int = 100):
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"results={self.folder} is a file: toy results go to a folder of chunk files")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.chunk_size = int(chunk_size)
        self._id = secrets.token_hex(4)
        self._chunks = 0
        self._buffer: list[dict[str, Any]] = []
        self._records = merge_records([self.folder])

    def records(self) -> dict[Key, dict[str, Any]]:
        """Every record of the folder (those read and those added), by :func:`record_key`."""
        return self._records

    def lookup(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored record of the toy ``record`` describes (None if not there); ValueError if the
        folder holds that toy with other parameters (a result of another study)."""
        old = self._records.get(record_key(record))
        if old is not None and not _same_toy(old, record):
            raise ValueError(f"{self.folder} holds toy {record_key(record)} at mu = {old['mu']}, parameters "
                             f"{old['parameters']}, not {record['mu']}, {record['parameters']}: the results of "
                             "another study (use another results folder or another seed)")
        return old

    def add(self, record: Mapping[str, Any]) -> None:
        """Add a finished toy; a full chunk is written."""
        record = dict(record)
        self._records[record_key(record)] = record
        self._buffer.append(record)
        if len(self._buffer) >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records as one chunk file (atomically)."""
        if not self._buffer:
            return
        self._chunks += 1
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self._buffer)
        write_text(self.folder / f"toys-{self._id}-{self._chunks:05d}.jsonl", text)
        self._buffer = []

    def __enter__(self) -> ToyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def merge_records(folders: Iterable[str | os.PathLike]) -> dict[Key, dict[str, Any]]:
    """The records of the chunk files of ``folders``, by :func:`record_key`; a toy present in
    several files must have the same parameters and result (ValueError naming both files otherwise)."""
    out: dict[Key, dict[str, Any]] = {}
    where: dict[Key, str] = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("toys-*.jsonl")):
            for line_no, line in enumerate(path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key = record_key(record)
                except (ValueError, KeyError, TypeError) as err:
                    raise ValueError(f"{path}:{line_no} is not a toy record ({err}); remove the file or use "
                                     "another results folder") from err
                old = out.get(key)
                if old is not None and (not _same_toy(old, record) or old.get("t") != record.get("t")):
                    raise ValueError(f"toy {key} differs between {where[key]} and {path}:{line_no}: the folders "
                                     "hold results of different studies with one seed")
                out[key] = record
                where[key] = f"{path}:{line_no}"
    return out
