"""Bad input gives a clear error that names the problem (type *and* message are checked)."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import ROOT

from roonsbi.infer.fit import fit
from roonsbi.models.unbinned import NSBIModel, build_model
from roonsbi.spec import NormSys, Process, ShapeSys

N = 10


def ones(n: int = N) -> np.ndarray:
    return np.ones(n)


def with_bad(index: int, value: float, n: int = N, fill: float = 1.0) -> np.ndarray:
    out = np.full(n, fill)
    out[index] = value
    return out


@contextlib.contextmanager
def quiet_eval_errors() -> Iterator[None]:
    """Count RooFit evaluation errors instead of printing them, and hide ERROR messages."""
    msg = ROOT.RooMsgService.instance()
    kill_below = msg.globalKillBelow()
    mode = ROOT.RooAbsReal.evalErrorLoggingMode()
    ROOT.RooAbsReal.clearEvalErrorLog()
    ROOT.RooAbsReal.setEvalErrorLoggingMode(ROOT.RooAbsReal.CountErrors)
    msg.setGlobalKillBelow(ROOT.RooFit.FATAL)
    try:
        yield
    finally:
        msg.setGlobalKillBelow(kill_below)
        ROOT.RooAbsReal.setEvalErrorLoggingMode(mode)


def cpp_message(err: BaseException) -> str:
    """Text of an exception re-raised by cppyy from C++ (``what()`` when available)."""
    what = getattr(err, "what", None)
    text = what() if callable(what) else str(err)
    return text.decode() if isinstance(text, bytes) else str(text)


# -- columns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index, value, shown",
    [(3, np.nan, "nan"), (4, np.inf, "inf"), (5, -0.5, "-0.5"), (0, -np.inf, "-inf")],
    ids=["nan", "inf", "negative", "minus-inf"],
)
def test_bad_ratio_column(index: int, value: float, shown: str) -> None:
    """NaN, inf or negative ratios: ValueError naming the column and the first bad entry."""
    with pytest.raises(ValueError) as info:
        build_model([Process("S", 10.0, with_bad(index, value), "mu")])
    msg = str(info.value)
    assert "'r_S'" in msg
    assert f"entry {index} = {shown}" in msg
    assert "1 of 10" in msg


def test_bad_ratio_column_reports_first_of_several() -> None:
    r = ones()
    r[[2, 6, 7]] = [-1.0, np.nan, np.inf]
    with pytest.raises(ValueError, match=r"'r_B' has 3 of 10 entries .*first: entry 2 = -1"):
        build_model([Process("S", 10.0, ones(), "mu"), Process("B", 10.0, r, "mu")])


def test_zero_ratio_is_allowed() -> None:
    """r_J(x) = 0 is a valid density ratio (an event outside the support of process J)."""
    model = build_model([Process("S", 10.0, with_bad(1, 0.0), "mu"), Process("B", 50.0, ones(), "mu")])
    assert math.isfinite(model.nll())


@pytest.mark.parametrize("side", ["lo", "hi"])
@pytest.mark.parametrize("value", [0.0, -0.3, np.nan], ids=["zero", "negative", "nan"])
def test_bad_shape_column(side: str, value: float) -> None:
    """Shape columns must be finite and > 0: ValueError naming g_<proc>_<np>_<side>."""
    good, bad = ones(), with_bad(2, value)
    sys = ShapeSys(bad, good) if side == "lo" else ShapeSys(good, bad)
    with pytest.raises(ValueError) as info:
        build_model([Process("S", 10.0, ones(), "mu", shapesys={"eff": sys})])
    msg = str(info.value)
    assert f"'g_S_eff_{side}'" in msg
    assert "entry 2" in msg
    assert "not positive" in msg


def test_columns_of_different_lengths() -> None:
    with pytest.raises(ValueError, match=r"'r_B' has 11 entries but the other columns have 10"):
        build_model([Process("S", 10.0, ones(), "mu"), Process("B", 10.0, ones(11), "mu")])


def test_shape_column_of_different_length() -> None:
    with pytest.raises(ValueError, match=r"'g_S_eff_hi' has 9 entries but the other columns have 10"):
        build_model([Process("S", 10.0, ones(), "mu", shapesys={"eff": (ones(), ones(9))})])


def test_two_dimensional_ratio() -> None:
    with pytest.raises(ValueError, match=r"'r_S' must be 1-D, got shape \(5, 2\)"):
        build_model([Process("S", 10.0, np.ones((5, 2)), "mu")])


def test_weights_of_wrong_length() -> None:
    with pytest.raises(ValueError, match=r"weights have shape \(9,\) but the columns have 10 entries"):
        build_model([Process("S", 10.0, ones(), "mu")], weights=ones(9))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_weights(value: float) -> None:
    with pytest.raises(ValueError, match=r"weights have 1 NaN or infinite entries"):
        build_model([Process("S", 10.0, ones(), "mu")], weights=with_bad(4, value))


def test_negative_weights_are_allowed() -> None:
    """MC weights may be negative (NLO samples); only non-finite weights are rejected."""
    model = build_model([Process("S", 10.0, ones(), "mu")], weights=with_bad(4, -0.2, fill=0.5))
    assert model.data.isWeighted()
    assert model.data.sumEntries() == pytest.approx(9 * 0.5 - 0.2)


# -- codes and yields ------------------------------------------------------------------------


@pytest.mark.parametrize("code", [3, 7, -1])
def test_unknown_shape_code(code: int) -> None:
    with pytest.raises(ValueError) as info:
        build_model([Process("S", 10.0, ones(), "mu", shapesys={"eff": ShapeSys(ones(), ones(), code)})])
    msg = str(info.value)
    assert f"unknown shape interpolation code {code}" in msg
    assert "'eff'" in msg and "'S'" in msg


@pytest.mark.parametrize("code", [3, 6])
def test_unknown_normsys_code(code: int) -> None:
    with pytest.raises(ValueError) as info:
        build_model([Process("S", 10.0, ones(), "mu", normsys={"lumi": NormSys(0.9, 1.1, code)})])
    msg = str(info.value)
    assert f"unknown normalisation interpolation code {code}" in msg
    assert "'lumi'" in msg


@pytest.mark.parametrize("lo, hi", [(0.0, 1.1), (0.9, -1.1), (-0.5, -0.5), (np.nan, 1.1), (0.9, np.inf)])
def test_bad_normsys_factors(lo: float, hi: float) -> None:
    with pytest.raises(ValueError) as info:
        build_model([Process("S", 10.0, ones(), "mu", normsys={"lumi": (lo, hi)})])
    msg = str(info.value)
    assert "'lumi'" in msg and "'S'" in msg
    assert "positive finite factors" in msg
    assert f"lo={lo}" in msg and f"hi={hi}" in msg


def test_nu_not_positive_at_initial_pois() -> None:
    """f_S = mu - 2 at mu = 1 gives nu = -10."""
    with pytest.raises(ValueError) as info:
        build_model([Process("S", 10.0, ones(), "mu - 2")], pois={"mu": (1.0, -5.0, 10.0)})
    msg = str(info.value)
    assert "nu = -10" in msg
    assert "not positive" in msg
    assert "N_S = -10" in msg


def test_nu_zero_at_initial_pois() -> None:
    with pytest.raises(ValueError, match=r"nu = 0 is not positive"):
        build_model([Process("S", 10.0, ones(), "mu")], pois={"mu": (0.0, 0.0, 10.0)})


def test_nan_nominal_yield() -> None:
    with pytest.raises(ValueError, match=r"nominal yield of process 'S' is nan"):
        build_model([Process("S", np.nan, ones(), "mu")])


def test_duplicate_process_names() -> None:
    with pytest.raises(ValueError, match=r"process names must be unique"):
        build_model([Process("S", 1.0, ones(), "mu"), Process("S", 2.0, ones(), "mu")])


def test_nuisance_parameter_named_like_a_poi() -> None:
    with pytest.raises(ValueError, match=r"'mu' is both a POI and a nuisance parameter"):
        build_model([Process("S", 10.0, ones(), "mu", normsys={"mu": (0.9, 1.1)})])


_INVALID_FORMULA_SCRIPT = """
import json
import numpy as np
import roonsbi.library, ROOT
roonsbi.library.load()
ROOT.gROOT.SetBatch(True)
ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.FATAL)
from roonsbi.spec import Process
from roonsbi.models.unbinned import build_model

