"""combine() keeps the per-mu' data (RooNSBIParamDataHist) of a parametrized channel: the combined workspace,
its ROOT file and its HS3 file carry them, and the combination's channel pdf on them gives the channel's own
NLL at every mu' of the grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import roonsbi
from roonsbi.io import write_hs3
from roonsbi.library import load
from roonsbi.models.workspace import accept_fixed_observables
from support import CONTROL_REGION as CONTROL
from support import pnsbi_channel

ROOT = load()
VALUES = {"mu": 1.3, "alpha_jes": 0.4, "alpha_lumi": -0.7}


@pytest.fixture(scope="module")
def channel() -> Any:
    return pnsbi_channel()


def _per_mu_prime_nlls(ws: Any, grid: list[float]) -> list[float]:
    """NLL of the channel pdf model_pnsbi on the workspace's per-mu' data, at VALUES, per grid point."""
    accept_fixed_observables(ws)  # the per-mu' NLLs by hand
    pdh = ws.genobj("paramData_pnsbi")
    out = []
    for m in grid:
        for name, value in {**VALUES, "mu_prime": m}.items():
            ws.var(name).setVal(value)
        hist = pdh.dataHist(ws.var("obs_pnsbi"), m, False, f"d{m}")
        nll = ws.pdf("model_pnsbi").createNLL(hist, ROOT.RooFit.Extended(True), ROOT.RooFit.Offset("none"),
                                              ROOT.RooFit.GlobalObservables(ws.obj("ModelConfig").GetGlobalObservables()))
        out.append(nll.getVal())
    return out


def test_the_combination_keeps_the_per_mu_prime_data(channel: Any, tmp_path: Path) -> None:
    comb = roonsbi.combine([channel, roonsbi.from_pyhf(CONTROL)], name="comb")
    source = channel.param_data
    kept = comb.workspace.genobj("paramData_pnsbi")
    assert isinstance(kept, ROOT.RooNSBIParamDataHist)
    grid = list(source.grid())
    assert list(kept.grid()) == grid
    for m in grid:
        assert list(kept.binContents(m)) == list(source.binContents(m))
    expected = [channel.nll(VALUES, mu_prime=m) for m in grid]  # the channel's own NLL at each mu'
    channel.set_mu_prime(1.0)
    assert _per_mu_prime_nlls(comb.workspace, grid) == pytest.approx(expected, rel=1e-10)

    comb.save(tmp_path / "comb.root")  # the ROOT file carries them
    f = ROOT.TFile.Open(str(tmp_path / "comb.root"))
    ws = f.Get("comb")
    assert _per_mu_prime_nlls(ws, grid) == pytest.approx(expected, rel=1e-10)
    f.Close()

    doc = json.loads(write_hs3(comb, tmp_path / "comb.json").read_text())  # and the HS3 file
    (hist,) = doc["misc"]["roonsbi"]["param_data_hists"]
    assert hist["name"] == "paramData_pnsbi" and hist["counts"] == [c for m in grid for c in source.binContents(m)]

