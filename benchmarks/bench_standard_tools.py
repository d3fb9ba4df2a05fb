"""A store-form NSBI channel in the standard RooFit path, against roonsbi's fast path (issue 13).

The toy of ``bench_nsbi.py`` (off-shell basis SBI, S, B with exact ratios, Asimov weights at
mu = 1, ``NPS`` code-5 shape systematics per process) built with ``build_model(form="store")``
from float32 columns. Each size runs in its own process and prints one JSON line:

* build: ``build_model`` time; resident memory of the channel over its float32 column bytes, as
  ``load_model`` makes it in a fresh process (and after building, where the freed input arrays may
  stay resident in the allocator);
* save / load: ``model.save`` and ``load_model`` (in a fresh process, after the imports) against
  numpy's ``tofile`` (with fsync, as a TFile's Close) / ``fromfile`` of the same number of float32
  bytes, in the same process;
* NLL: one evaluation after one nuisance parameter moved, of (a) the standard call
  ``ws.pdf("model_<name>").createNLL(data, ...)`` (a ``RooNSBIModel``: its createNLL gives the
  fast ``RooNSBINLL``), (b) RooFit's generic NLL of the same pdf and constraints (a RooProdPdf:
  the pdf's per-event cache updates the moved parameter's terms), (c) the fast NLL's value and
  analytic gradient;
* gradient: Minuit's central differences (2 evaluations per floating parameter, one parameter
  moved at a time) of (b) against the analytic gradient (c);
* fit: a standard ``RooMinimizer`` MIGRAD + HESSE (default configuration, Minuit2) on (a), and on
  (b) with ``--generic-fit``, against ``roonsbi.fit(model, fast=True)``;
* combination (``--combination``): ``roonsbi.combine`` of the channel with the demo's HistFactory
  control region (built by ROOT's hist2workspace; shares mu), saved, read back in a fresh Python
  process (``load_model``) and in plain ``root`` (libRooNSBI autoloaded by the environment's launcher):
  combine/save/load times and the relative difference of the combined NLL at moved parameters.

Usage:  python benchmarks/bench_standard_tools.py [--sizes 1e5x50,1e6x100] [--generic-fit] [--combination] [--threads 2]
        python benchmarks/bench_standard_tools.py --one 100000:50:0:1
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from bench_nsbi import toy_columns


def rss_gb() -> float:
    """Current resident memory (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3


def _timed(call, reps: int = 5) -> float:
    times = []
    for k in range(reps):
        t = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - t)
    return min(times)


def build(n: int, n_np: int):
    from roonsbi.inputs.toy import COEFFICIENTS
    from roonsbi.models.unbinned import build_model
    from roonsbi.spec import Process, ShapeSys

    _, yields, ratios, weights, shape_logs = toy_columns(n, n_np)
    shapes: dict[str, dict] = {p: {} for p in COEFFICIENTS}
    for proc, m, lo, hi in shape_logs():
        shapes[proc][f"np{m}"] = ShapeSys(np.exp(lo), np.exp(hi), 5)  # float32 g(x, -+1)
    procs = [Process(p, yields[p], ratios[f"r_{p}"], coef, shapesys=shapes[p]) for p, coef in COEFFICIENTS.items()]
    t = time.perf_counter()
    model = build_model(procs, weights=weights, pool_weights=np.ones(n, dtype=np.float32), form="store", name="bench")
    return model, time.perf_counter() - t


def generic_nll(model):
    """RooFit's generic NLL of the channel (a plain RooProdPdf of the pdf and its constraints)."""
    import ROOT

    factors = ROOT.RooArgList(model.pdf)
    for a in model.nuisance_parameters:
        factors.add(model.workspace.pdf(f"{a.GetName()}Constraint"))
    prod = ROOT.RooProdPdf("generic_model", "", factors)
    globs = ROOT.RooFit.GlobalObservables(model.global_observables)
    nll = prod.createNLL(model.data, ROOT.RooFit.Extended(True), globs)
    return prod, nll


