"""NSBI likelihood: native RooFit build vs roonsbi (RooFit path, fast path) vs numpy.

The same weighted toy at several sizes: the off-shell basis (SBI, S, B) with exact
ratios on reference-sampled events with Asimov weights at mu = 1, and ``n_np`` random
per-event shape systematics per process, g(x, +-1) = exp(+-s z - s^2/2) with z ~ N(0, 1)
per event, so E[g] = 1 (interpolation code 5, or ``--code 4``: the additive 6th-order
polynomial/linear code, stored as float32 values instead of logarithms, with s = 0.01 so
that g stays positive for 100 additive terms at alpha = 1.5).

Each measurement runs in its own process (peak memory is per process) and prints one
JSON line; the driver prints the table and the ratios:

* ``native``: the formula from RooFit classes (RooAddition of RooProducts of
  PiecewiseInterpolation over the dataset columns, wrapped as a self-normalised
  extended pdf), fitted with RooFit's NLL ("cpu" backend) and Minuit2's numerical gradient;
* ``roofit``: RooNSBIPdf through RooFit's NLL (numerical gradient);
* ``fast``: RooNSBINLL on the float32 EventStore (analytic gradient, ``--threads``, default 2);
* ``numpy``: a numpy implementation of the value and the analytic gradient (float64);
* ``bandwidth``: one threaded read of the float32 store (EventStore::readAll), the one-pass bound.

The fast path is timed with every alpha at 0 (alpha_np0 varied by 0.01; code 4 then reads
only the alpha_np0 columns for the value), at 0.5, random in (-1, 1), at 1.5 and at each value of ``--alphas``;
each time is the minimum and the mean over 5 calls. With code 5 the same passes are timed again with float
code 5 (``RooNSBINLL::setFloatCode5``; with the fit, a second fit), with the NLL and gradient shift it makes.
``--repeat k`` runs every measurement k times in fresh processes and prints the minimum and the spread of the
times and of their ratios to the one-pass bound measured in the same process.

Usage:  python benchmarks/bench_nsbi.py [--sizes 1e5x50,1e6x100] [--native-fit] [--code 4|5] [--repeat 3]
                                      [--threads 2] [--no-fit] [--alphas 0.2]
        python benchmarks/bench_nsbi.py --code 4 --one fast:1000000:100:0   (one measurement, no fit)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np

SIGMA = 0.05  # size of the random shape systematics (code 5)
SIGMA_ADDITIVE = 0.01  # code 4: 100 additive 5% shifts at alpha = 1.5 would make g negative for many events
TOLERANCE = 1e-5
_KEEP: list = []  # HistFactory objects must outlive the measurement (freed at os._exit)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


# -- the toy -----------------------------------------------------------------------
def toy_columns(n: int, n_np: int, seed: int = 1, sigma: float = SIGMA):
    """Yields, ratios (float32), weights (float32) and a generator of log shape columns."""
    from roonsbi.inputs.toy import COEFFICIENTS, OffShellToy

    toy = OffShellToy(nu_s=60.0, nu_b=600.0)
    rng = np.random.default_rng(seed)
    x = toy.sample_ref(n, rng)
    ratios = {f"r_{k}": v.astype(np.float32) for k, v in toy.ratios(x).items()}
    weights = (toy.intensity(x, 1.0) / (n * toy.p_ref(x))).astype(np.float32)
    yields = toy.basis_yields()

    def shape_logs():
        for proc in COEFFICIENTS:
            for m in range(n_np):
                z = rng.standard_normal(n).astype(np.float32)
                shift = np.float32(-0.5 * sigma**2)
                yield proc, m, (np.float32(-sigma) * z + shift), (np.float32(sigma) * z + shift)

    return toy, yields, ratios, weights, shape_logs


def structure(yields, n_np: int, with_data=False, columns=None, weights=None, code: int = 5):
    """The roonsbi model (no normsys, shapes with interpolation ``code``); columns only name the variables."""
    from roonsbi.inputs.toy import COEFFICIENTS
    from roonsbi.models.unbinned import build_model
    from roonsbi.spec import Process, ShapeSys

    one = np.ones(1)
    procs = []
    for proc, coef in COEFFICIENTS.items():
        get = (lambda k: columns[k]) if columns else (lambda k: one)
        shapes = {f"np{m}": ShapeSys(get(f"g_{proc}_np{m}_lo"), get(f"g_{proc}_np{m}_hi"), code) for m in range(n_np)}
        procs.append(Process(proc, yields[proc], get(f"r_{proc}"), coef, shapesys=shapes))
    # column form: the fast NLL reads the benchmark's own EventStore (a store-form model reads its own)
    return build_model(procs, weights=weights, with_data=with_data, name="bench", form="columns")


def binned_channel(model, ws_keep: list):
    """A HistFactory control region (10 bins; signal scaled by mu, both samples with the normsys
    'np0' shared with the NSBI channel) imported into the model's workspace: its extended
    Poisson NLL (no constraint terms: the NSBI model already constrains alpha_np0)."""
    import ROOT

    HF = ROOT.RooStats.HistFactory
    meas = HF.Measurement("meas", "meas")
    meas.SetPOI("mu")
    meas.SetLumi(1.0)
    meas.AddConstantParam("Lumi")
    chan = HF.Channel("cr")
    hists = [ROOT.TH1D(h, "", 10, 0, 1) for h in ("hs", "hb", "hd")]
    for i in range(10):
        hists[0].SetBinContent(i + 1, 5 + i)
        hists[1].SetBinContent(i + 1, 100 - 5 * i)
        hists[2].SetBinContent(i + 1, 105 - 4 * i)
    chan.SetData(hists[2])
    sig, bkg = HF.Sample("sig"), HF.Sample("bkg")
    sig.SetHisto(hists[0])
    sig.AddNormFactor("mu", 1, 0, 10)
    sig.AddOverallSys("np0", 0.95, 1.05)
    bkg.SetHisto(hists[1])
    bkg.AddOverallSys("np0", 0.97, 1.03)
    chan.AddSample(sig)
    chan.AddSample(bkg)
    meas.AddChannel(chan)
    hf_ws = HF.HistoToWorkspaceFactoryFast(meas).MakeCombinedModel(meas)
    ws = model.workspace
    ws.Import(hf_ws.pdf("cr_model"), ROOT.RooFit.RecycleConflictNodes(True), ROOT.RooFit.Silence(True))
    data = hf_ws.data("obsData").reduce(ROOT.RooFit.SelectVars(ROOT.RooArgSet(hf_ws.var("obs_x_cr"))))
    ws_keep += [meas, chan, sig, bkg, hists, hf_ws, data]
    return ws.pdf("cr_model").createNLL(data, ROOT.RooFit.Extended(True))


def _timed(reps: int, call) -> tuple[float, float]:
    """Minimum and mean time of ``call(k)`` for k = 0..reps-1."""
    times = []
    for k in range(reps):
        t = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - t)
    return min(times), sum(times) / reps


def run_fast(n: int, n_np: int, do_fit: bool, code: int = 5, threads: int = 2, alphas: tuple[float, ...] = ()) -> dict:
    import ROOT

    from roonsbi.infer.fit import Fitter
    from roonsbi.models.fast import fast_nll

    out = {"method": "fast", "events": n, "nps": n_np, "code": code, "threads": threads,
           "load_start": os.getloadavg()[0]}
    _, yields, ratios, weights, shape_logs = toy_columns(n, n_np, sigma=_sigma(code))
    store = ROOT.std.make_shared["RooNSBI::EventStore"](n)
    for k, v in ratios.items():
        store.addColumn(k, v)
    store.addColumn("weight", weights)
    del ratios, weights
    for proc, m, ll, lh in shape_logs():
        if code == 5:  # multiplicative: logarithms
            store.addColumn(f"log:g_{proc}_np{m}_lo", ll)
            store.addColumn(f"log:g_{proc}_np{m}_hi", lh)
        else:  # additive: the values g(x, +-1) themselves
            store.addColumn(f"g_{proc}_np{m}_lo", np.exp(ll))
            store.addColumn(f"g_{proc}_np{m}_hi", np.exp(lh))
    model = structure(yields, n_np, code=code)
    fnll = fast_nll(model, store=store, threads=threads)
    nll = fnll.nll
    params = nll.gradientParameters()
    grad = np.zeros(params.size())
    alpha = model.parameter("alpha_np0")
    alphas_all = [model.parameter(f"alpha_np{m}") for m in range(n_np)]
    out["store_gb"] = store.bytes() / 1e9
    reps = 5

    out["bandwidth_min_s"], out["bandwidth_s"] = _timed(reps, lambda k: store.readAll(threads))

    def value(k):
        alpha.setVal(0.01 * (k + 1))
        nll.getVal()

    finite = []

    def value_and_gradient(a0):
        def call(k):
            alpha.setVal(a0 - 0.01 * (k + 1))
            finite.append(math.isfinite(nll.getVal()))
            nll.gradient(grad)
        return call

    nll.setGradientWithValue(False)
    nll.getVal()  # first call: parameter bookkeeping, not timed
    out["nll_min_s"], out["nll_s"] = _timed(reps, value)
    nll.setGradientWithValue(True)
    out["nll_grad_min_s"], out["nll_grad_s"] = _timed(reps, value_and_gradient(0.0))
    # every alpha inside |alpha| < 1: 0.5, then random in (-1, 1)
    for a in alphas_all:
        a.setVal(0.5)
    nll.setGradientWithValue(False)
    out["nll_half_min_s"], out["nll_half_s"] = _timed(reps, lambda k: (alpha.setVal(0.5 + 0.01 * (k + 1)),
                                                                         nll.getVal()))
    nll.setGradientWithValue(True)
    out["nll_grad_half_min_s"], out["nll_grad_half_s"] = _timed(reps, value_and_gradient(0.5))
    def random_alphas():  # the same random point for the double and the float passes
        rng = np.random.default_rng(7)
        for a in alphas_all:
            a.setVal(rng.uniform(-0.95, 0.95))

    random_alphas()
    out["nll_grad_random_min_s"], out["nll_grad_random_s"] = _timed(reps, value_and_gradient(0.0))
    # every alpha outside |alpha| < 1: code 5 is exponential (a multiply-add on the stored logs), code 4 linear
    for a in alphas_all:
        a.setVal(1.5)
    out["nll_grad_outer_min_s"], out["nll_grad_outer_s"] = _timed(reps, value_and_gradient(1.5))
    for value in alphas:  # --alphas: every alpha at one value
        for a in alphas_all:
            a.setVal(value)
        key = _alpha_key(value)
        out[f"{key}_min_s"], out[f"{key}_s"] = _timed(reps, value_and_gradient(value))
    if code == 5:  # the same passes with float code 5 (setFloatCode5), and its NLL/gradient shift, this process
        random_alphas()
        exact_value = nll.getVal()
        nll.gradient(grad)
        exact = grad.copy()
        nll.setFloatCode5(True)
        out["f32_nll_shift"] = nll.getVal() - exact_value
        nll.gradient(grad)
        out["f32_grad_rel_shift"] = float(np.max(np.abs(grad - exact) / np.maximum(np.abs(exact), 1e-300)))
        out["f32_random_min_s"], out["f32_random_s"] = _timed(reps, value_and_gradient(0.0))
        for value in alphas:
            for a in alphas_all:
                a.setVal(value)
            key = _alpha_key(value)
            out[f"f32_{key}_min_s"], out[f"f32_{key}_s"] = _timed(reps, value_and_gradient(value))
        nll.setGradientWithValue(False)
        out["f32_nll_min_s"], out["f32_nll_s"] = _timed(reps, lambda k: (alpha.setVal(0.2 + 0.01 * (k + 1)),
                                                                           nll.getVal()))
        nll.setGradientWithValue(True)
        nll.setFloatCode5(False)
    for a in alphas_all:
        a.setVal(0.0)
    out["load_end"] = os.getloadavg()[0]
    out["all_finite"] = all(finite)
    if do_fit:
        fitter = Fitter(model, nll=nll, tolerance=TOLERANCE)
        passes = nll.numPasses()  # the timed passes above are not the fit's
        t = time.perf_counter()
        res = fitter.fit(hesse=True)
        out["fit_s"] = time.perf_counter() - t
        out["mu_hat"], out["mu_err"] = res.values["mu"], res.errors["mu"]
        out["passes"] = int(nll.numPasses() - passes)
        # the same with a binned HistFactory channel sharing mu and alpha_np0
        combined = fast_nll(model, store=store, extra=[binned_channel(model, _KEEP)], threads=2)
        model.set_parameters({p.GetName(): 0.0 for p in model.nuisance_parameters}, mu=1.0)
        t = time.perf_counter()
        res = Fitter(model, nll=combined.nll, tolerance=TOLERANCE).fit(hesse=True)
        out["combined_fit_s"] = time.perf_counter() - t
        out["combined_mu_hat"] = res.values["mu"]
        if code == 5:  # the same fit with float code 5
            model.set_parameters({p.GetName(): 0.0 for p in model.nuisance_parameters}, mu=1.0)
            nll.setFloatCode5(True)
            passes = nll.numPasses()
            t = time.perf_counter()
            res = Fitter(model, nll=nll, tolerance=TOLERANCE).fit(hesse=True)
            out["f32_fit_s"] = time.perf_counter() - t
            out["f32_passes"] = int(nll.numPasses() - passes)
            out["f32_mu_hat"], out["f32_mu_err"] = res.values["mu"], res.errors["mu"]
            nll.setFloatCode5(False)
    out["peak_gb"] = peak_rss_gb()
    return out


def _alpha_key(value: float) -> str:
    return f"nll_grad_at_{value:g}"


def _sigma(code: int) -> float:
    return SIGMA if code == 5 else SIGMA_ADDITIVE


def _double_columns(n, n_np, code=5):
    _, yields, ratios, weights, shape_logs = toy_columns(n, n_np, sigma=_sigma(code))
    cols = {k: v.astype(np.float64) for k, v in ratios.items()}
    for proc, m, ll, lh in shape_logs():
        cols[f"g_{proc}_np{m}_lo"] = np.exp(ll.astype(np.float64))
        cols[f"g_{proc}_np{m}_hi"] = np.exp(lh.astype(np.float64))
    return yields, cols, weights.astype(np.float64)


def run_roofit(n: int, n_np: int, do_fit: bool, code: int = 5) -> dict:
    from roonsbi.infer.fit import Fitter

    yields, cols, weights = _double_columns(n, n_np, code)
    model = structure(yields, n_np, with_data=True, columns=cols, weights=weights, code=code)
    del cols
    return _time_roofit("roofit", model, Fitter(model, tolerance=TOLERANCE), n, n_np, do_fit)


def run_native(n: int, n_np: int, do_fit: bool, code: int = 5) -> dict:
    """The same formula from RooFit's own classes on a RooDataSet."""
    import ROOT

    from roonsbi.infer.fit import Fitter
    from roonsbi.inputs.toy import COEFFICIENTS

    yields, cols, weights = _double_columns(n, n_np, code)
    inf = ROOT.RooNumber.infinity()
    mu = ROOT.RooRealVar("mu", "mu", 1.0, 0.0, 10.0)
    alphas = [ROOT.RooRealVar(f"alpha_np{m}", "", 0.0, -5.0, 5.0) for m in range(n_np)]
    obs = {k: ROOT.RooRealVar(k, k, 1.0, -inf, inf) for k in cols}
    one = ROOT.RooConstVar("one", "one", 1.0)
    keep, terms, nus = [], ROOT.RooArgList(), ROOT.RooArgList()
    for proc, coef in COEFFICIENTS.items():
        f = ROOT.RooFormulaVar(f"f_{proc}", coef, ROOT.RooArgList(mu))
        nu_j = ROOT.RooConstVar(f"nu_{proc}", "", yields[proc])
        N = ROOT.RooProduct(f"N_{proc}", "", ROOT.RooArgList(f, nu_j))
        lo, hi, par = ROOT.RooArgList(), ROOT.RooArgList(), ROOT.RooArgList()
        for m in range(n_np):
            lo.add(obs[f"g_{proc}_np{m}_lo"])
            hi.add(obs[f"g_{proc}_np{m}_hi"])
            par.add(alphas[m])
        g = ROOT.PiecewiseInterpolation(f"g_{proc}", "", one, lo, hi, par)
        g.setAllInterpCodes(code)
        term = ROOT.RooProduct(f"t_{proc}", "", ROOT.RooArgList(N, obs[f"r_{proc}"], g))
        keep += [f, nu_j, N, g, term]
        terms.add(term)
        nus.add(N)
    F = ROOT.RooAddition("F", "", terms)
    nu = ROOT.RooAddition("nu", "", nus)
    ratio = ROOT.RooFormulaVar("F_over_nu", "@0/@1", ROOT.RooArgList(F, nu))
    wrapped = ROOT.RooWrapperPdf("wrapped", "", ratio, True)
    ext = ROOT.RooExtendPdf("ext", "", wrapped, nu)
    cons, globs = ROOT.RooArgList(ext), ROOT.RooArgSet()
    for m, a in enumerate(alphas):
        nom = ROOT.RooRealVar(f"nom_alpha_np{m}", "", 0.0, -10, 10)
        nom.setConstant(True)
        c = ROOT.RooGaussian(f"alpha_np{m}Constraint", "", a, nom, 1.0)
        keep += [nom, c]
        cons.add(c)
        globs.add(nom)
    model = ROOT.RooProdPdf("native", "", cons)
    wvar = ROOT.RooRealVar("weight", "", 1.0, -inf, inf)
    cols["weight"] = weights
    data = ROOT.RooDataSet.from_numpy(cols, ROOT.RooArgSet(*obs.values(), wvar), weight_name="weight")
    del cols

    class Native:  # the Fitter protocol
        pois = ROOT.RooArgSet(mu)
        nuisance_parameters = ROOT.RooArgSet(*alphas)

        def create_nll(self, _data, backend):
            return model.createNLL(data, ROOT.RooFit.Extended(True), ROOT.RooFit.GlobalObservables(globs),
                                   ROOT.RooFit.EvalBackend(backend))

        def parameter(self, name):
            return mu if name == "mu" else alphas[int(name.split("np")[1])]

        def set_parameters(self, values):
            for k, v in values.items():
                self.parameter(k).setVal(v)

    native = Native()
    return _time_roofit("native", native, Fitter(native, tolerance=TOLERANCE), n, n_np, do_fit)


