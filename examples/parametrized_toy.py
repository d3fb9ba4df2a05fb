"""Parametrized NSBI on the analytic off-shell toy: 68% intervals against exact and unbinned NSBI.

For expected data (Asimov at mu = 1) and for one set of pseudo-data at mu = 1 (exact density
ratios as "network outputs"), the profile-likelihood scan t(mu) of

* the exact likelihood,
* unbinned NSBI (RooNSBIPdf),
* parametrized NSBI: per-mu' histograms of the optimal observable O_mu' with B equal-yield
  bins (RooNSBIParamHistPdf), for several B,
* a plain histogram of the kinematic variable x_0 with as many bins (the same machinery with
  a fixed observable),

all through :func:`roonsbi.infer.scan.parametrized_scan`, and prints the table of 68% CL
intervals; with --plot also the t(mu) curves. The last rows repeat unbinned and parametrized
NSBI with the efficiency (histosys / per-event shape + normsys) and luminosity systematics and,
for parametrized NSBI, HistFactory staterror gammas.

Usage:  python examples/parametrized_toy.py [--mc 1000000] [--bins 10,25,50,100] [--plot scan.png]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import roonsbi.library

ROOT = roonsbi.library.load()
from roonsbi.binned import BinnedProcess, Quantiles, build_templates
from roonsbi.infer.scan import chi2_threshold, crossing_interval, parametrized_scan
from roonsbi.inputs.toy import COEFFICIENTS, OffShellToy
from roonsbi.models.parametrized import build_parametrized_model
from roonsbi.models.unbinned import build_model


def exact_asimov_t(toy: OffShellToy, grid: np.ndarray, n: int, seed: int) -> np.ndarray:
    x = toy.sample_ref(n, np.random.default_rng(seed))
    ref = toy.p_ref(x)
    l1 = toy.intensity(x, 1.0)
    return np.array([2 * np.mean((lm - l1 - l1 * np.log(lm / l1)) / ref) for lm in (toy.intensity(x, m) for m in grid)])


def exact_data_t(toy: OffShellToy, data: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, float]:
    fine = np.linspace(0.0, grid[-1] + 1.0, 20001)
    nll_fine = np.array([toy.exact_nll(data, None, m) for m in fine])
    best = fine[int(np.argmin(nll_fine))]
    return 2 * (np.array([toy.exact_nll(data, None, m) for m in grid]) - nll_fine.min()), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mc", type=float, default=1e6, help="reference/MC events for the templates")
    parser.add_argument("--bins", default="10,25,50,100")
    parser.add_argument("--seed", type=int, default=1, help="seed of the pseudo-data")
    parser.add_argument("--plot", help="write the t(mu) curves to this PNG")
    args = parser.parse_args()
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    t0 = time.perf_counter()

    toy = OffShellToy()
    grid = np.round(np.linspace(0.1, 3.0, 30), 12)
    thr = chi2_threshold(0.6827)
    bins = [int(b) for b in args.bins.split(",")]

    # reference/MC sample for the templates (with the per-event shape columns of "eff")
    x = toy.sample_ref(int(args.mc), np.random.default_rng(11))
    mc = toy.template_columns(x)
    chunks = [{k: v[i:i + 250_000] for k, v in mc.items()} for i in range(0, len(x), 250_000)]
    stat_only = [BinnedProcess(n, y, COEFFICIENTS[n]) for n, y in toy.basis_yields().items()]
    with_syst = [
        BinnedProcess(n, y, COEFFICIENTS[n], {"eff": p.normsys["eff"], "lumi": p.normsys["lumi"]}, {"eff": 4})
        for (n, y), p in zip(toy.basis_yields().items(), toy.processes(x[:10]))
    ]

    data_x = toy.generate(1.0, np.random.default_rng(args.seed))
    data = toy.ratio_columns(data_x)
    data["x0"] = data_x[:, 0]

    # unbinned Asimov: ratios normalised on the sample so that mu-hat = 1 exactly
    xa = toy.sample_ref(50_000, np.random.default_rng(3))

    def asimov_processes(systematics: bool):
        procs = toy.processes(xa, systematics=systematics)
        w = np.zeros(len(xa))
        for p in procs:
            p.ratio = p.ratio / np.mean(p.ratio)
            if p.name == "SBI":
                w = p.nominal_yield * p.ratio / len(xa)
        return procs, w

    rows: dict[str, dict[str, tuple[float, float]]] = {"Asimov (mu = 1)": {}, f"pseudo-data (seed {args.seed})": {}}
    curves: dict[str, dict[str, np.ndarray]] = {k: {} for k in rows}
    asimov, observed = list(rows)

    t_exact = exact_asimov_t(toy, grid, 4_000_000, 7)
    rows[asimov]["exact"] = crossing_interval(grid, t_exact, thr, 1.0)
    curves[asimov]["exact"] = t_exact
    t_exact_obs, best = exact_data_t(toy, data_x, grid)
    rows[observed]["exact"] = crossing_interval(grid, t_exact_obs, thr, best)
    curves[observed]["exact"] = t_exact_obs

    for syst in (False, True):
        label = "unbinned NSBI" + (" + syst" if syst else "")
        procs, w = asimov_processes(syst)
        scan = parametrized_scan(build_model(procs, weights=w, name="ua"), "mu", grid)
        rows[asimov][label], curves[asimov][label] = scan.interval(), scan.t
        scan = parametrized_scan(build_model(toy.processes(data_x, systematics=syst), name="ud"), "mu", grid)
        rows[observed][label], curves[observed][label] = scan.interval(), scan.t
    print(f"[{time.perf_counter() - t0:6.1f} s] exact and unbinned scans done", flush=True)

    configs = [(f"pNSBI {b} bins", b, None, stat_only, False) for b in bins]
    configs += [(f"hist x0 {max(bins)} bins", max(bins), "x0", stat_only, False)]
    configs += [(f"pNSBI {max(bins)} bins + syst + staterror", max(bins), None, with_syst, True)]
    for label, b, observable, procs, staterror in configs:
        t = build_templates(chunks, procs, grid, Quantiles(b), observable=observable, data=data)
        for kind, d in ((asimov, "asimov"), (observed, "templates")):
            model = build_parametrized_model(t, data=d, staterror=staterror, name=f"p{b}{observable or ''}{kind[:2]}")
            scan = parametrized_scan(model)
            rows[kind][label], curves[kind][label] = scan.interval(), scan.t
        print(f"[{time.perf_counter() - t0:6.1f} s] {label} done", flush=True)

    for kind, table in rows.items():
        print(f"\n68% CL intervals of mu, {kind}; {int(args.mc):,} MC events for the templates, grid of "
              f"{grid.size} mu' points in [{grid[0]}, {grid[-1]}]")
        ex = table["exact"]
        print(f"{'method':<40} {'68% CL interval':>20} {'|lo - exact|':>13} {'|hi - exact|':>13}")
        for label, (lo, hi) in table.items():
            print(f"{label:<40} {f'[{lo:.4f}, {hi:.4f}]':>20} {abs(lo - ex[0]):13.4f} {abs(hi - ex[1]):13.4f}")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
        for ax, (kind, cs) in zip(axes, curves.items()):
            for label, t in cs.items():
                style = {"color": "black", "lw": 2.5} if label == "exact" else {"lw": 1.3, "ls": "--"}
                ax.plot(grid, t, label=label, **style)
            ax.axhline(thr, color="grey", lw=0.8, ls=":")
            ax.set_ylim(0, 6)
            ax.set_xlabel(r"$\mu$")
            ax.set_ylabel(r"$t(\mu)$")
            ax.set_title(kind)
            ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
