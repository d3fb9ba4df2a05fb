"""``roonsbi demo``: NSBI analyses of the analytic off-shell toy, end to end (orchestration).

Steps: simulate pseudo-data at mu = 1, take the exact per-event density ratios as
"network outputs", build the unbinned NSBI channel (with an efficiency-slope shape
systematic ``eff`` and a luminosity systematic ``lumi``), the parametrized-NSBI channel
(per-mu' histograms of the optimal observable from a reference sample) and a plain histogram
of one kinematic variable; fit with Minuit2, scan mu, compare with the exact likelihood.
Then a binned control region (:mod:`roonsbi.demo.control_region`: a HistFactory channel, built by
ROOT in a subprocess, sharing ``eff`` and ``lumi`` with the NSBI channel) is combined with the
unbinned NSBI channel; the combination is fitted and scanned, with nuisance-parameter pulls,
impacts (ranking), a 2-D scan of (mu, alpha_lumi) and a data-vs-model plot of the binned
channels (:mod:`roonsbi.plot`); the binned channels are also written as pyhf JSON
(:mod:`roonsbi.io.pyhf`), and a Neyman construction with toys
(:func:`roonsbi.infer.toys.neyman_construction`) gives the NSBI interval without asymptotics. With
``--networks``, the NSBI channel without systematics is also built from ratios of a trained network
(:mod:`roonsbi.demo.networks`). Everything is written to the output folder (:data:`OUTPUTS`),
each file atomically (:mod:`roonsbi.atomic`); the outputs of an earlier run there are replaced only
with ``overwrite`` (``roonsbi demo --overwrite``), checked before the demo starts.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import OVERWRITE_HINT, temporary_target, write_text
from ..binned import BinnedProcess, Quantiles, build_templates
from ..infer.fit import Fitter, fit
from ..infer.impacts import ImpactResult, impacts
from ..infer.scan import (
    Scan2DResult,
    ScanResult,
    chi2_threshold,
    crossing_interval,
    parametrized_scan,
    profile_scan,
    profile_scan_2d,
)
from ..infer.toys import NeymanResult, ToyGenerator, neyman_construction
from ..inputs.toy import COEFFICIENTS, OffShellToy
from ..io.pyhf_json import poi_relation, pyhf_expression_scan, to_pyhf, write_json
from ..library import load
from ..models.combined import channels_of, combine
from ..models.parametrized import build_parametrized_model
from ..models.unbinned import build_model
from ..naming import WEIGHT_NAME
from ..plot import (
    ChannelYields,
    channel_yields,
    plot_data_vs_model,
    plot_neyman,
    plot_pulls,
    plot_ranking,
    plot_scan,
    plot_scan_2d,
)
from .control_region import (
    CHANNEL,
    CR_EDGES,
    control_region_data,
    control_region_spec,
    histfactory_workspace,
)

__all__ = ["COMBINED", "NETWORKS", "NEYMAN", "NSBI", "OUTPUTS", "demo_toy", "run"]

ROOT = load()

OUTPUTS = (
    "summary.json",
    "nsbi_workspace.root",
    "control_region.root",
    "binned_pyhf.json",
    "combined_workspace.root",
    "scan_mu.png",
    "pulls.png",
    "impacts.png",
    "data_vs_model.png",
    "scan2d_mu_lumi.png",
    "neyman_mu.png",
    "networks",
)

NSBI = "NSBI (with systematics)"
COMBINED = "NSBI + control region"
NEYMAN = "NSBI (with systematics), Neyman"
NETWORKS = "NSBI (trained networks)"
PNSBI = "parametrized NSBI (30 bins)"
HIST_X0 = "histogram of x0 (30 bins)"
EXACT = "exact likelihood"

#: colours of the curves of the 1-D scan plot
COLORS = {EXACT: "black", "NSBI (no systematics)": "tab:blue", NSBI: "tab:orange", PNSBI: "tab:green",
          HIST_X0: "tab:purple", COMBINED: "tab:red", NETWORKS: "tab:cyan"}

#: one row of the result table: label, mu-hat, its error, 68% and 95% CL intervals
Row = tuple[str, float, float, tuple[float, float], tuple[float, float]]


def demo_toy() -> OffShellToy:
    """The demo's off-shell toy: 60 signal and 600 background events at mu = 1, efficiency
    slope 0.2 per unit alpha_eff, luminosity factor 1.05 per unit alpha_lumi."""
    return OffShellToy(nu_s=60.0, nu_b=600.0, eff_slope=0.2, lumi_kappa=1.05)


def _prepare(out: Path, overwrite: bool) -> None:
    """Create ``out``; reuse it only if it is empty or holds files named as the demo's outputs
    (:data:`OUTPUTS`, or temporary files of them left by a killed run), and those only with ``overwrite``."""
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a folder; choose another --out")
        names = sorted(p.name for p in out.iterdir())
        foreign = [n for n in names if n not in OUTPUTS and temporary_target(n) not in OUTPUTS]
        if foreign:
            raise FileExistsError(f"{out} holds files the demo did not write ({', '.join(foreign)}); "
                                  "choose another --out")
        earlier = [n for n in OUTPUTS if n in names]
        if earlier and not overwrite:
            raise FileExistsError(f"{out} holds the outputs of an earlier demo ({', '.join(earlier)}); pass "
                                  f"{OVERWRITE_HINT} to replace them, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)


@dataclass
class _Demo:
    """The state the steps of :func:`run` share: settings, the pseudo-data, models and results."""

    out: Path
    quick: bool
    seed: int
    overwrite: bool
    toy: OffShellToy
    x: np.ndarray
    mu_true: float
    grid: np.ndarray
    t0: float = field(default_factory=time.perf_counter)
    models: dict[str, Any] = field(default_factory=dict)
    scans: dict[str, np.ndarray] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    expected_rows: list[Row] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  #: summary entries of the steps

    def step(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:6.1f} s] {msg}", flush=True)


def _row(label: str, scan: ScanResult) -> Row:
    return (label, scan.best.values["mu"], scan.best.errors["mu"], scan.interval(0.6827), scan.interval(0.95))


# ---------------------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------------------
def _unbinned_channels(d: _Demo, networks: bool) -> None:
    """The unbinned NSBI channels (exact ratios; with ``networks`` also learned ratios), fitted and scanned."""
    d.models["NSBI (no systematics)"] = build_model(d.toy.processes(d.x, systematics=False), name="nsbi_stat")
    # the channel with systematics keeps a reference pool x_k ~ p_ref: its toys and Asimov data
    x_pool = d.toy.sample_ref(_pool_size(d), np.random.default_rng(d.seed + 3000))
    d.models[NSBI] = build_model(d.toy.processes(d.x, systematics=True), name="nsbi",
                                 pool=d.toy.processes(x_pool, systematics=True))
    d.step("built the NSBI channels (RooNSBIPdf with exact ratios as network outputs, columns in an event store)")
    if networks:
        from .networks import toy_network_model

        d.models[NETWORKS], closure, trained = toy_network_model(d.toy, d.x, d.out / "networks", seed=d.seed + 4000,
                                                                  overwrite=d.overwrite, step=d.step)
        d.step(f"built the NSBI channel with the learned ratios (onnxruntime); closure on an independent "
               f"reference sample:\n{closure.table()}")
        d.extras["networks"] = {**trained.to_dict(), "closure": closure.to_dict()}
    for label, model in d.models.items():
        best = fit(model)
        scan = profile_scan(model, "mu", d.grid)
        d.scans[label] = scan.t
        d.rows.append((label, best.values["mu"], best.errors["mu"], scan.interval(0.6827), scan.interval(0.95)))
        d.step(f"fitted and scanned {label}: mu = {best.values['mu']:.3f} +- {best.errors['mu']:.3f}")


def _binned_channels(d: _Demo) -> tuple[Any, Any, Any]:
    """Parametrized NSBI (the optimal observable of each scan point) and a plain histogram of the
    feature x0, from templates of a reference sample; returns (templates, model, scan) of the former."""
    n_mc = 100_000 if d.quick else 400_000
    x_mc = d.toy.sample_ref(n_mc, np.random.default_rng(d.seed + 1000))
    mc = d.toy.ratio_columns(x_mc)
    mc[WEIGHT_NAME] = np.full(n_mc, 1.0 / n_mc)
    mc["x0"] = x_mc[:, 0]
    data = d.toy.ratio_columns(d.x)
    data["x0"] = d.x[:, 0]
    procs = [BinnedProcess(k, y, COEFFICIENTS[k]) for k, y in d.toy.basis_yields().items()]
    pnsbi = None
    for label, observable in ((PNSBI, None), (HIST_X0, "x0")):
        templates = build_templates(mc, procs, d.grid, Quantiles(30), observable=observable, data=data,
                                    progress=False)
        binned = build_parametrized_model(templates, data="templates", staterror=False,
                                          name="pnsbi" if observable is None else "hist_x0")
        scan = parametrized_scan(binned, progress=False)
        d.scans[label] = scan.t
        d.rows.append((label, scan.best.values["mu"], scan.best.errors["mu"], scan.interval(0.6827),
                       scan.interval(0.95)))
        if observable is None:
            pnsbi = (templates, binned, scan)
        d.step(f"scanned {label} ({n_mc} reference events for the templates)")
    assert pnsbi is not None
    return pnsbi


def _exact_likelihood(d: _Demo) -> None:
    """The exact likelihood of the toy (no systematics), on the same grid and with the same
    interval finding; its minimum from a fine grid. Its row comes first."""
    grid = d.grid
    fine = np.linspace(grid[0], grid[-1], 3001)
    exact_fine = np.array([d.toy.exact_nll(d.x, None, m) for m in fine])
    i_best = int(np.argmin(exact_fine))
    t_exact = 2 * (np.array([d.toy.exact_nll(d.x, None, m) for m in grid]) - exact_fine[i_best])
    d.scans[EXACT] = t_exact
    d.rows.insert(0, (EXACT, fine[i_best], float("nan"),
                      crossing_interval(grid, t_exact, chi2_threshold(0.6827), fine[i_best]),
                      crossing_interval(grid, t_exact, chi2_threshold(0.95), fine[i_best])))


def _control_region(d: _Demo) -> tuple[dict[str, Any], Any]:
    """The control region's spec and HistFactory workspace (written to ``control_region.root``)."""
    cr_spec = control_region_spec(d.toy, d.mu_true, np.random.default_rng(d.seed + 2000))
    cr_ws = histfactory_workspace(cr_spec, d.out / "control_region.root", overwrite=d.overwrite)
    d.step(f"built the control region with HistFactory ({len(CR_EDGES) - 1} bins of x0, "
           f"{sum(control_region_data(cr_spec)[1]):.0f} events; shares alpha_eff and alpha_lumi)")
    return cr_spec, cr_ws


