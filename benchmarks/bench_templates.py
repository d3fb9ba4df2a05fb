"""Template building for parametrized NSBI on many events streamed from a ROOT file.

Writes a ROOT file of reference/MC events of the analytic off-shell toy with uproot, in chunks
(exact ratio columns r_SBI, r_S, r_B, the per-event shape columns of the efficiency systematic
g_<proc>_eff_lo/hi, x0 and a weight: 11 float64 columns), then, in a fresh process, builds the
templates of a 16-point grid of mu' with 50 equal-yield quantile bins per grid point (two
streaming passes with uproot.iterate) and data (10^5 events), and prints the peak resident
memory (resource.getrusage) and the times. Memory use is bounded by the chunk size, not by
the number of events.

Each step runs in its own process (peak memory is per process) and prints one JSON line.

Usage:  python benchmarks/bench_templates.py [--events 1e7] [--step "100 MB"] [--file PATH] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

CHUNK = 1_000_000
GRID = np.linspace(0.0, 3.0, 16)
BINS = 50


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024



def write(path: str, n_events: int) -> dict:
    import uproot

    from roonsbi.inputs.toy import OffShellToy

    toy = OffShellToy()
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    with uproot.recreate(path, compression=None) as f:
        done = 0
        while done < n_events:
            m = min(CHUNK, n_events - done)
            cols = toy.template_columns(toy.sample_ref(m, rng), n_events)
            if done == 0:
                f["events"] = cols
            else:
                f["events"].extend(cols)
            done += m
    return {"step": "write", "events": n_events, "file_mb": os.path.getsize(path) / 1024**2,
            "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def build(path: str, step: str) -> dict:
    t_import = time.perf_counter()
    import uproot

    from roonsbi.binned import BinnedProcess, Quantiles, build_templates
    from roonsbi.inputs.toy import COEFFICIENTS, OffShellToy

    rss_after_import = peak_rss_mb()
    toy = OffShellToy()
    data_x = toy.sample_ref(100_000, np.random.default_rng(2))
    data = toy.ratio_columns(data_x)
    processes = [BinnedProcess(n, y, COEFFICIENTS[n], {"lumi": (0.98, 1.02)}, ["eff"])
                 for n, y in toy.basis_yields().items()]
    with uproot.open(path) as f:
        n_events = f["events"].num_entries
    t0 = time.perf_counter()
    templates = build_templates(lambda: uproot.iterate(f"{path}:events", step_size=step, library="np"),
                                processes, GRID, Quantiles(BINS), data=data, total=n_events)
    seconds = time.perf_counter() - t0
    totals = templates.nominal.sum(axis=2)
    return {"step": "build", "events": templates.n_events, "grid_points": GRID.size, "bins": BINS,
            "processes": len(processes), "histosys": 1, "chunk": step, "seconds": seconds,
            "events_per_second": templates.n_events * 2 / seconds,  # two passes
            "import_seconds": t0 - t_import, "rss_after_import_mb": rss_after_import, "peak_rss_mb": peak_rss_mb(),
            "max_rel_yield_error": float(np.max(np.abs(totals / [p.nominal_yield for p in processes] - 1)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=float, default=1e7)
    parser.add_argument("--step", default="100 MB", help="uproot.iterate step_size")
    parser.add_argument("--file", help="ROOT file to write/read (default: a temporary file)")
    parser.add_argument("--keep", action="store_true", help="keep the ROOT file")
    parser.add_argument("--child", choices=["write", "build"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "write":
        print(json.dumps(write(args.file, int(args.events))), flush=True)
        return
    if args.child == "build":
        print(json.dumps(build(args.file, args.step)), flush=True)
        return

    tmpdir = None
    path = args.file
    if path is None:
        tmpdir = tempfile.mkdtemp(prefix="roonsbi-bench-")
        path = os.path.join(tmpdir, "mc.root")
    results = []
    try:
        for child in ("write", "build"):
            cmd = [sys.executable, __file__, "--child", child, "--file", path, "--events", str(args.events),
                   "--step", args.step]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            line = [s for s in out.splitlines() if s.startswith("{")][-1]
            results.append(json.loads(line))
            print(line, flush=True)
    finally:
        if not args.keep and tmpdir is not None:
            if os.path.exists(path):
                os.remove(path)
            os.rmdir(tmpdir)
    w, b = results
    print()
    print(f"wrote {w['events']:.3g} events ({w['file_mb']:.0f} MB, 11 float64 columns) in {w['seconds']:.1f} s")
    print(f"templates: {b['grid_points']} grid points x {b['bins']} quantile bins x {b['processes']} processes "
          f"(+1 histosys), two streaming passes in {b['seconds']:.1f} s ({b['events_per_second']:.3g} events/s)")
    print(f"peak RSS of the template-building process: {b['peak_rss_mb']:.0f} MB "
          f"(of which {b['rss_after_import_mb']:.0f} MB after importing ROOT/roonsbi/uproot)")
    print(f"largest relative deviation of a process total from nu_J: {b['max_rel_yield_error']:.1e}")


if __name__ == "__main__":
    main()
