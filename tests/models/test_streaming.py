"""Stores larger than memory: streamed passes over a mapped EventStore file (``EventStore::setStreaming``).

References: the same NLL on the store in memory (owned columns), whose value, gradient, one-pass Hessian
and value-only steps a streamed pass must give bitwise (the chunks are whole blocks, summed in the same
order), and the fit of ``fit(fast=True)`` on the in-memory store; ``mincore`` (the kernel's own count
of the file's pages in the page cache) for the release of the pages; ``EventStore::write`` for the
bytes of the chunked writer ``write_store_file`` (both through ``RooNSBI::StoreWriter``) and an independent
reading of the file format with plain Python (``parse_store_file``). The model has 3 x 10^5 events: several chunks of
2^16 rows per thread, the last one partial.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import mmap
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import ROOT

from roonsbi.atomic import temporary_target
from roonsbi.infer.fit import Fitter, fit
from roonsbi.library import cpp_errors
from roonsbi.models.fast import fast_nll
from roonsbi.models.store import make_store, open_store, store_rows, write_store_file
from roonsbi.models.unbinned import build_model
from roonsbi.spec import Process, ShapeSys

N = 300_001
#: process -> (yield, coefficient, shape codes of the NPs a, b, c): every kind of term, mixed chains
PROCESSES = {"S": (50.0, "mu", {"a": 5, "b": 4, "c": 1}), "B": (400.0, "1", {"a": 6, "b": 2, "c": 0})}
POINT = {"mu": 1.3, "alpha_a": 0.4, "alpha_b": -0.7, "alpha_c": 1.6}


@pytest.fixture(scope="module")
def model_and_file(tmp_path_factory: pytest.TempPathFactory):
    rng = np.random.default_rng(14)
    procs = []
    for p, (y, coef, shapes) in PROCESSES.items():
        syst = {}
        for a, code in shapes.items():
            z = 0.04 * rng.standard_normal(N)
            syst[a] = ShapeSys(np.exp(-z), np.exp(z), code)
        procs.append(Process(p, y, rng.uniform(0.05, 3.0, N), coef, shapesys=syst))
    weights = rng.uniform(0.0005, 0.003, N)
    model = build_model(procs, weights=weights, name="stream", form="columns")
    memory = fast_nll(model, threads=2)
    path = tmp_path_factory.mktemp("stream") / "events.store"
    memory.store.write(str(path))
    return model, memory, path


def _evaluate(nll) -> tuple[float, np.ndarray, np.ndarray]:
    n = nll.gradientParameters().size()
    grad, hess = np.zeros(n), np.zeros(n * n)
    value = nll.getVal()
    nll.gradient(grad)
    nll.hessian(hess)
    return value, grad, hess


def _resident_fraction(store, name: str) -> float:
    """The fraction of a column's whole pages that are in the page cache (mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    start = np.frombuffer(store.column(name), dtype=np.float32, count=store.size()).ctypes.data
    page = mmap.PAGESIZE
    first = (start + page - 1) // page * page
    last = (start + 4 * store.size()) // page * page
    pages = (last - first) // page
    vec = ctypes.create_string_buffer(pages)
    assert libc.mincore(first, last - first, vec) == 0, ctypes.get_errno()
    return sum(b & 1 for b in vec.raw) / pages


def _drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.parametrize("threads", [1, 2])
def test_streamed_passes_equal_the_store_in_memory(model_and_file, threads: int) -> None:
    model, memory, path = model_and_file
    streamed = fast_nll(model, store=open_store(path, streaming="on"), threads=threads)
    assert streamed.store.streams() and not memory.store.streams()
    memory.nll.setNumThreads(threads)
    for point in (POINT, {**POINT, "alpha_a": -1.2, "mu": 0.7}):
        model.set_parameters(point)
        expected, actual = _evaluate(memory.nll), _evaluate(streamed.nll)
        assert actual[0] == expected[0]
        np.testing.assert_array_equal(actual[1], expected[1])
        np.testing.assert_array_equal(actual[2], expected[2])
    # value-only steps from the per-event cache (one parameter changed) read the changed columns in chunks too
    for f in (memory, streamed):
        f.nll.setIncrementalLimit(2)
        f.nll.getVal()
    before = memory.nll.numIncrementalEvaluations()
    for value in (0.1, -0.35):
        model.parameter("alpha_b").setVal(value)
        assert streamed.nll.getVal() == memory.nll.getVal()
    steps = streamed.nll.numIncrementalEvaluations()
    assert steps > 0 and steps == memory.nll.numIncrementalEvaluations() - before