def _pyhf_export(d: _Demo, pnsbi: tuple[Any, Any, Any], cr_ws: Any) -> None:
    """The binned parts as one pyhf workspace: the control region and the parametrized-NSBI channel at
    the grid point mu' nearest its best fit, its coefficients f_J(mu) as ``roonsbi_expression``
    modifiers that pyhf evaluates (route (a): ``load_pyhf_model``; plain ``pyhf fit`` refuses the
    file rather than fit another model); pyhf's own scan of it against RooFit's."""
    pnsbi_model = pnsbi[1]
    mu_prime = float(pnsbi_model.grid[np.argmin(np.abs(pnsbi_model.grid - pnsbi[2].best_value))])
    pnsbi_model.set_mu_prime(mu_prime)
    binned_parts = combine([pnsbi_model, cr_ws], name="binned")
    pyhf_spec = to_pyhf(binned_parts, mu_prime=mu_prime, nonlinear="expression")
    write_json(d.out / "binned_pyhf.json", pyhf_spec, overwrite=d.overwrite)
    relation = poi_relation(binned_parts, mu_prime=mu_prime)
    pyhf_grid = d.grid[(d.grid >= 0.2) & (d.grid <= 2.0)][:: 1 if d.quick else 3]
    pyhf_scan = pyhf_expression_scan(pyhf_spec, pyhf_grid)
    roofit_binned = profile_scan(binned_parts, "mu", pyhf_grid)
    check = {"mu": pyhf_grid.tolist(), "t_pyhf": pyhf_scan.t.tolist(), "t_roofit": roofit_binned.t.tolist(),
             "mu_hat_pyhf": pyhf_scan.best_value, "mu_hat_roofit": roofit_binned.best.values["mu"],
             "max_abs_t_difference": float(np.max(np.abs(pyhf_scan.t - roofit_binned.t)))}
    d.extras["pyhf"] = {"file": "binned_pyhf.json", "mu_prime": mu_prime, "poi_relation": relation,
                        "loader": "roonsbi.io.pyhf_json.load_pyhf_model", "scan_check": check}
    d.step(f"wrote the binned channels as pyhf JSON (parametrized NSBI at mu' = {mu_prime:g} with f_J(mu) as "
           f"pyhf expression modifiers, control region); pyhf's scan of it (load_pyhf_model) equals RooFit's: "
           f"mu-hat {check['mu_hat_pyhf']:.4f} vs {check['mu_hat_roofit']:.4f}, max |t difference| "
           f"{check['max_abs_t_difference']:.1e}")


