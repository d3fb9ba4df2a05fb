"""HS3 files that other readers accept: an NSBI channel (column form), a parametrized channel and a
combination written by roonsbi.io.write_hs3 are standard HS3 for pyhs3 (an independent HS3 reader)
apart from the roonsbi:: plugin types documented in the README, re-import in a fresh ROOT process with
the library to the same NLL (1e-10) without warnings, large unbinned data go to checked .npy side files,
and plain ROOT without the library fails with a message that names roonsbi."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ROOT

import roonsbi
from roonsbi.inputs.toy import OffShellToy
from roonsbi.io import read_hs3, write_hs3
from roonsbi.models.unbinned import build_model
from support import pnsbi_channel, run_killable

pyhs3 = pytest.importorskip("pyhs3")
pydantic = pytest.importorskip("pydantic")

README = Path(__file__).resolve().parents[2] / "README.md"
NSBI_VALUES = {"mu": 1.3, "alpha_eff": 0.4, "alpha_lumi": -0.7}
PNSBI_VALUES = {"mu": 1.3, "alpha_jes": 0.4, "alpha_lumi": -0.7, "alpha_xs_S": 1.6, "gamma_stat_pnsbi_bin_0": 1.02}
COMB_VALUES = {**NSBI_VALUES, **PNSBI_VALUES, "alpha_bkg_norm": 0.2}
MU_PRIMES = (1.6, 0.4)  # grid points of the parametrized channel other than its current mu' = 1.0
CONTROL = {  # a binned control region sharing lumi with both channels (README's example)
    "channels": [{"name": "cr", "samples": [
        {"name": "bkg", "data": [500.0, 300.0], "modifiers": [
            {"name": "lumi", "type": "normsys", "data": {"hi": 1.02, "lo": 0.98}},
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}]},
        {"name": "sig", "data": [5.0, 8.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
    "observations": [{"name": "cr", "data": [510, 301]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}

# in a fresh process with the library: per file, the NLL of its ModelConfig pdf on obsData at the values and,
# for the parametrized channel, of model_pnsbi on its per-mu' data (misc.roonsbi.param_data_hists) at MU_PRIMES
_IMPORT = """
import json, sys
import roonsbi.library, ROOT
from roonsbi.io import read_hs3
from roonsbi.models.workspace import accept_fixed_observables
roonsbi.library.load()
out = {}
for path, values, mu_primes in json.loads(sys.argv[1]):
    ws = read_hs3(path)
    accept_fixed_observables(ws)  # the per-mu' NLLs by hand
    mc = ws.obj("ModelConfig")
    def nll(pdf, data):
        for name, value in values.items():
            ws.var(name).setVal(value)
        return pdf.createNLL(data, ROOT.RooFit.Extended(True), ROOT.RooFit.Offset("none"),
                             ROOT.RooFit.GlobalObservables(mc.GetGlobalObservables())).getVal()
    out[path] = [nll(mc.GetPdf(), ws.data("obsData"))]
    for mp in mu_primes:
        ws.var("mu_prime").setVal(mp)
        hist = ws.genobj("paramData_pnsbi").dataHist(ws.var("obs_pnsbi"), mp, False, "d")
        out[path].append(nll(ws.pdf("model_pnsbi"), hist))
print(json.dumps(out))
"""

# plain ROOT, without libRooNSBI: what RooJSONFactoryWSTool says about each file
# (the workspaces are kept: ROOT 6.40 crashes when one whose import failed is deleted)
_PLAIN = """
import json, os, sys
import ROOT
assert "RooNSBI" not in ROOT.gSystem.GetLibraries()
keep, out = [], {}
for path in sys.argv[1:]:
    keep.append(ROOT.RooWorkspace(f"w{len(keep)}"))
    try:
        out[path] = "imported" if ROOT.RooJSONFactoryWSTool(keep[-1]).importJSON(path) else "failed"
    except Exception as err:
        out[path] = str(err)
