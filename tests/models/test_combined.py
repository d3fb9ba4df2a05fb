"""Combination of an NSBI channel with a binned HistFactory workspace read from a ROOT file."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ROOT

from roonsbi.infer.fit import fit
from roonsbi.inputs.toy import OffShellToy
from roonsbi.io.histfactory_xml import from_histfactory_xml
from roonsbi.models.combined import Channel, channels_of, combine
from roonsbi.models.unbinned import build_model, load_model
from roonsbi.models.workspace import read_workspace
from support import histfactory_tutorial, histfactory_workspace


# A HistFactory control region (5 bins): signal scaled by the POI, both samples with the
# normsys "eff" that the NSBI channel also has. Built in a subprocess and written to a file,
# as hist2workspace would (PyROOT's teardown of HistFactory objects is not reliable).
def _nll(pdf: object, data: object, globs: object) -> object:
    return pdf.createNLL(data, ROOT.RooFit.Extended(True), ROOT.RooFit.GlobalObservables(globs),
                         ROOT.RooFit.Offset("none"))


def test_combined_nll_is_the_sum_of_the_channels(tmp_path: Path) -> None:
    """Combined NLL = NSBI NLL + HistFactory NLL - the shared alpha_eff constraint counted twice,
    + RooSimultaneous' constant sum_c N_c log(2), at 20 random points; and the combined fit runs."""
    hws, n_binned = histfactory_workspace(tmp_path)
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(1))
    nsbi = build_model(toy.processes(x, systematics=True))
    combined = combine([nsbi, hws])

    assert [c.GetName() for c in combined.pois] == ["mu"]
    assert sorted(p.GetName() for p in combined.nuisance_parameters) == ["alpha_eff", "alpha_lumi"]
    mc = hws.obj("ModelConfig")
    binned_nll = _nll(mc.GetPdf(), hws.data("obsData"), mc.GetGlobalObservables())
    const = (len(x) + n_binned) * np.log(2.0)
    rng = np.random.default_rng(7)
    for _ in range(20):
        values = {"mu": rng.uniform(0.2, 3.0), "alpha_eff": rng.uniform(-2, 2), "alpha_lumi": rng.uniform(-2, 2)}
        hws.var("mu").setVal(values["mu"])
        hws.var("alpha_eff").setVal(values["alpha_eff"])
        shared = 0.5 * values["alpha_eff"] ** 2 + 0.5 * np.log(2 * np.pi)
        expected = nsbi.nll(values) + binned_nll.getVal() - shared + const
        assert combined.nll(values) == pytest.approx(expected, rel=1e-10)

    alone = fit(nsbi)
    both = fit(combined)
    assert both.status == 0
    assert both.errors["mu"] < alone.errors["mu"]  # the control region adds information on mu


def test_rename_and_conflicts(tmp_path: Path) -> None:
    hws, _ = histfactory_workspace(tmp_path, poi="mu_sig")
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(2))
    nsbi = build_model(toy.processes(x, systematics=True))
    combined = combine([nsbi, hws], rename={"mu_sig": "mu"})
    assert [c.GetName() for c in combined.pois] == ["mu"]
    assert not combined.workspace.var("mu_sig")
    # the same nuisance parameter with another range is an error naming it
    narrow = build_model(toy.processes(x, systematics=True), alpha_range=(-3.0, 3.0), name="narrow")
    with pytest.raises(ValueError, match="alpha_eff"):
        combine([narrow, hws], rename={"mu_sig": "mu"})


