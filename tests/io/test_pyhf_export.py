r"""pyhf JSON export (:func:`roonsbi.io.pyhf_json.to_pyhf`), patchsets over the mu' grid and refusals.

Every comparison is with pyhf itself (0.7): its schema validation, ``Model.logpdf``,
``pyhf.infer.mle.fit`` and ``pyhf.PatchSet``. RooFit's NLL and pyhf's ``-logpdf`` differ by
parameter-independent terms and by the normalisation of each Gaussian constraint on the finite
range of its global observable (nom_alpha_X in [-10, 10], ...), log P(glob in range), computed
independently with ``math.erfc`` (:func:`support.gauss_truncation`) and removed first; for
HistFactory and parametrized channels differences between points are compared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyhf
import pytest
import ROOT

from roonsbi.inputs.toy import OffShellToy
from roonsbi.io.pyhf_json import (
    PyhfExportError,
    from_pyhf,
    poi_relation,
    pyhf_parameters,
    to_patchset,
    to_pyhf,
    write_json,
)
from roonsbi.models.combined import combine
from roonsbi.models.unbinned import build_model
from roonsbi.spec import evaluate_formula
from support import PYHF_GRID as GRID
from support import assert_same_fit as _assert_same_fit
from support import constraint_terms as _constraints
from support import gauss_truncation as _gauss_truncation
from support import load_pyhf as _load
from support import pnsbi_channel as _pnsbi
from support import pyhf_fit as _pyhf_fit
from support import random_point as _random_point

_HISTFACTORY = """
import os, sys
import ROOT
ROOT.TH1.AddDirectory(False)
HF = ROOT.RooStats.HistFactory
path, stat_type, width, shape_type = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
lumi_syst = sys.argv[5] == "lumi_syst"  # fixed Lumi and a normsys "lumi" (both pyhf "lumi")
meas = HF.Measurement("meas", "meas")
meas.SetPOI("mu")
meas.SetLumi(1.0)
meas.SetLumiRelErr(0.02)
meas.SetOutputFilePrefix(os.path.join(os.path.dirname(path), "hf"))
def H(name, vals, errs=None):
    h = ROOT.TH1D(name, "", len(vals), 0, width * len(vals))
    for i, v in enumerate(vals):
        h.SetBinContent(i + 1, v)
        if errs is not None:
            h.SetBinError(i + 1, errs[i])
    ROOT.SetOwnership(h, False)
    return h
chan = HF.Channel("cr")
chan.SetData(H("hd", [105, 101, 97, 93]))
chan.SetStatErrorConfig(0.0, stat_type)
sig, bkg = HF.Sample("sig"), HF.Sample("bkg")
sig.SetHisto(H("hs", [5, 6, 7, 8], [0.5, 0.4, 0.6, 0.3]))
sig.AddNormFactor("mu", 1, 0, 10)
sig.AddOverallSys("eff", 0.95, 1.05)
sig.ActivateStatError()
bkg.SetHisto(H("hb", [100, 95, 90, 85], [3, 2, 2.5, 2]))
bkg.AddOverallSys("eff", 0.97, 1.03)
bkg.ActivateStatError()
hsys = HF.HistoSys()
hsys.SetName("jes")
hsys.SetHistoLow(H("lo", [98, 94, 91, 87]))
hsys.SetHistoHigh(H("hi", [103, 96, 88, 84]))
bkg.AddHistoSys(hsys)
ssys = HF.ShapeSys()
ssys.SetName("shp")
ssys.SetErrorHist(H("rel", [0.05, 0.1, 0.08, 0.06]))
ssys.SetConstraintType(getattr(HF.Constraint, shape_type))
bkg.AddShapeSys(ssys)
bkg.AddShapeFactor("sf")
if lumi_syst:
    meas.AddConstantParam("Lumi")
    sig.AddOverallSys("lumi", 0.98, 1.02)
    bkg.AddOverallSys("lumi", 0.98, 1.02)