def _combination(d: _Demo, cr_ws: Any) -> tuple[Any, Fitter, Any]:
    """The NSBI channel with the control region: fitted and scanned; returns (model, fitter, best fit)."""
    combined = combine([d.models[NSBI], cr_ws], name="nsbi_cr")
    fitter = Fitter(combined)
    scan = profile_scan(combined, "mu", d.grid, fitter=fitter)
    d.scans[COMBINED] = scan.t
    d.rows.append(_row(COMBINED, scan))
    d.step(f"fitted and scanned {COMBINED}: mu = {scan.best.values['mu']:.3f} +- {scan.best.errors['mu']:.3f}")
    return combined, fitter, scan.best


def _expected(d: _Demo, cr_ws: Any) -> tuple[dict[str, ScanResult], ToyGenerator]:
    """Expected (Asimov, mu = 1, alpha = 0) intervals. NSBI: a reference pool x_k ~ p_ref with weights
    nu p(x_k|theta)/p_ref(x_k)/n (roonsbi.infer.toys); control region: HistFactory's asimovData."""
    n_pool = _pool_size(d)
    nominal = {"mu": d.mu_true, "alpha_eff": 0.0, "alpha_lumi": 0.0}
    nsbi = d.models[NSBI]
    generator = ToyGenerator(nsbi)  # the channel's own pool
    asimov = generator.asimov(nominal)
    nsbi.set_parameters(nominal)
    grid_asimov = np.round(np.linspace(0.05, 3.0, 16 if d.quick else 30), 10)
    expected = {NSBI: profile_scan(nsbi, "mu", grid_asimov, data=asimov.data)}
    nsbi_channel = channels_of(nsbi)[0]
    nsbi_channel.data = asimov.data
    combined_asimov = combine([nsbi_channel, *channels_of(cr_ws, data="asimovData")], name="nsbi_cr_asimov")
    expected[COMBINED] = profile_scan(combined_asimov, "mu", grid_asimov)
    d.expected_rows = [_row(f"{label} [Asimov]", s) for label, s in expected.items()]
    d.step(f"expected intervals (Asimov at mu = {d.mu_true}: {n_pool} weighted pool events; HistFactory asimovData)")
    return expected, generator


