"""HS3 JSON: roonsbi's channels exported by RooJSONFactoryWSTool / RooNSBI::exportJSON / roonsbi.io.write_hs3
and imported back in a fresh process (the same NLL); the files are checked against pyhs3 (an independent
HS3 reader) apart from the documented roonsbi:: plugin types, and read by plain ROOT without the library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ROOT

import roonsbi
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import build_model

VALUES = {"mu": 1.3, "alpha_eff": 0.4, "alpha_lumi": -0.7}
NSBI_TYPE = "roonsbi::nsbi_dist"

# the NLL of the imported file's ModelConfig pdf (or of `model_nsbi` if it has none) at VALUES
_IMPORT = """
import json, sys
import roonsbi.library, ROOT
roonsbi.library.load()
ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
ws = ROOT.RooWorkspace("imported")
assert ROOT.RooJSONFactoryWSTool(ws).importJSON(sys.argv[1])
for name, value in json.loads(sys.argv[2]).items():
    ws.var(name).setVal(value)
mc = ws.obj("ModelConfig")
pdf = mc.GetPdf() if mc else ws.pdf("model_nsbi")
globs = ROOT.RooArgSet(ws.var("nom_alpha_eff"), ws.var("nom_alpha_lumi"))
nll = pdf.createNLL(ws.data("obsData"), ROOT.RooFit.Extended(True),
                    ROOT.RooFit.GlobalObservables(globs), ROOT.RooFit.Offset("none"))
print(repr(nll.getVal()))
"""

# a single NSBI model (its ModelConfig pdf is not a RooSimultaneous) exported by RooNSBI::exportJSON
_EXPORT_SINGLE = """
import sys
import numpy as np
import roonsbi.library
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import build_model
ROOT = roonsbi.library.load()
toy = OffShellToy()
x = toy.generate(1.0, np.random.default_rng(5))[:300]
model = build_model(toy.processes(x, systematics=True), form="columns")
assert ROOT.RooNSBI.exportJSON(model.workspace, sys.argv[1], "nsbi")
"""


def _toy_model(weighted: bool) -> Any:
    toy = OffShellToy()
    rng = np.random.default_rng(5)
    if weighted:
        x, w = toy.asimov(1.0, 300, rng)
    else:
        x, w = toy.generate(1.0, rng)[:300], None
    return build_model(toy.processes(x, systematics=True), weights=w, form="columns")


def _imported_nll(path: Path) -> float:
    proc = subprocess.run([sys.executable, "-c", _IMPORT, str(path), json.dumps(VALUES)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return float(proc.stdout.strip().splitlines()[-1])


def _nsbi_dists(doc: dict) -> list[dict]:
    return [d for d in doc["distributions"] if d["type"] == NSBI_TYPE]


@pytest.mark.parametrize("weighted", [False, True])
def test_hs3_round_trip_in_a_fresh_process(tmp_path: Path, weighted: bool) -> None:
    model = _toy_model(weighted)
    expected = model.nll(VALUES)

    # the channel pdf and its data (RooJSONFactoryWSTool exports ModelConfigs of RooSimultaneous only)
    ws = ROOT.RooWorkspace("hs3")
    ws.Import(model.model, ROOT.RooFit.Silence(True))
    ws.Import(model.data, ROOT.RooFit.Silence(True))
    path = tmp_path / "nsbi.json"
    assert ROOT.RooJSONFactoryWSTool(ws).exportJSON(str(path))
    nsbi = _nsbi_dists(json.loads(path.read_text()))
    assert len(nsbi) == 1 and nsbi[0]["shape_code"] == [5, 5, 5] and nsbi[0]["shape_params"] == ["alpha_eff"]
    assert _imported_nll(path) == pytest.approx(expected, rel=1e-10)


@pytest.fixture(scope="module")
def single_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A single model's workspace (with its ModelConfig) exported in a subprocess, and the model's NLL."""
    path = tmp_path_factory.mktemp("hs3") / "single.json"
    proc = subprocess.run([sys.executable, "-c", _EXPORT_SINGLE, str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return path, _toy_model(False).nll(VALUES)


def test_single_model_workspace_exports_and_imports_with_the_same_nll(single_export: tuple[Path, float]) -> None:
    path, expected = single_export
    doc = json.loads(path.read_text())
    assert len(_nsbi_dists(doc)) == 1
    assert [a["parameters_of_interest"] for a in doc["analyses"]] == [["mu"]]
    assert _imported_nll(path) == pytest.approx(expected, rel=1e-10)


def test_metadata_names_roonsbi_and_its_version(single_export: tuple[Path, float]) -> None:
    packages = {p["name"]: p["version"] for p in json.loads(single_export[0].read_text())["metadata"]["packages"]}
    assert packages["roonsbi"] == roonsbi.__version__ == ROOT.RooNSBI.version()
    assert "ROOT" in packages


def test_unbinned_axes_are_the_columns_ranges(single_export: tuple[Path, float]) -> None:
    unbinned = [d for d in json.loads(single_export[0].read_text())["data"] if d["type"] == "unbinned"]
    assert unbinned
    for data in unbinned:
        entries = np.asarray(data["entries"], dtype=float)
        for i, axis in enumerate(data["axes"]):
            assert isinstance(axis["min"], float) and isinstance(axis["max"], float), axis["name"]
            assert (axis["min"], axis["max"]) == (entries[:, i].min(), entries[:, i].max()), axis["name"]
            assert axis["min"] >= 0.0, axis["name"]  # ratio and shape columns are non-negative


def test_files_with_the_old_type_name_still_import(single_export: tuple[Path, float], tmp_path: Path) -> None:
    path, expected = single_export
    doc = json.loads(path.read_text())
    for dist in _nsbi_dists(doc):
        dist["type"] = "roonsbi_nsbi_dist"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    assert _imported_nll(old) == pytest.approx(expected, rel=1e-10)