chan.AddSample(sig)
chan.AddSample(bkg)
meas.AddChannel(chan)
ws = HF.MakeModelAndMeasurementFast(meas)
ws.writeToFile(path)
os._exit(0)
"""


def _histfactory(tmp_path: Path, stat_type: str, width: float = 1.0, shape_type: str = "Poisson",
                 lumi_syst: bool = False) -> Any:
    path = tmp_path / f"hf_{stat_type}_{shape_type}_{lumi_syst}.root"
    proc = subprocess.run([sys.executable, "-c", _HISTFACTORY, str(path), stat_type, str(width), shape_type,
                           "lumi_syst" if lumi_syst else "-"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    f = ROOT.TFile.Open(str(path))
    ws = f.Get("combined")
    ROOT.SetOwnership(ws, True)
    f.Close()
    return ws


def _assert_nll_follows_pyhf(ws: Any, spec: dict, seed: int) -> tuple[Any, list]:
    """RooFit NLL of a HistFactory workspace (minus the truncation of its Gaussian constraints)
    plus pyhf's logpdf of its export is the same constant at 12 random points (1e-8)."""
    mc = ws.obj("ModelConfig")
    nll = mc.GetPdf().createNLL(ws.data("obsData"), ROOT.RooFit.GlobalObservables(mc.GetGlobalObservables()),
                                ROOT.RooFit.Offset("none"))
    cons, globs = _constraints(mc), mc.GetGlobalObservables()
    pw = pyhf.Workspace(spec)
    pm = pw.model()
    data = pw.data(pm)
    rng = np.random.default_rng(seed)
    params = list(mc.GetParametersOfInterest()) + list(mc.GetNuisanceParameters())
    diffs = []
    for _ in range(12):
        values = _random_point(params, rng)
        for k, v in values.items():
            ws.var(k).setVal(v)
        diffs.append(nll.getVal() - _gauss_truncation(cons, globs)
                     + float(pm.logpdf(pyhf_parameters(pm, values), data)[0]))
    np.testing.assert_allclose(np.array(diffs) - diffs[0], 0.0, atol=1e-8)
    return nll, params


@pytest.mark.parametrize("width", [1.0, 2.5])
def test_histfactory_workspace_export(tmp_path: Path, width: float) -> None:
    """A HistFactory workspace (normfactor, lumi, normsys, histosys, Gaussian staterror, Poisson
    shapesys, shapefactor; bin widths 1 and 2.5) exported to pyhf: valid; the per-sample
    staterror, tau of the shapesys and all contents are HistFactory's inputs; RooFit NLL (minus
    the truncation of the Gaussian constraints) - (-logpdf) is constant at 12 points to 1e-8;
    best fits agree to 1e-4."""
    ws = _histfactory(tmp_path, "Gaussian", width)
    spec = to_pyhf(ws)
    pyhf.Workspace(spec, validate=True)
    samples = {s["name"]: s for s in spec["channels"][0]["samples"]}
    mods = {(m["name"], m["type"]): m["data"] for m in samples["bkg"]["modifiers"]}
    assert mods[("staterror_cr", "staterror")] == pytest.approx([3, 2, 2.5, 2], rel=1e-12)
    assert mods[("shp", "shapesys")] == pytest.approx(np.array([100, 95, 90, 85]) * [0.05, 0.1, 0.08, 0.06], rel=1e-12)
    assert mods[("jes", "histosys")] == {"hi_data": [103, 96, 88, 84], "lo_data": [98, 94, 91, 87]}
    assert mods[("sf", "shapefactor")] is None and mods[("lumi", "lumi")] is None
    assert {(m["name"], m["type"]) for m in samples["sig"]["modifiers"]} == {
        ("mu", "normfactor"), ("lumi", "lumi"), ("eff", "normsys"), ("staterror_cr", "staterror")}
    assert spec["observations"] == [{"name": "cr", "data": [105, 101, 97, 93]}]

    nll, params = _assert_nll_follows_pyhf(ws, spec, seed=4)

    # best fits (RooFit with HistFactory's parameters and constraints, pyhf with the export)
    for v in params:
        v.setVal(1.0 if not v.GetName().startswith("alpha_") else 0.0)
    minimizer = ROOT.RooMinimizer(nll)
    minimizer.setPrintLevel(-1)
    minimizer.setEps(1e-8)
    minimizer.setStrategy(2)
    assert minimizer.minimize("Minuit2", "Migrad") == 0
    theirs, _ = _pyhf_fit(spec)
    _assert_same_fit({v.GetName(): v.getVal() for v in params}, theirs)


def test_fixed_lumi_beside_a_lumi_systematic(tmp_path: Path) -> None:
    """HistFactory's fixed Lumi and a normsys alpha_lumi both have the pyhf name "lumi": the fixed
    Lumi is exported as the constant it is and "lumi" is the normsys; NLL differences equal pyhf's
    at 12 points to 1e-8."""
    ws = _histfactory(tmp_path, "Gaussian", lumi_syst=True)
    assert ws.var("Lumi").isConstant()
    spec = to_pyhf(ws)
    pyhf.Workspace(spec, validate=True)
    for sample in spec["channels"][0]["samples"]:
        kinds = {m["name"]: m["type"] for m in sample["modifiers"]}
        assert kinds["lumi"] == "normsys", sample["name"]
    _, params = _assert_nll_follows_pyhf(ws, spec, seed=5)
    assert "alpha_lumi" in [p.GetName() for p in params]