def _pool_size(d: _Demo) -> int:
    """Events of the NSBI channel's reference pool."""
    return 20_000 if d.quick else 50_000


def _neyman(d: _Demo, generator: ToyGenerator) -> dict[float, NeymanResult]:
    """Neyman construction with toys (as the ATLAS analysis does) for NSBI with systematics: toys
    resampled from the pool with the nuisance parameters at their conditional fit; the 68% and 95%
    critical values from the same toys."""
    neyman_grid = np.round(np.linspace(0.1, 1.7, 9 if d.quick else 17), 10)
    n_toys = 40 if d.quick else 200
    neyman = {0.6827: neyman_construction(d.models[NSBI], generator, "mu", neyman_grid, n_toys=n_toys,
                                          rng=np.random.default_rng(d.seed + 4000))}
    neyman[0.95] = dataclasses.replace(neyman[0.6827], cl=0.95,
                                       critical=np.array([np.quantile(t, 0.95) for t in neyman[0.6827].toys]))
    nsbi_row = next(r for r in d.rows if r[0] == NSBI)
    d.rows.append((NEYMAN, nsbi_row[1], float("nan"), neyman[0.6827].interval(), neyman[0.95].interval()))
    d.step(f"Neyman construction: {n_toys} toys at each of {len(neyman_grid)} values of mu")
    d.extras["neyman"] = {"model": NSBI, "toys_per_point": n_toys, "mu": neyman_grid.tolist(),
                          "t_observed": neyman[0.6827].t_observed.tolist(),
                          **{f"critical{round(100 * cl)}": r.critical.tolist() for cl, r in neyman.items()},
                          "critical68_error": neyman[0.6827].critical_error.tolist()}
    return neyman


