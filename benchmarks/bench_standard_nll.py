"""The standard createNLL() of a store-form NSBI channel: RooNSBIModel (-> RooNSBINLL) vs RooFit's
generic NLL of the same RooProdPdf, with one MIGRAD + HESSE of RooMinimizer each.

The channel: ``--processes`` processes (the first scaled by mu) on a reference pool of ``--events``
rows (float32 store, pool measure 1/n, ratios r_J > 0), ``--nps`` nuisance parameters each with a
per-event shape systematic on every process (code 5; g(x, +-1) = exp(+-s z - s^2/2), z ~ N(0, 1),
s = 0.02) and a Gaussian constraint with its global observable; data: RooStats' Asimov data of the
pdf (one weighted entry per pool row) at mu = 1, every alpha 0. The fits start at mu = 1.5,
alpha_m = 0.1.

Printed: the value and the gradient of RooNSBINLL against the generic NLL (numerical 5-point
derivative) at the start point, then for each NLL the time to build it, MIGRAD and HESSE (RooMinimizer
as RooStats and fitTo() use it: default configuration, so HESSE differentiates the value numerically),
the number of evaluations, and the largest differences of the results. With ``--use-hessian`` the fast
NLL is also fitted with RooMinimizer::Config::useHessian (its Hessian from its gradient, as
roonsbi.infer.fit does).

Usage:  python benchmarks/bench_standard_nll.py [--events 100000] [--processes 3] [--nps 50]
                                              [--threads 2] [--use-hessian] [--skip-generic] [--tolerance 1e-4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

from roonsbi.library import cpp_errors, load
from roonsbi.naming import LOG_PREFIX, alpha, constraint, global_observable, ratio_column, shape_columns

ROOT = load()
R = ROOT.RooFit
SIGMA = 0.02
_KEEP: list[Any] = []


def build(n: int, n_proc: int, n_np: int, seed: int = 1) -> dict[str, Any]:
    """The store-form pdf, its constraints, the RooProdPdf and the RooNSBIModel of them."""
    rng = np.random.default_rng(seed)
    procs = [f"P{j}" for j in range(n_proc)]
    store = ROOT.std.make_shared["RooNSBI::EventStore"](n)
    for j, p in enumerate(procs):
        store.addColumn(ratio_column(p), rng.gamma(4.0 + j, 1.0 / (4.0 + j), n))
    store.addColumn("measure", np.full(n, 1.0 / n))
    mu = ROOT.RooRealVar("mu", "", 1.0, 0.0, 10.0)
    alphas = [ROOT.RooRealVar(alpha(f"np{m}"), "", 0.0, -5.0, 5.0) for m in range(n_np)]
    yields = ROOT.RooArgList()
    for j, p in enumerate(procs):
        nominal = 0.05 * n if j == 0 else 0.95 * n / (n_proc - 1)
        y = (ROOT.RooFormulaVar(f"N_{p}", f"{nominal}*mu", ROOT.RooArgList(mu)) if j == 0
             else ROOT.RooConstVar(f"N_{p}", "", nominal))
        yields.add(y)
        _KEEP.append(y)
    index = ROOT.RooRealVar("idx", "event index", 0.0, 0.0, float(n))
    index.setBinning(ROOT.RooNSBIRowBinning(n, n))
    pdf = ROOT.RooNSBIPdf("nsbi", "", yields, index, store,
                          ROOT.std.vector["std::string"]([ratio_column(p) for p in procs]), n, "measure")
    shift = -0.5 * SIGMA**2
    for j, p in enumerate(procs):
        for m, a in enumerate(alphas):
            lo, hi = shape_columns(p, f"np{m}")
            z = rng.standard_normal(n)
            store.addColumn(LOG_PREFIX + lo, -SIGMA * z + shift)  # the logarithms of g(x, -+1)
            store.addColumn(LOG_PREFIX + hi, SIGMA * z + shift)
            with cpp_errors():
                pdf.addShapeSystematic(j, a, lo, hi, 5)
    one = ROOT.RooConstVar("one", "", 1.0)
    globs, cons = ROOT.RooArgSet(), ROOT.RooArgList()
    for a in alphas:
        nom = ROOT.RooRealVar(global_observable(a.GetName()), "", 0.0, -10.0, 10.0)
        nom.setConstant(True)
        c = ROOT.RooGaussian(constraint(a.GetName()), "", nom, a, one)
        globs.add(nom)
        cons.add(c)
        _KEEP.extend([nom, c])
    prod = ROOT.RooProdPdf("prod", "", ROOT.RooArgList(pdf, cons))
    with cpp_errors():
        ROOT.RooNSBIModel.checkInputs("model", pdf, cons)
    model = ROOT.RooNSBIModel("model", "", pdf, cons)
    data = ROOT.RooStats.AsymptoticCalculator.GenerateAsimovData(pdf, ROOT.RooArgSet(index))
    params = [mu, *alphas]
    _KEEP.extend([store, mu, alphas, one, index, pdf, globs, cons, prod, model, data])
    return {"pdf": pdf, "prod": prod, "model": model, "data": data, "globs": globs, "params": params}


def start(params: list[Any]) -> None:
    params[0].setVal(1.5)
    for a in params[1:]:
        a.setVal(0.1)
    for p in params:
        p.setError(0.0)


def agreement(fast: Any, generic: Any, params: list[Any], h: float = 1e-4) -> dict[str, float]:
    """Relative difference of the values and largest difference of the gradients (analytic vs
    5-point numerical derivative of the generic NLL)."""
    v_fast, v_gen = fast.getVal(), generic.getVal()
    order = list(fast.gradientParameters())
    grad = np.zeros(len(order))
    fast.gradient(grad)
    analytic = {p.GetName(): g for p, g in zip(order, grad)}
    worst_abs = worst_rel = 0.0
    for p in params:
        x0 = p.getVal()
        f = []
        for step in (2, 1, -1, -2):
            p.setVal(x0 + step * h)
            f.append(generic.getVal())
        p.setVal(x0)
        num = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h)
        diff = abs(analytic[p.GetName()] - num)
        worst_abs = max(worst_abs, diff)
        worst_rel = max(worst_rel, diff / max(abs(num), 1e-300))
    return {"value_fast": v_fast, "value_generic": v_gen, "value_rel_diff": abs(v_fast / v_gen - 1),
            "gradient_max_abs_diff": worst_abs, "gradient_max_rel_diff": worst_rel}


def fit(nll: Any, params: list[Any], tolerance: float | None, use_hessian: bool = False) -> dict[str, Any]:
    start(params)
    config = ROOT.RooMinimizer.Config()
    config.useHessian = use_hessian
    m = ROOT.RooMinimizer(nll, config)
    m.setPrintLevel(-1)
    if tolerance is not None:
        m.setEps(tolerance)
    t0 = time.perf_counter()
    status_migrad = m.migrad()
    t1 = time.perf_counter()
    calls_migrad = m.evalCounter()
    status_hesse = m.hesse()
    t2 = time.perf_counter()
    result = m.save()
    values = {p.GetName(): (p.getVal(), p.getError()) for p in result.floatParsFinal()}
    return {"migrad_s": t1 - t0, "hesse_s": t2 - t1, "status": (status_migrad, status_hesse),
            "evaluations_migrad": calls_migrad, "evaluations_total": m.evalCounter(), "min_nll": result.minNll(),
            "values": values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=float, default=1e5)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--nps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--use-hessian", action="store_true")
    parser.add_argument("--skip-generic", action="store_true")
    parser.add_argument("--tolerance", type=float, default=None, help="RooMinimizer::setEps (default: RooMinimizer's)")
    args = parser.parse_args()
    ROOT.RooMsgService.instance().setGlobalKillBelow(R.WARNING)

    t = time.perf_counter()
    ch = build(int(args.events), args.processes, args.nps)
    print(json.dumps({"build_s": time.perf_counter() - t, "events": int(args.events), "processes": args.processes,
                      "nps": args.nps, "data_entries": ch["data"].numEntries()}))
    cmds = (R.GlobalObservables(ch["globs"]),)
    t = time.perf_counter()
    fast = ch["model"].createNLL(ch["data"], *cmds)
    fast_create = time.perf_counter() - t
    assert fast.ClassName() == "RooNSBINLL", fast.ClassName()
    fast.setNumThreads(args.threads)
    print(json.dumps({"fast_nll": fast.ClassName(), "create_s": fast_create, "reads_in_place": fast.readsInPlace()}),
          flush=True)
    results = {}

    def report(name: str, nll: Any, **kw: Any) -> None:
        passes, cached = (nll.numPasses(), nll.numIncrementalEvaluations()) if name.startswith("fast") else (0, 0)
        results[name] = fit(nll, ch["params"], args.tolerance, **kw)
        if name.startswith("fast"):
            results[name]["full_passes"] = nll.numPasses() - passes
            results[name]["cached_values"] = nll.numIncrementalEvaluations() - cached
        print(json.dumps({"fit": name, **{k: v for k, v in results[name].items() if k != "values"}}), flush=True)

    report("fast", fast)
    if args.use_hessian:
        report("fast_useHessian", fast, use_hessian=True)
    if not args.skip_generic:
        t = time.perf_counter()
        generic = ch["prod"].createNLL(ch["data"], *cmds)
        generic_create = time.perf_counter() - t
        start(ch["params"])
        print(json.dumps({"generic_nll": generic.ClassName(), "create_s": generic_create,
                          **agreement(fast, generic, ch["params"])}))
        report("generic", generic)
    if "generic" in results:
        ref = results["generic"]["values"]
        for name, r in results.items():
            if name == "generic":
                continue
            dv = max(abs(r["values"][k][0] - ref[k][0]) for k in ref)
            de = max(abs(r["values"][k][1] / ref[k][1] - 1) for k in ref)
            print(json.dumps({"compare": f"{name} vs generic", "max_abs_value_diff": dv, "max_rel_error_diff": de,
                              "min_nll_diff": r["min_nll"] - results["generic"]["min_nll"]}))
    sys.stdout.flush()
    os._exit(0)  # skip the teardown of the RooFit objects (_KEEP)


if __name__ == "__main__":
    main()
