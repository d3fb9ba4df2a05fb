"""``roonsbi demo``: NSBI analyses of the analytic off-shell toy, end to end.

Steps: simulate pseudo-data at mu = 1, take the exact per-event density ratios as
"network outputs", build the unbinned NSBI channel (with an efficiency-slope shape
systematic ``eff`` and a luminosity systematic ``lumi``), the parametrized-NSBI channel
(per-mu' histograms of the optimal observable from a reference sample) and a plain histogram
of one kinematic variable; fit with Minuit2, scan mu, compare with the exact likelihood.
Then a binned control region (a HistFactory channel, built by ROOT in a subprocess, sharing
``eff`` and ``lumi`` with the NSBI channel) is combined with the unbinned NSBI channel; the
combination is fitted and scanned, with nuisance-parameter pulls, impacts (ranking), a 2-D
scan of (mu, alpha_lumi) and a data-vs-model plot of the binned channels; the binned channels
are also written as pyhf JSON (:mod:`roonsbi.pyhf_json`), and a Neyman construction with toys
(:func:`roonsbi.toys.neyman_construction`) gives the NSBI interval without asymptotics. With ``--networks``, the NSBI
channel without systematics is also built from ratios of a trained network
(:mod:`roonsbi.training`). Everything is written to the output folder (:data:`OUTPUTS`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..binned.templates import BinnedProcess, Quantiles, build_templates
from ..infer.fit import Fitter, fit
from ..infer.impacts import ImpactResult, impacts
from ..infer.scan import (
    Scan2DResult,
    chi2_threshold,
    crossing_interval,
    parametrized_scan,
    profile_scan,
    profile_scan_2d,
)
from ..infer.toys import NeymanResult, ToyGenerator, neyman_construction
from ..inputs.toy import COEFFICIENTS, OffShellToy
from ..io.pyhf_json import poi_relation, pyhf_profile_scan, to_pyhf, write_json
from ..library import load
from ..models.combined import channels_of, combine
from ..models.parametrized import build_parametrized_model
from ..models.unbinned import build_model
from ..models.workspace import read_workspace

ROOT = load()


def _step(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", flush=True)


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


def demo_toy() -> OffShellToy:
    """The demo's off-shell toy: 60 signal and 600 background events at mu = 1, efficiency
    slope 0.2 per unit alpha_eff, luminosity factor 1.05 per unit alpha_lumi."""
    return OffShellToy(nu_s=60.0, nu_b=600.0, eff_slope=0.2, lumi_kappa=1.05)


def _prepare(out: Path) -> None:
    """Create ``out``; reuse it only if it is empty or holds an earlier demo's outputs."""
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a folder")
        foreign = [p.name for p in out.iterdir() if p.name not in OUTPUTS]
        if foreign or (any(out.iterdir()) and not (out / "summary.json").exists()):
            raise FileExistsError(f"{out} holds files the demo did not write ({foreign}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------------------------
# The control region: a HistFactory channel of feature x0 in a background-dominated sample
# ---------------------------------------------------------------------------------------
CR_EDGES = np.linspace(-3.5, 0.0, 15)
CR_YIELDS = {"bkg_cr": 10000.0, "sig_cr": 50.0}  # expected events at mu = 1, alpha = 0
CR_XSEC = 0.01  # CR-only background normalisation uncertainty
CR_TILT = 0.02  # CR-only background shape uncertainty (linear tilt across the bins)

# Built in a fresh process, written to a file as hist2workspace would (PyROOT's teardown of
# HistFactory objects is not reliable; HistFactory keeps raw pointers to the histograms).
_HISTFACTORY = r"""
import json, os, sys, traceback
try:
    import ROOT
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    ROOT.TH1.AddDirectory(False)
    HF = ROOT.RooStats.HistFactory
    spec = json.load(open(sys.argv[1]))
    edges = spec["edges"]
    keep = []
    def hist(name, values):
        h = ROOT.TH1D(name, name, len(edges) - 1, edges[0], edges[-1])
        for i, v in enumerate(values):
            h.SetBinContent(i + 1, v)
        keep.append(h)
        return h
    meas = HF.Measurement("meas", "meas")
    meas.SetPOI(spec["poi"])
    meas.SetLumi(1.0)
    meas.AddConstantParam("Lumi")
    chan = HF.Channel(spec["channel"])
    chan.SetData(hist("data", spec["data"]))
    for name, s in spec["samples"].items():
        sample = HF.Sample(name)
        keep.append(sample)
        sample.SetHisto(hist(name, s["nominal"]))
        sample.SetNormalizeByTheory(False)
        if s.get("normfactor"):
            sample.AddNormFactor(s["normfactor"], 1.0, 0.0, 10.0)
        for np_name, (lo, hi) in s.get("overallsys", {}).items():
            sample.AddOverallSys(np_name, lo, hi)
        for np_name, (lo, hi) in s.get("histosys", {}).items():
            hs = HF.HistoSys()
            hs.SetName(np_name)
            hs.SetHistoLow(hist(name + "_" + np_name + "_lo", lo))
            hs.SetHistoHigh(hist(name + "_" + np_name + "_hi", hi))
            keep.append(hs)
            sample.AddHistoSys(hs)
        chan.AddSample(sample)
    meas.AddChannel(chan)
    ws = HF.HistoToWorkspaceFactoryFast(meas).MakeCombinedModel(meas)
    ok = bool(ws.writeToFile(sys.argv[2], True))
except Exception:
    traceback.print_exc()
    ok = False
sys.stdout.flush()
sys.stderr.flush()
os._exit(0 if ok else 1)
"""


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in np.ravel(z)])


