"""``roonsbi demo``: NSBI analyses of the analytic off-shell toy, end to end.

Steps: simulate pseudo-data at mu = 1, take the exact per-event density ratios as
"network outputs", build the unbinned NSBI channel (with an efficiency-slope shape
systematic and a luminosity systematic), the parametrized-NSBI channel (per-mu'
histograms of the optimal observable from a reference sample) and a plain histogram
of one kinematic variable; fit with Minuit2, scan mu, compare with the exact
likelihood, and write the workspace, a plot and a summary to the output folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import _library

_library.load_library()
import ROOT  # noqa: E402

from .inference import chi2_threshold, crossing_interval, fit, profile_scan  # noqa: E402
from .model import build_model  # noqa: E402
from .parametrized import build_parametrized_model, parametrized_scan  # noqa: E402
from .templates import BinnedProcess, Quantiles, build_templates  # noqa: E402
from .toy import COEFFICIENTS, OffShellToy  # noqa: E402


def _step(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", flush=True)


OUTPUTS = ("summary.json", "nsbi_workspace.root", "scan_mu.png")


def _prepare(out: Path) -> None:
    """Create ``out``; reuse it only if it is empty or holds an earlier demo's outputs."""
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a folder")
        foreign = [p.name for p in out.iterdir() if p.name not in OUTPUTS]
        if foreign or (any(out.iterdir()) and not (out / "summary.json").exists()):
            raise FileExistsError(f"{out} holds files the demo did not write ({foreign}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)


def run(out: str | Path = "roonsbi-demo", quick: bool = False, seed: int = 1) -> dict:
    """Run the demo and return the summary (also written to ``out/summary.json``)."""
    t0 = time.perf_counter()
    out = Path(out)
    _prepare(out)
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)

    toy = OffShellToy(nu_s=60.0, nu_b=600.0)
    rng = np.random.default_rng(seed)
    mu_true = 1.0
    x = toy.generate(mu_true, rng)
    _step(f"simulated {len(x)} events of the off-shell toy at mu = {mu_true} (expected {toy.expected(mu_true):.1f})", t0)

    models = {
        "NSBI (no systematics)": build_model(toy.processes(x, systematics=False), name="nsbi_stat"),
        "NSBI (with systematics)": build_model(toy.processes(x, systematics=True), name="nsbi"),
    }
    _step("built the NSBI channels (RooNSBIPdf with exact ratios as network outputs)", t0)

    grid = np.round(np.linspace(0.05, 3.0, 16 if quick else 60), 10)
    scans, rows = {}, []
    for label, model in models.items():
        best = fit(model)
        scan = profile_scan(model, "mu", grid)
        scans[label] = scan.t
        rows.append((label, best.values["mu"], best.errors["mu"], scan.interval(0.6827), scan.interval(0.95)))
        _step(f"fitted and scanned {label}: mu = {best.values['mu']:.3f} +- {best.errors['mu']:.3f}", t0)

    # Binned analyses from a reference sample (templates): parametrized NSBI (the optimal
    # observable of each scan point) and a plain histogram of the feature x0.
    n_mc = 100_000 if quick else 400_000
    x_mc = toy.sample_ref(n_mc, np.random.default_rng(seed + 1000))
    mc = {f"r_{k}": v for k, v in toy.ratios(x_mc).items()}
    mc["weight"] = np.full(n_mc, 1.0 / n_mc)
    mc["x0"] = x_mc[:, 0]
    data = {f"r_{k}": v for k, v in toy.ratios(x).items()}
    data["x0"] = x[:, 0]
    procs = [BinnedProcess(k, y, COEFFICIENTS[k]) for k, y in toy.basis_yields().items()]
    for label, observable in (("parametrized NSBI (30 bins)", None), ("histogram of x0 (30 bins)", "x0")):
        templates = build_templates(mc, procs, grid, Quantiles(30), observable=observable, data=data, progress=False)
        binned = build_parametrized_model(templates, data="templates", staterror=False,
                                          name="pnsbi" if observable is None else "hist_x0")
        scan = parametrized_scan(binned, progress=False)
        scans[label] = scan.t
        rows.append((label, scan.best.values["mu"], scan.best.errors["mu"], scan.interval(0.6827),
                     scan.interval(0.95)))
        _step(f"scanned {label} ({n_mc} reference events for the templates)", t0)

    # The exact likelihood of the toy (no systematics), on the same grid and with the
    # same interval finding; its minimum from a fine grid.
    fine = np.linspace(grid[0], grid[-1], 3001)
    exact_fine = np.array([toy.exact_nll(x, None, m) for m in fine])
    i_best = int(np.argmin(exact_fine))
    t_exact = 2 * (np.array([toy.exact_nll(x, None, m) for m in grid]) - exact_fine[i_best])
    scans["exact likelihood"] = t_exact
    rows.insert(0, ("exact likelihood", fine[i_best], float("nan"),
                    crossing_interval(grid, t_exact, chi2_threshold(0.6827), fine[i_best]),
                    crossing_interval(grid, t_exact, chi2_threshold(0.95), fine[i_best])))

    ws_path = out / "nsbi_workspace.root"
    models["NSBI (with systematics)"].save(ws_path, overwrite=True)
    _step(f"wrote the workspace {ws_path}", t0)

    plot_path = out / "scan_mu.png"
    _plot(grid, scans, plot_path)
    _step(f"wrote the plot {plot_path}", t0)

    summary = {
        "events": int(len(x)),
        "mu_true": mu_true,
        "methods": [
            {"method": r[0], "mu_hat": float(r[1]), "error": float(r[2]),
             "interval68": [float(v) for v in r[3]], "interval95": [float(v) for v in r[4]]}
            for r in rows
        ],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print()
    print(f"{'method':<30} {'mu-hat':>8} {'68% CL interval':>20} {'95% CL interval':>20}")
    for r in rows:
        print(f"{r[0]:<30} {r[1]:8.3f} {'[%.3f, %.3f]' % r[3]:>20} {'[%.3f, %.3f]' % r[4]:>20}")
    _step(f"done; outputs in {out}/", t0)
    return summary


def _plot(grid: np.ndarray, scans: dict[str, np.ndarray], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    styles = {"exact likelihood": dict(color="black", lw=2.5, ls="-")}
    for label in sorted(scans, key=lambda k: k not in styles):  # the exact curve first, underneath
        ax.plot(grid, scans[label], label=label, **styles.get(label, dict(lw=1.5, ls="--", marker="o", ms=3)))
    for cl, name in ((0.6827, "68% CL"), (0.95, "95% CL")):
        thr = chi2_threshold(cl)
        ax.axhline(thr, color="grey", lw=0.8, ls=":")
        ax.text(grid[0], thr, name, ha="left", va="bottom", color="grey", fontsize=8)
    ax.set_xlabel(r"signal strength $\mu$")
    ax.set_ylabel(r"$t(\mu) = -2\,\ln\lambda(\mu)$")
    ax.set_ylim(0, 8)
    ax.set_title("Off-shell toy: profile-likelihood scan")
    ax.legend(frameon=True, framealpha=0.9, fontsize=9, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