def test_files_and_channels_as_sources(tmp_path: Path) -> None:
    """ROOT and HS3 JSON files of a combination combine again into the same likelihood, and
    channels_of splits a HistFactory workspace into its channels."""
    hws, _ = histfactory_workspace(tmp_path)
    assert [c.name for c in channels_of(hws)] == ["cr"]
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(6))[:200]
    combined = combine([build_model(toy.processes(x, systematics=True), form="columns"), hws])  # HS3: the column form
    values = {"mu": 0.7, "alpha_eff": -0.4, "alpha_lumi": 0.9}
    expected = combined.nll(values)
    root_file = combined.save(tmp_path / "c.root")
    json_file = tmp_path / "c.json"
    assert ROOT.RooJSONFactoryWSTool(combined.workspace).exportJSON(str(json_file))
    for path in (root_file, json_file):
        again = combine([path])
        assert sorted(c.name for c in channels_of(again)) == ["cr", "nsbi"]
        assert again.nll(values) == pytest.approx(expected, rel=1e-10)


def test_load_model_of_a_combination_names_combine(tmp_path: Path) -> None:
    """``load_model`` reads NSBI channels only: on a saved combination it says how to read one (and the
    combination reads back with ``combine([path])``)."""
    hws, _ = histfactory_workspace(tmp_path)
    toy = OffShellToy()
    combined = combine([build_model(toy.processes(toy.generate(1.0, np.random.default_rng(8))[:100]), name="n8"), hws])
    path = combined.save(tmp_path / "comb.root")
    with pytest.raises(ValueError, match=r"holds no NSBI channel.*roonsbi\.combine\(\[path\]\)"):
        load_model(path)
    assert combine([path]).nll({"mu": 1.1}) == pytest.approx(combined.nll({"mu": 1.1}), rel=1e-12)


_FRESH = """
import json, sys
import roonsbi.library, ROOT
roonsbi.library.load()
from roonsbi.models.workspace import read_workspace
ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
path, values = sys.argv[1], json.loads(sys.argv[2])
if path.endswith(".json"):
    ws = ROOT.RooWorkspace("imported")
    assert ROOT.RooJSONFactoryWSTool(ws).importJSON(path)
else:
    ws, _ = read_workspace(path)
for name, value in values.items():
    ws.var(name).setVal(value)
mc = ws.obj("ModelConfig")
data = ws.data("obsData") or ws.allData().front()
nll = mc.GetPdf().createNLL(data, ROOT.RooFit.Extended(True),
                            ROOT.RooFit.GlobalObservables(mc.GetGlobalObservables()), ROOT.RooFit.Offset("none"))
print(repr(nll.getVal()))
"""


@pytest.mark.parametrize("fmt", ["root", "json"])
def test_combined_workspace_in_a_fresh_process(tmp_path: Path, fmt: str) -> None:
    """The combined workspace written to a ROOT file, or exported to HS3 JSON, gives the same NLL
    in a fresh process (1e-10)."""
    hws, _ = histfactory_workspace(tmp_path)
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(3))[:300]
    combined = combine([build_model(toy.processes(x, systematics=True), form="columns"), hws])  # HS3: the column form
    values = {"mu": 1.4, "alpha_eff": 0.3, "alpha_lumi": -0.6}
    expected = combined.nll(values)
    path = tmp_path / f"combined.{fmt}"
    if fmt == "root":
        combined.save(path)
    else:
        assert ROOT.RooJSONFactoryWSTool(combined.workspace).exportJSON(str(path))
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(path), json.dumps(values)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1]) == pytest.approx(expected, rel=1e-10)


