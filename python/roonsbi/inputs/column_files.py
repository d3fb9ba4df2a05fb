r"""The files of per-event columns (:mod:`roonsbi.inputs.columns`): :func:`write_columns` (a ROOT
TTree, an ``.npz`` or a folder of ``.npy`` files, streamed chunk by chunk, atomic), :func:`read_columns`
(memory-mapped from a folder) and :func:`read_metadata` (what was stored with them, e.g. the
calibration of ``roonsbi evaluate``).

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp()) / "cols"
>>> _ = write_columns(folder, {"r_S": np.array([0.5, 2.0]), "weight": np.array([1.0, 1.0])}, metadata={"seed": 1})
>>> {k: v.tolist() for k, v in read_columns(folder).items()}, read_metadata(folder)
({'r_S': [0.5, 2.0], 'weight': [1.0, 1.0]}, {'seed': 1})
"""

from __future__ import annotations

import json
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..atomic import atomic_folder, atomic_path, refuse_existing
from ..checks import check_file
from ..naming import COLUMNS_METADATA
from ..optional import optional_module
from ..spec import PathLike
from .events import MissingFeatureError

__all__ = ["FORMATS", "INDEX_FILE", "read_columns", "read_metadata", "write_columns"]

#: Name of the index file of a folder of ``.npy`` columns.
INDEX_FILE = "columns.json"


def _float_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"columns are written as float32 or float64, not {dt}")
    return dt


# -- writing ------------------------------------------------------------------------------

FORMATS = ("root", "npz", "npy")
_NPY_HEADER_SIZE = 128  # fixed header length of the streamed .npy files (a multiple of 64)


def _infer_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown columns format {fmt!r}; use one of {FORMATS}")
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".root":
        return "root"
    if suffix == ".npz":
        return "npz"
    if suffix == "" or path.is_dir():
        return "npy"
    raise ValueError(
        f"cannot tell the format of {path} from its suffix: use .root (TTree), .npz, or a folder "
        f"name without suffix (one .npy per column), or pass format="
    )


def _npy_header(dtype: np.dtype, n: int) -> bytes:
    text = f"{{'descr': {np.lib.format.dtype_to_descr(dtype)!r}, 'fortran_order': False, 'shape': ({n},), }}"
    body = text.ljust(_NPY_HEADER_SIZE - 10 - 1) + "\n"
    header = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")
    assert len(header) == _NPY_HEADER_SIZE
    return header


class _NpyFolderWriter:
    """One .npy per column, appended chunk by chunk (fixed-size header patched at the end)."""

    def __init__(self, folder: Path, dtype: np.dtype, metadata: Mapping[str, Any] | None = None) -> None:
        self.folder, self.dtype = folder, dtype  # an empty folder
        self.metadata = dict(metadata or {})
        self.files: dict[str, Any] = {}
        self.n = 0

    def write(self, chunk: Mapping[str, np.ndarray]) -> None:
        if not self.files:
            for name in chunk:
                fh = open(self.folder / f"{name}.npy", "wb")  # noqa: SIM115 - open across write() calls
                fh.write(_npy_header(self.dtype, 0))
                self.files[name] = fh
        _same_columns(list(self.files), chunk)
        n = len(next(iter(chunk.values()))) if chunk else 0
        for name, fh in self.files.items():
            values = np.ascontiguousarray(chunk[name], dtype=self.dtype)
            if values.shape != (n,):
                raise ValueError(f"column '{name}' has shape {values.shape} in a chunk of {n} events")
            values.tofile(fh)
        self.n += n

    def close(self) -> None:
        for fh in self.files.values():
            fh.seek(0)
            fh.write(_npy_header(self.dtype, self.n))
            fh.close()
        index = {"format": "roonsbi-columns", "version": 1, "columns": list(self.files),
                 "dtype": self.dtype.name, "entries": self.n}
        if self.metadata:
            index[COLUMNS_METADATA] = self.metadata
        (self.folder / INDEX_FILE).write_text(json.dumps(index, indent=1) + "\n")

    def abort(self) -> None:
        for fh in self.files.values():
            fh.close()


class _RootWriter:
    """A TTree written with uproot, one basket per chunk."""

    def __init__(self, path: Path, tree: str, dtype: np.dtype, metadata: Mapping[str, Any] | None = None) -> None:
        uproot = optional_module("uproot", "writing ROOT files")
        self.path, self.tree_name, self.dtype = path, tree, dtype
        self.file = uproot.recreate(str(path))
        if metadata:
            self.file[COLUMNS_METADATA] = json.dumps(metadata)  # a TObjString
        self.tree: Any = None
        self.names: list[str] = []

    def write(self, chunk: Mapping[str, np.ndarray]) -> None:
        if self.tree is None:
            self.names = list(chunk)
            self.tree = self.file.mktree(self.tree_name, dict.fromkeys(self.names, self.dtype),
                                         title="roonsbi per-event columns")
        _same_columns(self.names, chunk)
        if chunk and len(next(iter(chunk.values()))):
            self.tree.extend({name: np.ascontiguousarray(chunk[name], dtype=self.dtype) for name in self.names})

    def close(self) -> None:
        self.file.close()

    def abort(self) -> None:
        self.file.close()


