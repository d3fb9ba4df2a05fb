"""Fuzz cases of files: event-store files (written atomically; truncated, header lies, duplicated or empty
column names, FIFO, folder; rewritten or truncated while mapped), column files (.npz, .npy folders:
truncated, FIFO, wrong dtype), event files (ROOT) and workspace files (truncated, not ROOT, several
workspaces). A mapped store is checked against the arrays it was written from and the reference NLL."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
from common import RATIO, N, channel, nll_matches, ref_processes
from harness import Case, error, result

from roonsbi.models.fast import fast_nll
from roonsbi.models.store import make_store, open_store
from roonsbi.models.unbinned import build_model, load_model

CASES: list[Case] = []
add = CASES.append
AT = {"mu": 1.7, "alpha_lumi": 0.3}
MAGIC, LEGACY = b"ROONSBI2", b"ROONSBI1"


def store_bytes(
    n: int,
    names: list[str],
    header: str | None = None,
    length: int | None = None,
    data_bytes: int | None = None,
    magic: bytes = MAGIC,
    crc: int | None = None,
) -> bytes:
    """A store file after the format of EventStore.h (written here byte by byte): magic, uint64 header
    length, header text (for ROONSBI2 ending with "crc32 <8 hex>", zlib's CRC-32 of every byte before that
    line, or ``crc``), zero padding to 64, the columns of n float32 values each padded to 64."""
    text = (header if header is not None else f"n {n}\n" + "".join(f"{c}\n" for c in names)).encode()
    if magic == MAGIC:
        size = len(text) + len("crc32 01234567\n") if length is None else length
        checksum = zlib.crc32(magic + struct.pack("<Q", size) + text) if crc is None else crc
        text += b"crc32 %08x\n" % checksum
    pad = lambda k: (k + 63) // 64 * 64
    head = magic + struct.pack("<Q", len(text) if length is None else length) + text
    head += b"\0" * (pad(len(head)) - len(head))
    column = np.arange(n, dtype=np.float32).tobytes()
    column += b"\0" * (pad(len(column)) - len(column))
    body = column * len(names)
    return head + (body if data_bytes is None else body[:data_bytes] if data_bytes >= 0 else body + b"x" * -data_bytes)


def open_bytes(content: bytes, name: str = "s.store") -> Callable[[Path], Any]:
    def run(tmp: Path) -> Any:
        (tmp / name).write_bytes(content)
        return open_store(tmp / name)

    return run


# -- valid stores: the reference format and round trip --------------------------------------------------
def reference_file(tmp: Path) -> list:
    store = open_bytes(store_bytes(5, ["a", "b"]))(tmp)
    return [np.frombuffer(store.column(c), dtype=np.float32, count=5).tolist() for c in ("a", "b")]


add(
    result(
        "store-reference-format",
        reference_file,
        lambda v: None if v == [list(range(5))] * 2 else f"columns {v} != [0..4] twice",
    )
)


def round_trip(tmp: Path) -> float:
    model = build_model(channel(), form="columns")
    make_store({"r_S": RATIO, "r_B": np.ones(N)}).write(str(tmp / "s.store"))
    nll = fast_nll(model, open_store(tmp / "s.store"))
    model.set_parameters(AT)
    return nll.getVal()


add(result("store-round-trip-nll", round_trip, nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}, rtol=1e-6)))


def write_twice(overwrite: bool):
    def run(tmp: Path) -> Any:
        path = tmp / "s.store"
        path.write_text("the user's own file")
        make_store({"r": RATIO}).write(str(path), overwrite)
        return sorted(p.name for p in tmp.iterdir()), path.read_bytes()[:8]

    return run


add(
    error(
        "store-write-refuses-existing",
        write_twice(False),
        Exception,
        r"EventStore: '.*s.store' exists; pass overwrite=true to replace it",
    )
)
add(
    result(
        "store-write-overwrite",
        write_twice(True),
        lambda v: None if v == (["s.store"], MAGIC) else f"files/magic {v}: expected only s.store, a store",
    )
)
add(
    error(
        "store-write-no-folder",
        lambda tmp: make_store({"r": RATIO}).write(str(tmp / "no" / "s.store")),
        Exception,
        r"EventStore: cannot write '.*no/\..*s.store.*",
    )
)


def write_keeps_old_on_error(tmp: Path) -> Any:
    """Writing into a read-only folder fails, the old file stays and no temporary is left."""
    path = tmp / "s.store"
    make_store({"r": RATIO}).write(str(path))
    before = path.read_bytes()
    os.chmod(tmp, 0o500)
    try:
        try:
            make_store({"r": np.ones(3)}).write(str(path), True)
        except Exception as err:
            what = getattr(err, "what", None)
            message = str(what() if callable(what) else err)
        else:
            message = "no error"
    finally:
        os.chmod(tmp, 0o700)
    return message, path.read_bytes() == before, sorted(p.name for p in tmp.iterdir())


add(
    result(
        "store-write-failure-keeps-old",
        write_keeps_old_on_error,
        lambda v: None if "cannot write" in v[0] and v[1] and v[2] == ["s.store"] else f"got {v}",
    )
    if os.geteuid() != 0
    else result("store-write-failure-keeps-old", lambda tmp: None)
)

GOOD4 = store_bytes(4, ["a"])


def relength(content: bytes, delta: int) -> bytes:
    """``content`` with its header length field changed by ``delta``."""
    return content[:8] + struct.pack("<Q", struct.unpack("<Q", content[8:16])[0] + delta) + content[16:]


def legacy_file(tmp: Path) -> list:
    """A store written before the checksum (magic ROONSBI1, no crc32 line) still opens, values as on disk."""
    store = open_bytes(store_bytes(5, ["a", "b"], magic=LEGACY))(tmp)
    return [np.frombuffer(store.column(c), dtype=np.float32, count=5).tolist() for c in ("a", "b")]


add(result("store-legacy-format", legacy_file, lambda v: None if v == [list(range(5))] * 2 else f"columns {v}"))

# -- broken store files ------------------------------------------------------------------------------------
for label, content, words in [
    ("empty", b"", r"is not a roonsbi event store \(0 bytes, shorter than the 16-byte preamble\)"),
    ("short", MAGIC + b"\1", r"shorter than the 16-byte preamble"),
    ("no-magic", b"ROONSBI0" + GOOD4[8:], r"is not a roonsbi event store \(no ROONSBI2 or ROONSBI1 magic\)"),
    ("text", b"hello, this is not a store at all\n" * 3, r"no ROONSBI2 or ROONSBI1 magic"),
    ("header-length-huge", store_bytes(4, ["a"], length=2**63), r"has a header of 9223372036854775808 bytes but only"),
    (
        "header-no-newline",
        store_bytes(4, ["a"], header="n 4\na", magic=LEGACY),
        r"malformed header \(empty, or not ending with a newline\)",
    ),
    ("header-no-newline-checksum", store_bytes(4, ["a"], header="n 4\na"), r"last line 'acrc32 [0-9a-f]{8}' is not"),
    ("header-empty", store_bytes(4, [], header=""), r"malformed header"),
    ("n-negative", store_bytes(4, ["a"], header="n -5\na\n"), r"first line 'n -5' is not 'n <number of events>'"),
    ("n-not-number", store_bytes(4, ["a"], header="n four\na\n"), r"first line 'n four' is not"),
    ("n-hex", store_bytes(4, ["a"], header="n 0x10\na\n"), r"first line 'n 0x10'"),
    (
        "n-2^62",
        store_bytes(4, ["a"], header=f"n {2**62}\na\n"),
        r"has an absurd number of events n = 4611686018427387904",
    ),
    ("n-2^64", store_bytes(4, ["a"], header="n 18446744073709551616\na\n"), r"first line 'n 18446744073709551616'"),
    (
        "n-too-large-by-one",
        store_bytes(4, ["a"], header="n 17\na\n"),
        r"is 128 bytes long but its header \(n = 17, 1 columns\) says 192 bytes: it is truncated",
    ),
    (
        "n-smaller",
        store_bytes(40, ["a"], header="n 3\na\n"),
        r"header \(n = 3, 1 columns\) says 128 bytes: it is longer than a store",
    ),
    ("duplicate-column", store_bytes(4, ["a", "b", "a"]), r"names column 'a' twice \(header lines 2 and 4\)"),
    ("empty-column-name", store_bytes(4, ["a", "", "b"]), r"has an empty column name \(header line 3\)"),
    ("truncated-data", store_bytes(64, ["a", "b"], data_bytes=300), r"it is truncated"),
    ("truncated-in-header", store_bytes(4, ["a", "b"])[:20], r"has a header of .* bytes but only 4 bytes follow"),
    ("trailing-data", store_bytes(4, ["a"], data_bytes=-10), r"longer than a store \(trailing data\)"),
    ("n-space", store_bytes(4, ["a"], header="n  4\na\n"), r"first line 'n  4'"),
    # the header checksum (ROONSBI2): a damaged header of the right size is found
    (
        "checksum-wrong",
        store_bytes(4, ["a"], crc=0x12345678),
        r"has a damaged header: its checksum says crc32 12345678 but the header's bytes give [0-9a-f]{8}; rewrite it",
    ),
    ("checksum-missing", store_bytes(4, ["a"])[:16] + b"n 4\na\n", r"header of \d+ bytes but only"),
    (
        "checksum-line-missing",
        MAGIC + store_bytes(4, ["a"], magic=LEGACY)[8:],
        r"its last line 'a' is not the checksum 'crc32 <8 hex digits>'",
    ),
    ("checksum-uppercase", store_bytes(4, ["a"]).replace(b"crc32 ", b"CRC32 "), r"its last line 'CRC32 [0-9a-f]{8}'"),
    (
        "checksum-hex-uppercase",
        store_bytes(4, ["a"], header="n 4\na\n", crc=0xABCDEF01).replace(b"abcdef01", b"ABCDEF01"),
        r"its last line 'crc32 ABCDEF01' is not the checksum",
    ),
    ("checksum-only", store_bytes(4, [], header=""), r"no 'n <number of events>' line before the checksum"),
    # n 16 -> 15 keeps the size of every column (padded to 64 bytes): only the checksum sees it
    ("n-flipped-same-size", store_bytes(16, ["a"]).replace(b"n 16", b"n 15"), r"has a damaged header: its checksum"),
    ("column-name-flipped", store_bytes(4, ["a", "b"]).replace(b"\na\n", b"\nc\n"), r"has a damaged header"),
    ("length-plus-one", relength(GOOD4, +1), r"malformed header \(empty, or not ending with a newline\)"),
    ("length-minus-one", relength(GOOD4, -1), r"malformed header \(empty, or not ending with a newline\)"),
    ("length-minus-15", relength(GOOD4, -15), r"damaged header: its last line 'a' is not the checksum"),
]:
    add(error(f"store-file-{label}", open_bytes(content), ValueError, rf"EventStore: '[^']*s.store' .*{words}"))
add(
    error(
        "store-file-missing",
        lambda tmp: open_store(tmp / "none.store"),
        FileNotFoundError,
        r"event store file .*none.store does not exist",
    )
)
add(
    error(
        "store-file-folder",
        lambda tmp: open_store(tmp),
        ValueError,
        r"event store file .* is a folder, not a regular file",
    )
)


def fifo(name: str, opener: Callable[[Path], Any]):
    def run(tmp: Path) -> Any:
        os.mkfifo(tmp / name)
        return opener(tmp / name)

    return run


add(
    error(
        "store-file-fifo",
        fifo("s.store", open_store),
        ValueError,
        r"event store file .*s.store is a FIFO \(named pipe\)",
    )
)
add(
    error(
        "store-file-nan-values",
        lambda tmp: _nan_store_nll(tmp),
        ValueError,
        r"event store column 'r_S' .*entry 3 = nan",
    )
)


def _nan_store_nll(tmp: Path) -> float:
    r = RATIO.copy()
    r[3] = np.nan
    make_store({"r_S": r, "r_B": np.ones(N)}).write(str(tmp / "s.store"))
    return fast_nll(build_model(channel(), form="columns"), open_store(tmp / "s.store")).getVal()


# -- a mapped store whose file changes under it ---------------------------------------------------------
def mapped(change: str):
    """Map a store, evaluate, change the file (truncate in place / rewrite in place / replace it by
    EventStore.write), evaluate again: no crash; a changed file gives an OSError naming it, a replaced one
    keeps the old values (the mapping holds the old file)."""

    def run(tmp: Path) -> tuple[float, float]:
        path = tmp / "s.store"
        model = build_model(channel(), form="columns")
        make_store({"r_S": RATIO, "r_B": np.ones(N)}).write(str(path))
        nll = fast_nll(model, open_store(path))
        model.set_parameters(AT)
        first = nll.getVal()
        if change == "truncate":
            with open(path, "r+b") as f:
                f.truncate(64)
        elif change == "rewrite":
            data = bytearray(path.read_bytes())
            data[-64:] = b"\x7f" * 64
            with open(path, "r+b") as f:  # same size, in place
                f.write(data)
            os.utime(path, ns=(1, 1))
        elif change == "replace":
            make_store({"r_S": 2 * RATIO, "r_B": np.ones(N)}).write(str(path), True)
        model.set_parameters(mu=1.7)
        nll.nll.setValueDirty()
        return first, nll.getVal()

    return run


add(
    error(
        "mapped-store-truncated",
        mapped("truncate"),
        OSError,
        r"EventStore: '.*s.store' (was truncated while mapped|changed size while mapped \(192 -> 64 bytes\))",
    )
)


def truncated_read(tmp: Path) -> Any:
    """Read a mapped column after its file was truncated (the page is gone: SIGBUS without the handler)."""
    path = tmp / "s.store"
    n = 100_000  # 400 kB: most pages of the column are gone after the truncation
    make_store({"r": np.ones(n)}).write(str(path))
    store = open_store(path)
    with open(path, "r+b") as f:
        f.truncate(4096)
    values = np.frombuffer(store.column("r"), dtype=np.float32, count=n).copy()
    return float(values[-1000:].sum()), str(store.changedOnDisk())


add(
    result(
        "mapped-store-truncated-read",
        truncated_read,
        lambda v: None if v[0] == 0.0 and "was truncated while mapped" in v[1] else f"got {v}",
    )
)
def many_mapped_truncated(tmp: Path) -> Any:
    """300 stores mapped at once (the SIGBUS handler's table had 256 slots; it grows now): the file of the
    last one truncated, its read completes with zeros and changedOnDisk names the file; the others' too."""
    n = 4096  # 16 kB: the truncation to 4 kB removes the pages of the last 1000 entries
    for k in range(300):
        make_store({"r": np.ones(n)}).write(str(tmp / f"s{k}.store"))
    stores = [open_store(tmp / f"s{k}.store") for k in range(300)]
    for k in (0, 299):
        with open(tmp / f"s{k}.store", "r+b") as f:
            f.truncate(4096)
    sums = [float(np.frombuffer(stores[k].column("r"), dtype=np.float32, count=n)[-1000:].sum()) for k in (0, 299)]
    return sums, [str(stores[k].changedOnDisk()) for k in (0, 1, 299)]


add(
    result(
        "mapped-store-300-truncated-read",
        many_mapped_truncated,
        lambda v: None
        if v[0] == [0.0, 0.0] and "s0.store' was truncated" in v[1][0] and not v[1][1] and "s299.store' was" in v[1][2]
        else f"got {v}",
    )
)
add(
    error(
        "mapped-store-rewritten",
        mapped("rewrite"),
        OSError,
        r"EventStore: '.*s.store' was modified while mapped \(its modification time changed\)",
    )
)
add(
    result(
        "mapped-store-replaced",
        mapped("replace"),
        lambda v: nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}, rtol=1e-6)(v[1]),
    )
)