# -- constraints shared by the parameter they constrain ------------------------------------------
def _gauss_channel(label: str, constraint_name: str, sigma: float, glob: str, n: int, seed: int) -> tuple:
    """x ~ Gauss(a, 1) on [-5, 5] with the constraint Gauss(glob | a, sigma): a Channel and its
    hand-computed NLL ingredients (events, width)."""
    x = ROOT.RooRealVar(f"x_{label}", "x", -5, 5)
    a = ROOT.RooRealVar("a", "a", 0.0, -3, 3)
    nom = ROOT.RooRealVar(glob, glob, 0.0, -10, 10)
    nom.setConstant(True)
    one = ROOT.RooConstVar(f"one_{label}", "1", 1.0)
    width = ROOT.RooConstVar(f"width_{label}", "w", sigma)
    n_exp = ROOT.RooRealVar(f"n_{label}", "n", n, 0, 1e6)
    n_exp.setConstant(True)
    shape = ROOT.RooGaussian(f"shape_{label}", "", x, a, one)
    ext = ROOT.RooExtendPdf(f"ext_{label}", "", shape, n_exp)
    cons = ROOT.RooGaussian(constraint_name, "", nom, a, width)
    pdf = ROOT.RooProdPdf(f"pdf_{label}", "", ROOT.RooArgList(ext, cons))
    values = np.random.default_rng(seed).normal(0.3, 1.0, n)
    data = ROOT.RooDataSet.from_numpy({x.GetName(): values}, ROOT.RooArgSet(x))
    keep = (x, a, nom, one, width, n_exp, shape, ext, cons)
    channel = Channel(label, pdf, data, ROOT.RooArgSet(), ROOT.RooArgSet(a), ROOT.RooArgSet(x), ROOT.RooArgSet(nom),
                      owner=keep)
    return channel, values


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _gauss_nll(x: object, mean: float, sigma: float) -> object:
    """-log of the normal density."""
    return 0.5 * ((np.asarray(x) - mean) / sigma) ** 2 + np.log(sigma) + 0.5 * np.log(2 * np.pi)


def test_a_constraint_is_shared_by_parameter_not_by_name() -> None:
    """Two channels constrain 'a' with Gauss(0 | a, 1) under different names and global
    observables: the combination keeps one; its NLL is the hand-computed sum (numpy)."""
    ch1, x1 = _gauss_channel("one", "aConstraint", 1.0, "nom_a", 40, 1)
    ch2, x2 = _gauss_channel("two", "a_otherConstraint", 1.0, "nom_a_other", 25, 2)
    combined = combine([ch1, ch2])
    ws = combined.workspace
    constraints = [p for p in ws.allPdfs() if p.ClassName() == "RooGaussian" and not p.dependsOn(ws.var("x_one"))
                   and not p.dependsOn(ws.var("x_two"))]
    assert [c.GetName() for c in constraints] == ["aConstraint"]
    assert sorted(g.GetName() for g in combined.global_observables) == ["nom_a"]
    for a in (-1.2, 0.0, 0.7):
        ws.var("a").setVal(a)
        expected = 0.0
        for x, n in ((x1, 40), (x2, 25)):  # extended, Gaussian truncated to [-5, 5]
            trunc = _normal_cdf(5 - a) - _normal_cdf(-5 - a)
            expected += n - len(x) * np.log(n) + np.sum(_gauss_nll(x, a, 1.0) + np.log(trunc))
        expected += _gauss_nll(0.0, a, 1.0) + (40 + 25) * np.log(2.0)
        assert combined.nll() == pytest.approx(expected, rel=1e-9)


def test_different_constraints_on_one_parameter_are_an_error() -> None:
    ch1, _ = _gauss_channel("one", "aConstraint", 1.0, "nom_a", 10, 1)
    ch2, _ = _gauss_channel("two", "a_otherConstraint", 2.0, "nom_a_other", 10, 2)
    with pytest.raises(ValueError, match="on parameter 'a' differs"):
        combine([ch1, ch2])
    ch3, _ = _gauss_channel("three", "aConstraint", 1.0, "nom_a", 10, 3)
    with pytest.raises(ValueError, match="labels must be unique"):
        combine([ch1, ch3, ch1])


def test_parse_renames() -> None:
    assert dict(ROOT.RooNSBI.parseRenames(" mu_sig = mu , alpha_x=alpha_eff,")) == {"mu_sig": "mu",
                                                                                     "alpha_x": "alpha_eff"}
    with pytest.raises(Exception, match="old=new"):
        ROOT.RooNSBI.parseRenames("mu_sig")


