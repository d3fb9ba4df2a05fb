"""An EventStore saved inside a ROOT file (``RooNSBI::writeStore`` / ``readStore``, StoreIO.h) and the
header checks of the mapped store file (``EventStore::open``).

References: the numpy arrays the store was made from (bit for bit), a pure-Python re-implementation
of the documented checksum, plain PyROOT reading the chunk keys without roonsbi, and a byte-level
re-implementation of the mapped file format.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roonsbi.library import cpp_errors, load

ROOT = load()
IO = ROOT.RooNSBI

MASK = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)


def reference_checksum(values: np.ndarray) -> int:
    """The checksum of StoreIO.h, written from its documentation in Python integers."""
    bits = [int(b) for b in np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)]
    n = len(bits)
    if n % 2:
        bits.append(0)

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (64 - r))) & MASK

    def mix(acc: int, word: int) -> int:
        return (rotl((acc + word * P2) & MASK, 31) * P1) & MASK

    lanes = [((lane + 1) * P1) & MASK for lane in range(8)]
    for k in range(len(bits) // 2):
        lanes[k % 8] = mix(lanes[k % 8], bits[2 * k] | (bits[2 * k + 1] << 32))
    h = (P5 + n) & MASK
    for acc in lanes:
        h = ((h ^ mix(0, acc)) * P1 + P4) & MASK
    h ^= h >> 33
    h = (h * P2) & MASK
    h ^= h >> 29
    h = (h * P3) & MASK
    h ^= h >> 32
    return h


def make_columns(rng: np.random.Generator, n: int, k: int = 4) -> dict[str, np.ndarray]:
    """k float32 columns of n events; the first one constant (compressible), the others random."""
    cols = {f"r_{j}": rng.lognormal(0.0, 1.0, n).astype(np.float32) for j in range(1, k)}
    return {"w": np.full(n, 0.5, dtype=np.float32), **cols}


def buffer(values: np.ndarray) -> np.ndarray:
    """``values`` for a C++ ``const float *`` (cppyy takes no empty array: one unread value then)."""
    return values if len(values) else np.zeros(1, np.float32)


def make_store(columns: dict[str, np.ndarray]) -> Any:
    n = len(next(iter(columns.values())))
    store = ROOT.std.make_shared["RooNSBI::EventStore"](n)
    for name, values in columns.items():
        store.addColumn(name, buffer(values))
    return store


def store_arrays(store: Any) -> dict[str, np.ndarray]:
    n = store.size()
    return {str(name): np.frombuffer(store.column(name), dtype=np.float32, count=n).copy() if n else
            np.zeros(0, np.float32) for name in store.columnNames()}


def assert_identical(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert list(got) == list(expected)
    for name, values in expected.items():
        assert got[name].dtype == np.float32 and got[name].shape == values.shape, name
        assert np.array_equal(got[name].view(np.uint32), values.view(np.uint32)), name


def write(path: Path, columns: dict[str, np.ndarray], prefix: str = "store", chunk: int = 100,
          option: str = "RECREATE", compression: int = 505) -> Any:
    """writeStore into a file; the manifest also written as the key ``manifest``; returns the manifest."""
    f = ROOT.TFile(str(path), option, "", compression)
    try:
        with cpp_errors():
            manifest = IO.writeStore(make_store(columns), f, prefix, chunk)
        assert f.GetCompressionSettings() == compression  # restored after the uncompressed chunks
        f.WriteObject(manifest, "manifest", "overwrite")
    finally:
        f.Close()
    return manifest


def read(path: Path, manifest: Any = None) -> dict[str, np.ndarray]:
    f = ROOT.TFile(str(path))
    try:
        with cpp_errors():
            return store_arrays(IO.readStore(f, manifest if manifest is not None else f.Get("manifest")))
    finally:
        f.Close()


def plain_chunk(f: Any, name: str) -> np.ndarray:
    """A chunk key read by plain PyROOT as a TArrayF."""
    array = ROOT.BindObject(f.GetObjectChecked(name, "TArrayF"), "TArrayF")
    return np.frombuffer(array.GetArray(), dtype=np.float32, count=array.GetSize()).copy()


# --- checksum ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 1001])
def test_checksum_equals_reference(rng: np.random.Generator, n: int) -> None:
    """Every size around the 8-lane stripes (16 values) and odd tails; special values included."""
    values = rng.standard_normal(n).astype(np.float32)
    special = np.array([-0.0, np.nan, np.inf, -np.inf, 1e-45], dtype=np.float32)
    values[: min(n, 5)] = special[: min(n, 5)]
    assert IO.checksum(buffer(values), n) == reference_checksum(values)


def test_checksum_sees_one_bit_and_order(rng: np.random.Generator) -> None:
    values = rng.standard_normal(1001).astype(np.float32)
    base = IO.checksum(values, len(values))
    flipped = values.copy()
    flipped.view(np.uint32)[517] ^= 1  # the lowest mantissa bit of one value
    swapped = values.copy()
    swapped[[3, 11]] = swapped[[11, 3]]  # two values in different lanes
    longer = np.append(values, np.float32(0.0))  # a zero appended (the odd tail is zero-padded)
    sums = {base, IO.checksum(flipped, 1001), IO.checksum(swapped, 1001), IO.checksum(longer, 1002)}
    assert len(sums) == 4
    assert reference_checksum(flipped) == IO.checksum(flipped, 1001)


# --- round trip --------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "chunk"), [(1003, 100), (1003, 5000), (64, 16), (1, 1), (0, 10)])
def test_round_trip(rng: np.random.Generator, tmp_path: Path, n: int, chunk: int) -> None:
    """Values bit-identical to the numpy float32 input; manifest, keys and index as documented; the
    chunks are uncompressed in a compressed file and read back by plain PyROOT."""
    columns = make_columns(rng, n)
    path = tmp_path / "store.root"
    manifest = write(path, columns, chunk=chunk)
    assert (str(manifest.prefix), manifest.nEvents, manifest.chunkEvents) == ("store", n, chunk)
    assert [str(c) for c in manifest.columns] == list(columns)
    assert list(manifest.checksums) == [reference_checksum(v) for v in columns.values()]

    assert_identical(read(path), columns)

    chunks = -(-n // chunk)
    f = ROOT.TFile(str(path))
    try:
        keys = {(k.GetName(), k.GetCycle()): k for k in f.Get("store").GetListOfKeys()}
        assert set(keys) == {(f"c{c}_k{j}", 1) for c in range(len(columns)) for j in range(chunks)} | {("index", 1)}
        for (name, _), key in keys.items():
            if name != "index":
                assert key.GetClassName() == "TArrayF"
                assert key.GetNbytes() - key.GetKeylen() == key.GetObjlen(), f"{name} is compressed"
        for c, values in enumerate(columns.values()):
            parts = [plain_chunk(f, f"store/c{c}_k{j}") for j in range(chunks)]
            got = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            assert np.array_equal(got.view(np.uint32), values.view(np.uint32))
        lines = [f"{reference_checksum(v):016x} {name}" for name, v in columns.items()]
        expected_index = "\n".join(["roonsbi-store 1", f"n {n}", f"chunk {chunk}", f"columns {len(columns)}", *lines])
        assert str(f.Get("store/index").GetString()) == expected_index + "\n"
    finally:
        f.Close()


def test_default_chunk(rng: np.random.Generator, tmp_path: Path) -> None:
    """Without a chunk size, chunks of 2^22 events (16 MiB of float32)."""
    columns = make_columns(rng, 10, k=2)
    f = ROOT.TFile(str(tmp_path / "store.root"), "RECREATE")
    with cpp_errors():
        manifest = IO.writeStore(make_store(columns), f, "store")
    assert manifest.chunkEvents == IO.StoreManifest.defaultChunkEvents == 2**22
    assert IO.StoreManifest.maxChunkEvents == 2**24
    assert sorted(k.GetName() for k in f.Get("store").GetListOfKeys()) == ["c0_k0", "c1_k0", "index"]
    assert_identical(store_arrays(IO.readStore(f, manifest)), columns)
    f.Close()


SCRIPT_ROONSBI = """
import sys
import numpy as np
import roonsbi.library
ROOT = roonsbi.library.load()
f = ROOT.TFile(sys.argv[1])
store = ROOT.RooNSBI.readStore(f, f.Get("manifest"))
n = store.size()
np.savez(sys.argv[2], **{str(c): np.frombuffer(store.column(c), dtype=np.float32, count=n)
                          for c in store.columnNames()})
