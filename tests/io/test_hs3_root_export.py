"""What ROOT's own RooJSONFactoryWSTool::exportJSON writes for a roonsbi combination (the README's "HS3 JSON"
section): with the library loaded the FlexibleInterpVars are standard `interpolation`s (roonsbi's exporter,
registered in ROOT's tool), but the axes of the column observables are null, the constraint widths have no
range and metadata does not name roonsbi; pyhs3 rejects the file for the null ranges; a store-form channel
without a pool fails on its event index. write_hs3's file of the same workspace has none of that."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import roonsbi
from roonsbi.inputs.toy import OffShellToy
from roonsbi.io import write_hs3
from roonsbi.library import load
from roonsbi.models.unbinned import build_model
from support import CONTROL_REGION as CONTROL

pyhs3 = pytest.importorskip("pyhs3")
pydantic = pytest.importorskip("pydantic")
ROOT = load()



@pytest.fixture(scope="module")
def combination() -> Any:
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(3))[:120]
    nsbi = build_model(toy.processes(x, systematics=True), form="columns")
    return roonsbi.combine([nsbi, roonsbi.from_pyhf(CONTROL)], name="comb"), nsbi


def _without_roonsbi_types(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    for key in ("distributions", "functions"):
        doc[key] = [d for d in doc.get(key, []) if not d["type"].startswith("roonsbi::")]
    return doc


def test_roots_own_export(combination: Any) -> None:
    comb, nsbi = combination
    doc = json.loads(str(ROOT.RooJSONFactoryWSTool(comb.workspace).exportJSONtoString()))
    fivs = {a.GetName() for a in comb.workspace.allFunctions()
            if isinstance(a, ROOT.RooStats.HistFactory.FlexibleInterpVar)}
    written = {f["name"]: f["type"] for f in doc["functions"] if f["name"] in fivs}  # (HistFactory's are modifiers)
    assert {"G_S", "G_B", "G_SBI"} <= written.keys() and set(written.values()) == {"interpolation"}
    assert "interpolation0d" not in json.dumps(doc)  # roonsbi's exporter, not ROOT's interpolation0d
    (data,) = [d for d in doc["data"] if d["type"] == "unbinned"]
    null_axes = {a["name"] for a in data["axes"] if a.get("min") is None or a.get("max") is None}
    columns = {v.GetName() for v in nsbi.data.get() if isinstance(v, ROOT.RooRealVar)}
    assert null_axes == columns  # exactly the per-event columns: observables without a range
    ranged = {a["name"] for d in doc.get("domains", []) for a in d.get("axes", [])}
    widths = {"sigma_alpha_eff", "sigma_alpha_lumi"}
    (point,) = [p for p in doc["parameter_points"] if p["name"] == "default_values"]
    assert widths <= {p["name"] for p in point["parameters"]} and not widths & ranged  # constants without a range
    assert "roonsbi" not in {p["name"] for p in doc["metadata"]["packages"]}
    with pytest.raises(pydantic.ValidationError):  # HS3 needs numbers for the axis ranges
        pyhs3.Workspace(**_without_roonsbi_types(doc))


def test_write_hs3_of_the_same_workspace_validates(combination: Any, tmp_path: Any) -> None:
    path = write_hs3(combination[0], tmp_path / "comb.json")
    doc = json.loads(path.read_text())
    assert ": null" not in path.read_text()
    ranged = {a["name"] for d in doc["domains"] for a in d["axes"]}
    assert {"sigma_alpha_eff", "sigma_alpha_lumi"} <= ranged
    assert "roonsbi" in {p.name for p in pyhs3.Workspace(**_without_roonsbi_types(doc)).metadata.packages}


def test_roots_own_export_of_a_store_form_channel_fails_on_the_event_index() -> None:
    toy = OffShellToy()
    store = build_model(toy.processes(toy.generate(1.0, np.random.default_rng(4))[:60]))  # no pool
    comb = roonsbi.combine([store, roonsbi.from_pyhf(CONTROL)], name="comb_store")
    with pytest.raises(Exception, match="RooNSBIRowBinning.*no reference pool"):
        ROOT.RooJSONFactoryWSTool(comb.workspace).exportJSONtoString()