def test_histfactory_constraints_pyhf_lacks_are_refused(tmp_path: Path) -> None:
    """ROOT 6.40's StatErrorConfig default (Poisson) and HistFactory's ShapeSys default (Gaussian)
    have no pyhf counterpart."""
    with pytest.raises(PyhfExportError, match="staterror.*Poisson.*pyhf's staterror is Gaussian"):
        to_pyhf(_histfactory(tmp_path, "Poisson"))
    with pytest.raises(PyhfExportError, match="shape systematic.*RooGaussian.*pyhf's shapesys is Poisson"):
        to_pyhf(_histfactory(tmp_path, "Gaussian", shape_type="Gaussian"))


def test_parametrized_channel_nll_equals_pyhf(pnsbi) -> None:
    """At each grid point the exported channel (normfactors mu, f_I = sqrt(mu), f_B = 1 - 0.1
    sqrt(mu); normsys; histosys; staterror with the 5% threshold) is valid pyhf JSON and pyhf's
    logpdf, with the normfactors at f_J(mu), equals the RooFit NLL up to a constant (10 points,
    1e-8, after removing the truncation of the Gaussian constraints)."""
    for mp in (GRID[0], GRID[2]):
        pnsbi.set_mu_prime(mp)
        spec = to_pyhf(pnsbi, nonlinear="fixed")  # the model at mu = 1 (POI-less), f_J set below
        relation = poi_relation(pnsbi)
        assert relation == {"poi": "mu", "normfactors": {"f_I_pnsbi": "sqrt(mu)", "f_B_pnsbi": "1 - 0.1*sqrt(mu)"},
                            "pyhf_poi": ""}
        k = int(np.flatnonzero(mp == GRID)[0])
        nominal = np.array(list(pnsbi.pdf.templates().nominal)).reshape(GRID.size, 3, 6)
        assert spec["channels"][0]["samples"][0]["data"] == list(nominal[k, 0])
        hist = pnsbi.data_at(mp)
        assert spec["observations"][0]["data"] == [hist.weight(b) for b in range(6)]
        pw = pyhf.Workspace(spec)
        pm = pw.model()
        data = pw.data(pm)
        cons = [f for f in pnsbi.model.pdfList() if not f.dependsOn(pnsbi.observable)]
        globs = pnsbi.global_observables
        rng = np.random.default_rng(int(10 * mp))
        params = list(pnsbi.pois) + list(pnsbi.nuisance_parameters)
        diffs = []
        for _ in range(10):
            values = _random_point(params, rng)
            values["mu"] = float(rng.uniform(0.2, 3.0))
            nll = pnsbi.nll(values) - _gauss_truncation(cons, globs)
            pars = pyhf_parameters(pm, values)
            for nf, formula in relation["normfactors"].items():
                pars[pm.config.par_slice(nf).start] = evaluate_formula(formula, {"mu": values["mu"]})
            diffs.append(nll + float(pm.logpdf(pars, data)[0]))
        np.testing.assert_allclose(np.array(diffs) - diffs[0], 0.0, atol=1e-8)
    pnsbi.set_mu_prime(1.0)


def test_patchset_over_the_grid(pnsbi) -> None:
    """pyhf.PatchSet accepts the patchset (schema), verifies it against the workspace (digest)
    and applies each patch to give exactly the export at that grid point, the model at mu = mu'."""
    base, patchset = to_patchset(pnsbi, hepdata="ins0000000")
    ps = pyhf.PatchSet(patchset)
    ps.verify(pyhf.Workspace(base))
    assert [list(p.values) for p in ps] == [[float(v)] for v in GRID]
    assert patchset["metadata"]["poi_relation"]["normfactors"] == {"f_I_pnsbi": "sqrt(mu)",
                                                                   "f_B_pnsbi": "1 - 0.1*sqrt(mu)"}
    for v in GRID:
        applied = ps.apply(pyhf.Workspace(base), [float(v)])
        assert dict(applied) == to_pyhf(pnsbi, mu_prime=float(v), nonlinear="fixed", at={"mu": float(v)})
    with pytest.raises(ValueError, match="INSPIRE"):
        to_patchset(pnsbi, hepdata="1234567")
    # import of the workspace with a patch = import of the export at that grid point
    patched = from_pyhf(base, patches=[patchset["patches"][2]["patch"]])
    direct = from_pyhf(to_pyhf(pnsbi, mu_prime=float(GRID[2]), nonlinear="fixed", at={"mu": float(GRID[2])}))
    values = {"mu": 1.4, "alpha_jes": 0.3, "alpha_xs_B": -0.6, "gamma_stat_pnsbi_bin_2": 1.02}
    assert patched.nll(values) == pytest.approx(direct.nll(values), rel=1e-14)