def _time_roofit(method, model, fitter, n, n_np, do_fit) -> dict:
    nll = fitter.nll
    alpha = model.parameter("alpha_np0")
    out = {"method": method, "events": n, "nps": n_np}
    reps = 3
    t = time.perf_counter()
    for k in range(reps):
        alpha.setVal(0.01 * (k + 1))
        nll.getVal()
    out["nll_s"] = (time.perf_counter() - t) / reps
    alpha.setVal(0.0)
    # a numerical gradient costs 2 evaluations per floating parameter (central differences)
    out["nll_grad_s"] = out["nll_s"] * (1 + 2 * (n_np + 1))
    if do_fit:
        t = time.perf_counter()
        res = fitter.fit(hesse=True)
        out["fit_s"] = time.perf_counter() - t
        out["mu_hat"], out["mu_err"] = res.values["mu"], res.errors["mu"]
    out["peak_gb"] = peak_rss_gb()
    return out


def run_numpy(n: int, n_np: int, do_fit: bool, code: int = 5) -> dict:
    """Value and analytic gradient in numpy (float64, chunks of 1e5 events), alpha = 0.01."""
    _, yields, ratios, weights, shape_logs = toy_columns(n, n_np, sigma=_sigma(code))
    logs = {}
    for proc, m, ll, lh in shape_logs():
        logs[(proc, m)] = (ll, lh)
    f = {"SBI": 1.0, "S": 0.0, "B": 0.0}  # sqrt(mu), mu - sqrt(mu), 1 - sqrt(mu) at mu = 1
    alpha = 0.01
    t = time.perf_counter()
    value, grad = 0.0, np.zeros(n_np)
    for i0 in range(0, n, 100_000):
        sl = slice(i0, i0 + 100_000)
        F = 0.0
        parts = {}
        for proc in f:
            P = np.ones(len(weights[sl])) if code == 5 else 1.0
            dP = []  # dG/dalpha_m / G (code 5) or dG/dalpha_m (code 4)
            for m in range(n_np):
                ll, lh = logs[(proc, m)]
                hi, lo = np.exp(lh[sl].astype(float)), np.exp(ll[sl].astype(float))
                if code == 5:
                    g, dg = _poly6(alpha, hi, lo, lh[sl].astype(float), ll[sl].astype(float))
                    P = P * g
                    dP.append(dg / g)
                else:
                    d, dd = _poly6_additive(alpha, hi, lo)
                    P = P + d
                    dP.append(dd)
            rN = f[proc] * yields[proc] * ratios[f"r_{proc}"][sl]
            parts[proc] = (rN * P, [rN * P * d for d in dP] if code == 5 else [rN * d for d in dP])
            F = F + parts[proc][0]
        w = weights[sl].astype(float)
        value -= np.sum(w * np.log(F))
        for _, dterms in parts.values():
            for m in range(n_np):
                grad[m] -= np.sum(w * dterms[m] / F)
    dt = time.perf_counter() - t
    return {"method": "numpy", "events": n, "nps": n_np, "nll_grad_s": dt, "nll_s": float("nan"),
            "peak_gb": peak_rss_gb()}