def _rankings_and_2d(d: _Demo, combined: Any, fitter: Fitter) -> tuple[dict[str, ImpactResult],
                                                                        dict[str, Scan2DResult]]:
    """Pulls and impacts (NSBI alone and combined) and the 2-D profile scans of (mu, alpha_lumi)."""
    ranking = {NSBI: impacts(d.models[NSBI]), COMBINED: impacts(combined, fitter=fitter)}
    d.step("pulls and impacts of the nuisance parameters (NSBI alone and combined)")
    n2 = 13 if d.quick else 31
    mu_2d, lumi_2d = np.linspace(0.05, 2.0, n2), np.linspace(-2.5, 2.5, n2)
    scans_2d = {NSBI: profile_scan_2d(d.models[NSBI], ("mu", "alpha_lumi"), mu_2d, lumi_2d),
                COMBINED: profile_scan_2d(combined, ("mu", "alpha_lumi"), mu_2d, lumi_2d, fitter=fitter)}
    d.step(f"2-D profile scans of (mu, alpha_lumi) on {n2}x{n2} points")
    d.extras["impacts"] = {label: r.to_dict() for label, r in ranking.items()}
    d.extras["scan2d"] = {label: _scan2d_summary(s) for label, s in scans_2d.items()}
    return ranking, scans_2d


def _binned_channel_yields(pnsbi: tuple[Any, Any, Any]) -> ChannelYields:
    """The parametrized-NSBI channel at the grid point nearest its best fit: data, model at the best
    fit ("post-fit") and at mu = 1 ("pre-fit"); the model's parameters are restored."""
    templates, model, scan = pnsbi
    k = int(np.argmin(np.abs(templates.grid - scan.best_value)))
    mu_prime = float(templates.grid[k])
    start = model.parameters()
    model.set_mu_prime(mu_prime)
    model.set_parameters(scan.best.values)
    fitted = model.bin_yields()
    model.set_parameters({"mu": 1.0})
    at_one = model.bin_yields()
    model.set_parameters(start)
    counts = np.asarray(templates.data[k])
    return ChannelYields(rf"parametrized NSBI at $\mu'$ = {mu_prime:.2f}", np.arange(counts.size + 1.0), counts,
                         prefit={r"model at $\mu$ = 1": at_one},
                         postfit={rf"model at $\hat\mu$ = {scan.best.values['mu']:.2f}": fitted},
                         xlabel=r"bin of the optimal observable $O_{\mu'}$ (quantile bins)")