def test_unsupported_constructs_are_refused(pnsbi, tmp_path: Path) -> None:
    with pytest.raises(PyhfExportError, match="FlexibleInterpVar code 1.*normsys code4"):
        to_pyhf(_pnsbi(codes=(1, 4), name="code1"))
    with pytest.raises(PyhfExportError, match="PiecewiseInterpolation code 5.*code4p"):
        to_pyhf(_pnsbi(codes=(4, 5), name="code5"))
    with pytest.raises(PyhfExportError, match="between the grid points"):
        to_pyhf(pnsbi, mu_prime=1.3)
    toy = OffShellToy()
    nsbi = build_model(toy.processes(toy.generate(1.0, np.random.default_rng(3)), systematics=False))
    with pytest.raises(PyhfExportError, match="unbinned NSBI channel"):
        to_pyhf(nsbi)
    bad = _load("2-bin_1-channel.json")
    del bad["version"]
    with pytest.raises(ValueError, match="not a valid pyhf workspace"):
        from_pyhf(bad)
    shared = _load("2-bin_1-channel.json")  # one staterror in two channels: valid for pyhf, not HistFactory
    second = json.loads(json.dumps(shared["channels"][0]))
    second["name"] = "second"
    second["samples"][1]["modifiers"][0]["name"] = "other"
    for ch in (shared["channels"][0], second):
        ch["samples"][0]["modifiers"].append({"name": "staterror_shared", "type": "staterror", "data": [0.5, 0.7]})
    shared["channels"].append(second)
    shared["observations"].append({"name": "second", "data": [50.0, 60.0]})
    pyhf.Workspace(shared).model()
    with pytest.raises(ValueError, match="staterror 'staterror_shared' is shared by several channels"):
        from_pyhf(shared)
    path = write_json(tmp_path / "ws.json", _load("2-bin_1-channel.json"))
    with pytest.raises(FileExistsError, match=r"ws\.json exists; pass overwrite=True"):
        write_json(path, {})
    assert json.loads(path.read_text()) == _load("2-bin_1-channel.json")
    assert write_json(path, {"version": "1.0.0"}, overwrite=True) == path
    assert json.loads(path.read_text()) == {"version": "1.0.0"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws.json"]
    path.write_text(json.dumps(_load("2-bin_1-channel.json")))
    assert from_pyhf(path).nll() == pytest.approx(from_pyhf(_load("2-bin_1-channel.json")).nll(), rel=1e-15)


def test_combination_exports_its_binned_channels(pnsbi) -> None:
    """combine([parametrized NSBI at mu' = 1.6, pyhf import, unbinned NSBI]): the unbinned channel is
    refused, the two binned ones export together (shared mu), and pyhf's logpdf of the export
    follows the combined RooFit NLL (minus the unbinned channel) to 1e-8 at 8 points."""
    pnsbi.set_mu_prime(1.6)
    binned = from_pyhf(_load("2-bin_1-channel.json"))
    toy = OffShellToy()
    nsbi = build_model(toy.processes(toy.generate(1.0, np.random.default_rng(3)), systematics=True), name="unbinned")
    comb = combine([pnsbi, binned, nsbi])
    with pytest.raises(PyhfExportError, match="'unbinned' is an unbinned NSBI channel"):
        to_pyhf(comb)
    with pytest.raises(PyhfExportError, match="f_I_pnsbi.*not linear.*nonlinear='expression'.*to_patchset"):
        to_pyhf(comb, channels=["pnsbi", "singlechannel"])
    spec = to_pyhf(comb, channels=["pnsbi", "singlechannel"], nonlinear="fixed")
    assert [c["name"] for c in spec["channels"]] == ["pnsbi", "singlechannel"]
    assert spec["channels"][1] == _load("2-bin_1-channel.json")["channels"][0]
    relation = poi_relation(comb, channels=["pnsbi", "singlechannel"])
    pw = pyhf.Workspace(spec)
    pm = pw.model()
    data = pw.data(pm)
    cons, globs = _constraints(comb.model_config), comb.global_observables
    rng = np.random.default_rng(9)
    params = list(comb.pois) + list(comb.nuisance_parameters)
    diffs = []
    for _ in range(8):
        values = _random_point(params, rng)
        values["mu"] = float(rng.uniform(0.3, 2.5))
        pars = pyhf_parameters(pm, values)
        for nf, formula in relation["normfactors"].items():
            pars[pm.config.par_slice(nf).start] = evaluate_formula(formula, {"mu": values["mu"]})
        # the unbinned channel's NLL includes alpha_lumiConstraint, which the combination has once
        # (shared with the parametrized channel) and the pyhf export too: add its -log back once
        unbinned = nsbi.nll({k: v for k, v in values.items() if k in ("mu", "alpha_eff", "alpha_lumi")})
        unbinned -= 0.5 * values["alpha_lumi"] ** 2
        diffs.append(comb.nll(values) - unbinned - _gauss_truncation(cons, globs) + float(pm.logpdf(pars, data)[0]))
    np.testing.assert_allclose(np.array(diffs) - diffs[0], 0.0, atol=1e-8)
    pnsbi.set_mu_prime(1.0)