# -- ROOT's HistFactory tutorial model through the XML path --------------------------------------


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return histfactory_tutorial(tmp_path_factory.mktemp("hf_tutorial"))


def _tutorial_reference(base: Path) -> object:
    """The same model built by ROOT's own tutorial script hf001_example.py (HistFactory's
    Python API and MakeModelAndMeasurementFast, which writes results/)."""
    script = Path(str(ROOT.gROOT.GetTutorialDir())) / "roofit" / "histfactory" / "hf001_example.py"
    run = f"import os, runpy, ROOT; ROOT.gROOT.SetBatch(True); runpy.run_path({str(script)!r}); os._exit(0)"
    proc = subprocess.run([sys.executable, "-c", run], cwd=base, capture_output=True, text=True, timeout=600)
    path = base / "results" / "example_UsingPy_combined_meas_model.root"
    assert proc.returncode == 0 and path.exists(), proc.stderr[-2000:]
    ws, _ = read_workspace(path, "combined")
    return ws


def test_histfactory_xml_reproduces_the_tutorial_model(tutorial: Path) -> None:
    """from_histfactory_xml on ROOT's example.xml (GaussExample) gives the same workspace as the
    tutorial's Python API script: same parameters, data and NLL at 20 random points (1e-12)."""
    ws = from_histfactory_xml(tutorial / "config" / "example.xml", "GaussExample", base_dir=tutorial)
    ref = _tutorial_reference(tutorial)
    sets = ("GetParametersOfInterest", "GetNuisanceParameters", "GetGlobalObservables", "GetObservables")
    mc, mc_ref = ws.obj("ModelConfig"), ref.obj("ModelConfig")
    for s in sets:
        assert sorted(a.GetName() for a in getattr(mc, s)()) == sorted(a.GetName() for a in getattr(mc_ref, s)())
    assert [p.GetName() for p in mc.GetParametersOfInterest()] == ["SigXsecOverSM"]
    assert ws.var("alpha_syst1").isConstant() and ws.var("Lumi").isConstant()
    assert ws.data("obsData").sumEntries() == pytest.approx(122 + 112)
    nll, nll_ref = (_nll(m.GetPdf(), w.data("obsData"), m.GetGlobalObservables()) for m, w in ((mc, ws), (mc_ref, ref)))
    rng = np.random.default_rng(11)
    floating = [p.GetName() for p in mc.GetNuisanceParameters()] + ["SigXsecOverSM"]
    for _ in range(20):
        for name in floating:
            value = rng.uniform(0.8, 1.2) if name.startswith("gamma") else rng.uniform(0.1, 2.9) \
                if name == "SigXsecOverSM" else rng.uniform(-2, 2)
            ws.var(name).setVal(value)
            ref.var(name).setVal(value)
        assert nll.getVal() == pytest.approx(nll_ref.getVal(), rel=1e-12)


def test_histfactory_xml_errors(tutorial: Path, tmp_path: Path) -> None:
    xml = tutorial / "config" / "example.xml"
    with pytest.raises(ValueError, match="GaussExample"):  # four measurements: one must be named
        from_histfactory_xml(xml, base_dir=tutorial)
    with pytest.raises(ValueError, match="no measurement 'Nope'"):
        from_histfactory_xml(xml, "Nope", base_dir=tutorial)
    with pytest.raises(FileNotFoundError, match="example_channel.xml"):  # paths are relative to base_dir
        from_histfactory_xml(xml, "GaussExample", base_dir=tmp_path)
    bad = tmp_path / "bad.xml"
    bad.write_text((tutorial / "config" / "example.xml").read_text().replace("<POI>", "<Asimov Name='x'/><POI>"))
    with pytest.raises(ValueError, match="Asimov"):
        from_histfactory_xml(bad, "GaussExample", base_dir=tutorial)