def mapped_fit_truncated(tmp: Path) -> Any:
    """A fit on a mapped store whose file is truncated before the fit: OSError, no crash."""
    from roonsbi.infer.fit import Fitter

    path = tmp / "s.store"
    model = build_model(channel(), form="columns")
    make_store({"r_S": RATIO, "r_B": np.ones(N)}).write(str(path))
    fitter = Fitter(model, nll=fast_nll(model, open_store(path)))
    with open(path, "r+b") as f:
        f.truncate(100)
    return fitter.fit()


add(error("mapped-store-fit-truncated", mapped_fit_truncated, OSError, r"was truncated while mapped|changed size"))


def raw_fast_nll_fit(tmp: Path) -> Any:
    """Fitter(nll=<the RooNSBINLL of a FastNLL that is not kept>): the NLL keeps its store and constraint terms
    (before, they were freed with the FastNLL and the fit read freed memory)."""
    import gc

    from roonsbi.infer.fit import Fitter

    path = tmp / "s.store"
    model = build_model(channel(), form="columns")
    make_store({"r_S": RATIO, "r_B": np.ones(N)}).write(str(path))
    fitter = Fitter(model, nll=fast_nll(model, open_store(path)).nll)
    gc.collect()
    return fitter.fit({"mu": 2.0}).min_nll