def _same_columns(names: Sequence[str], chunk: Mapping[str, np.ndarray]) -> None:
    if list(chunk) != list(names):
        raise ValueError(f"a chunk has the columns {list(chunk)}, the first had {list(names)}")


def _is_columns_folder(path: Path) -> bool:
    return path.is_dir() and (not any(path.iterdir()) or (path / INDEX_FILE).is_file())


def write_columns(
    path: PathLike,
    columns: Mapping[str, np.ndarray] | Iterable[Mapping[str, np.ndarray]],
    *,
    dtype: Any = np.float32,
    format: str | None = None,
    tree: str = "columns",
    overwrite: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write columns to ``path``: a ROOT TTree, an ``.npz`` or a folder of ``.npy`` files.

    Args:
        path: ``*.root`` (TTree ``tree`` written with uproot), ``*.npz``, or a folder name
            without suffix (one ``<column>.npy`` per column plus ``columns.json``; read
            back memory-mapped, without a copy).
        columns: dict column -> array, or an iterable of such dicts (e.g.
            :func:`~roonsbi.inputs.columns.iter_columns`), written chunk by chunk without holding all in memory.
        dtype: float32 (default) or float64.
        format: ``"root"``, ``"npz"`` or ``"npy"`` (default: from the suffix).
        tree: TTree name for ROOT files.
        overwrite: replace an existing file (or a folder written by roonsbi).
        metadata: a JSON-serialisable mapping stored with the columns (e.g. the calibration of
            ``roonsbi evaluate --calibrate-on``): in a ROOT file the TObjString ``roonsbi_metadata``,
            in a folder the index ``columns.json``, in an ``.npz`` the zip comment; read it back with
            :func:`read_metadata`.

    The output appears only when complete (:mod:`roonsbi.atomic`): it is written under a
    temporary name next to ``path`` and renamed at the end; an error while streaming leaves no
    file behind and an existing ``path`` as it was.

    Returns:
        The path written.
    """
    path = Path(path)
    dtype = _float_dtype(dtype)
    fmt = _infer_format(path, format)
    refuse_existing(path, overwrite)
    if path.is_dir() and not _is_columns_folder(path):
        raise FileExistsError(f"{path} is a folder that roonsbi did not write (no {INDEX_FILE}); not replacing it")
    chunks: Iterable[Mapping[str, np.ndarray]] = [columns] if isinstance(columns, Mapping) else columns
    if fmt == "root":
        with atomic_path(path, overwrite) as tmp:
            _stream(_RootWriter(tmp, tree, dtype, metadata), chunks)
    elif fmt == "npy":
        with atomic_folder(path, overwrite) as folder:
            _stream(_NpyFolderWriter(folder, dtype, metadata), chunks)
    else:  # npz: .npy files in a scratch folder next to path, then stored in the zip
        with atomic_path(path, overwrite) as tmp, \
                tempfile.TemporaryDirectory(prefix=f".{path.name}.", suffix=".d", dir=path.parent) as scratch:
            writer = _NpyFolderWriter(Path(scratch), dtype)
            _stream(writer, chunks)
            _zip_folder(Path(scratch), list(writer.files), tmp, metadata)
    return path


def _stream(writer: Any, chunks: Iterable[Mapping[str, np.ndarray]]) -> None:
    """Write every chunk with ``writer`` and close it; on an error (no columns at all is one) close its files."""
    try:
        for chunk in chunks:
            writer.write(chunk)
        if isinstance(writer, _RootWriter) and writer.tree is None:
            raise ValueError("no columns to write")
        writer.close()
    except BaseException:
        writer.abort()
        raise


def _zip_folder(folder: Path, names: Sequence[str], target: Path, metadata: Mapping[str, Any] | None = None) -> None:
    """Store the ``.npy`` files of ``folder`` uncompressed in the ``.npz`` ``target`` (``metadata``
    as JSON in the zip comment, which numpy ignores)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in names:
            zf.write(folder / f"{name}.npy", arcname=f"{name}.npy")
        if metadata:
            comment = json.dumps({COLUMNS_METADATA: metadata}).encode()
            if len(comment) > 65535:
                raise ValueError(f"the metadata of {target} is {len(comment)} bytes as JSON; an .npz holds 65535")
            zf.comment = comment


# -- reading ------------------------------------------------------------------------------

def read_columns(
    path: PathLike,
    columns: Sequence[str] | None = None,
    *,
    tree: str | None = None,
    mmap: bool = True,
) -> dict[str, np.ndarray]:
    """Read columns written by :func:`write_columns` (or any flat TTree/RNTuple, .npz, .npy folder).

    Args:
        path: ``*.root``, ``*.npz`` or a folder of ``.npy`` files.
        columns: names to read (default: all).
        tree: TTree/RNTuple name in a ROOT file (default: ``columns`` or the only one).
        mmap: memory-map the ``.npy`` files of a folder (no copy into memory).

    Returns:
        dict column -> 1-D array, in the order written.
    """
    path = check_file(path, "columns file", folder=True)
    fmt = "npy" if path.is_dir() else _infer_format(path, None)
    wanted = None if columns is None else list(columns)
    if fmt == "root":
        return _read_root_columns(path, wanted, tree)
    if fmt == "npz":
        try:
            with np.load(path) as z:
                available = list(z.files)
                _check_wanted(path, wanted, available)
                return {name: _checked_column(path, name, lambda name=name: z[name]) for name in (wanted or available)}
        except (zipfile.BadZipFile, EOFError) as err:
            raise ValueError(f"{path} is not a readable .npz file ({err}): truncated or damaged; write it again") \
                from None
    index = path / INDEX_FILE
    if index.is_file():
        available = json.loads(index.read_text())["columns"]
    else:
        available = sorted(p.stem for p in path.glob("*.npy"))
    _check_wanted(path, wanted, available)
    return {name: _checked_column(path, name, lambda name=name: np.load(
        check_file(path / f"{name}.npy", "column file"), mmap_mode="r" if mmap else None))
        for name in (wanted or available)}


def _checked_column(path: Path, name: str, read: Any) -> np.ndarray:
    """``read()``, a column of ``path``, as it was written: a 1-D array of real numbers (ValueError naming the
    file and the column if it cannot be read or is something else)."""
    try:
        values = read()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"column '{name}' of {path} cannot be read ({err}): truncated or damaged; write it "
                         "again") from None
    if values.dtype.kind not in "iuf" or values.ndim != 1:
        raise ValueError(f"column '{name}' of {path} is not a 1-D array of real numbers (dtype {values.dtype}, "
                         f"shape {values.shape}): columns are written as float32/float64, one value per event")
    return values


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The metadata :func:`write_columns` stored with the columns of ``path`` (empty if none)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    fmt = "npy" if path.is_dir() else _infer_format(path, None)
    if fmt == "root":
        uproot = optional_module("uproot", "reading ROOT files")
        with uproot.open(str(path)) as f:
            return dict(json.loads(str(f[COLUMNS_METADATA]))) if COLUMNS_METADATA in f else {}
    if fmt == "npz":
        with zipfile.ZipFile(path) as zf:
            return dict(json.loads(zf.comment.decode()).get(COLUMNS_METADATA, {})) if zf.comment else {}
    index = path / INDEX_FILE
    return dict(json.loads(index.read_text()).get(COLUMNS_METADATA, {})) if index.is_file() else {}