def control_region_spec(toy: OffShellToy, mu_true: float, rng: np.random.Generator) -> dict[str, Any]:
    r"""Histograms of feature x0 in [-3.5, 0] (14 bins) of a background-dominated control region:
    the toy's background shape in x0 (10000 events over all x0, ~6200 in the region) and a signal
    contamination (50 events over all x0 at mu = 1, ~1 in the region; no interference) scaled by
    ``mu``; data drawn from the expectation at ``mu_true``.

    Systematics: ``lumi`` (yields times kappa^alpha: OverallSys (1/kappa, kappa)) and ``eff`` (the
    toy's efficiency slope e^{alpha k x0}: bin contents of the tilted Gaussian, split into an
    OverallSys and a shape-only HistoSys) shared with the NSBI channel, and CR-only ``cr_bkg_xsec``
    (1% OverallSys) and ``cr_model`` (a +-2% linear tilt across the bins, HistoSys) on the background.
    """
    k = toy.eff_slope

    def contents(nu: float, mean: float, sigma: float, t: float) -> np.ndarray:
        # nu * int_bin phi(x; m, s) e^{t x} dx = nu * e^{t m + t^2 s^2 / 2} * P_bin(N(m + t s^2, s))
        shifted = mean + t * sigma**2
        return nu * math.exp(t * mean + 0.5 * (t * sigma) ** 2) * np.diff(_normal_cdf((CR_EDGES - shifted) / sigma))

    shapes = {"bkg_cr": (toy.mean_b[0], toy.sigma_b[0]), "sig_cr": (toy.mean_s[0], toy.sigma_s[0])}
    samples, expected = {}, np.zeros(len(CR_EDGES) - 1)
    for name, (mean, sigma) in shapes.items():
        nom, lo, hi = (contents(CR_YIELDS[name], mean, sigma, t) for t in (0.0, -k, k))
        total = nom.sum()
        sample = {
            "nominal": nom.tolist(),
            "normfactor": "mu" if name == "sig_cr" else None,
            "overallsys": {"lumi": [1.0 / toy.lumi_kappa, toy.lumi_kappa], "eff": [lo.sum() / total, hi.sum() / total]},
            "histosys": {"eff": [(lo * total / lo.sum()).tolist(), (hi * total / hi.sum()).tolist()]},
        }
        if name == "bkg_cr":
            tilt = CR_TILT * np.linspace(-1.0, 1.0, nom.size)
            down, up = nom * (1 - tilt), nom * (1 + tilt)
            sample["histosys"]["cr_model"] = [(down * total / down.sum()).tolist(), (up * total / up.sum()).tolist()]
            sample["overallsys"]["cr_bkg_xsec"] = [1.0 - CR_XSEC, 1.0 + CR_XSEC]
        samples[name] = sample
        expected += nom * (mu_true if name == "sig_cr" else 1.0)
    return {"poi": "mu", "channel": "cr", "edges": CR_EDGES.tolist(), "samples": samples,
            "data": rng.poisson(expected).astype(float).tolist()}


