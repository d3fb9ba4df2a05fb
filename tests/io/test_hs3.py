"""HS3 JSON: RooNSBIPdf exported by RooJSONFactoryWSTool and imported back in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ROOT

from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import build_model

VALUES = {"mu": 1.3, "alpha_eff": 0.4, "alpha_lumi": -0.7}

_IMPORT = """
import json, sys
import roonsbi.library, ROOT
roonsbi.library.load()
ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
ws = ROOT.RooWorkspace("imported")
assert ROOT.RooJSONFactoryWSTool(ws).importJSON(sys.argv[1])
for name, value in json.loads(sys.argv[2]).items():
    ws.var(name).setVal(value)
globs = ROOT.RooArgSet(ws.var("nom_alpha_eff"), ws.var("nom_alpha_lumi"))
nll = ws.pdf("model_nsbi").createNLL(ws.data("obsData"), ROOT.RooFit.Extended(True),
                                     ROOT.RooFit.GlobalObservables(globs), ROOT.RooFit.Offset("none"))
print(repr(nll.getVal()))
"""


@pytest.mark.parametrize("weighted", [False, True])
def test_hs3_round_trip_in_a_fresh_process(tmp_path: Path, weighted: bool) -> None:
    toy = OffShellToy()
    rng = np.random.default_rng(5)
    if weighted:
        x, w = toy.asimov(1.0, 300, rng)
    else:
        x, w = toy.generate(1.0, rng)[:300], None
    model = build_model(toy.processes(x, systematics=True), weights=w)
    expected = model.nll(VALUES)

    # the channel pdf and its data (RooJSONFactoryWSTool exports ModelConfigs of RooSimultaneous only)
    ws = ROOT.RooWorkspace("hs3")
    ws.Import(model.model, ROOT.RooFit.Silence(True))
    ws.Import(model.data, ROOT.RooFit.Silence(True))
    path = tmp_path / "nsbi.json"
    assert ROOT.RooJSONFactoryWSTool(ws).exportJSON(str(path))
    nsbi = [d for d in json.loads(path.read_text())["distributions"] if d["type"] == "roonsbi_nsbi_dist"]
    assert len(nsbi) == 1 and nsbi[0]["shape_code"] == [5, 5, 5] and nsbi[0]["shape_params"] == ["alpha_eff"]

    proc = subprocess.run([sys.executable, "-c", _IMPORT, str(path), json.dumps(VALUES)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1]) == pytest.approx(expected, rel=1e-10)