def profiled_reference(v: float) -> str | None:
    from scipy.optimize import minimize_scalar

    import reference

    ref = minimize_scalar(
        lambda a: reference.nll(ref_processes(), {"mu": 2.0}, {"lumi": a}),
        bounds=(-5, 5),
        method="bounded",
        options={"xatol": 1e-10},
    ).fun
    return None if abs(v - ref) < 1e-5 * abs(ref) else f"profiled NLL {v} != reference {ref}"


add(result("fitter-raw-fast-nll", raw_fast_nll_fit, profiled_reference))

# -- column files (.npz, folders of .npy) ---------------------------------------------------------------


def columns_file(kind: str):
    from roonsbi.inputs.column_files import read_columns, write_columns

    def run(tmp: Path) -> Any:
        cols = {"r_S": RATIO, "r_B": np.ones(N)}
        if kind.startswith("npz"):
            path = write_columns(tmp / "c.npz", iter([cols]))
            if kind == "npz-truncated":
                path.write_bytes(path.read_bytes()[:100])
            elif kind == "npz-strings":
                np.savez(path, r_S=np.array(["a"] * N), r_B=np.ones(N))
            elif kind == "npz-2d":
                np.savez(path, r_S=np.ones((N, 2)), r_B=np.ones(N))
            elif kind == "npz-empty-file":
                path.write_bytes(b"")
        else:
            path = write_columns(tmp / "cols", iter([cols]))
            target = path / "r_S.npy"
            if kind == "npy-truncated":
                target.write_bytes(target.read_bytes()[:100])
            elif kind == "npy-header-only":
                target.write_bytes(target.read_bytes()[:10])
            elif kind == "npy-object":
                np.save(target, np.array([1.0, None] * 6, dtype=object), allow_pickle=True)
            elif kind == "npy-strings":
                np.save(target, np.array(["x"] * N))
            elif kind == "npy-fifo":
                target.unlink()
                os.mkfifo(target)
        return read_columns(path)

    return run