def _mapping_rss(store) -> int:
    """Bytes of the store's mapping in this process's page tables (its Rss in /proc/self/smaps)."""
    address = np.frombuffer(store.column(str(store.columnNames()[0])), dtype=np.float32, count=1).ctypes.data
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = (int(x, 16) for x in first.split("-"))
                inside = lo <= address < hi
            elif inside and line.startswith("Rss:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no mapping of the store in /proc/self/smaps")


def test_streaming_releases_the_pages(model_and_file) -> None:
    model, _, path = model_and_file
    model.set_parameters(POINT)
    column = "log:g_S_a_hi"
    size = path.stat().st_size
    # one thread: each chunk leaves the process (Rss) and the page cache (mincore) after use
    streamed = fast_nll(model, store=open_store(path, streaming="on"), threads=1)
    _drop_cache(path)  # the pages the write left (large folios, which a chunk's range may cut: not dropped then)
    assert _resident_fraction(streamed.store, column) < 0.01
    streamed.nll.getVal()
    assert _resident_fraction(streamed.store, column) < 0.02
    assert _mapping_rss(streamed.store) < 0.02 * size
    # two threads: the pages leave the process (the kernel may keep some in the page cache: reclaimable)
    model.parameter("mu").setVal(1.1)
    streamed.nll.setNumThreads(2)
    streamed.nll.getVal()
    assert _mapping_rss(streamed.store) < 0.05 * size
    kept = fast_nll(model, store=open_store(path, streaming="off"), threads=2)
    kept.nll.getVal()
    assert _resident_fraction(kept.store, column) > 0.99  # a pass maps every page, and they stay cached
    assert _mapping_rss(kept.store) > 0.9 * size


def test_fit_from_a_streamed_file_equals_the_fit_in_memory(model_and_file) -> None:
    model, _, path = model_and_file
    model.set_parameters(POINT)
    expected = fit(model, fast=True)
    model.set_parameters(POINT)
    streamed = Fitter(model, nll=fast_nll(model, store=open_store(path, streaming="on"), threads=2)).fit(hesse=True)
    assert expected.status == 0 and streamed.status == 0
    for name, value in expected.values.items():
        assert streamed.values[name] == pytest.approx(value, rel=1e-12, abs=1e-12)
        assert streamed.errors[name] == pytest.approx(expected.errors[name], rel=1e-12)


def test_auto_streams_only_stores_larger_than_half_the_memory(model_and_file) -> None:
    _, _, path = model_and_file
    assert open_store(path).streaming() == ROOT.RooNSBI.EventStore.streamingAuto
    assert not open_store(path).streams()  # a few MB: kept mapped
    assert not open_store(path, streaming="off").streams()
    store = ROOT.std.make_shared["RooNSBI::EventStore"](3)
    store.setStreaming(ROOT.RooNSBI.EventStore.streamingOn)
    assert not store.streams()  # a store in memory is never streamed


@pytest.mark.parametrize("mode", ["yes", "ON", True, 1, None])
def test_bad_streaming_values_are_named(model_and_file, mode) -> None:
    _, _, path = model_and_file
    with pytest.raises(ValueError, match=r"streaming must be one of 'auto', 'on', 'off' .*events.store"):
        open_store(path, streaming=mode)


def test_bad_streaming_mode_in_cpp(model_and_file) -> None:
    _, _, path = model_and_file
    store = open_store(path)
    with pytest.raises(ValueError, match=r"setStreaming: mode 7 is not one of streamingOff \(0\)"), cpp_errors():
        store.setStreaming(7)
    assert store.streaming() == ROOT.RooNSBI.EventStore.streamingAuto


