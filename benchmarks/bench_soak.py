"""Soak: 10^4 fits in one process, with the growth of the resident memory and of ROOT's live objects, and the
spread of the results (they must be identical: same data, same start).

    python benchmarks/bench_soak.py [--fits 10000] [--events 2000] [--every 1000]

Three kinds of fit in rotation on a store-form channel (S: mu, shape systematic jes; B: normsys lumi) of
--events events: ``fit(model)`` (RooNSBIModel's standard NLL, RooNSBINLL), ``fit(model, fast=True)`` and a
conditional ``Fitter.fit({"mu": 2})`` of one Fitter, plus ``fit`` of the column-form channel (RooFit's own
NLL). Each result is dropped. Printed every --every fits: the resident memory (VmRSS, MB) and the number of
live TObjects (``gObjectTable``, counted with ``Root.ObjectStat``, set in a ``.rootrc`` of a temporary working
directory: the script re-runs itself there), both against their values after a warm-up of 100 fits (RooFit's
caches fill on the first fits); at the end the spread (max - min) of min NLL and mu-hat per kind.
Not run by pytest (tests/infer/test_leaks.py: the short version).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise KeyError("VmRSS")


def soak(fits: int, events: int, every: int) -> None:
    import numpy as np

    import roonsbi.library

    ROOT = roonsbi.library.load()
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
    from roonsbi.infer.fit import Fitter, fit
    from roonsbi.models.unbinned import build_model
    from roonsbi.spec import Process, ShapeSys

    rng = np.random.default_rng(1)
    lo, hi = rng.uniform(0.85, 0.97, events), rng.uniform(1.03, 1.2, events)

    def procs() -> list:
        return [Process("S", 60.0, rng_s, "mu", shapesys={"jes": ShapeSys(lo, hi)}),
                Process("B", 400.0, rng_b, normsys={"lumi": (0.97, 1.03)})]

    rng_s, rng_b = rng.uniform(0.2, 3.0, events), rng.uniform(0.5, 1.5, events)
    store, columns = build_model(procs()), build_model(procs(), form="columns")
    fitter = Fitter(store)
    kinds = {
        "fit(store model)": lambda: fit(store),
        "fit(store model, fast=True)": lambda: fit(store, fast=True),
        "Fitter.fit({'mu': 2})": lambda: fitter.fit({"mu": 2.0}),
        "fit(column model)": lambda: fit(columns),
    }
    names = list(kinds)
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in names}

    def run(n: int, keep: bool) -> None:
        for i in range(n):
            name = names[i % len(names)]
            r = kinds[name]()
            if keep:
                results[name].append((r.min_nll, r.values["mu"]))

    objects = ROOT.gObjectTable.Instances if ROOT.TObject.GetObjectStat() else (lambda: -1)
    run(100, False)  # warm-up
    rss0, obj0 = rss_mb(), objects()
    print(f"after 100 warm-up fits: RSS {rss0:.1f} MB, live TObjects {obj0}")
    print(f"{'fits':>7} {'RSS growth (MB)':>16} {'TObject growth':>15}")
    done = 0
    while done < fits:
        n = min(every, fits - done)
        run(n, True)
        done += n
        print(f"{done:7d} {rss_mb() - rss0:16.2f} {objects() - obj0:15d}", flush=True)
    print(f"RSS growth over {fits} fits: {rss_mb() - rss0:.2f} MB ({(rss_mb() - rss0) / fits * 1024:.3f} kB per fit); "
          f"TObject growth: {objects() - obj0}")
    for name, rs in results.items():
        arr = np.array(rs)
        print(f"{name:30s} {len(rs):6d} fits: spread of min NLL {np.ptp(arr[:, 0]):.3g}, "
              f"of mu-hat {np.ptp(arr[:, 1]):.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)  # the re-run with .rootrc
    args = parser.parse_args()
    if args.here:
        soak(args.fits, args.events, args.every)
        return
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ".rootrc").write_text("Root.ObjectStat: 1\n")
        package = str(Path(__file__).resolve().parents[1] / "python")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([package, os.environ.get("PYTHONPATH", "")])}
        sys.exit(subprocess.call([sys.executable, str(Path(__file__).resolve()), "--here", "--fits", str(args.fits),
                                  "--events", str(args.events), "--every", str(args.every)], cwd=tmp, env=env))


if __name__ == "__main__":
    main()