for kind, kind_error, words in [
    ("npz-truncated", ValueError, r"c.npz is not a readable .npz file .*truncated or damaged"),
    ("npz-empty-file", ValueError, r"c.npz is not a readable .npz file"),
    ("npz-strings", ValueError, r"column 'r_S' of .*c.npz is not a 1-D array of real numbers \(dtype <U1"),
    (
        "npz-2d",
        ValueError,
        r"column 'r_S' of .*c.npz is not a 1-D array of real numbers \(dtype float64, shape \(12, 2\)\)",
    ),
    ("npy-truncated", ValueError, r"column 'r_S' of .*cols cannot be read .*truncated or damaged"),
    ("npy-header-only", ValueError, r"column 'r_S' of .*cols cannot be read"),
    ("npy-object", ValueError, r"column 'r_S' of .*cols cannot be read"),
    ("npy-strings", ValueError, r"column 'r_S' of .*cols is not a 1-D array of real numbers \(dtype <U1"),
    ("npy-fifo", ValueError, r"column file .*r_S.npy is a FIFO \(named pipe\)"),
]:
    add(error(f"columns-{kind}", columns_file(kind), kind_error, words))
add(
    result(
        "columns-npz-good",
        columns_file("npz"),  # float32 by default
        lambda v: None if np.array_equal(v["r_S"], RATIO.astype(np.float32)) else "values differ",
    )
)
add(
    result(
        "columns-npy-good",
        columns_file("npy"),
        lambda v: None if np.array_equal(v["r_S"], RATIO.astype(np.float32)) else "values differ",
    )
)