def parse_store_file(data: bytes) -> dict[str, np.ndarray]:
    """An independent reader of the file format of EventStore.h, with plain Python: the magic ROONSBI2, the
    little-endian uint64 header length, the header lines "n <rows>", the names and "crc32 <8 hex>" (zlib's
    CRC-32 of every byte before that line), zero padding to 64 bytes, then per column the rows as float32
    (little endian) and zero padding to 64 bytes, nothing after. The columns by name, in the file's order."""
    assert data[:8] == b"ROONSBI2"
    (length,) = struct.unpack("<Q", data[8:16])
    lines = data[16:16 + length].split(b"\n")
    assert lines[-1] == b"" and lines[0].startswith(b"n ") and lines[-2].startswith(b"crc32 ")
    n, names = int(lines[0][2:]), [name.decode() for name in lines[1:-2]]
    covered = 16 + length - len(lines[-2]) - 1
    assert lines[-2] == b"crc32 %08x" % zlib.crc32(data[:covered])
    start = -(-(16 + length) // 64) * 64
    assert data[16 + length:start] == bytes(start - 16 - length)
    stride = -(-4 * n // 64) * 64
    assert len(data) == start + len(names) * stride
    columns = {}
    for k, name in enumerate(names):
        block = data[start + k * stride:start + (k + 1) * stride]
        assert block[4 * n:] == bytes(stride - 4 * n)
        columns[name] = np.frombuffer(block[:4 * n], dtype="<f4")
    return columns


@pytest.mark.parametrize("n", [1001, 32, 0])  # padded columns, whole 64-byte blocks, no rows
def test_chunked_writer_writes_the_bytes_of_eventstore_write(tmp_path: Path, n: int) -> None:
    """write_store_file and EventStore::write go through one writer (StoreWriter): the test ties both to an
    independent reading of the format (parse_store_file) and EventStore::sha256, which hashes the format
    without writing, to the file's SHA-256."""
    rng = np.random.default_rng(3)
    columns = {"r_S": rng.uniform(0, 2, n), "log:g_S_a_hi": rng.normal(0, 0.1, n).astype(np.float32),
               "weight": rng.uniform(0, 1, n)}
    store = make_store(columns)
    store.write(str(tmp_path / "reference.store"))
    write_store_file(tmp_path / "chunked.store", n, list(columns), (v for v in columns.values()))
    data = (tmp_path / "chunked.store").read_bytes()
    assert data == (tmp_path / "reference.store").read_bytes()
    parsed = parse_store_file(data)
    assert list(parsed) == list(columns)
    for name, values in columns.items():
        np.testing.assert_array_equal(parsed[name], values.astype(np.float32))
    assert store.sha256() == hashlib.sha256(data).hexdigest()
    mapped = open_store(tmp_path / "chunked.store")
    np.testing.assert_array_equal(store_rows(mapped, "weight", n), columns["weight"].astype(np.float32))


def test_chunked_writer_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.store"
    with pytest.raises(ValueError, match="gives 1 columns for the 2 of names .*first missing: 'b'"):
        write_store_file(path, 3, ["a", "b"], [np.ones(3)])
    with pytest.raises(ValueError, match="more than the 1 columns"):
        write_store_file(path, 3, ["a"], [np.ones(3), np.ones(3)])
    with pytest.raises(ValueError, match="column 'b' has 4 entries but the other columns have 3"):
        write_store_file(path, 3, ["a", "b"], [np.ones(3), np.ones(4)])
    with pytest.raises(TypeError, match="column 'a' has dtype <U1"):
        write_store_file(path, 3, ["a"], [np.array(["x", "y", "z"])])
    with pytest.raises(ValueError, match="column 'a' is given twice \\(columns 0 and 1\\)"):
        write_store_file(path, 3, ["a", "a"], [np.ones(3), np.ones(3)])
    with pytest.raises(ValueError, match=r"column name 'a\\nb' \(column 0 .*contains a newline"):
        write_store_file(path, 3, ["a\nb"], [np.ones(3)])
    with pytest.raises(ValueError, match="n must be the number of events"):
        write_store_file(path, -1, ["a"], [np.ones(3)])

    def interrupted():
        yield np.ones(3)
        raise KeyboardInterrupt  # e.g. Ctrl-C while the next column is computed

    with pytest.raises(KeyboardInterrupt):
        write_store_file(path, 3, ["a", "b"], interrupted())
    with pytest.raises(FileNotFoundError):
        write_store_file(path, 3, ["a"], (np.loadtxt(tmp_path / "missing.txt") for _ in range(1)))
    assert not list(tmp_path.iterdir())  # no file, no temporary left
    write_store_file(path, 3, ["a"], [np.ones(3)])
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_store_file(path, 3, ["a"], [np.zeros(3)])
    with pytest.raises(KeyboardInterrupt):
        write_store_file(path, 3, ["a", "b"], interrupted(), overwrite=True)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["e.store"]
    write_store_file(path, 3, ["a"], [np.zeros(3)], overwrite=True)
    assert store_rows(open_store(path), "a", 3).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(FileNotFoundError, match="the folder .*no does not exist"):
        write_store_file(tmp_path / "no" / "e.store", 3, ["a"], [np.ones(3)])


def test_store_writer(tmp_path: Path) -> None:
    """RooNSBI::StoreWriter itself: its temporary file (named as roonsbi.atomic names its own), a commit with
    a missing column, the calls after a commit, abort() and the destructor, a path that appears meanwhile."""
    Writer = ROOT.RooNSBI.StoreWriter
    path = tmp_path / "w.store"
    writer = Writer.open(str(path), 2, ["a", "b"])
    tmp = Path(str(writer.temporary()))
    assert tmp.parent == tmp_path and temporary_target(tmp.name) == "w.store" and tmp.exists()
    writer.append(np.array([1, 2], np.float32))
    with pytest.raises(ValueError, match=r"1 of the 2 columns of '.*w.store' are written \(the first missing: 'b'\)"), \
            cpp_errors():
        writer.commit()
    assert tmp.exists() and not path.exists()  # still open: the rest can be appended
    writer.append(np.array([3, 4], np.float32))
    with pytest.raises(ValueError, match="all 2 columns of .* are written; append\\(\\) got one more"), cpp_errors():
        writer.append(np.array([5, 6], np.float32))
    writer.commit()
    assert not tmp.exists() and writer.committed()
    assert {k: v.tolist() for k, v in parse_store_file(path.read_bytes()).items()} == {"a": [1, 2], "b": [3, 4]}
    with pytest.raises(ValueError, match="is committed: it takes no more columns"), cpp_errors():
        writer.append(np.array([5, 6], np.float32))
    writer.abort()  # nothing after a commit
    assert path.exists()

    other = tmp_path / "x.store"
    aborted = Writer.open(str(other), 2, ["a"])
    tmp = Path(str(aborted.temporary()))
    aborted.abort()
    assert not tmp.exists() and not other.exists()
    with pytest.raises(ValueError, match="is aborted already"), cpp_errors():
        aborted.commit()
    dropped = Writer.open(str(other), 2, ["a"])
    tmp = Path(str(dropped.temporary()))
    del dropped  # the destructor of an uncommitted writer removes its temporary
    gc.collect()
    assert not tmp.exists()

    late = Writer.open(str(other), 2, ["a"])
    late.append(np.ones(2, np.float32))
    other.write_text("another process's file")
    with pytest.raises(ValueError, match="x.store' appeared while it was written; not replaced"), cpp_errors():
        late.commit()
    assert other.read_text() == "another process's file" and sorted(p.name for p in tmp_path.iterdir()) == [
        "w.store", "x.store"]
    with pytest.raises(ValueError, match="x.store' exists; pass overwrite=true"), cpp_errors():
        Writer.open(str(other), 2, ["a"])