"""

# plain PyROOT, roonsbi never imported: the index and the TArrayF chunk keys
SCRIPT_PLAIN = """
import json, sys
import numpy as np
import ROOT
f = ROOT.TFile(sys.argv[1])
lines = str(f.Get("store/index").GetString()).splitlines()
n, chunk, k = (int(lines[i].split()[1]) for i in (1, 2, 3))
names = [line.split(" ", 1)[1] for line in lines[4:4 + k]]
out = {}
for c, name in enumerate(names):
    parts = []
    for j in range(-(-n // chunk)):
        a = ROOT.BindObject(f.GetObjectChecked(f"store/c{c}_k{j}", "TArrayF"), "TArrayF")
        parts.append(np.frombuffer(a.GetArray(), dtype=np.float32, count=a.GetSize()).copy())
    out[name] = np.concatenate(parts)
np.savez(sys.argv[2], **out)
print(json.dumps({"roonsbi_loaded": "roonsbi" in sys.modules}))
"""


@pytest.mark.parametrize("reader", ["roonsbi", "plain"])
def test_fresh_process(rng: np.random.Generator, tmp_path: Path, reader: str) -> None:
    """A new interpreter reads the store back: through readStore and the streamed manifest, and
    through plain PyROOT (index and chunk keys) without roonsbi."""
    columns = make_columns(rng, 1003)
    path = tmp_path / "store.root"
    write(path, columns, chunk=128)
    out = tmp_path / "read.npz"
    script = SCRIPT_ROONSBI if reader == "roonsbi" else SCRIPT_PLAIN
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(path), str(out)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    if reader == "plain":
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"roonsbi_loaded": False}
    with np.load(out) as got:
        assert_identical({name: got[name] for name in got.files}, columns)


def test_rewrite_deletes_stale_keys(rng: np.random.Generator, tmp_path: Path) -> None:
    """A smaller store written with the same prefix into the same file replaces the larger one: only
    its own keys remain (one cycle each), it reads back, and the old manifest no longer matches."""
    path = tmp_path / "store.root"
    big = make_columns(rng, 1003, k=5)
    old = write(path, big, chunk=100)
    small = make_columns(rng, 250, k=2)
    new = write(path, small, chunk=100, option="UPDATE")
    f = ROOT.TFile(str(path))
    try:
        keys = {(k.GetName(), k.GetCycle()) for k in f.Get("store").GetListOfKeys()}
    finally:
        f.Close()
    assert {name for name, _ in keys} == {f"c{c}_k{j}" for c in range(2) for j in range(3)} | {"index"}
    assert len(keys) == 7  # no older cycles left
    assert_identical(read(path, new), small)
    with pytest.raises(ValueError, match=r"its index differs from the manifest at line 2: the file has 'n 250', "
                                         r"the manifest 'n 1003'"):
        read(path, old)


# --- damaged files -------------------------------------------------------------------------------

@pytest.fixture
def saved(rng: np.random.Generator, tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    columns = make_columns(rng, 1003)
    path = tmp_path / "store.root"
    write(path, columns, chunk=100)
    return path, columns


def _update(path: Path, action: Any) -> None:
    f = ROOT.TFile(str(path), "UPDATE")
    try:
        action(f.Get("store"))
    finally:
        f.Close()


def _context(path: Path, column: str, index: int) -> str:
    return re.escape(f"readStore: file '{path}', store 'store' in '{path}:/', column '{column}' (index {index}): ")


def test_corrupted_chunk(saved: tuple[Path, dict[str, np.ndarray]]) -> None:
    """One chunk overwritten with other values of the right size: a checksum mismatch naming the column."""
    path, columns = saved
    values = columns["r_2"][300:400].copy()
    values[17] = np.nextafter(values[17], np.float32(np.inf))  # one ulp of one value
    _update(path, lambda d: d.WriteObjectAny(ROOT.TArrayF(100, values), "TArrayF", "c2_k3", "overwrite"))
    with pytest.raises(ValueError, match=_context(path, "r_2", 2) + r"checksum mismatch \(read [0-9a-f]{16}, saved "
                                                                    r"[0-9a-f]{16}\).*restore the file or save the "
                                                                    r"model again"):
        read(path)


def test_missing_chunk(saved: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = saved
    _update(path, lambda d: d.Delete("c1_k4;*"))
    with pytest.raises(ValueError, match=_context(path, "r_1", 1) + r"chunk key 'c1_k4' is missing: the file was "
                                                                    r"modified or damaged"):
        read(path)


def test_wrong_size_chunk(saved: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, columns = saved
    short = columns["r_3"][:60].copy()
    _update(path, lambda d: d.WriteObjectAny(ROOT.TArrayF(60, short), "TArrayF", "c3_k0", "overwrite"))
    with pytest.raises(ValueError, match=_context(path, "r_3", 3) + r"chunk key 'c3_k0' has 60 values, expected 100"):
        read(path)


def test_chunk_of_another_class(saved: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = saved
    _update(path, lambda d: d.WriteTObject(ROOT.TNamed("x", "y"), "c0_k2", "overwrite"))
    with pytest.raises(ValueError, match=_context(path, "w", 0) + r"chunk key 'c0_k2' is a TNamed, not a TArrayF"):
        read(path)


def test_recompressed_chunk_reads(saved: tuple[Path, dict[str, np.ndarray]]) -> None:
    """A chunk rewritten compressed (as another tool might) with the same values reads back identically."""
    path, columns = saved

    def recompress(d: Any) -> None:
        d.GetFile().SetCompressionSettings(505)
        d.WriteObjectAny(ROOT.TArrayF(100, columns["w"][200:300].copy()), "TArrayF", "c0_k2", "overwrite")
        key = d.GetKey("c0_k2")
        assert key.GetNbytes() - key.GetKeylen() < key.GetObjlen()  # really stored compressed

    _update(path, recompress)
    assert_identical(read(path), columns)


def test_manifest_mismatch(saved: tuple[Path, dict[str, np.ndarray]]) -> None:
    """A manifest that does not describe the file's store (another checksum, another column name,
    no such prefix) is an error naming what differs."""
    path, columns = saved
    f = ROOT.TFile(str(path))
    manifest = f.Get("manifest")
    f.Close()
    bad = IO.StoreManifest(manifest)
    bad.checksums[1] ^= 1
    with pytest.raises(ValueError, match=r"index differs from the manifest at line 6: the file has '[0-9a-f]{16} r_1'"):
        read(path, bad)
    bad = IO.StoreManifest(manifest)
    bad.columns[2] = "r_x"
    with pytest.raises(ValueError, match=r"line 7: the file has '[0-9a-f]{16} r_2', the manifest '[0-9a-f]{16} r_x'"):
        read(path, bad)
    bad = IO.StoreManifest(manifest)
    bad.prefix = "other"
    missing = re.escape(f"file '{path}', store 'other'") + r".*there is no directory 'other'"
    with pytest.raises(ValueError, match=missing):
        read(path, bad)
    bad.prefix = "a/b"
    with pytest.raises(ValueError, match=r"prefix must be 1-200 characters"):
        read(path, bad)


def test_write_errors(rng: np.random.Generator, tmp_path: Path) -> None:
    columns = make_columns(rng, 10)
    path = tmp_path / "store.root"
    with pytest.raises(ValueError, match=r"prefix 'a/b' must be 1-200 characters of \[A-Za-z0-9_.-\]"):
        write(path, columns, prefix="a/b")
    with pytest.raises(ValueError, match=r"chunkEvents = 0 must be in \[1, 16777216\]"):
        write(path, columns, chunk=0)
    f = ROOT.TFile(str(path), "RECREATE")
    f.WriteTObject(ROOT.TNamed("store", "not a store"), "store")
    taken = r"the key 'store' is a TNamed, not a store directory; choose another prefix"
    with pytest.raises(ValueError, match=taken), cpp_errors():
        IO.writeStore(make_store(columns), f, "store", 100)
    f.Close()
    f = ROOT.TFile(str(path))
    read_only = re.escape(f"file '{path}'") + r".*not writable; open the file with \"UPDATE\""
    with pytest.raises(ValueError, match=read_only), cpp_errors():
        IO.writeStore(make_store(columns), f, "other", 100)
    f.Close()


# --- EventStore::open: the header of the mapped file ------------------------------------------------

def store_file(header: str, columns: list[np.ndarray], extra: bytes = b"", length: int | None = None,
               magic: bytes = b"ROONSBI2") -> bytes:
    """The mapped store format of EventStore.h, byte by byte: magic, uint64 header length, header (for
    ROONSBI2 ending with the line "crc32 <8 hex>" of zlib's CRC-32 of every byte before it), zero padding
    to 64 bytes, each column padded to 64 bytes."""
    def pad(data: bytes) -> bytes:
        return data + b"\0" * (-len(data) % 64)

    text = header.encode()
    if magic == b"ROONSBI2":
        size = len(text) + len("crc32 01234567\n") if length is None else length
        text += b"crc32 %08x\n" % zlib.crc32(magic + struct.pack("<Q", size) + text)
    out = pad(magic + struct.pack("<Q", len(text) if length is None else length) + text)
    for values in columns:
        out += pad(np.ascontiguousarray(values, dtype="<f4").tobytes())
    return out + extra


@pytest.mark.parametrize("n", [37, 0])
def test_store_file_reference(rng: np.random.Generator, tmp_path: Path, n: int) -> None:
    """The byte-level reference above is EventStore::write's format (its checksum zlib's), and such a file
    opens, as does the same file in the format before the checksum (ROONSBI1)."""
    columns = make_columns(rng, n, k=3)
    path = tmp_path / "store.bin"
    make_store(columns).write(str(path))
    header = f"n {n}\n" + "".join(f"{c}\n" for c in columns)
    assert path.read_bytes() == store_file(header, list(columns.values()))
    assert_identical(store_arrays(IO.EventStore.open(str(path))), columns)
    legacy = tmp_path / "legacy.bin"
    legacy.write_bytes(store_file(header, list(columns.values()), magic=b"ROONSBI1"))
    assert_identical(store_arrays(IO.EventStore.open(str(legacy))), columns)


BAD_HEADERS = {
    "negative n": ("n -5\na\n", r"has a malformed header: its first line 'n -5' is not 'n <number of events>' "
                                 r"\(decimal digits, no sign\); rewrite it with EventStore::write"),
    "no n": ("a\nb\n", r"has a malformed header: its first line 'a' is not 'n <number of events>'"),
    "absurd n": ("n 1000000000000000\na\n", r"says n = 1000000000000000 events, more than its 128 bytes can hold"),
    "huge n": ("n 99999999999999999999\na\n", r"has a malformed header: its first line 'n 9{20}' is not"),
    "duplicate name": ("n 8\na\nb\na\n", r"names column 'a' twice \(header lines 2 and 4\)"),
    "empty name": ("n 8\na\n\nb\n", r"has an empty column name \(header line 3\)"),
    "no final newline": ("n 8\na", r"has a malformed header \(empty, or not ending with a newline\)"),
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
@pytest.mark.parametrize("magic", [b"ROONSBI2", b"ROONSBI1"])
def test_open_bad_header(tmp_path: Path, case: str, magic: bytes) -> None:
    """A damaged header whose checksum is right (ROONSBI2) or that has none (ROONSBI1)."""
    header, message = BAD_HEADERS[case]
    if case == "no final newline" and magic == b"ROONSBI2":
        message = r"has a damaged header: its last line 'acrc32 [0-9a-f]{8}' is not the checksum"
    n_columns = max(1, header.count("\n") - 1)
    path = tmp_path / "bad.bin"
    path.write_bytes(store_file(header, [np.ones(8, np.float32)] * n_columns, magic=magic))
    with pytest.raises(ValueError, match=re.escape(f"EventStore: '{path}' ") + message), cpp_errors():
        IO.EventStore.open(str(path))


@pytest.mark.parametrize(("case", "message"), [
    ("longer", r"is 256 bytes long but its header \(n = 16, 2 columns\) says 192 bytes: it is longer than a store"),
    ("shorter", r"is 128 bytes long but its header \(n = 16, 2 columns\) says 192 bytes: it is truncated"),
    ("header length", r"has a header of 1000 bytes but only 176 bytes follow the preamble"),
    ("magic", r"is not a roonsbi event store \(no ROONSBI2 or ROONSBI1 magic\)"),
    ("tiny", r"is not a roonsbi event store \(5 bytes, shorter than the 16-byte preamble\)"),
])
def test_open_bad_size(tmp_path: Path, case: str, message: str) -> None:
    """A file longer or shorter than its header says, a header length beyond the file, not a store."""
    columns = [np.ones(16, np.float32), np.zeros(16, np.float32)]
    good = store_file("n 16\na\nb\n", columns)
    assert len(good) == 192  # 64 (preamble + header) + 2 x 64
    data = {"longer": good + b"\0" * 64, "shorter": good[:128], "magic": b"ROONSBI3" + good[8:], "tiny": good[:5],
            "header length": store_file("n 16\na\nb\n", columns, length=1000)}[case]
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=re.escape(f"EventStore: '{path}' ") + message), cpp_errors():
        IO.EventStore.open(str(path))


@pytest.mark.parametrize("name", ["", "a\nb"])
def test_column_names_fit_the_header(name: str) -> None:
    """Names the file header could not hold are refused when the column is added."""
    store = ROOT.std.make_shared["RooNSBI::EventStore"](3)
    shown = re.escape(name.replace("\n", "\\n"))
    message = f"EventStore: column name '{shown}' is empty or contains a newline; give the column a one-line name"
    with pytest.raises(ValueError, match=message), cpp_errors():
        store.addColumnUninitialised(name)
    with pytest.raises(ValueError, match=message), cpp_errors():
        store.addColumn(name, np.zeros(3, np.float32))