def combination(model, tmp: Path) -> dict:
    """Combine ``model`` with the demo's HistFactory control region, save, and read back in a fresh Python
    process and in plain ``root``; the NLL at moved parameters in each."""
    import roonsbi
    from roonsbi.demo.control_region import control_region_spec, histfactory_workspace
    from roonsbi.inputs.toy import OffShellToy
    from roonsbi.library import macro_nll, nll_macro

    out: dict = {}
    cr = histfactory_workspace(control_region_spec(OffShellToy(), 1.0, np.random.default_rng(3)), tmp / "cr.root")
    t = time.perf_counter()
    combined = roonsbi.combine([model, cr], name="bigcomb")
    out["combine_s"] = time.perf_counter() - t
    path = tmp / "combined.root"
    t = time.perf_counter()
    combined.save(path)
    out["combined_save_s"] = time.perf_counter() - t
    out["combined_file_gb"] = path.stat().st_size / 1024**3
    values = {"mu": 1.2, "alpha_np0": 0.3, "alpha_np7": -0.4, "alpha_eff": 0.2, "alpha_lumi": -0.3}
    values = {k: v for k, v in values.items() if combined.workspace.var(k)}
    expected = combined.nll(values)
    script = textwrap.dedent(f"""
        import json, time
        import roonsbi
        t = time.perf_counter()
        m = roonsbi.combine([{str(path)!r}])
        load = time.perf_counter() - t
        print(json.dumps({{"load_s": load, "nll": m.nll({values!r})}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"reading the combination back failed:\n{proc.stderr[-3000:]}")
    fresh = json.loads(proc.stdout.strip().splitlines()[-1])
    out["combined_load_s"] = fresh["load_s"]
    out["combined_nll_rel_python"] = abs(fresh["nll"] - expected) / abs(expected)
    (tmp / "read_combined.C").write_text(nll_macro("read_combined", path, "bigcomb", values))
    root = Path(sys.executable).parent / "root"
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "ROOT_INCLUDE_PATH")}
    t = time.perf_counter()
    proc = subprocess.run([str(root), "-l", "-b", "-q", "read_combined.C"], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=3600)
    out["combined_root_s"] = time.perf_counter() - t
    nll = macro_nll(proc.stdout)
    out["combined_nll_rel_root"] = abs(nll - expected) / abs(expected) if nll is not None else None
    if nll is None:
        out["combined_root_error"] = (proc.stdout + proc.stderr)[-1500:]
    return out


def one(n: int, n_np: int, generic_fit: bool, threads: int, do_fit: bool = True, combine: bool = False) -> dict:
    import ROOT

    import roonsbi
    from roonsbi.models.fast import fast_nll

    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    out: dict = {"events": n, "nps": n_np}
    base = rss_gb()
    model, out["build_s"] = build(n, n_np)
    gc.collect()
    store = model.pdf.store()
    out["float32_gb"] = store.bytes() / 1024**3
    out["rss_over_float32"] = (rss_gb() - base) / out["float32_gb"]

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        path = Path(tmp) / "store.root"
        t = time.perf_counter()
        model.save(path)
        out["save_s"] = time.perf_counter() - t
        raw = np.ones(store.bytes() // 4, dtype=np.float32)
        t = time.perf_counter()
        with open(Path(tmp) / "raw.bin", "wb") as f:  # as durable as the TFile, which fsyncs on Close
            raw.tofile(f)
            f.flush()
            os.fsync(f.fileno())
        out["tofile_s"] = time.perf_counter() - t
        del raw
        script = textwrap.dedent(f"""
            import time, json, os, numpy as np
            from roonsbi.models.unbinned import load_model
            import ROOT
            def rss():
                with open("/proc/self/statm") as f:
                    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3
            before = rss()
            t = time.perf_counter()
            m = load_model({str(path)!r})
            load = time.perf_counter() - t
            resident = rss() - before
            t = time.perf_counter()
            a = np.fromfile({str(Path(tmp) / 'raw.bin')!r}, dtype=np.float32)
            print(json.dumps({{"load_s": load, "fromfile_s": time.perf_counter() - t, "loaded_rss_gb": resident}}))
        """)
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=3600)
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        out["loaded_rss_over_float32"] = out["loaded_rss_gb"] / out["float32_gb"]
        out["file_gb"] = path.stat().st_size / 1024**3
        if combine:
            out.update(combination(model, Path(tmp)))

    globs = model.global_observables
    standard = model.model.createNLL(model.data, ROOT.RooFit.Extended(True), ROOT.RooFit.GlobalObservables(globs))
    out["standard_class"] = standard.ClassName()
    prod, generic = generic_nll(model)
    fast = fast_nll(model, threads=threads)
    alpha = model.parameter("alpha_np0")
    params = [model.parameter(p.GetName()) for p in list(model.pois) + list(model.nuisance_parameters)]

    def moved(nll):
        def call(k):
            alpha.setVal(0.001 * (k + 1))
            nll.getVal()
        return call

    standard.getVal()
    generic.getVal()
    out["nll_standard_s"] = _timed(moved(standard))
    out["nll_generic_s"] = _timed(moved(generic))
    grad = np.zeros(fast.nll.gradientParameters().size())

    def fast_call(k):
        alpha.setVal(0.001 * (k + 1))
        fast.nll.getVal()
        fast.nll.gradient(grad)

    out["nll_grad_fast_s"] = _timed(fast_call)

    def numerical_gradient(nll):
        def call(k):
            for p in params:
                v = p.getVal()
                for h in (1e-3, -1e-3):
                    p.setVal(v + h)
                    nll.getVal()
                p.setVal(v)
        return call

    out["gradient_generic_s"] = _timed(numerical_gradient(generic), reps=1)
    alpha.setVal(0.0)

    def minimize(nll) -> tuple[float, dict]:
        model.set_parameters({p.GetName(): (1.0 if p.GetName() == "mu" else 0.0) for p in params})
        t = time.perf_counter()
        m = ROOT.RooMinimizer(nll)
        m.setPrintLevel(-1)
        m.minimize("Minuit2", "Migrad")
        m.hesse()
        mu = model.parameter("mu")
        return time.perf_counter() - t, {"mu": mu.getVal(), "error": mu.getError()}

    if not do_fit:
        return out
    out["fit_standard_s"], out["fit_standard"] = minimize(standard)
    model.set_parameters({p.GetName(): (1.0 if p.GetName() == "mu" else 0.0) for p in params})
    t = time.perf_counter()
    res = roonsbi.fit(model, fast=True)
    out["fit_fast_s"] = time.perf_counter() - t
    out["fit_fast"] = {"mu": res.values["mu"], "error": res.errors["mu"]}
    if generic_fit:
        out["fit_generic_s"], out["fit_generic"] = minimize(generic)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e5x50,1e6x100", help="comma-separated EVENTSxNPS")
    ap.add_argument("--generic-fit", action="store_true", help="also MIGRAD+HESSE on RooFit's generic NLL (slow)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-fit", action="store_true", help="no MIGRAD+HESSE (the rest only)")
    ap.add_argument("--combination", action="store_true",
                    help="also combine with a HistFactory channel, save, read back (fresh Python, plain root)")
    ap.add_argument("--one", help="EVENTS:NPS:GENERIC_FIT:FIT:COMBINE  one measurement in this process, print JSON")
    args = ap.parse_args()
    if args.one:
        n, n_np, gf, fit, comb = args.one.split(":")
        print(json.dumps(one(int(float(n)), int(n_np), bool(int(gf)), args.threads, bool(int(fit)), bool(int(comb)))))
        return
    for size in args.sizes.split(","):
        n, n_np = size.split("x")
        spec = f"{n}:{n_np}:{int(args.generic_fit)}:{int(not args.no_fit)}:{int(args.combination)}"
        proc = subprocess.run([sys.executable, __file__, "--one", spec,
                               "--threads", str(args.threads)], capture_output=True, text=True)
        if proc.returncode:
            print(f"{size}: failed\n{proc.stderr[-3000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\n{size} ({r['float32_gb']:.2f} GB float32, file {r['file_gb']:.2f} GB)")
        print(f"  build {r['build_s']:.2f} s; resident memory / float32 bytes: of the loaded channel in a fresh "
              f"process {r['loaded_rss_over_float32']:.2f}, after building (freed inputs included) "
              f"{r['rss_over_float32']:.2f}")
        print(f"  save {r['save_s']:.2f} s = {r['save_s'] / r['tofile_s']:.1f} x numpy tofile ({r['tofile_s']:.2f} s); "
              f"load {r['load_s']:.2f} s = {r['load_s'] / r['fromfile_s']:.1f} x fromfile ({r['fromfile_s']:.2f} s)")
        if "combine_s" in r:
            rel_root = r["combined_nll_rel_root"]
            print(f"  combination with a HistFactory channel: combine {r['combine_s']:.2f} s, save "
                  f"{r['combined_save_s']:.2f} s ({r['combined_file_gb']:.2f} GB), load in a fresh process "
                  f"{r['combined_load_s']:.2f} s; NLL read back / in memory - 1: Python "
                  f"{r['combined_nll_rel_python']:.1e}, plain root "
                  f"{'failed' if rel_root is None else f'{rel_root:.1e}'} ({r['combined_root_s']:.1f} s)")
            if rel_root is None:
                print(r["combined_root_error"])
        print(f"  one NLL after one NP moved: standard createNLL ({r['standard_class']}) {r['nll_standard_s']:.4f} s, "
              f"generic RooFit NLL {r['nll_generic_s']:.4f} s, fast value+gradient {r['nll_grad_fast_s']:.4f} s")
        print(f"  numerical gradient of the generic NLL {r['gradient_generic_s']:.2f} s = "
              f"{r['gradient_generic_s'] / r['nll_grad_fast_s']:.0f} x the analytic one")
        if "fit_standard_s" not in r:
            continue
        print(f"  MIGRAD+HESSE: standard {r['fit_standard_s']:.2f} s = {r['fit_standard_s'] / r['fit_fast_s']:.2f} x "
              f"fit(fast=True) {r['fit_fast_s']:.2f} s; mu = {r['fit_standard']['mu']:.6f} +- "
              f"{r['fit_standard']['error']:.6f} vs {r['fit_fast']['mu']:.6f} +- {r['fit_fast']['error']:.6f}")
        if "fit_generic_s" in r:
            ratio = r["fit_generic_s"] / r["fit_fast_s"]
            print(f"  generic MIGRAD+HESSE {r['fit_generic_s']:.1f} s = {ratio:.1f} x fast; "
                  f"mu = {r['fit_generic']['mu']:.6f} +- {r['fit_generic']['error']:.6f}")


if __name__ == "__main__":
    main()