def test_nsbi_with_the_histfactory_tutorial(tutorial: Path) -> None:
    """The issue's acceptance test: an NSBI channel combined with ROOT's HistFactory tutorial
    model (built from its XML) sharing a nuisance parameter (the tutorial's syst2 is the NSBI
    channel's eff). Combined NLL = NSBI NLL + HistFactory NLL - the shared constraint counted
    twice + sum_c N_c log 2, at 20 random points; the combined fit converges."""
    hws = from_histfactory_xml(tutorial / "config" / "example.xml", "GaussExample", base_dir=tutorial)
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(5))
    nsbi = build_model(toy.processes(x, systematics=True))
    combined = combine([nsbi, hws], rename={"alpha_syst2": "alpha_eff"})

    ws = combined.workspace
    assert sorted(p.GetName() for p in combined.pois) == ["SigXsecOverSM", "mu"]
    assert not ws.var("alpha_syst2") and not ws.var("nom_alpha_syst2")
    on_eff = [p.GetName() for p in ws.allPdfs() if p.ClassName() == "RooGaussian" and p.dependsOn(ws.var("alpha_eff"))]
    assert on_eff == ["alpha_effConstraint"]  # shared: one constraint term

    mc = hws.obj("ModelConfig")
    binned_nll = _nll(mc.GetPdf(), hws.data("obsData"), mc.GetGlobalObservables())
    const = (len(x) + 122 + 112) * np.log(2.0)
    rng = np.random.default_rng(8)
    for _ in range(20):
        eff = rng.uniform(-2, 2)
        nsbi_values = {"mu": rng.uniform(0.2, 3.0), "alpha_eff": eff, "alpha_lumi": rng.uniform(-2, 2)}
        hf_values = {"SigXsecOverSM": rng.uniform(0.1, 2.9), "alpha_syst3": rng.uniform(-2, 2),
                     "gamma_stat_channel1_bin_0": rng.uniform(0.8, 1.2),
                     "gamma_stat_channel1_bin_1": rng.uniform(0.8, 1.2)}
        for name, value in {**hf_values, "alpha_syst2": eff}.items():
            hws.var(name).setVal(value)
        shared = 0.5 * eff ** 2 + 0.5 * np.log(2 * np.pi)
        expected = nsbi.nll(nsbi_values) + binned_nll.getVal() - shared + const
        assert combined.nll({**nsbi_values, **hf_values}) == pytest.approx(expected, rel=1e-10)

    both = fit(combined)
    assert both.status == 0 and both.cov_quality == 3
    alone = fit(nsbi)
    assert both.errors["alpha_eff"] < alone.errors["alpha_eff"]  # the binned channel constrains eff too

    # the tutorial's syst1 is constant (ParamSetting Const): sharing it with a floating NP is an error
    with pytest.raises(ValueError, match="'alpha_eff'.*constant"):
        combine([nsbi, hws], rename={"alpha_syst1": "alpha_eff"})


