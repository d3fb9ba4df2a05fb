"""A fit from a memory-mapped event store larger than memory: resident memory and throughput vs the disk.

The toy of ``bench_nsbi.py`` (off-shell basis SBI, S, B, Asimov weights at mu = 1, ``--nps`` per-event
shape systematics per process, code 5 or 4) at ``--events`` events (default 10^7 x 3 x 100: 24 GB of
float32 columns on a 24 GB machine) is written once to an EventStore file with the chunked writer
(``roonsbi.models.store.write_store_file``: one column in memory at a time) and reused while its header
matches. In the same run:

* the disk's sequential read bound: the file read once with ``os.readv`` in 64 MiB pieces after its
  pages were dropped from the page cache (``posix_fadvise(POSIX_FADV_DONTNEED)``), in GB/s;
* per streaming mode (``--modes on`` by default; ``on,off`` at small sizes compares the in-memory-mapped
  path), in a child process: ``open_store(path, streaming=mode)``, ``fast_nll`` (its check of the store's
  values is one more pass over the file), then ``fit(fast=True)``'s fit (MIGRAD seeded with the exact
  one-pass Hessian, then HESSE) from mu = 1.5 and every alpha = 0.2: wall time, passes over the events,
  GB/s per pass against the bound, peak RSS (``ru_maxrss``, ``VmHWM``) and the largest RssAnon and
  RssFile sampled every 0.2 s (file-backed pages of the mapping count in RSS).

The page cache of the file is dropped before each child, so every variant starts cold.

Usage:  python benchmarks/bench_out_of_core.py                       (10^7 x 3 x 100, code 5, streaming on)
        python benchmarks/bench_out_of_core.py --events 1e5 --nps 20 --modes on,off
        python benchmarks/bench_out_of_core.py --one fit:PATH:EVENTS:NPS:CODE:MODE:THREADS   (one child)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
from bench_fit_speed import ALPHA_START, MU_START, TOLERANCE
from bench_nsbi import _sigma, toy_columns

FOLDER = "/work/bench-data"
MIN_FREE_GB = 15.0  # never fill the disk below this
PIECE = 64 << 20  # bytes per read of the bound


def column_names(n_np: int, code: int) -> list[str]:
    from roonsbi.inputs.toy import COEFFICIENTS

    names = [f"r_{p}" for p in COEFFICIENTS] + ["weight"]
    prefix = "log:" if code == 5 else ""
    for proc in COEFFICIENTS:
        for m in range(n_np):
            names += [f"{prefix}g_{proc}_np{m}_lo", f"{prefix}g_{proc}_np{m}_hi"]
    return names


def ensure_store(path: str, n: int, n_np: int, code: int) -> dict:
    """Write the toy's store file unless one with the same header (events, column names) is there."""
    from roonsbi.inputs.toy import COEFFICIENTS
    from roonsbi.models.store import open_store, write_store_file

    names = column_names(n_np, code)
    if os.path.exists(path):
        store = open_store(path, streaming="on")
        if store.size() == n and [str(c) for c in store.columnNames()] == names:
            return {"written": False, "write_s": 0.0}
        del store
        os.unlink(path)
    need = 4 * n * len(names) / 1e9
    free = shutil.disk_usage(os.path.dirname(path)).free / 1e9
    if free - need < MIN_FREE_GB:
        raise SystemExit(f"{path}: {need:.1f} GB would leave {free - need:.1f} GB free (< {MIN_FREE_GB} GB)")
    _, _, ratios, weights, shape_logs = toy_columns(n, n_np, sigma=_sigma(code))

    def columns():
        for p in COEFFICIENTS:
            yield ratios.pop(f"r_{p}")
        yield weights
        for _, _, ll, lh in shape_logs():
            yield ll if code == 5 else np.exp(ll)
            yield lh if code == 5 else np.exp(lh)

    t = time.perf_counter()
    write_store_file(path, n, names, columns())
    return {"written": True, "write_s": time.perf_counter() - t}


def drop_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_bound(path: str) -> dict:
    """Sequential read of the whole file from disk (its cached pages dropped first)."""
    drop_cache(path)
    buf = bytearray(PIECE)
    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        t = time.perf_counter()
        while True:
            got = os.readv(fd, [buf])
            if not got:
                break
            total += got
            os.posix_fadvise(fd, total - got, got, os.POSIX_FADV_DONTNEED)  # the bound keeps no cache either
        seconds = time.perf_counter() - t
    finally:
        os.close(fd)
    return {"file_gb": total / 1e9, "read_s": seconds, "disk_gb_s": total / 1e9 / seconds}


