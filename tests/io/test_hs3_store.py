"""HS3 of the store form (build_model's default): the event store is a side file (EventStore's own
format) referenced by name, rows, columns and SHA-256 from a roonsbi::nsbi_dist. write_hs3 and
RooNSBI::exportJSON write it; read_hs3 and RooNSBI::importJSON read it back, in a fresh process, to the
same NLL (1e-10) for a channel with per-event shape systematics and a weighted reference pool, and for its
combination with a binned HistFactory channel; pyhs3 validates the rest of the files; an altered or
missing store file is refused, naming it."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import roonsbi
from roonsbi.inputs.toy import OffShellToy
from roonsbi.io import read_hs3, write_hs3
from roonsbi.library import cpp_errors, load
from roonsbi.models.unbinned import build_model
from support import CONTROL_REGION as CONTROL
from support import run_killable

pyhs3 = pytest.importorskip("pyhs3")

ROOT = load()
_KEEP: list[Any] = []
VALUES = {"mu": 1.3, "alpha_eff": 0.4, "alpha_lumi": -0.7}

# a fresh process with the library: per file, the NLL of its ModelConfig pdf on obsData at VALUES (read by
# read_hs3, or by C++ RooNSBI::importJSON), and the number of bins of the re-imported event index
_IMPORT = """
import json, sys
import roonsbi.library
from roonsbi.io import read_hs3
ROOT = roonsbi.library.load()
out = {}
for path, reader in json.loads(sys.argv[1]):
    if reader == "read_hs3":
        ws = read_hs3(path)
    else:
        ws = ROOT.RooWorkspace("w")
        assert ROOT.RooNSBI.importJSON(ws, path)
    mc = ws.obj("ModelConfig")
    for name, value in json.loads(sys.argv[2]).items():
        ws.var(name).setVal(value)
    nll = mc.GetPdf().createNLL(ws.data("obsData"), ROOT.RooFit.Extended(True), ROOT.RooFit.Offset("none"),
                                ROOT.RooFit.GlobalObservables(mc.GetGlobalObservables()))
    out[f"{path}:{reader}"] = [nll.getVal(), ws.var("event_nsbi").getBins()]