def _read_root_columns(path: Path, wanted: list[str] | None, tree: str | None) -> dict[str, np.ndarray]:
    """The columns ``wanted`` (default: all) of the TTree/RNTuple ``tree`` (default: ``columns`` or the only one)."""
    uproot = optional_module("uproot", "reading ROOT files")
    with uproot.open(str(path)) as f:
        names = {k.split(";")[0]: v for k, v in f.classnames().items() if v in ("TTree", "ROOT::RNTuple")}
        if tree is None:
            tree = "columns" if "columns" in names else (next(iter(names)) if len(names) == 1 else None)
            if tree is None:
                raise ValueError(f"{path} holds the trees {sorted(names)}; choose one with tree=")
        if tree not in names:
            raise MissingFeatureError(f"{path} has no TTree/RNTuple '{tree}' (has {sorted(names)})")
        obj = f[tree]
        available = list(obj.keys())
        _check_wanted(path, wanted, available)
        arrays = obj.arrays(filter_name=wanted or available, library="np")
        return {name: arrays[name] for name in (wanted or available)}


def _check_wanted(path: Path, wanted: Sequence[str] | None, available: Sequence[str]) -> None:
    if wanted is not None:
        missing = [c for c in wanted if c not in available]
        if missing:
            raise MissingFeatureError(f"{path} has no column(s) {missing} (columns: {list(available)})")