def read_columns_of(path_of: Callable[[Path], Path]):
    from roonsbi.inputs.column_files import read_columns

    return lambda tmp: read_columns(path_of(tmp))


add(
    error(
        "columns-missing",
        read_columns_of(lambda tmp: tmp / "none.npz"),
        FileNotFoundError,
        r"columns file .*none.npz does not exist",
    )
)
add(
    error(
        "columns-fifo",
        fifo("c.npz", lambda p: read_columns_of(lambda tmp: p)(p)),
        ValueError,
        r"columns file .*c.npz is a FIFO",
    )
)

# -- event files (ROOT, uproot) -------------------------------------------------------------------------


def events_of(make: Callable[[Path], Path]):
    from roonsbi.inputs.events import read_events

    return lambda tmp: read_events(str(make(tmp)), ["x"])


def fifo_path(tmp: Path) -> Path:
    os.mkfifo(tmp / "ev.root")
    return tmp / "ev.root"


def text_file(tmp: Path) -> Path:
    (tmp / "ev.root").write_text("not a ROOT file")
    return tmp / "ev.root"


def truncated_root(tmp: Path) -> Path:
    import support

    path = support.write_events(tmp / "ev.root", {"x": np.arange(1000.0)})
    path.write_bytes(path.read_bytes()[:400])
    return path