print(json.dumps(out))
"""


def _store_model() -> Any:
    """A store-form channel (events and a weighted reference pool, per-event shape systematics)."""
    toy = OffShellToy()
    rng = np.random.default_rng(7)
    events = toy.processes(toy.generate(1.0, rng)[:150], systematics=True)
    pool = toy.processes(toy.generate(1.0, rng)[:120], systematics=True)
    return build_model(events, pool=pool, pool_weights=rng.uniform(0.5, 1.5, 120))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hs3_store")
    model = _store_model()
    comb = roonsbi.combine([model, roonsbi.from_pyhf(CONTROL)], name="comb")
    cpp_path = tmp / "cpp.json"
    with cpp_errors():
        assert ROOT.RooNSBI.exportJSON(model.workspace, str(cpp_path), "nsbi")
    return {"model": model, "tmp": tmp, "expected": {"nsbi": model.nll(VALUES), "comb": comb.nll(VALUES),
                                                     "cpp": model.nll(VALUES)},
            "paths": {"nsbi": write_hs3(model, tmp / "nsbi.json", label="nsbi"),
                      "comb": write_hs3(comb, tmp / "comb.json"), "cpp": cpp_path}}


def _dist(path: Path) -> dict:
    (dist,) = [d for d in json.loads(path.read_text())["distributions"] if d["type"] == "roonsbi::nsbi_dist"]
    return dist


def test_the_store_is_a_side_file_with_its_checksum(files: dict[str, Any]) -> None:
    pdf = files["model"].pdf
    for kind in ("nsbi", "comb", "cpp"):
        path = files["paths"][kind]
        ref = _dist(path)["store"]
        side = path.with_name(ref["file"])
        assert ref["file"] == f"{path.stem}.nsbi_nsbi.store"
        assert hashlib.sha256(side.read_bytes()).hexdigest() == ref["sha256"]  # hashlib: an independent SHA-256
        assert ref["rows"] == 270 and ref["columns"] == list(pdf.store().columnNames())
        stored = ROOT.RooNSBI.EventStore.open(str(side))  # the side file is the pdf's store, value for value
        for col in ref["columns"]:
            mine = np.frombuffer(pdf.store().column(col), dtype=np.float32, count=270).tobytes()
            assert np.frombuffer(stored.column(col), dtype=np.float32, count=270).tobytes() == mine, col
    dist = _dist(files["paths"]["nsbi"])
    assert dist["pool_rows"] == 120 and dist["ratio_columns"] == list(pdf.ratioColumns())
    assert len(dist["shape_code"]) == len(dist["shape_low_columns"]) == len(list(pdf.shapeCodes())) > 0


@pytest.mark.parametrize("kind", ["nsbi", "comb"])
def test_pyhs3_validates_all_but_the_documented_roonsbi_type(files: dict[str, Any], kind: str) -> None:
    doc = json.loads(files["paths"][kind].read_text())
    doc["distributions"] = [d for d in doc["distributions"] if d["type"] != "roonsbi::nsbi_dist"]
    assert not [d for d in doc["distributions"] + doc["functions"] if d["type"].startswith("roonsbi::")]
    ws = pyhs3.Workspace(**doc)
    assert {p.name for p in ws.metadata.packages} >= {"ROOT", "roonsbi"}
    assert "interpolation0d" not in files["paths"][kind].read_text()


def test_reimport_gives_the_same_nll(files: dict[str, Any]) -> None:
    runs = [[str(files["paths"]["nsbi"]), "read_hs3"], [str(files["paths"]["nsbi"]), "importJSON"],
            [str(files["paths"]["comb"]), "read_hs3"], [str(files["paths"]["cpp"]), "importJSON"]]
    proc = run_killable([sys.executable, "-c", _IMPORT, json.dumps(runs), json.dumps(VALUES)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for (path, reader), kind in zip(runs, ("nsbi", "nsbi", "comb", "cpp")):
        nll, bins = out[f"{path}:{reader}"]
        assert nll == pytest.approx(files["expected"][kind], rel=1e-10, abs=1e-10), (kind, reader)
        assert bins == 120  # the event index has its binning again: one bin per pool row (Asimov data, toys)


def test_an_altered_or_missing_store_is_refused_naming_it(files: dict[str, Any], tmp_path: Path) -> None:
    path = files["paths"]["nsbi"]
    side = path.with_name(_dist(path)["store"]["file"])
    copy = tmp_path / path.name
    copy.write_text(path.read_text())
    with pytest.raises(ValueError, match=f"{side.name}.*missing"):
        read_hs3(copy)
    store = ROOT.RooNSBI.EventStore.open(str(side))
    altered = ROOT.RooNSBI.EventStore(store.size())
    for k, col in enumerate(store.columnNames()):
        values = np.frombuffer(store.column(col), dtype=np.float32, count=store.size()).copy()
        values[0] *= 1.0 if k else 1.5
        altered.addColumn(col, values)
    altered.write(str(copy.with_name(side.name)))
    with pytest.raises(ValueError, match=f"{side.name}.*sha256.*altered"):
        read_hs3(copy)
    with pytest.raises(ValueError, match=f"{side.name}.*sha256"), cpp_errors():
        ROOT.RooNSBI.importJSON(ROOT.RooWorkspace("w"), str(copy))


def test_write_hs3_refuses_an_existing_store_file(files: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "again.nsbi_nsbi.store").write_bytes(b"")
    with pytest.raises(FileExistsError, match="again.nsbi_nsbi.store"):
        write_hs3(files["model"], tmp_path / "again.json", label="nsbi")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.nsbi_nsbi.store"]


def test_renormalised_shapes_are_refused_naming_the_reason(tmp_path: Path) -> None:
    toy = OffShellToy()
    rng = np.random.default_rng(8)
    model = build_model(toy.processes(toy.generate(1.0, rng)[:80], systematics=True), pool_weights=np.ones(80),
                        renormalise_shapes=True)
    with pytest.raises(ValueError, match="renormalised shapes.*no HS3 form"):
        write_hs3(model, tmp_path / "renorm.json")
    assert not list(tmp_path.iterdir())


def test_roots_own_importer_reads_the_store_relative_to_the_current_directory(files: dict[str, Any],
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = files["paths"]["nsbi"]
    monkeypatch.chdir(path.parent.parent)
    _KEEP.append(ROOT.RooWorkspace("elsewhere"))  # kept: ROOT 6.40 crashes deleting one whose import failed
    with pytest.raises(Exception, match=r"current directory.*RooNSBI::importJSON\(ws, path\)"):
        ROOT.RooJSONFactoryWSTool(_KEEP[-1]).importJSON(str(path))
    monkeypatch.chdir(path.parent)  # from the JSON file's folder: the same model
    ws = ROOT.RooWorkspace("here")
    assert ROOT.RooJSONFactoryWSTool(ws).importJSON(path.name)
    assert ws.pdf("nsbi_nsbi").usesStore() and ws.pdf("nsbi_nsbi").store().size() == 270