def histfactory_workspace(spec: dict[str, Any], path: Path) -> Any:
    """Build the HistFactory workspace ``combined`` of ``spec`` in a subprocess, write it to
    ``path`` and return it."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run([sys.executable, "-c", _HISTFACTORY, str(spec_path), str(path)], capture_output=True,
                              text=True, timeout=600)
    if proc.returncode != 0 or not path.exists():
        raise RuntimeError(f"HistFactory failed to build the control region:\n{proc.stderr[-3000:]}")
    ws, _ = read_workspace(path, "combined")
    return ws


def histfactory_bin_yields(ws: Any, channel: str, values: dict[str, float]) -> dict[str, np.ndarray]:
    """Expected yields per bin and sample of a HistFactory channel at ``values`` (parameters
    not in the workspace are ignored): sum_i coef_i * func_i of the channel's RooRealSumPdf
    at each bin centre, times the bin width."""
    for name, value in values.items():
        var = ws.var(name)
        if var:
            var.setVal(value)
    pdf = ws.pdf(f"{channel}_model")
    obs = ws.var(f"obs_x_{channel}")
    if not pdf or not obs:
        raise KeyError(f"no HistFactory channel '{channel}' (pdf '{channel}_model', observable 'obs_x_{channel}')")
    binning = obs.getBinning()
    out = {}
    for func, coef in zip(pdf.funcList(), pdf.coefList()):
        name = func.GetName().replace(f"_{channel}_shapes", "")
        values_b = []
        for b in range(binning.numBins()):
            obs.setVal(binning.binCenter(b))
            values_b.append(func.getVal() * coef.getVal() * binning.binWidth(b))
        out[name] = np.array(values_b)
    return out


# ---------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------
def run(out: str | Path = "roonsbi-demo", quick: bool = False, seed: int = 1, networks: bool = False) -> dict:
    """Run the demo and return the summary (also written to ``out/summary.json``). With ``networks``,
    also the NSBI channel without systematics with ratios from a trained network
    (:mod:`roonsbi.training`, needs ``roonsbi[train]``; the ONNX file goes to ``out/networks``)."""
    t0 = time.perf_counter()
    out = Path(out)
    _prepare(out)
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)

    # systematics larger than the toy's defaults, so that the control region matters
    toy = demo_toy()
    rng = np.random.default_rng(seed)
    mu_true = 1.0
    x = toy.generate(mu_true, rng)
    _step(f"simulated {len(x)} events of the off-shell toy at mu = {mu_true} (expected {toy.expected(mu_true):.1f})", t0)

    models = {
        "NSBI (no systematics)": build_model(toy.processes(x, systematics=False), name="nsbi_stat"),
        NSBI: build_model(toy.processes(x, systematics=True), name="nsbi"),
    }
    _step("built the NSBI channels (RooNSBIPdf with exact ratios as network outputs)", t0)
    if networks:
        from ..inputs.training import toy_network_model

        models[NETWORKS], closure, trained = toy_network_model(toy, x, out / "networks", seed=seed + 4000,
                                                                overwrite=True, step=lambda m: _step(m, t0))
        _step(f"built the NSBI channel with the learned ratios (onnxruntime); closure on an independent "
              f"reference sample:\n{closure.table()}", t0)

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
    pnsbi = None
    for label, observable in (("parametrized NSBI (30 bins)", None), ("histogram of x0 (30 bins)", "x0")):
        templates = build_templates(mc, procs, grid, Quantiles(30), observable=observable, data=data, progress=False)
        binned = build_parametrized_model(templates, data="templates", staterror=False,
                                          name="pnsbi" if observable is None else "hist_x0")
        scan = parametrized_scan(binned, progress=False)
        scans[label] = scan.t
        rows.append((label, scan.best.values["mu"], scan.best.errors["mu"], scan.interval(0.6827),
                     scan.interval(0.95)))
        if observable is None:
            pnsbi = (templates, binned, scan)
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

    # -- control region and combination ---------------------------------------------------
    cr_spec = control_region_spec(toy, mu_true, np.random.default_rng(seed + 2000))
    cr_ws = histfactory_workspace(cr_spec, out / "control_region.root")
    _step(f"built the control region with HistFactory ({len(CR_EDGES) - 1} bins of x0, "
          f"{sum(cr_spec['data']):.0f} events; shares alpha_eff and alpha_lumi)", t0)

    # Binned parts of the analysis as one pyhf workspace (roonsbi.pyhf_json): the HistFactory
    # control region and the parametrized-NSBI channel at the grid point mu' nearest its best
    # fit, with its coefficients f_J(mu) as fixed normfactors (relation in summary.json).
    pnsbi_model = pnsbi[1]
    mu_prime = float(pnsbi_model.grid[np.argmin(np.abs(pnsbi_model.grid - pnsbi[2].best_value))])
    pnsbi_model.set_mu_prime(mu_prime)
    binned_parts = combine([pnsbi_model, cr_ws], name="binned")
    pyhf_spec = to_pyhf(binned_parts, mu_prime=mu_prime)
    write_json(out / "binned_pyhf.json", pyhf_spec, overwrite=True)
    pyhf_relation = poi_relation(binned_parts, mu_prime=mu_prime)
    # the exported JSON refitted in pyhf alone (the documented recipe) against RooFit's scan
    pyhf_grid = grid[(grid >= 0.2) & (grid <= 2.0)][:: 1 if quick else 3]
    pyhf_scan = pyhf_profile_scan(pyhf_spec, pyhf_relation, pyhf_grid)
    roofit_binned = profile_scan(binned_parts, "mu", pyhf_grid)
    pyhf_check = {"mu": pyhf_grid.tolist(), "t_pyhf": pyhf_scan.t.tolist(), "t_roofit": roofit_binned.t.tolist(),
                  "mu_hat_pyhf": pyhf_scan.best_value, "mu_hat_roofit": roofit_binned.best.values["mu"],
                  "max_abs_t_difference": float(np.max(np.abs(pyhf_scan.t - roofit_binned.t)))}
    _step(f"wrote the binned channels as pyhf JSON (parametrized NSBI at mu' = {mu_prime:g}, control region); "
          f"pyhf's scan of it equals RooFit's: mu-hat {pyhf_check['mu_hat_pyhf']:.4f} vs "
          f"{pyhf_check['mu_hat_roofit']:.4f}, max |t difference| {pyhf_check['max_abs_t_difference']:.1e}", t0)

    combined = combine([models[NSBI], cr_ws], name="nsbi_cr")
    combined_fitter = Fitter(combined)
    combined_scan = profile_scan(combined, "mu", grid, fitter=combined_fitter)
    combined_best = combined_scan.best
    scans[COMBINED] = combined_scan.t
    rows.append((COMBINED, combined_best.values["mu"], combined_best.errors["mu"], combined_scan.interval(0.6827),
                 combined_scan.interval(0.95)))
    _step(f"fitted and scanned {COMBINED}: mu = {combined_best.values['mu']:.3f} +- "
          f"{combined_best.errors['mu']:.3f}", t0)

    # -- expected (Asimov, mu = 1, alpha = 0) intervals ------------------------------------------
    # NSBI: a reference pool x_k ~ p_ref with weights nu p(x_k|theta)/p_ref(x_k)/n (roonsbi.toys);
    # control region: HistFactory's asimovData.
    n_pool = 20_000 if quick else 50_000
    x_pool = toy.sample_ref(n_pool, np.random.default_rng(seed + 3000))
    pool = {}
    for proc in toy.processes(x_pool, systematics=True):
        pool[f"r_{proc.name}"] = np.asarray(proc.ratio)
        for np_name, sys_ in proc.shapesys.items():
            pool[f"g_{proc.name}_{np_name}_lo"], pool[f"g_{proc.name}_{np_name}_hi"] = sys_.lo, sys_.hi
    nominal = {"mu": mu_true, "alpha_eff": 0.0, "alpha_lumi": 0.0}
    generator = ToyGenerator(models[NSBI], pool)
    asimov = generator.asimov(nominal)
    models[NSBI].set_parameters(nominal)
    grid_asimov = np.round(np.linspace(0.05, 3.0, 16 if quick else 30), 10)
    expected = {NSBI: profile_scan(models[NSBI], "mu", grid_asimov, data=asimov.data)}
    nsbi_channel = channels_of(models[NSBI])[0]
    nsbi_channel.data = asimov.data
    combined_asimov = combine([nsbi_channel, *channels_of(cr_ws, data="asimovData")], name="nsbi_cr_asimov")
    expected[COMBINED] = profile_scan(combined_asimov, "mu", grid_asimov)
    expected_rows = [(f"{label} [Asimov]", s.best.values["mu"], s.best.errors["mu"], s.interval(0.6827),
                      s.interval(0.95)) for label, s in expected.items()]
    _step(f"expected intervals (Asimov at mu = {mu_true}: {n_pool} weighted pool events; HistFactory asimovData)", t0)

    # -- Neyman construction with toys (as the ATLAS analysis does) for NSBI with systematics ----
    # toys resampled from the pool with the nuisance parameters at their conditional fit; the
    # 68% and 95% critical values from the same toys
    neyman_grid = np.round(np.linspace(0.1, 1.7, 9 if quick else 17), 10)
    n_toys = 40 if quick else 200
    neyman = {0.6827: neyman_construction(models[NSBI], generator, "mu", neyman_grid, n_toys=n_toys,
                                          rng=np.random.default_rng(seed + 4000))}
    neyman[0.95] = dataclasses.replace(neyman[0.6827], cl=0.95,
                                       critical=np.array([np.quantile(t, 0.95) for t in neyman[0.6827].toys]))
    nsbi_row = next(r for r in rows if r[0] == NSBI)
    rows.append((NEYMAN, nsbi_row[1], float("nan"), neyman[0.6827].interval(), neyman[0.95].interval()))
    _step(f"Neyman construction: {n_toys} toys at each of {len(neyman_grid)} values of mu", t0)

    ranking = {NSBI: impacts(models[NSBI]), COMBINED: impacts(combined, fitter=combined_fitter)}
    _step("pulls and impacts of the nuisance parameters (NSBI alone and combined)", t0)

    n2 = 13 if quick else 31
    mu_2d, lumi_2d = np.linspace(0.05, 2.0, n2), np.linspace(-2.5, 2.5, n2)
    scans_2d = {NSBI: profile_scan_2d(models[NSBI], ("mu", "alpha_lumi"), mu_2d, lumi_2d),
                COMBINED: profile_scan_2d(combined, ("mu", "alpha_lumi"), mu_2d, lumi_2d, fitter=combined_fitter)}
    _step(f"2-D profile scans of (mu, alpha_lumi) on {n2}x{n2} points", t0)

    # -- outputs ------------------------------------------------------------------------------
    models[NSBI].save(out / "nsbi_workspace.root", overwrite=True)
    combined.save(out / "combined_workspace.root", overwrite=True)
    _step(f"wrote the workspaces {out / 'nsbi_workspace.root'}, {out / 'combined_workspace.root'} and "
          f"{out / 'control_region.root'}", t0)

    _plot(grid, scans, out / "scan_mu.png", {k: (v.values, v.t) for k, v in expected.items()})
    _plot_pulls(ranking, out / "pulls.png")
    _plot_impacts(ranking[COMBINED], out / "impacts.png")
    _plot_scan_2d(scans_2d, out / "scan2d_mu_lumi.png")
    cr_yields = {"pre-fit": histfactory_bin_yields(cr_ws, "cr", {"mu": 1.0, **dict.fromkeys(
        [p.GetName() for p in cr_ws.obj("ModelConfig").GetNuisanceParameters()], 0.0)}),
        "post-fit": histfactory_bin_yields(cr_ws, "cr", combined_best.values)}
    _plot_data_vs_model(cr_spec, cr_yields, pnsbi, out / "data_vs_model.png")
    _plot_neyman(neyman, out / "neyman_mu.png")
    _step(f"wrote the plots {', '.join(n for n in OUTPUTS if n.endswith('.png'))}", t0)

    summary = {
        "events": int(len(x)),
        "mu_true": mu_true,
        "toy": {"nu_s": toy.nu_s, "nu_b": toy.nu_b, "eff_slope": toy.eff_slope, "lumi_kappa": toy.lumi_kappa},
        "methods": [
            {"method": r[0], "mu_hat": float(r[1]), "error": float(r[2]),
             "interval68": [float(v) for v in r[3]], "interval95": [float(v) for v in r[4]]}
            for r in rows
        ],
        "expected": [
            {"method": r[0], "mu_hat": float(r[1]), "error": float(r[2]),
             "interval68": [float(v) for v in r[3]], "interval95": [float(v) for v in r[4]]}
            for r in expected_rows
        ],
        "control_region": {"edges": cr_spec["edges"], "data": cr_spec["data"],
                           **{k: {s: v.tolist() for s, v in y.items()} for k, y in cr_yields.items()}},
        "pyhf": {"file": "binned_pyhf.json", "mu_prime": mu_prime, "poi_relation": pyhf_relation,
                 "scan_check": pyhf_check},
        "combined_fit": {"values": combined_best.values, "errors": combined_best.errors,
                         "status": combined_best.status},
        "impacts": {label: r.to_dict() for label, r in ranking.items()},
        "scan2d": {label: _scan2d_summary(s) for label, s in scans_2d.items()},
        "neyman": {"model": NSBI, "toys_per_point": n_toys, "mu": neyman_grid.tolist(),
                   "t_observed": neyman[0.6827].t_observed.tolist(),
                   **{f"critical{round(100 * cl)}": r.critical.tolist() for cl, r in neyman.items()},
                   "critical68_error": neyman[0.6827].critical_error.tolist()},
    }
    if networks:
        summary["networks"] = {**trained.to_dict(), "closure": closure.to_dict()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print()
    print(f"{'method':<36} {'mu-hat':>8} {'68% CL interval':>20} {'95% CL interval':>20}")
    for r in rows + expected_rows:
        print(f"{r[0]:<36} {r[1]:8.3f} {'[%.3f, %.3f]' % r[3]:>20} {'[%.3f, %.3f]' % r[4]:>20}")
    print()
    print(f"{'nuisance parameter':<20} {'pull (' + COMBINED + ')':>30} {'impact on mu (post-fit)':>26}")
    pulls = {p.name: p for p in ranking[COMBINED].pulls}
    for i in ranking[COMBINED].impacts:
        p = pulls[i.name]
        print(f"{i.name:<20} {'%+.2f +- %.2f' % (p.pull, p.pull_error):>30} "
              f"{'%+.3f / %+.3f' % (i.postfit_up, i.postfit_down):>26}")
    _step(f"done; outputs in {out}/", t0)
    return summary


def _scan2d_summary(scan: Scan2DResult) -> dict[str, Any]:
    x, y, _ = scan.grid_minimum()
    return {"params": list(scan.params), "x": scan.x.tolist(), "y": scan.y.tolist(), "t": scan.t.tolist(),
            "best_fit": [scan.best.values[p] for p in scan.params], "grid_minimum": [x, y],
            "levels": {str(cl): v for cl, v in scan.levels().items()}}


# ---------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot(grid: np.ndarray, scans: dict[str, np.ndarray], path: Path,
          expected: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    colors = {"exact likelihood": "black", "NSBI (no systematics)": "tab:blue", NSBI: "tab:orange",
              "parametrized NSBI (30 bins)": "tab:green", "histogram of x0 (30 bins)": "tab:purple",
              COMBINED: "tab:red", NETWORKS: "tab:cyan"}
    for label in sorted(scans, key=lambda k: k != "exact likelihood"):  # the exact curve first, underneath
        style = dict(lw=2.5, ls="-") if label == "exact likelihood" else dict(lw=1.5, ls="--", marker="o", ms=3)
        ax.plot(grid, scans[label], label=label, color=colors.get(label), **style)
    for label, (values, t) in (expected or {}).items():
        ax.plot(values, t, label=f"{label}, expected (Asimov, $\\mu$ = 1)", color=colors.get(label), lw=1.2, ls=":")
    for cl, name in ((0.6827, "68% CL"), (0.95, "95% CL")):
        thr = chi2_threshold(cl)
        ax.axhline(thr, color="grey", lw=0.8, ls=":")
        ax.text(grid[-1], thr, name, ha="right", va="bottom", color="grey", fontsize=8)
    ax.set_xlabel(r"signal strength $\mu$")
    ax.set_ylabel(r"$t(\mu) = -2\,\ln\lambda(\mu)$")
    ax.set_ylim(0, 8)
    ax.set_xlim(0, grid[-1])
    ax.set_title("Off-shell toy: profile-likelihood scans on the same pseudo-data")
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_neyman(results: dict[float, NeymanResult], path: Path) -> None:
    """Observed t(mu) against the toy critical values (the confidence belt in t) and the
    asymptotic thresholds."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    first = next(iter(results.values()))
    ax.plot(first.values, first.t_observed, color="black", marker="o", ms=3, lw=1.5, label=r"observed $t(\mu)$")
    for (cl, r), color in zip(results.items(), ("tab:blue", "tab:orange")):
        name = f"{100 * cl:.0f}% CL"
        if cl == first.cl:
            ax.fill_between(r.values, r.critical - r.critical_error, r.critical + r.critical_error, color=color,
                            alpha=0.25, lw=0)
        ax.plot(r.values, r.critical, color=color, lw=1.5, label=f"{name} critical value from {len(r.toys[0])} toys")
        ax.axhline(chi2_threshold(cl), color=color, lw=1, ls=":", label=f"{name} asymptotic ($\\chi^2_1$)")
        lo, hi = r.interval()
        ax.axvspan(lo, hi, color=color, alpha=0.07)
    ax.set_xlabel(r"signal strength $\mu$")
    ax.set_ylabel(r"$t(\mu) = -2\,\ln\lambda(\mu)$")
    ax.set_ylim(0, 8)
    ax.set_xlim(first.values[0], first.values[-1])
    ax.set_title(f"Neyman construction, {NSBI}: interval where observed t < critical value", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _np_label(name: str) -> str:
    return name[len("alpha_"):] if name.startswith("alpha_") else name


def _plot_pulls(results: dict[str, ImpactResult], path: Path) -> None:
    plt = _pyplot()
    names = []
    for r in results.values():
        names += [p.name for p in r.pulls if p.name not in names]
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.55 * len(names)))
    y = np.arange(len(names))[::-1]
    ax.axvspan(-2, 2, color="gold", alpha=0.5, lw=0)
    ax.axvspan(-1, 1, color="limegreen", alpha=0.5, lw=0)
    ax.axvline(0, color="black", lw=0.8, ls="--")
    offsets = np.linspace(0.15, -0.15, len(results))
    for (label, r), dy, style in zip(results.items(), offsets, (dict(color="tab:blue", marker="o"),
                                                                 dict(color="black", marker="s"))):
        pulls = {p.name: p for p in r.pulls}
        idx = [i for i, n in enumerate(names) if n in pulls]
        ax.errorbar([pulls[names[i]].pull for i in idx], y[idx] + dy,
                    xerr=[pulls[names[i]].pull_error for i in idx], ls="none", capsize=3, label=label, **style)
    ax.set_yticks(y)
    ax.set_yticklabels([_np_label(n) for n in names])
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_xlim(-2.5, 2.5)
    ax.set_xlabel(r"pull $(\hat\theta - \theta_0)/\Delta\theta$  (error bar: post-fit $\hat\sigma/\Delta\theta$)")
    ax.set_title("Nuisance-parameter pulls")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_impacts(result: ImpactResult, path: Path) -> None:
    plt = _pyplot()
    ranked = result.impacts  # largest first
    fig, ax = plt.subplots(figsize=(6.5, 1.6 + 0.6 * len(ranked)))
    y = np.arange(len(ranked))[::-1]
    h = 0.7
    ax.barh(y, [i.prefit_up for i in ranked], height=h, fill=False, edgecolor="tab:blue", lw=1.2,
            label=r"pre-fit impact, $\theta = \hat\theta + \Delta\theta$")
    ax.barh(y, [i.prefit_down for i in ranked], height=h, fill=False, edgecolor="tab:cyan", lw=1.2,
            label=r"pre-fit impact, $\theta = \hat\theta - \Delta\theta$")
    ax.barh(y, [i.postfit_up for i in ranked], height=h * 0.6, color="tab:blue", alpha=0.8,
            label=r"post-fit impact, $\theta = \hat\theta + \hat\sigma_\theta$")
    ax.barh(y, [i.postfit_down for i in ranked], height=h * 0.6, color="tab:cyan", alpha=0.8,
            label=r"post-fit impact, $\theta = \hat\theta - \hat\sigma_\theta$")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([_np_label(i.name) for i in ranked])
    ax.set_ylim(-0.7, len(ranked) + 0.9)
    lim = 1.15 * max(max(abs(v) for v in (i.prefit_up, i.prefit_down, i.postfit_up, i.postfit_down)
                         if np.isfinite(v)) for i in ranked)
    ax.set_xlim(-lim, lim)
    ax.set_xlabel(r"$\Delta\hat\mu$")
    ax.set_title(rf"Impacts on $\mu$ ({COMBINED}: $\hat\mu$ = {result.best.values[result.poi]:.3f} "
                 rf"$\pm$ {result.best.errors[result.poi]:.3f})", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", ncol=2, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_scan_2d(scans: dict[str, Scan2DResult], path: Path) -> None:
    plt = _pyplot()
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(6.5, 5.0))
    handles = []
    for (label, scan), color in zip(scans.items(), ("tab:blue", "tab:red")):
        levels = [scan.level(0.6827), scan.level(0.95)]
        ax.contour(scan.x, scan.y, scan.t.T, levels=levels, colors=color, linestyles=["-", "--"])
        bx, by = (scan.best.values[p] for p in scan.params)
        ax.plot(bx, by, marker="*", ms=11, color=color, ls="none")
        handles.append(Line2D([], [], color=color, marker="*", label=f"{label}: best fit, 68% CL (solid), "
                                                                      "95% CL (dashed)"))
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.axhline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(r"signal strength $\mu$")
    ax.set_ylabel(r"luminosity nuisance parameter $\alpha_\mathrm{lumi}$")
    ax.set_title(r"2-D profile likelihood: $t(\mu, \alpha_\mathrm{lumi})$ contours ($\chi^2_2$: 2.30, 5.99)",
                 fontsize=10)
    ax.legend(handles=handles, fontsize=8, loc="upper right", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_data_vs_model(cr_spec: dict[str, Any], cr_yields: dict[str, dict[str, np.ndarray]], pnsbi: tuple,
                        path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 5.8), sharex="col", gridspec_kw=dict(height_ratios=(3, 1)))
    # control region
    edges = np.asarray(cr_spec["edges"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    data = np.asarray(cr_spec["data"])
    post, pre = cr_yields["post-fit"], cr_yields["pre-fit"]
    bkg, sig = post["bkg_cr"], post["sig_cr"]
    ax, rax = axes[0, 0], axes[1, 0]
    ax.stairs(bkg, edges, fill=True, color="lightsteelblue", label="background (post-fit)")
    ax.stairs(bkg + sig, edges, baseline=bkg, fill=True, color="tab:red", alpha=0.7,
              label=rf"signal $\times\,\hat\mu$ (post-fit; {100 * sig.sum() / (bkg + sig).sum():.2f}% of the events)")
    ax.stairs(sum(pre.values()), edges, baseline=None, color="black", ls="--", lw=1.2,
              label=r"pre-fit ($\mu = 1$, $\alpha = 0$)")
    ax.errorbar(centres, data, yerr=np.sqrt(data), fmt="ko", ms=4, label="data")
    ax.set_ylabel("events / bin")
    ax.set_title("Control region (HistFactory), combined fit", fontsize=10)
    ax.legend(fontsize=8)
    total = bkg + sig
    rax.errorbar(centres, data / total, yerr=np.sqrt(data) / total, fmt="ko", ms=4)
    rax.stairs(sum(pre.values()) / total, edges, baseline=None, color="black", ls="--", lw=1.2)
    rax.axhline(1.0, color="grey", lw=0.8)
    rax.set_ylim(0.7, 1.3)
    rax.set_ylabel("data / post-fit")
    rax.set_xlabel(r"feature $x_0$ (control region)")
    # parametrized NSBI at the best-fit mu'
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
    b_edges = np.arange(counts.size + 1)
    b_centres = b_edges[:-1] + 0.5
    ax, rax = axes[0, 1], axes[1, 1]
    ax.stairs(fitted, b_edges, fill=True, color="lightsteelblue", label=rf"model at $\hat\mu$ = {scan.best.values['mu']:.2f}")
    ax.stairs(at_one, b_edges, baseline=None, color="black", ls="--", lw=1.2, label=r"model at $\mu = 1$")
    ax.errorbar(b_centres, counts, yerr=np.sqrt(counts), fmt="ko", ms=4, label="data")
    ax.set_ylabel("events / bin")
    ax.set_title(rf"Parametrized NSBI channel at best-fit $\mu'$ = {mu_prime:.2f}", fontsize=10)
    ax.legend(fontsize=8)
    rax.errorbar(b_centres, counts / fitted, yerr=np.sqrt(counts) / fitted, fmt="ko", ms=4)
    rax.stairs(at_one / fitted, b_edges, baseline=None, color="black", ls="--", lw=1.2)
    rax.axhline(1.0, color="grey", lw=0.8)
    rax.set_ylim(0.0, 2.0)
    rax.set_ylabel("data / fit")
    rax.set_xlabel(r"bin of the optimal observable $O_{\mu'}$ (quantile bins)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