add(
    error(
        "events-fifo", events_of(fifo_path), ValueError, r"event file .*ev.root is a FIFO \(named pipe\), not a regular"
    )
)
add(
    error(
        "events-missing",
        events_of(lambda tmp: tmp / "none.root"),
        FileNotFoundError,
        r"event file .*none.root does not exist",
    )
)
add(error("events-folder", events_of(lambda tmp: tmp), ValueError, r"event file .* is a folder"))
add(error("events-text", events_of(text_file), (ValueError, OSError), r"ev.root"))
add(error("events-truncated", events_of(truncated_root), (ValueError, OSError), r"ev.root"))

# -- workspace files -------------------------------------------------------------------------------------


def workspace_case(kind: str):
    import ROOT

    def run(tmp: Path) -> Any:
        path = tmp / "w.root"
        if kind == "text":
            path.write_text("hello")
        elif kind == "truncated":
            build_model(channel()).save(path)
            path.write_bytes(path.read_bytes()[:2000])
        elif kind == "two":
            f = ROOT.TFile(str(path), "RECREATE")
            build_model(channel(), name="a").workspace.Write()
            build_model(channel(), name="b").workspace.Write()
            f.Close()
        elif kind == "none":
            f = ROOT.TFile(str(path), "RECREATE")
            ROOT.TNamed("x", "y").Write()
            f.Close()
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "good":
            build_model(channel()).save(path)
        return load_model(path, "ws_c" if kind == "wrong-name" else None)

    return run


for kind, kind_error, words in [
    ("text", OSError, r"cannot open .*w.root as a ROOT file"),
    ("truncated", (OSError, ValueError, KeyError), r"w.root"),
    ("two", ValueError, r"w.root holds workspaces \['ws_a', 'ws_b'\]; pass workspace=<name>"),
    ("none", ValueError, r"w.root holds workspaces \[\]"),
    ("fifo", ValueError, r"workspace file .*w.root is a FIFO"),
    ("missing", FileNotFoundError, r"workspace file .*w.root does not exist"),
]:
    add(error(f"workspace-{kind}", workspace_case(kind), kind_error, words))
add(
    result(
        "workspace-good",
        lambda tmp: workspace_case("good")(tmp).nll(AT),
        nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}, rtol=1e-6),
    )
)


def property_corrupted_store_files(tmp: Path) -> int:
    """Random damage to a store file (cut at any length, bytes overwritten anywhere, a random header line):
    EventStore.open raises ValueError naming the file, or, when only column bytes changed, maps the file
    and reads exactly the bytes on disk (checked against numpy's reading of the same bytes)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    good = store_bytes(40, ["a", "b", "c"])
    data_start = len(store_bytes(40, ["a", "b", "c"], data_bytes=0))
    header_end = 16 + struct.unpack("<Q", good[8:16])[0]  # magic, length, header text (then zero padding)
    opened = {"n": 0}

    @settings(max_examples=120, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(cut=st.integers(0, len(good)), at=st.integers(0, len(good) - 1), junk=st.binary(min_size=1, max_size=24),
           header=st.text(max_size=30), kind=st.sampled_from(["cut", "overwrite", "header"]))
    def prop(cut: int, at: int, junk: bytes, header: str, kind: str) -> None:
        if kind == "cut":
            content = good[:cut]
        elif kind == "overwrite":
            content = (good[:at] + junk + good[at + len(junk):])[: len(good)]
        else:
            content = store_bytes(40, ["a", "b", "c"], header=header)
        path = tmp / "p.store"
        path.write_bytes(content)
        try:
            store = open_store(path)
        except ValueError as err:
            assert "EventStore: '" in str(err) and "p.store" in str(err), str(err)
            return
        opened["n"] += 1
        if kind == "overwrite" and at < header_end:  # the checksum covers every header byte
            assert content[:header_end] == good[:header_end], "a damaged header opened"
        if kind == "overwrite" and at >= data_start:  # only column bytes changed: read exactly as on disk
            n, names = store.size(), list(store.columnNames())
            assert (n, names) == (40, ["a", "b", "c"]), (n, names)
            column_bytes = (40 * 4 + 63) // 64 * 64
            for k, name in enumerate(names):
                disk = np.frombuffer(content, dtype=np.float32, count=40, offset=data_start + k * column_bytes)
                mapped = np.frombuffer(store.column(name), dtype=np.float32, count=40)
                assert disk.tobytes() == mapped.tobytes(), name

    prop()
    return opened["n"]


add(result("property-corrupted-store-files", property_corrupted_store_files,
           lambda n: None if n >= 5 else f"only {n} damaged files opened (the property hardly ran)"))
