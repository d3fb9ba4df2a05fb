"""Speed of saving an EventStore inside a ROOT file (RooNSBI::writeStore / readStore) against numpy's raw
``tofile`` / ``fromfile`` of the same bytes, in the same run and the same folder.

    python benchmarks/bench_store_io.py [--events 1000000] [--columns 100] [--repeat 2] [--chunk-events 4194304]
                                        [--dir /tmp]

A store of --columns random float32 columns of --events events (0.4 GB by default) is written with
writeStore into a new TFile (16 MiB chunks, uncompressed keys) and read back with readStore (which
verifies every column's checksum); numpy writes and reads the same (columns, events) float32 matrix
as one raw file. Writes are timed twice: into the page cache (writeStore against tofile) and to
the disk (plus TFile::Close, which fsync()s the file, against tofile plus os.fsync). Reads come
from the page cache (the file was just written; no cache dropping). The page-cache ratios are the
cost of the format (big-endian conversion, checksums, keys), not of the disk. Also printed: the
checksum alone over the store (GB/s), and the peak resident memory of writeStore and readStore
above what they start from (readStore: minus the store it returns), from /proc/self/status VmHWM
after resetting it (/proc/self/clear_refs), in the first run (later runs reuse heap memory that
glibc kept from the earlier ones).
Best of --repeat runs. Not run by pytest.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _status(field: str) -> float:
    """A /proc/self/status memory field in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, default=1e6)
    parser.add_argument("--columns", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--chunk-events", type=float, default=None,
                        help="events per chunk key (default: writeStore's, 2^22 = 16 MiB)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the files (default: a temporary one)")
    args = parser.parse_args()
    n, k = int(args.events), args.columns

    from roonsbi.library import load

    ROOT = load()
    chunk = int(args.chunk_events or ROOT.RooNSBI.StoreManifest.defaultChunkEvents)
    rng = np.random.default_rng(1)
    data = rng.lognormal(0.0, 1.0, (k, n)).astype(np.float32)
    store = ROOT.std.make_shared["RooNSBI::EventStore"](n)
    for c in range(k):
        store.addColumn(f"c{c}", data[c])
    gb = data.nbytes / 1e9
    print(f"store: {n} events x {k} columns float32 = {gb:.3f} GB")

    t = time.perf_counter()
    for c in range(k):
        ROOT.RooNSBI.checksum(store.column(f"c{c}"), n)
    t_sum = time.perf_counter() - t
    print(f"checksum of all columns: {t_sum:.3f} s = {gb / t_sum:.1f} GB/s")

    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        root_path, raw_path = Path(folder) / "store.root", Path(folder) / "store.raw"
        times: dict[str, list[float]] = {name: [] for name in ("write", "close", "read", "tofile", "fsync",
                                                               "fromfile")}
        peaks: dict[str, float] = {}
        for _ in range(args.repeat):
            root_path.unlink(missing_ok=True)
            tracked = _reset_peak()
            rss = _status("VmRSS")
            t = time.perf_counter()
            f = ROOT.TFile(str(root_path), "RECREATE")
            manifest = ROOT.RooNSBI.writeStore(store, f, "store", chunk)
            t1 = time.perf_counter()
            f.Close()  # writes the key lists and header, then fsync()s the file
            times["write"].append(t1 - t)
            times["close"].append(time.perf_counter() - t1)
            if tracked and "write" not in peaks:  # the first run: later ones reuse memory glibc kept
                peaks["write"] = _status("VmHWM") - rss

            tracked = _reset_peak()
            rss = _status("VmRSS")
            t = time.perf_counter()
            f = ROOT.TFile(str(root_path))
            back = ROOT.RooNSBI.readStore(f, manifest)
            f.Close()
            times["read"].append(time.perf_counter() - t)
            if tracked and "read" not in peaks:
                peaks["read"] = _status("VmHWM") - rss - data.nbytes / 2**20
            for c in range(k):
                assert np.array_equal(np.frombuffer(back.column(f"c{c}"), dtype=np.float32, count=n), data[c])
            del back

            with open(raw_path, "wb") as out:
                t = time.perf_counter()
                data.tofile(out)
                out.flush()
                t1 = time.perf_counter()
                os.fsync(out.fileno())
                times["tofile"].append(t1 - t)
                times["fsync"].append(time.perf_counter() - t1)
            t = time.perf_counter()
            raw = np.fromfile(raw_path, dtype=np.float32)
            times["fromfile"].append(time.perf_counter() - t)
            assert raw.size == data.size
            del raw
        size = root_path.stat().st_size / 1e9

    best = {name: min(v) for name, v in times.items()}
    print(f"ROOT file: {size:.3f} GB ({size / gb:.4f} x the data)")
    rows = (("write (page cache)", best["write"], best["tofile"]),
            ("write + fsync (TFile::Close fsyncs)", best["write"] + best["close"], best["tofile"] + best["fsync"]),
            ("read (page cache)", best["read"], best["fromfile"]))
    print("| operation | writeStore/readStore [s] | numpy tofile/fromfile [s] | ratio | roonsbi GB/s |")
    print("|---|---|---|---|---|")
    for label, ours, theirs in rows:
        print(f"| {label} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} | {gb / ours:.2f} |")
    if peaks:
        print(f"peak extra memory: writeStore {peaks['write']:.0f} MiB, readStore {peaks['read']:.0f} MiB beyond the "
              f"store it returns (one chunk = {4 * min(n, chunk) / 2**20:.0f} MiB)")
    print("all runs [s]: " + ", ".join(f"{name} " + " ".join(f"{x:.3f}" for x in v) for name, v in times.items()))


if __name__ == "__main__":
    main()