def attempt(coefficient):
    try:
        build_model([Process("S", 10.0, np.ones(5), coefficient)])
    except Exception as err:
        return [type(err).__name__, str(err)]
    return ["no error", ""]

out = {"fresh": attempt(%(coef)r)}
build_model([Process("S", 10.0, np.ones(5), "mu")])  # a valid formula first
out["after valid"] = attempt(%(coef)r)
print(json.dumps(out))
"""


@pytest.mark.parametrize("coefficient", ["mu + foo", "sqrt(mu", "nu*2"])
def test_invalid_coefficient_formula(coefficient: str) -> None:
    """A coefficient that is not a formula of the POIs: ValueError naming it and the process,
    whatever was built before (checked in a fresh process, then after a valid build)."""
    script = _INVALID_FORMULA_SCRIPT % {"coef": coefficient}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for when, (kind, msg) in result.items():
        assert kind == "ValueError", f"{when}: {kind}: {msg}"
        assert f"'{coefficient}'" in msg and "'S'" in msg, when


def test_zero_events() -> None:
    """An empty dataset is valid (no observed events): the NLL is nu."""
    model = build_model([Process("S", 10.0, np.ones(0), "mu")])
    assert model.nll({"mu": 1.5}) == pytest.approx(15.0)


# -- the C++ class directly ---------------------------------------------------------------------


@pytest.fixture
def cpp_objects() -> dict[str, Any]:
    """Free-standing RooFit objects for RooNSBIPdf (kept alive by the returned dict)."""
    objs: dict[str, Any] = {"mu": ROOT.RooRealVar("mu", "mu", 1.0, 0.0, 10.0)}
    for name in ("r1", "r2", "lo", "hi"):
        objs[name] = ROOT.RooRealVar(name, name, 1.0)
    objs["alpha"] = ROOT.RooRealVar("alpha_x", "alpha_x", 0.0, -5.0, 5.0)
    objs["pdf"] = ROOT.RooNSBIPdf("p", "p", ROOT.RooArgList(objs["mu"]), ROOT.RooArgList(objs["r1"]))
    return objs


def test_cpp_constructor_mismatched_lists(cpp_objects: dict[str, Any]) -> None:
    o = cpp_objects
    with pytest.raises(Exception) as info:
        ROOT.RooNSBIPdf("bad", "bad", ROOT.RooArgList(o["mu"]), ROOT.RooArgList(o["r1"], o["r2"]))
    msg = cpp_message(info.value)
    assert "invalid_argument" in type(info.value).__name__
    assert "got 1 yields but 2 ratio columns" in msg
    assert "'bad'" in msg


def test_cpp_constructor_no_process() -> None:
    with pytest.raises(Exception) as info:
        ROOT.RooNSBIPdf("empty", "empty", ROOT.RooArgList(), ROOT.RooArgList())
    assert "needs at least one process" in cpp_message(info.value)


@pytest.mark.parametrize("code", [3, 7])
def test_cpp_add_shape_unknown_code(cpp_objects: dict[str, Any], code: int) -> None:
    o = cpp_objects
    with pytest.raises(Exception) as info:
        o["pdf"].addShapeSystematic(0, o["alpha"], o["lo"], o["hi"], code)
    msg = cpp_message(info.value)
    assert f"unknown interpolation code {code}" in msg
    assert "'alpha_x'" in msg
    assert o["pdf"].shapeCodes().size() == 0  # nothing was added


def test_cpp_add_shape_bad_process_index(cpp_objects: dict[str, Any]) -> None:
    o = cpp_objects
    with pytest.raises(Exception) as info:
        o["pdf"].addShapeSystematic(1, o["alpha"], o["lo"], o["hi"], 5)
    msg = cpp_message(info.value)
    assert "refers to process 1 but the pdf has 1 processes" in msg
    assert o["pdf"].shapeCodes().size() == 0


def test_cpp_add_shape_twice(cpp_objects: dict[str, Any]) -> None:
    o = cpp_objects
    o["pdf"].addShapeSystematic(0, o["alpha"], o["lo"], o["hi"], 5)
    with pytest.raises(Exception) as info:
        o["pdf"].addShapeSystematic(0, o["alpha"], o["lo"], o["hi"], 1)
    assert "already has a shape systematic for 'alpha_x'" in cpp_message(info.value)


def test_cpp_check_columns_missing_column(cpp_objects: dict[str, Any]) -> None:
    o = cpp_objects
    o["pdf"].addShapeSystematic(0, o["alpha"], o["lo"], o["hi"], 5)
    data = ROOT.RooDataSet("partial", "partial", ROOT.RooArgSet(o["r1"], o["lo"]))
    for _ in range(3):
        data.add(ROOT.RooArgSet(o["r1"], o["lo"]))
    with pytest.raises(Exception) as info:
        o["pdf"].checkColumns(data)
    msg = cpp_message(info.value)
    assert "column 'hi' is missing from dataset 'partial'" in msg


def test_cpp_check_columns_bad_value(cpp_objects: dict[str, Any]) -> None:
    """checkColumns also checks the values (the dataset is filled entry by entry: from_numpy
    would drop NaN rows as out of range)."""
    o = cpp_objects
    data = ROOT.RooDataSet("vals", "vals", ROOT.RooArgSet(o["r1"]))
    for v in (1.0, 2.0, -3.0, 0.5):
        o["r1"].setVal(v)
        data.add(ROOT.RooArgSet(o["r1"]))
    with pytest.raises(Exception) as info:
        o["pdf"].checkColumns(data)
    msg = cpp_message(info.value)
    assert "column 'r1'" in msg and "entry 2 = -3" in msg and "'vals'" in msg


def test_nll_on_dataset_missing_a_column() -> None:
    """model.nll(data=...) checks the dataset first and raises ValueError naming the column (column form)."""
    model = build_model([Process("S", 10.0, ones(), "mu", shapesys={"eff": (ones(), ones())})], form="columns")
    ws = model.workspace
    obs = ROOT.RooArgSet(ws.var("r_S"), ws.var("g_S_eff_lo"))
    partial = ROOT.RooDataSet.from_numpy({"r_S": ones(5), "g_S_eff_lo": ones(5)}, obs, name="partial")
    with pytest.raises(ValueError, match=r"'g_S_eff_hi' is missing from dataset 'partial'"):
        model.nll(data=partial)


# -- nu <= 0 during evaluation ----------------------------------------------------------------


@pytest.fixture
def sign_changing_model() -> NSBIModel:
    """One process with f_S = mu - 2 and a POI range that allows nu < 0; valid start mu = 3."""
    rng = np.random.default_rng(7)
    return build_model([Process("S", 10.0, rng.uniform(0.5, 2.0, 20), "mu - 2")], pois={"mu": (3.0, -5.0, 10.0)})


@pytest.mark.parametrize("backend", ["cpu", "legacy"])
def test_nll_with_negative_nu_is_not_finite(sign_changing_model: NSBIModel, backend: str) -> None:
    """nu = 10 (mu - 2) < 0 at mu = 1: no silent finite number."""
    model = sign_changing_model
    assert math.isfinite(model.nll({"mu": 3.0}, backend=backend))
    with quiet_eval_errors():
        value = model.nll({"mu": 1.0}, backend=backend)
        n_errors = ROOT.RooAbsReal.numEvalErrors()
    assert not math.isfinite(value) or n_errors > 0  # RooFit 6.40 returns NaN


def test_existing_nll_object_turns_nan(sign_changing_model: NSBIModel) -> None:
    """An NLL created at a valid point, then moved to nu < 0, is NaN (not a stale/finite value)."""
    model = sign_changing_model
    nll = model.create_nll()
    assert math.isfinite(nll.getVal())
    model.set_parameters(mu=1.0)
    with quiet_eval_errors():
        assert math.isnan(nll.getVal())
    model.set_parameters(mu=3.5)
    assert math.isfinite(nll.getVal())


def test_fit_from_negative_nu_raises(sign_changing_model: NSBIModel) -> None:
    model = sign_changing_model
    model.set_parameters(mu=1.0)
    with quiet_eval_errors(), pytest.raises(ValueError) as info:
        fit(model)
    msg = str(info.value)
    assert "nu = -10" in msg and "not positive" in msg


# -- save ---------------------------------------------------------------------------------------


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    first = build_model([Process("S", 10.0, ones(), "mu")], name="first")
    second = build_model([Process("S", 20.0, ones(), "mu")], name="second")
    path = tmp_path / "model.root"
    assert first.save(path) == path
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"model\.root exists; pass overwrite=True"):
        second.save(path)
    assert path.read_bytes() == before

    # An unrelated file is not touched either.
    other = tmp_path / "notes.txt"
    other.write_text("keep me")
    with pytest.raises(FileExistsError):
        first.save(other)
    assert other.read_text() == "keep me"

    # With overwrite=True the file is replaced (and holds only the new workspace).
    second.save(path, overwrite=True)
    f = ROOT.TFile.Open(str(path))
    try:
        names = [k.GetName() for k in f.GetListOfKeys() if k.GetClassName() == "RooWorkspace"]
    finally:
        f.Close()
    assert names == ["ws_second"]


class _FailingWorkspace:
    """A workspace whose writeToFile writes the complete TFile, cuts it in half and fails (a crash
    mid-write), or reports failure as RooWorkspace::writeToFile does (``fail="return"``)."""

    def __init__(self, workspace: Any, fail: str) -> None:
        self.workspace, self.fail, self.names = workspace, fail, []

    def writeToFile(self, name: str, recreate: bool) -> bool:
        self.names.append(name)
        assert self.workspace.writeToFile(name, recreate)
        if self.fail == "return":
            return False
        with open(name, "r+b") as f:
            f.truncate(Path(name).stat().st_size // 2)
        raise RuntimeError("simulated crash half-way through the TFile")


def test_a_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    """The TFile goes to a temporary file next to the target, renamed only when complete: a failure
    in the middle leaves the old workspace file readable and no temporary file."""
    first = build_model([Process("S", 10.0, ones(), "mu")], name="first")
    second = build_model([Process("S", 20.0, ones(), "mu")], name="second")
    path = first.save(tmp_path / "model.root")
    before = path.read_bytes()
    for fail, error in (("raise", RuntimeError), ("return", OSError)):
        failing = _FailingWorkspace(second.workspace, fail)
        monkeypatch.setattr(second, "workspace", failing)
        with pytest.raises(error, match="simulated crash" if fail == "raise" else "could not write workspace"):
            second.save(path, overwrite=True)
        monkeypatch.undo()
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.root"]
        assert Path(failing.names[0]).parent == tmp_path and failing.names[0] != str(path)
    f = ROOT.TFile.Open(str(path))
    try:
        assert [k.GetName() for k in f.GetListOfKeys() if k.GetClassName() == "RooWorkspace"] == ["ws_first"]
    finally:
        f.Close()


def test_objects_from_a_temporary_model_stay_valid() -> None:
    """Objects returned by a model's properties keep its workspace alive (no dangling pointer
    when the model itself is a temporary)."""
    import gc

    data = build_model([Process("S", 10.0, np.ones(7), "mu")]).data
    pdf = build_model([Process("S", 10.0, np.ones(3), "mu")], name="other").pdf
    gc.collect()
    assert data.numEntries() == 7
    assert pdf.totalYield() == pytest.approx(10.0)