def test_poi_ranges_of_the_histfactory_tutorial_and_an_nsbi_channel(tutorial: Path) -> None:
    """The tutorial's POI SigXsecOverSM in [0, 3] renamed to the NSBI channel's mu in [0, 10]: the
    union [0, 10] with a POIRangeWarning naming both, or the poi_range given; the combined NLL is
    still the channels' NLLs (with the tutorial's POI at the same value) + sum_c N_c log 2; the sources
    keep their ranges; a poi_range that excludes a channel's value, or names no POI, is an error."""
    from roonsbi.models.combined import POIRangeWarning

    hws = from_histfactory_xml(tutorial / "config" / "example.xml", "GaussExample", base_dir=tutorial)
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(6))[:500]
    nsbi = build_model(toy.processes(x, systematics=False))
    rename = {"SigXsecOverSM": "mu"}
    assert (hws.var("SigXsecOverSM").getMin(), hws.var("SigXsecOverSM").getMax()) == (0.0, 3.0)
    with pytest.warns(POIRangeWarning, match=r"\[0, 10\] in 'nsbi', \[0, 3\] in 'channel1'.*union \[0, 10\]"):
        combined = combine([nsbi, hws], rename=rename)
    assert (combined.parameter("mu").getMin(), combined.parameter("mu").getMax()) == (0.0, 10.0)
    assert hws.var("SigXsecOverSM").getMax() == 3.0 and nsbi.parameter("mu").getMax() == 10.0
    assert "union [0, 10]" in combined.notes[0]

    mc = hws.obj("ModelConfig")
    binned_nll = _nll(mc.GetPdf(), hws.data("obsData"), mc.GetGlobalObservables())
    hws.var("SigXsecOverSM").setVal(1.7)
    expected = nsbi.nll({"mu": 1.7}) + binned_nll.getVal() + (len(x) + 122 + 112) * np.log(2.0)
    assert combined.nll({"mu": 1.7}) == pytest.approx(expected, rel=1e-10)

    narrower = combine([nsbi, hws], rename=rename, poi_range=(0.0, 5.0))
    assert narrower.parameter("mu").getMax() == 5.0 and "set to [0, 5] (poi_range)" in narrower.notes[0]
    assert combine([nsbi, hws], rename=rename, poi_range={"mu": (0.0, 4.0)}).parameter("mu").getMax() == 4.0
    with pytest.raises(ValueError, match="excludes its value 1.7 in channel 'nsbi'"):
        combine([nsbi, hws], rename=rename, poi_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="'nope', which is not a POI"):
        combine([nsbi, hws], rename=rename, poi_range={"nope": (0.0, 1.0)})


def test_parametrized_channel_in_a_combination(tmp_path: Path) -> None:
    """A parametrized-NSBI channel (binned, data at its current mu') with a HistFactory
    workspace: combined NLL = the channels' NLLs + sum_c N_c log 2 (no shared constraint)."""
    from roonsbi.binned.templates import Quantiles, build_templates
    from roonsbi.models.parametrized import build_parametrized_model
    from support import GRID
    from support import events as _events
    from support import processes as _processes

    rng = np.random.default_rng(11)
    templates = build_templates(_events(6000, rng), _processes(), GRID, Quantiles(8), progress=False)
    counts = rng.poisson(templates.expected(1.3)).astype(float)
    pnsbi = build_parametrized_model(templates, data=counts, stat_threshold=0.0, name="pn")
    pnsbi.set_mu_prime(1.0)
    hws, n_binned = histfactory_workspace(tmp_path)
    combined = combine([pnsbi, hws])
    assert sorted(channels_of(combined)[k].name for k in range(2)) == ["cr", "pn"]
    mc = hws.obj("ModelConfig")
    binned_nll = _nll(mc.GetPdf(), hws.data("obsData"), mc.GetGlobalObservables())
    assert pnsbi.data.sumEntries() == pytest.approx(counts[1].sum())  # the data of mu' = GRID[1] = 1
    const = (counts[1].sum() + n_binned) * np.log(2.0)
    rng = np.random.default_rng(12)
    for _ in range(5):
        values = {"mu": rng.uniform(0.3, 2.5), "alpha_eff": rng.uniform(-2, 2), "alpha_jes": rng.uniform(-2, 2)}
        hws.var("mu").setVal(values["mu"])
        hws.var("alpha_eff").setVal(values["alpha_eff"])
        pnsbi.set_parameters({k: v for k, v in values.items() if k != "alpha_eff"})
        expected = pnsbi.create_nll().getVal() + binned_nll.getVal() + const
        assert combined.nll(values) == pytest.approx(expected, rel=1e-10)