def _poly6_additive(a, hi, lo):
    """Code 4 inside |a| < 1 (flexibleInterpSingle): a (S + a A (15 - 10 a^2 + 3 a^4)) and its derivative."""
    S, A = (hi - lo) / 2, (hi + lo - 2) / 16
    d = a * S + a**2 * A * (15 - 10 * a**2 + 3 * a**4)
    dd = S + A * (30 * a - 40 * a**3 + 18 * a**5)
    return d, dd


def _poly6(a, hi, lo, lh, ll):
    S0, A0 = (hi + lo) / 2, (hi - lo) / 2
    S1, A1 = (hi * lh - lo * ll) / 2, (hi * lh + lo * ll) / 2
    S2, A2 = (hi * lh**2 + lo * ll**2) / 2, (hi * lh**2 - lo * ll**2) / 2
    c = [(15 * A0 - 7 * S1 + A2) / 8, (-24 + 24 * S0 - 9 * A1 + S2) / 8, (-5 * A0 + 5 * S1 - A2) / 4,
         (12 - 12 * S0 + 7 * A1 - S2) / 4, (3 * A0 - 3 * S1 + A2) / 8, (-8 + 8 * S0 - 5 * A1 + S2) / 8]
    g = 1 + sum(ck * a ** (k + 1) for k, ck in enumerate(c))
    dg = sum((k + 1) * ck * a**k for k, ck in enumerate(c))
    return g, dg