class RssSampler:
    """The largest RssAnon and RssFile of this process, sampled every `period` seconds."""

    def __init__(self, period: float = 0.2):
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)
        self._thread.start()

    def _run(self, period: float) -> None:
        while not self._stop.wait(period):
            self.sample()

    def sample(self) -> None:
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":")[0]
                if key in self.peak:
                    self.peak[key] = max(self.peak[key], int(line.split()[1]) * 1024)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.sample()
        return {"peak_rss_anon_gb": self.peak["RssAnon"] / 1e9, "peak_rss_file_gb": self.peak["RssFile"] / 1e9}


def vm_hwm_gb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def structure(yields: dict, n_np: int, code: int):
    """The toy's model in the column form (its fast NLL reads a given store; the columns only name the variables)."""
    from roonsbi.inputs.toy import COEFFICIENTS
    from roonsbi.models.unbinned import build_model
    from roonsbi.spec import Process, ShapeSys

    one = np.ones(1)
    procs = [Process(p, yields[p], one, coef, shapesys={f"np{m}": ShapeSys(one, one, code) for m in range(n_np)})
             for p, coef in COEFFICIENTS.items()]
    return build_model(procs, name="ooc", form="columns")


def run_fit(path: str, n: int, n_np: int, code: int, mode: str, threads: int) -> dict:
    sampler = RssSampler()
    from roonsbi.infer.fit import Fitter
    from roonsbi.models.fast import fast_nll
    from roonsbi.models.store import open_store

    out: dict = {"mode": mode, "events": n, "nps": n_np, "code": code, "threads": threads,
                 "load_start": os.getloadavg()[0]}
    store = open_store(path, streaming=mode)
    out["streams"] = bool(store.streams())
    out["store_gb"] = store.bytes() / 1e9
    from roonsbi.inputs.toy import OffShellToy

    model = structure(OffShellToy(nu_s=60.0, nu_b=600.0).basis_yields(), n_np, code=code)
    t = time.perf_counter()
    fnll = fast_nll(model, store=store, threads=threads)  # checks every column's values: one more read
    out["check_s"] = time.perf_counter() - t
    model.set_parameters({f"alpha_np{m}": ALPHA_START for m in range(n_np)}, mu=MU_START)
    fitter = Fitter(model, nll=fnll, tolerance=TOLERANCE)
    t = time.perf_counter()
    res = fitter.fit(hesse=True)
    out["fit_s"] = time.perf_counter() - t
    out["passes"] = int(fnll.nll.numPasses())
    out["status"], out["edm"] = res.status, res.edm
    out["mu"], out["mu_err"] = res.values["mu"], res.errors["mu"]
    out["values"], out["errors"] = res.values, res.errors
    out.update(sampler.stop())
    out["vm_hwm_gb"] = vm_hwm_gb()
    out["ru_maxrss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    out["load_end"] = os.getloadavg()[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=float, default=1e7)
    ap.add_argument("--nps", type=int, default=100)
    ap.add_argument("--code", type=int, default=5, choices=(4, 5))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="on", help="streaming modes to fit with, e.g. on,off")
    ap.add_argument("--path", default=None, help=f"the store file (default: under {FOLDER})")
    ap.add_argument("--delete", action="store_true", help="delete the store file at the end")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _, path, n, n_np, code, mode, threads = args.one.split(":")
        print(json.dumps(run_fit(path, int(n), int(n_np), int(code), mode, int(threads))), flush=True)
        os._exit(0)  # ROOT's teardown of the fit's objects is not measured
    n = int(args.events)
    path = args.path or os.path.join(FOLDER, f"ooc_{n}x{args.nps}_code{args.code}.store")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print(json.dumps({"uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}))
    info = ensure_store(path, n, args.nps, args.code)
    print(json.dumps(info), flush=True)
    bound = read_bound(path)
    print(json.dumps(bound), flush=True)
    results = []
    for mode in args.modes.split(","):
        drop_cache(path)
        one = f"fit:{path}:{n}:{args.nps}:{args.code}:{mode}:{args.threads}"
        proc = subprocess.run([sys.executable, __file__, "--one", one], capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"the fit with streaming={mode} failed")
        r = json.loads(lines[-1])
        r["gb_s_per_pass"] = r["passes"] * r["store_gb"] / r["fit_s"]
        r["over_disk_bound"] = bound["disk_gb_s"] / r["gb_s_per_pass"]
        r["peak_rss_over_store"] = r["vm_hwm_gb"] / r["store_gb"]
        results.append(r)
        print(json.dumps({k: v for k, v in r.items() if k not in ("values", "errors")}), flush=True)
    if len(results) > 1:
        a, b = results[0], results[1]
        diff = max(abs(a["values"][k] - b["values"][k]) for k in a["values"])
        err = max(abs(a["errors"][k] - b["errors"][k]) for k in a["errors"])
        print(json.dumps({"max_value_diff": diff, "max_error_diff": err}))
    if args.delete:
        os.unlink(path)


if __name__ == "__main__":
    main()