def test_histfactory_xml_two_channels_against_pyhf(tutorial: Path) -> None:
    """ROOT's two-channel tutorial example_DataDriven.xml (shared ShapeFactor, Gaussian stat
    errors, a data-driven sample) read by from_histfactory_xml vs pyhf's own XML reader and
    likelihood: NLL differences to the nominal point agree at 20 random points. pyhf's Gaussian
    constraints are not truncated; RooFit normalises them over the global observable's range
    [0, 10], which the reference adds. (ROOT keeps the stat widths in float: 1e-7 agreement.)"""
    pytest.importorskip("pyhf")
    import pyhf.readxml

    xml = tutorial / "config" / "examples" / "example_DataDriven.xml"
    ws = from_histfactory_xml(xml, base_dir=tutorial)
    mc = ws.obj("ModelConfig")
    assert [c.name for c in channels_of(ws)] == ["controlRegion", "signalRegion"]
    nll = _nll(mc.GetPdf(), ws.data("obsData"), mc.GetGlobalObservables())
    spec = pyhf.readxml.parse(str(xml), str(tutorial), track_progress=False)
    pws = pyhf.Workspace(spec)
    model = pws.model()
    data = pws.data(model)

    def root_name(par: str, i: int) -> str:
        if par.startswith("staterror_"):
            return f"gamma_stat_{par[len('staterror_'):]}_bin_{i}"
        if par == "Bkg2Shape":
            return f"gamma_Bkg2Shape_bin_{i}"
        return par if par == "SigXsecOverSM" else f"alpha_{par}"

    rng = np.random.default_rng(3)

    def both(random: bool) -> tuple[float, float]:
        pars = np.array(model.config.suggested_init(), dtype=float)
        truncation = 0.0
        for par in model.config.par_order:
            if par == "lumi":  # constant (ParamSetting Const) in both
                continue
            sl = model.config.par_slice(par)
            for i, k in enumerate(range(sl.start, sl.stop)):
                if random:
                    pars[k] = (rng.uniform(0.3, 1.4) if par == "SigXsecOverSM" else rng.uniform(0.7, 1.3)
                               if par.startswith(("staterror", "Bkg2")) else rng.uniform(-2, 2))
                ws.var(root_name(par, i)).setVal(pars[k])
            if par.startswith("staterror"):
                for g, sigma in zip(pars[sl], model.config.param_set(par).sigmas):
                    truncation += math.log(_normal_cdf((10 - g) / sigma) - _normal_cdf(-g / sigma))
        return -float(model.logpdf(pars, data)[0]) + truncation, nll.getVal()

    pyhf0, root0 = both(False)
    for _ in range(20):
        pyhf_value, root_value = both(True)
        assert root_value - root0 == pytest.approx(pyhf_value - pyhf0, abs=5e-7)


_HISTOSYS_TOP = """<!DOCTYPE Combination SYSTEM 'HistFactorySchema.dtd'>
<Combination OutputFilePrefix="./results/hs">
  <Input>./config/hs_channel.xml</Input>
  <Measurement Name="hs" Lumi="1." LumiRelErr="0.02">
    <POI>mu_sig</POI>
    <ParamSetting Const="True">Lumi</ParamSetting>
    <ParamSetting Val="1.5">mu_sig</ParamSetting>
  </Measurement>
</Combination>
"""
_HISTOSYS_CHANNEL = """<!DOCTYPE Channel SYSTEM 'HistFactorySchema.dtd'>
<Channel Name="sr" InputFile="./data/hs.root">
  <Data HistoName="data"/>
  <StatErrorConfig RelErrorThreshold="0.01" ConstraintType="Gaussian"/>
  <Sample Name="sig" HistoName="sig">
    <NormFactor Name="mu_sig" Val="1" Low="0" High="5"/>
    <HistoSys Name="jes" HistoNameLow="sig_jes_lo" HistoNameHigh="sig_jes_hi"/>
  </Sample>
  <Sample Name="bkg" HistoName="bkg" NormalizeByTheory="True">
    <StatError Activate="True" HistoName="bkg_stat"/>
    <OverallSys Name="xsec" Low="0.9" High="1.15"/>
    <HistoSys Name="jes" HistoNameLow="bkg_jes_lo" HistoNameHigh="bkg_jes_hi"/>
  </Sample>
</Channel>
"""


