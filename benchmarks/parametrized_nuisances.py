"""Parametrized NSBI with nuisance parameters: the nominal optimal observable against the
nuisance-aware one (``build_templates(..., nuisances=...)``), both against unbinned NSBI.

Off-shell toy with the efficiency (normsys + per-event shape, additive code 4 in both models)
and luminosity (normsys) systematics. "Exact templates": one reference sample x_k ~ p_ref for
the templates and the unbinned model, whose ratio and shape columns are normalised on it
(mean r_J = 1, mean r_J g_J(+-1) = mean r_J), so that the unbinned Asimov dataset (the sample
weighted by the expected events at mu = 1, alpha = 0) has its free fit at (1, 0), as the binned
Asimov data have; with the additive code 4 the binned model is then the bin integral of the
unbinned one at every alpha. Printed: t_binned / t_unbinned over the unbinned 95% interval on
the Asimov data, and the 68% edges on the reference toy (pseudo-data at mu = 1, seed 1) against
the unbinned ones. The nuisance-aware observable is built at the unbinned fits to the same data
(roonsbi.infer.conditional_nuisances: p(x|mu', alpha-hat-hat)/p(x|mu-hat, alpha-hat)). Bins of
equal expected yield under the observable's reference (mu = 1 for the nominal observable, mu-hat for the
nuisance-aware one); no MC-statistics gammas (exact templates).

Usage:  python benchmarks/parametrized_nuisances.py [--mc 2e5] [--bins 100] [--grid 30]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import roonsbi.library

ROOT = roonsbi.library.load()
from roonsbi.binned import BinnedProcess, Quantiles, build_templates
from roonsbi.infer import conditional_nuisances, parametrized_scan
from roonsbi.inputs.toy import COEFFICIENTS, OffShellToy
from roonsbi.models.parametrized import build_parametrized_model
from roonsbi.models.unbinned import build_model
from roonsbi.naming import WEIGHT_NAME, ratio_column, shape_columns
from roonsbi.spec import NormSys, Process, ShapeSys

CODE = 4  # additive: the binned model is the bin integral of the unbinned one


def normalised_columns(toy: OffShellToy, x: np.ndarray, scale: dict[str, Any] | None = None
                       ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Ratio and ``eff`` shape columns of events x, normalised with ``scale`` (None: on x itself):
    r_J / mean r_J and g_J(+-1) mean r_J / mean(r_J g_J(+-1))."""
    cols = toy.template_columns(x)
    del cols[WEIGHT_NAME], cols["x0"]
    if scale is None:
        scale = {}
        for name in toy.basis_yields():
            r = cols[ratio_column(name)]
            lo, hi = (cols[c] for c in shape_columns(name, "eff"))
            scale[name] = (r.mean(), r.mean() / (r * lo).mean(), r.mean() / (r * hi).mean())
    for name, (r_mean, s_lo, s_hi) in scale.items():
        cols[ratio_column(name)] = cols[ratio_column(name)] / r_mean
        lo_c, hi_c = shape_columns(name, "eff")
        cols[lo_c], cols[hi_c] = cols[lo_c] * s_lo, cols[hi_c] * s_hi
    return cols, scale


def processes(toy: OffShellToy, cols: dict[str, np.ndarray]) -> list[Process]:
    norms = {p.name: p.normsys for p in toy.processes(np.zeros((1, toy.dim)))}
    return [Process(n, y, cols[ratio_column(n)], COEFFICIENTS[n], normsys=norms[n],
                    shapesys={"eff": ShapeSys(*(cols[c] for c in shape_columns(n, "eff")), code=CODE)})
            for n, y in toy.basis_yields().items()]


def binned_processes(toy: OffShellToy) -> list[BinnedProcess]:
    norms = {p.name: p.normsys for p in toy.processes(np.zeros((1, toy.dim)))}
    return [BinnedProcess(n, y, COEFFICIENTS[n], {k: NormSys(*v) if isinstance(v, tuple) else v
                                                  for k, v in norms[n].items()}, {"eff": CODE})
            for n, y in toy.basis_yields().items()]


def compare(toy: OffShellToy, n_mc: int, bins: int, grid: np.ndarray, seed: int = 1) -> dict[str, Any]:
    """The numbers of the module doc, as a dict."""
    x = toy.sample_ref(n_mc, np.random.default_rng(11))
    mc, scale = normalised_columns(toy, x)
    mc_w = {**mc, WEIGHT_NAME: np.full(n_mc, 1.0 / n_mc)}
    procs = processes(toy, mc)
    sbi = next(p for p in procs if p.name == "SBI")  # f_SBI(1) = 1, f_S(1) = f_B(1) = 0
    asimov = build_model(procs, weights=sbi.nominal_yield * np.asarray(sbi.ratio) / n_mc, form="columns",
                         name="unbinned_asimov")
    data_x = toy.generate(1.0, np.random.default_rng(seed))
    data, _ = normalised_columns(toy, data_x, scale)
    observed = build_model(processes(toy, data), form="columns", name="unbinned_data")
    out: dict[str, Any] = {}
    for kind, unbinned, binned_data in (("asimov", asimov, "asimov"), ("data", observed, "templates")):
        scan_u = parametrized_scan(unbinned, "mu", grid)
        profile = conditional_nuisances(unbinned, "mu", grid)
        row: dict[str, Any] = {"unbinned 68%": scan_u.interval(0.68), "unbinned 95%": scan_u.interval(0.95)}
        lo95, hi95 = scan_u.interval(0.95)
        inside = (grid >= lo95) & (grid <= hi95) & (scan_u.t > 0.1)
        for label, kw in (("nominal", {}), ("nuisance-aware", profile.template_arguments())):
            t = build_templates(mc_w, binned_processes(toy), grid, Quantiles(bins), data=data,
                                progress=False, **kw)
            scan_b = parametrized_scan(build_parametrized_model(t, data=binned_data, asimov_values=1.0,
                                                                staterror=False, name=f"p_{kind}_{label[:3]}"))
            ratio = scan_b.t[inside] / scan_u.t[inside]
            lo, hi = scan_b.interval(0.68)
            u_lo, u_hi = row["unbinned 68%"]
            row[label] = {"68%": (lo, hi), "95%": scan_b.interval(0.95),
                          "edge difference 68%": max(abs(lo - u_lo), abs(hi - u_hi)),
                          "t ratio min": float(ratio.min()), "t ratio max": float(ratio.max())}
        out[kind] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mc", type=float, default=2e5)
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--grid", type=int, default=30)
    args = parser.parse_args()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    t0 = time.perf_counter()
    grid = np.round(np.linspace(0.1, 3.0, args.grid), 12)
    result = compare(OffShellToy(), int(args.mc), args.bins, grid)
    print(f"{int(args.mc):,} reference events, {args.bins} bins, {grid.size} grid points in [{grid[0]}, {grid[-1]}] "
          f"({time.perf_counter() - t0:.0f} s)")
    print("| data | observable | 68% CL | max edge difference to unbinned | t_binned/t_unbinned in the 95% CL |")
    print("|---|---|---|---|---|")
    for kind, row in result.items():
        lo, hi = row["unbinned 68%"]
        print(f"| {kind} | unbinned NSBI | [{lo:.4f}, {hi:.4f}] | - | - |")
        for label in ("nominal", "nuisance-aware"):
            r = row[label]
            print(f"| {kind} | {label} | [{r['68%'][0]:.4f}, {r['68%'][1]:.4f}] | {r['edge difference 68%']:.4f} | "
                  f"{r['t ratio min']:.4f} - {r['t ratio max']:.4f} |")


if __name__ == "__main__":
    main()