RUNNERS = {"fast": run_fast, "roofit": run_roofit, "native": run_native, "numpy": run_numpy}


def _spread(values: list[float]) -> str:
    """'min (spread +x%)': the minimum over repeats and (max - min) / min."""
    lo, hi = min(values), max(values)
    return f"{lo:.4f} (spread +{100 * (hi - lo) / lo:.0f}%)" if len(values) > 1 else f"{lo:.4f}"


FAST_TIMES = [("nll_min_s", "NLL, alpha = 0"), ("nll_half_min_s", "NLL, alpha = 0.5"),
              ("nll_grad_min_s", "NLL+gradient, alpha = 0"),
              ("nll_grad_half_min_s", "NLL+gradient, alpha = 0.5"),
              ("nll_grad_random_min_s", "NLL+gradient, alpha random in (-1, 1)"),
              ("nll_grad_outer_min_s", "NLL+gradient, alpha = 1.5")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e5x50,1e6x100", help="comma-separated EVENTSxNPS")
    ap.add_argument("--methods", default="fast,roofit,native,numpy")
    ap.add_argument("--native-fit", action="store_true", help="also fit with the native/roofit builds (slow)")
    ap.add_argument("--max-slow-events", type=float, default=1e5,
                    help="run native/roofit/numpy only up to this many events (memory, time)")
    ap.add_argument("--code", type=int, choices=(4, 5), default=5,
                    help="interpolation code of the shape systematics: 5 (multiplicative, default) or 4 (additive)")
    ap.add_argument("--repeat", type=int, default=1, help="run each measurement this many times (fresh processes)")
    ap.add_argument("--threads", type=int, default=2, help="threads of the fast NLL and of the bandwidth bound")
    ap.add_argument("--no-fit", action="store_true", help="time the fast NLL only (no MIGRAD+HESSE)")
    ap.add_argument("--alphas", default="",
                    help="comma-separated values: also time the fast NLL+gradient with every alpha at each (e.g. 0.2)")
    ap.add_argument("--one", help="METHOD:EVENTS:NPS:FIT  run one measurement in this process, print JSON")
    args = ap.parse_args()
    alphas = tuple(float(a) for a in args.alphas.split(",") if a)

    if args.one:  # child process: one measurement
        method, n, n_np, do_fit = args.one.split(":")
        import ROOT

        import roonsbi.library

        roonsbi.library.load()

        ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
        extra = {"threads": args.threads, "alphas": alphas} if method == "fast" else {}
        print(json.dumps(RUNNERS[method](int(float(n)), int(n_np), do_fit == "1", code=args.code, **extra)),
              flush=True)
        os._exit(0)  # skip PyROOT's teardown of HistFactory objects

    rows = []
    for size in args.sizes.split(","):
        n, n_np = size.split("x")
        n = int(float(n))
        for method in args.methods.split(","):
            if method != "fast" and n > args.max_slow_events:
                continue
            do_fit = (method == "fast" and not args.no_fit) or args.native_fit
            cmd = [sys.executable, __file__, "--code", str(args.code), "--threads", str(args.threads),
                   "--alphas", args.alphas, "--one", f"{method}:{n}:{n_np}:{int(do_fit)}"]
            for _ in range(args.repeat):
                proc = subprocess.run(cmd, capture_output=True, text=True)
                line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                if proc.returncode or not line:
                    print(f"{method} {size} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(line[-1]))
                print(json.dumps(rows[-1]), flush=True)

    print(f"\nshape code {args.code}; times: mean over calls (fast: minimum over calls in the summary below)")
    print("method   events   NPs   NLL [s]   NLL+grad [s]   fit [s]   peak [GB]")
    for r in rows:
        print(f"{r['method']:<8} {r['events']:>7.0e} {r['nps']:>4}  {r['nll_s']:9.4f}  {r['nll_grad_s']:12.4f}"
              f"  {r.get('fit_s', float('nan')):8.2f}  {r['peak_gb']:8.2f}")
    print()
    sizes = sorted({(r["events"], r["nps"]) for r in rows if r["method"] == "fast"})
    for events, nps in sizes:
        runs = [r for r in rows if r["method"] == "fast" and (r["events"], r["nps"]) == (events, nps)]
        same = {o["method"]: o for o in rows if o["events"] == events and o["nps"] == nps}
        r = runs[0]
        print(f"{events:.0e} events x 3 processes x {nps} NPs, code {args.code}, {r['threads']} thread(s)"
              f" (store {r['store_gb']:.2f} GB float32; NLL finite at every timed point: "
              f"{all(x['all_finite'] for x in runs)}),"
              f" {len(runs)} run(s): minimum over runs (spread = (max - min) / min);"
              " ratios to the bound of the same run")
        print(f"  load average at start / end of runs:   {[round(x['load_start'], 1) for x in runs]} /"
              f" {[round(x['load_end'], 1) for x in runs]}")
        print(f"  one-pass bandwidth bound (readAll):    {_spread([x['bandwidth_min_s'] for x in runs])} s")
        timed = FAST_TIMES + [(f"{_alpha_key(a)}_min_s", f"NLL+gradient, all alpha = {a:g}") for a in alphas]
        if "f32_random_min_s" in r:
            timed += [("f32_nll_min_s", "float code 5: NLL, alpha = 0.2"),
                      ("f32_random_min_s", "float code 5: NLL+gradient, alpha random")] + [
                (f"f32_{_alpha_key(a)}_min_s", f"float code 5: NLL+gradient, alpha = {a:g}") for a in alphas]
        for key, label in timed:
            times = [x[key] for x in runs]
            ratios = [x[key] / x["bandwidth_min_s"] for x in runs]
            print(f"  {label + ':':<42} {_spread(times)} s   / bound: {_spread(ratios)}")
        if "f32_nll_shift" in r:
            print(f"  float code 5 - double: NLL {max(abs(x['f32_nll_shift']) for x in runs):.2e},"
                  f" gradient (max relative) {max(x['f32_grad_rel_shift'] for x in runs):.2e}")
        print(f"  peak memory / store bytes:             {_spread([x['peak_gb'] / x['store_gb'] for x in runs])}"
              f"   (peak {_spread([x['peak_gb'] for x in runs])} GB)")
        if "fit_s" in r:
            print(f"  fast MIGRAD+HESSE fit:                 {r['fit_s']:.2f} s ({r['passes']} passes over the events)")
        if "combined_fit_s" in r:
            print(f"  same + binned HistFactory channel:     {r['combined_fit_s']:.2f} s")
        if "f32_fit_s" in r:
            print(f"  fit with float code 5:                 {r['f32_fit_s']:.2f} s ({r['f32_passes']} passes;"
                  f" mu-hat {r['f32_mu_hat']:.7f} vs {r['mu_hat']:.7f}, error {r['f32_mu_err']:.7f}"
                  f" vs {r['mu_err']:.7f})")
        for other in ("roofit", "native", "numpy"):
            if other in same:
                o = same[other]
                print(f"  {other:>6} NLL+grad / fast NLL+grad:      {o['nll_grad_s'] / r['nll_grad_s']:.1f}")
                if "fit_s" in o and "fit_s" in r:
                    print(f"  {other:>6} fit time / fast fit time:      {o['fit_s'] / r['fit_s']:.1f}"
                          f"   (mu-hat {o['mu_hat']:.6f} vs {r['mu_hat']:.6f};"
                          f" error {o['mu_err']:.6f} vs {r['mu_err']:.6f})")


if __name__ == "__main__":
    main()