def test_histfactory_xml_histosys_against_pyhf(tutorial: Path, tmp_path: Path) -> None:
    """A HistoSys (shared by two samples), an asymmetric OverallSys, a NormFactor with a
    ParamSetting Val and stat errors from a histogram, read by from_histfactory_xml vs pyhf's
    XML reader and likelihood (HistFactory's codes 4/4 = pyhf's code4/code4p)."""
    pytest.importorskip("pyhf")
    import pyhf.readxml

    (tmp_path / "config").mkdir()
    (tmp_path / "data").mkdir()
    shutil.copy(tutorial / "config" / "HistFactorySchema.dtd", tmp_path / "config")
    (tmp_path / "config" / "hs.xml").write_text(_HISTOSYS_TOP)
    (tmp_path / "config" / "hs_channel.xml").write_text(_HISTOSYS_CHANNEL)
    contents = {"data": [30, 52, 41, 20], "sig": [4, 9, 7, 2], "sig_jes_lo": [3, 8.5, 7.5, 2.5],
                "sig_jes_hi": [5, 9.8, 6.1, 1.6], "bkg": [25, 40, 33, 18], "bkg_jes_lo": [27, 38, 31, 19],
                "bkg_jes_hi": [24, 43, 34, 16], "bkg_stat": [0.05, 0.04, 0.08, 0.1]}
    f = ROOT.TFile(str(tmp_path / "data" / "hs.root"), "RECREATE")
    for name, values in contents.items():
        h = ROOT.TH1D(name, name, 4, 0.0, 4.0)
        for b, v in enumerate(values):
            h.SetBinContent(b + 1, v)
        h.SetDirectory(ROOT.nullptr)
        f.WriteTObject(h)
    f.Close()

    ws = from_histfactory_xml("config/hs.xml", base_dir=tmp_path)
    mc = ws.obj("ModelConfig")
    assert ws.var("mu_sig").getVal() == 1.5  # ParamSetting Val
    nll = _nll(mc.GetPdf(), ws.data("obsData"), mc.GetGlobalObservables())
    spec = pyhf.readxml.parse(str(tmp_path / "config" / "hs.xml"), str(tmp_path), track_progress=False)
    pws = pyhf.Workspace(spec)
    model = pws.model()
    data = pws.data(model)
    names = {"mu_sig": "mu_sig", "jes": "alpha_jes", "xsec": "alpha_xsec"}
    rng = np.random.default_rng(4)

    def both(random: bool) -> tuple[float, float]:
        pars = np.array(model.config.suggested_init(), dtype=float)
        truncation = 0.0
        for par in model.config.par_order:
            if par == "lumi":
                continue
            sl = model.config.par_slice(par)
            for i, k in enumerate(range(sl.start, sl.stop)):
                if random:
                    pars[k] = (rng.uniform(0.2, 3.0) if par == "mu_sig" else rng.uniform(0.8, 1.2)
                               if par.startswith("staterror") else rng.uniform(-2.5, 2.5))
                ws.var(names.get(par, f"gamma_stat_sr_bin_{i}")).setVal(pars[k])
            if par.startswith("staterror"):
                for g, sigma in zip(pars[sl], model.config.param_set(par).sigmas):
                    truncation += math.log(_normal_cdf((10 - g) / sigma) - _normal_cdf(-g / sigma))
        return -float(model.logpdf(pars, data)[0]) + truncation, nll.getVal()

    assert sorted(model.config.par_order) == ["jes", "lumi", "mu_sig", "staterror_sr", "xsec"]
    pyhf0, root0 = both(False)
    for _ in range(20):
        pyhf_value, root_value = both(True)
        assert root_value - root0 == pytest.approx(pyhf_value - pyhf0, abs=1e-7)