print(json.dumps(out), flush=True)
os._exit(0)
"""


def _nsbi_model() -> Any:
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(5))[:300]
    return build_model(toy.processes(x, systematics=True), form="columns")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The HS3 files (an NSBI channel, a parametrized channel with normsys codes 1 and 4, their combination
    with a binned control region, the NSBI channel with side files) and the models' NLLs."""
    tmp = tmp_path_factory.mktemp("hs3_standard")
    nsbi, pnsbi = _nsbi_model(), pnsbi_channel(codes=(1, 4))
    comb = roonsbi.combine([nsbi, pnsbi, roonsbi.from_pyhf(CONTROL)], name="comb")
    out = {"nsbi": (write_hs3(nsbi, tmp / "nsbi.json", label="nsbi"), NSBI_VALUES, ()),
           "pnsbi": (write_hs3(pnsbi, tmp / "pnsbi.json", label="pnsbi"), PNSBI_VALUES, MU_PRIMES),
           "comb": (write_hs3(comb, tmp / "comb.json"), COMB_VALUES, MU_PRIMES),  # combine keeps the per-mu' data
           "side": (write_hs3(nsbi, tmp / "side.json", label="nsbi", inline_limit=1000), NSBI_VALUES, ())}
    pnsbi_nlls = [pnsbi.nll(PNSBI_VALUES, mu_prime=m) for m in (1.0, *MU_PRIMES)]
    expected = {"nsbi": [nsbi.nll(NSBI_VALUES)], "side": [nsbi.nll(NSBI_VALUES)],
                "comb": [comb.nll(COMB_VALUES), *pnsbi_nlls[1:]], "pnsbi": pnsbi_nlls}
    pnsbi.set_mu_prime(1.0)
    return {"paths": {k: v[0] for k, v in out.items()}, "runs": list(out.values()), "expected": expected,
            "models": {"nsbi": nsbi, "pnsbi": pnsbi}}


