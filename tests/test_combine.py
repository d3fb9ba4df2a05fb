"""Combination of an NSBI channel with a binned HistFactory workspace read from a ROOT file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ROOT

from roonsbi.combine import combine
from roonsbi.inference import fit
from roonsbi.model import build_model
from roonsbi.toy import OffShellToy

# A HistFactory control region (5 bins): signal scaled by the POI, both samples with the
# normsys "eff" that the NSBI channel also has. Built in a subprocess and written to a file,
# as hist2workspace would (PyROOT's teardown of HistFactory objects is not reliable).
_HISTFACTORY = """
import os, sys
import ROOT
ROOT.TH1.AddDirectory(False)
HF = ROOT.RooStats.HistFactory
poi = sys.argv[2]
meas = HF.Measurement("meas", "meas")
meas.SetPOI(poi)
meas.SetLumi(1.0)
meas.AddConstantParam("Lumi")
chan = HF.Channel("cr")
hs, hb, hd = (ROOT.TH1D(n, "", 5, 0, 1) for n in ("hs", "hb", "hd"))
for i in range(5):
    hs.SetBinContent(i + 1, 5 + i)
    hb.SetBinContent(i + 1, 100 - 5 * i)
    hd.SetBinContent(i + 1, 105 - 4 * i)
chan.SetData(hd)
sig, bkg = HF.Sample("sig"), HF.Sample("bkg")
sig.SetHisto(hs)
sig.AddNormFactor(poi, 1, 0, 10)
sig.AddOverallSys("eff", 0.95, 1.05)
bkg.SetHisto(hb)
bkg.AddOverallSys("eff", 0.97, 1.03)
chan.AddSample(sig)
chan.AddSample(bkg)
meas.AddChannel(chan)
ws = HF.HistoToWorkspaceFactoryFast(meas).MakeCombinedModel(meas)
ws.writeToFile(sys.argv[1])
os._exit(0)
"""


def histfactory_workspace(tmp_path: Path, poi: str = "mu") -> tuple[object, float]:
    path = tmp_path / f"histfactory_{poi}.root"
    proc = subprocess.run([sys.executable, "-c", _HISTFACTORY, str(path), poi], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    f = ROOT.TFile.Open(str(path))
    ws = f.Get("combined")
    ROOT.SetOwnership(ws, True)
    f.Close()
    return ws, sum(105 - 4 * i for i in range(5))


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


_FRESH = """
import json, sys
import roonsbi, ROOT
from roonsbi.model import read_workspace
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
    combined = combine([build_model(toy.processes(x, systematics=True)), hws])
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