def _control_region_yields(combined: Any, best: Any) -> ChannelYields:
    """The control region's data and its yields per sample pre-fit (mu = 1, alpha = 0) and post-fit."""
    return channel_yields(combined, CHANNEL, best, prefit={"mu": 1.0}, xlabel=r"feature $x_0$ (control region)")


def _outputs(d: _Demo, combined: Any, expected: dict[str, ScanResult], ranking: dict[str, ImpactResult],
             scans_2d: dict[str, Scan2DResult], neyman: dict[float, NeymanResult],
             cr: tuple[dict[str, Any], Any, Any], pnsbi: tuple[Any, Any, Any]) -> ChannelYields:
    """The workspaces and the plots; returns the control region's yields (``cr``: its spec, its
    workspace and the combined best fit)."""
    d.models[NSBI].save(d.out / "nsbi_workspace.root", overwrite=d.overwrite)
    combined.save(d.out / "combined_workspace.root", overwrite=d.overwrite)
    d.step(f"wrote the workspaces {d.out / 'nsbi_workspace.root'}, {d.out / 'combined_workspace.root'} and "
           f"{d.out / 'control_region.root'}")
    curves: dict[str, Any] = {label: (d.grid, d.scans[label]) for label in sorted(d.scans, key=lambda k: k != EXACT)}
    styles = {label: {"color": COLORS.get(label), **({"lw": 2.5, "ls": "-"} if label == EXACT else
                                                      {"lw": 1.5, "ls": "--", "marker": "o", "ms": 3})}
              for label in curves}
    for label, scan in expected.items():
        curves[f"{label}, expected (Asimov, $\\mu$ = 1)"] = scan
        styles[f"{label}, expected (Asimov, $\\mu$ = 1)"] = {"color": COLORS.get(label), "lw": 1.2, "ls": ":"}
    plot_scan(curves, d.out / "scan_mu.png", styles=styles, figsize=(10.5, 4.8), legend_outside=True,
              xlabel=r"signal strength $\mu$", title="Off-shell toy: profile-likelihood scans on the same pseudo-data",
              overwrite=d.overwrite)
    plot_pulls(ranking, d.out / "pulls.png", overwrite=d.overwrite)
    plot_ranking(ranking[COMBINED], d.out / "impacts.png", title=f"{COMBINED}: impacts on $\\mu$",
                 overwrite=d.overwrite)
    plot_scan_2d(scans_2d, d.out / "scan2d_mu_lumi.png", xlabel=r"signal strength $\mu$",
                 ylabel=r"$\alpha_\mathrm{lumi}$", reference=(1.0, 0.0), overwrite=d.overwrite)
    control = _control_region_yields(combined, cr[2])
    plot_data_vs_model([control, _binned_channel_yields(pnsbi)], d.out / "data_vs_model.png",
                       ratio_range=[(0.7, 1.3), (0.0, 2.0)], overwrite=d.overwrite)
    plot_neyman(neyman, d.out / "neyman_mu.png", title=f"Neyman construction, {NSBI}", overwrite=d.overwrite)
    d.step(f"wrote the plots {', '.join(n for n in OUTPUTS if n.endswith('.png'))}")
    return control


def _row_summary(r: Row) -> dict[str, Any]:
    return {"method": r[0], "mu_hat": float(r[1]), "error": float(r[2]),
            "interval68": [float(v) for v in r[3]], "interval95": [float(v) for v in r[4]]}


def _summary(d: _Demo, control: ChannelYields, best: Any) -> dict[str, Any]:
    """The summary written to ``summary.json``."""
    toy = d.toy
    summary = {
        "events": int(len(d.x)),
        "mu_true": d.mu_true,
        "toy": {"nu_s": toy.nu_s, "nu_b": toy.nu_b, "eff_slope": toy.eff_slope, "lumi_kappa": toy.lumi_kappa},
        "methods": [_row_summary(r) for r in d.rows],
        "expected": [_row_summary(r) for r in d.expected_rows],
        "control_region": {"edges": control.edges.tolist(), "data": control.data.tolist(),
                           "pre-fit": {s: v.tolist() for s, v in control.prefit.items()},
                           "post-fit": {s: v.tolist() for s, v in control.postfit.items()}},
        "pyhf": d.extras["pyhf"],
        "combined_fit": {"values": best.values, "errors": best.errors, "status": best.status},
        "impacts": d.extras["impacts"],
        "scan2d": d.extras["scan2d"],
        "neyman": d.extras["neyman"],
    }
    if "networks" in d.extras:
        summary["networks"] = d.extras["networks"]
    return summary