@pytest.fixture(scope="module")
def imported(files: dict[str, Any]) -> tuple[dict[str, list[float]], str]:
    """The NLLs of the files imported in one fresh process with the library, and its stderr."""
    runs = [[str(path), values, list(mps)] for path, values, mps in files["runs"]]
    proc = run_killable([sys.executable, "-c", _IMPORT, json.dumps(runs)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    nlls = json.loads(proc.stdout.strip().splitlines()[-1])
    return {k: nlls[str(p)] for k, p in files["paths"].items()}, proc.stderr


def _documented_plugin_types() -> set[str]:
    """The roonsbi:: types of the README's HS3 section."""
    return set(re.findall(r"`(roonsbi::[a-z_]+)`", README.read_text()))


def _standard_part(doc: dict) -> tuple[dict, set[str]]:
    """The document without its roonsbi:: objects, and their types."""
    doc = json.loads(json.dumps(doc))
    removed: set[str] = set()
    for key in ("distributions", "functions", "data"):
        removed |= {d["type"] for d in doc.get(key, []) if d["type"].startswith("roonsbi::")}
        doc[key] = [d for d in doc.get(key, []) if not d["type"].startswith("roonsbi::")]
    return doc, removed


@pytest.mark.parametrize("kind", ["nsbi", "pnsbi", "comb"])
def test_pyhs3_reads_everything_but_the_documented_plugin_types(files: dict[str, Any], kind: str) -> None:
    doc = json.loads(files["paths"][kind].read_text())
    with pytest.raises(pydantic.ValidationError, match="roonsbi::"):  # pyhs3 names the type it does not know
        pyhs3.Workspace(**doc)
    rest, removed = _standard_part(doc)
    assert removed and removed <= _documented_plugin_types(), removed - _documented_plugin_types()
    ws = pyhs3.Workspace(**rest)  # everything else is HS3 that pyhs3 validates
    text = files["paths"][kind].read_text()
    assert "interpolation0d" not in text and ": null" not in text  # no ROOT-only type, no null ranges
    assert {p.name for p in ws.metadata.packages} >= {"ROOT", "roonsbi"}
    for axis in (a for d in doc["data"] for a in d["axes"]):
        assert isinstance(axis["min"], float) and isinstance(axis["max"], float), axis


def test_pyhs3_evaluates_the_normalisation_interpolations_as_roofit(files: dict[str, Any]) -> None:
    """The FlexibleInterpVars G_J (normsys codes 1 and 4) of the parametrized channel, written as HS3
    `interpolation`, evaluated by pyhs3 (its own implementation of the interpolation codes) equal RooFit's
    FlexibleInterpVar, inside and outside |alpha| < 1."""
    import pytensor
    import pytensor.tensor as pt

    doc = json.loads(files["paths"]["pnsbi"].read_text())
    ws = pyhs3.Workspace(**_standard_part(doc)[0])
    constants = {p.name: p.value for p in ws.parameter_points["default_values"]}
    functions = [f for f in doc["functions"] if f["type"] == "interpolation"]
    model = files["models"]["pnsbi"]
    assert {f["name"] for f in functions} == {a.GetName() for a in model.workspace.allFunctions()
                                             if isinstance(a, ROOT.RooStats.HistFactory.FlexibleInterpVar)}
    codes = {c for f in functions for c in f["interpolationCodes"]}
    assert codes == {1, 5}, codes  # FlexibleInterpVar's 4 is PiecewiseInterpolation's 5
    alphas = sorted({v for f in functions for v in f["vars"]})
    points = np.random.default_rng(3).uniform(-2.5, 2.5, size=(6, len(alphas)))  # inside and outside |alpha| < 1
    inputs = {a: pt.dvector(a) for a in alphas}
    ctx = {n: inputs[n] if n in inputs else pt.constant(constants[n])
           for f in functions for n in ws.functions[f["name"]].parameters}
    evaluate = pytensor.function(list(inputs.values()), [ws.functions[f["name"]]._expression(ctx) for f in functions],
                                 mode="FAST_COMPILE")  # no C compilation
    pyhs3_values = np.array(evaluate(*points.T))  # (functions, points), one compilation
    for i, point in enumerate(points):
        model.set_parameters(dict(zip(alphas, point.tolist())))
        for j, f in enumerate(functions):
            assert pyhs3_values[j, i] == pytest.approx(model.workspace.function(f["name"]).getVal(), rel=1e-12), \
                (f["name"], dict(zip(alphas, point)))
    model.set_parameters(dict.fromkeys(alphas, 0.0))


@pytest.mark.parametrize("kind", ["nsbi", "pnsbi", "comb", "side"])
def test_reimport_with_the_library_gives_the_same_nll(files: dict[str, Any], imported: tuple[dict, str],
                                                        kind: str) -> None:
    assert imported[0][kind] == pytest.approx(files["expected"][kind], rel=1e-10, abs=1e-10)


def test_reimport_prints_no_range_warnings(imported: tuple[dict, str]) -> None:
    """The widths of the Gaussian constraints have a range: RooFit does not warn about them on import."""
    assert "exceeds the safe range" not in imported[1], imported[1][-2000:]


def test_parametrized_channel_keeps_its_plugin_objects(files: dict[str, Any]) -> None:
    doc = json.loads(files["paths"]["pnsbi"].read_text())
    types = {d["name"]: d["type"] for d in doc["distributions"] + doc["functions"]}
    assert types["pnsbi_pnsbi"] == "roonsbi::param_hist_dist"
    assert types["gamma_stat_pnsbi_bin_0_sigma"] == "roonsbi::grid_function"
    (hist,) = doc["misc"]["roonsbi"]["param_data_hists"]
    pdh = files["models"]["pnsbi"].param_data
    assert hist["name"] == "paramData_pnsbi" and hist["grid"] == list(pdh.grid())
    assert hist["counts"] == [c for m in pdh.grid() for c in pdh.binContents(m)]


def test_large_unbinned_data_go_to_checked_side_files(files: dict[str, Any], tmp_path: Path) -> None:
    import hashlib

    path = files["paths"]["side"]
    (data,) = json.loads(path.read_text())["data"]
    assert data["type"] == "roonsbi::unbinned_npy" and "entries" not in data
    assert data["type"] in _documented_plugin_types()
    with pytest.raises(pydantic.ValidationError, match="roonsbi::unbinned_npy"):  # what pyhs3 says
        pyhs3.Workspace(**json.loads(path.read_text()))
    side = path.with_name(data["entries_file"])
    assert hashlib.sha256(side.read_bytes()).hexdigest() == data["entries_sha256"]
    inline = json.loads(files["paths"]["nsbi"].read_text())["data"][0]
    assert np.load(side).tolist() == inline["entries"] and data["axes"] == inline["axes"]

    # an altered side file is refused, naming it; RooNSBI::importJSON (C++) sends the reader to read_hs3
    copy = tmp_path / path.name
    copy.write_text(path.read_text())
    entries = np.load(side)
    entries[0, 0] *= 1.5
    np.save(copy.with_name(side.name), entries)
    with pytest.raises(ValueError, match=f"{side.name}.*sha256"):
        read_hs3(copy)
    with pytest.raises(ValueError, match="read_hs3"):
        _cpp_import(copy)
    with pytest.raises(FileExistsError):
        write_hs3(files["models"]["nsbi"], path, inline_limit=1000)


def _cpp_import(path: Path) -> None:
    from roonsbi.library import cpp_errors

    with cpp_errors():
        ROOT.RooNSBI.importJSON(ROOT.RooWorkspace("w"), str(path))


def test_plain_root_without_the_library_names_roonsbi(files: dict[str, Any]) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "ROOT_INCLUDE_PATH", "PYTHONPATH")}
    paths = [str(p) for k, p in files["paths"].items() if k != "side"]
    proc = subprocess.run([sys.executable, "-c", _PLAIN, *paths], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for path, message in json.loads(proc.stdout.strip().splitlines()[-1]).items():
        assert re.search(r"no handling for type 'roonsbi::(nsbi_dist|param_hist_dist|grid_function)'", message), \
            (path, message[:500])