def _interval(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _print_tables(d: _Demo, ranking: dict[str, ImpactResult]) -> None:
    """The result table (observed and expected rows) and the pulls and impacts of the combination."""
    print()
    print(f"{'method':<36} {'mu-hat':>8} {'68% CL interval':>20} {'95% CL interval':>20}")
    for r in d.rows + d.expected_rows:
        print(f"{r[0]:<36} {r[1]:8.3f} {_interval(r[3]):>20} {_interval(r[4]):>20}")
    print()
    print(f"{'nuisance parameter':<20} {'pull (' + COMBINED + ')':>30} {'impact on mu (post-fit)':>26}")
    pulls = {p.name: p for p in ranking[COMBINED].pulls}
    for i in ranking[COMBINED].impacts:
        p = pulls[i.name]
        pull, impact = f"{p.pull:+.2f} +- {p.pull_error:.2f}", f"{i.postfit_up:+.3f} / {i.postfit_down:+.3f}"
        print(f"{i.name:<20} {pull:>30} {impact:>26}")


def _scan2d_summary(scan: Scan2DResult) -> dict[str, Any]:
    x, y, _ = scan.grid_minimum()
    return {"params": list(scan.params), "x": scan.x.tolist(), "y": scan.y.tolist(), "t": scan.t.tolist(),
            "best_fit": [scan.best.values[p] for p in scan.params], "grid_minimum": [x, y],
            "levels": {str(cl): v for cl, v in scan.levels().items()}}


# ---------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------
def run(out: str | Path = "roonsbi-demo", quick: bool = False, seed: int = 1, networks: bool = False,
        overwrite: bool = False) -> dict:
    """Run the demo and return the summary (also written to ``out/summary.json``). With ``networks``,
    also the NSBI channel without systematics with ratios from a trained network
    (:mod:`roonsbi.demo.networks`, needs ``roonsbi[train]``; the ONNX file goes to ``out/networks``).

    Raises:
        FileExistsError: before any work, if ``out`` is a file, holds files the demo does not
            write, or holds the outputs of an earlier run and not ``overwrite``.
    """
    t0 = time.perf_counter()
    out = Path(out)
    _prepare(out, overwrite)
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    toy = demo_toy()  # systematics larger than the toy's defaults, so that the control region matters
    mu_true = 1.0
    x = toy.generate(mu_true, np.random.default_rng(seed))
    d = _Demo(out, quick, seed, overwrite, toy, x, mu_true, np.round(np.linspace(0.05, 3.0, 16 if quick else 60), 10),
              t0)
    d.step(f"simulated {len(x)} events of the off-shell toy at mu = {mu_true} (expected {toy.expected(mu_true):.1f})")

    _unbinned_channels(d, networks)
    pnsbi = _binned_channels(d)
    _exact_likelihood(d)
    cr_spec, cr_ws = _control_region(d)
    _pyhf_export(d, pnsbi, cr_ws)
    combined, fitter, best = _combination(d, cr_ws)
    expected, generator = _expected(d, cr_ws)
    neyman = _neyman(d, generator)
    ranking, scans_2d = _rankings_and_2d(d, combined, fitter)
    control = _outputs(d, combined, expected, ranking, scans_2d, neyman, (cr_spec, cr_ws, best), pnsbi)

    summary = _summary(d, control, best)
    write_text(out / "summary.json", json.dumps(summary, indent=2), overwrite)
    _print_tables(d, ranking)
    d.step(f"done; outputs in {out}/")
    return summary
