"""Helpers shared by several test modules: inputs they build (HistFactory workspaces, ONNX networks,
ROOT files of events) and the plain ``root`` executable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

import roonsbi.library
from roonsbi.binned.templates import BinnedProcess
from roonsbi.spec import NormSys

ROOT = roonsbi.library.load()

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


def histfactory_tutorial(base: Path) -> Path:
    """ROOT's tutorial set-up (:func:`roonsbi.io.histfactory_tutorial`); the test is skipped when ROOT has
    no tutorial files. Returns the directory to run from."""
    from roonsbi.io import histfactory_tutorial as prepare

    try:
        return prepare(base)
    except FileNotFoundError as err:
        pytest.skip(str(err))


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


def root_executable() -> Path | None:
    """The ``root`` launcher of the ROOT installation used by this Python."""
    candidates = [Path(sys.executable).parent / "root"]
    found = shutil.which("root")
    if found:
        candidates.append(Path(found))
    candidates.append(Path(ROOT.__file__).parent / "bin" / "root")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def run_killable(command: list[str], cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``command`` in its own process group, which is killed whole on a time-out (a crashed ROOT can hang
    in its signal handler); a time-out fails the test with the end of the output."""
    import signal

    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"timed out after {timeout} s: {command[-1][:200]}\n{out[-1000:]}{err[-2000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def run_in_roonsbi_env(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``command`` in a shell after ``eval "$(roonsbi env)"`` (roonsbi run as this Python's module), in its own
    process group (:func:`run_killable`)."""
    script = f'lines="$("{sys.executable}" -m roonsbi env)" || exit 3; eval "$lines" && exec {command}'
    return run_killable(["bash", "-c", script], cwd, timeout)


def write_events(path: Path, arrays: dict[str, np.ndarray], rntuple: bool = False) -> Path:
    import uproot

    with uproot.recreate(str(path)) as f:
        if rntuple:
            f["events"] = arrays  # uproot >= 5.7 writes an RNTuple for a dict
        else:
            f.mktree("events", {k: v.dtype for k, v in arrays.items()})
            f["events"].extend(arrays)
    return path


def make_linear_onnx(
    path: Path,
    weights: Sequence[float],
    bias: float,
    activation: str | None,
    feature_names: Sequence[str] | None = None,
    layout: str = "matrix",
    input_names: Sequence[str] | None = None,
    n_outputs: int = 1,
    dtype: int = 1,  # onnx.TensorProto.FLOAT
) -> Path:
    """y = activation(x W + b): ``activation`` in {"Exp", "Sigmoid", "Sqrt", None (identity)}.

    ``layout="matrix"``: one input "x" of shape [N, d] (feature names as metadata if given);
    ``layout="columns"``: one input [N, 1] per feature, named ``input_names``.
    ``n_outputs > 1`` repeats the column (output shape [N, n_outputs]).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    np_dtype = np.float32 if dtype == TensorProto.FLOAT else np.float64
    d = len(weights)
    w = numpy_helper.from_array(np.asarray(weights, np_dtype).reshape(d, 1), "W")
    b = numpy_helper.from_array(np.asarray([bias], np_dtype), "b")
    inits, nodes = [w, b], []
    if layout == "matrix":
        inputs = [helper.make_tensor_value_info("x", dtype, ["N", d])]
        x = "x"
    else:
        names = list(input_names)
        inputs = [helper.make_tensor_value_info(n, dtype, ["N", 1]) for n in names]
        nodes.append(helper.make_node("Concat", names, ["x"], axis=1))
        x = "x"
    nodes += [helper.make_node("MatMul", [x, "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["z"])]
    nodes.append(helper.make_node(activation or "Identity", ["z"], ["a"]))
    if n_outputs > 1:
        nodes.append(helper.make_node("Concat", ["a"] * n_outputs, ["y"], axis=1))
    else:
        nodes.append(helper.make_node("Identity", ["a"], ["y"]))
    graph = helper.make_graph(nodes, "linear", inputs, [helper.make_tensor_value_info("y", dtype, ["N", n_outputs])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if feature_names is not None:
        helper.set_model_props(model, {"feature_names": ",".join(feature_names)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def events(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-event columns of three processes with two shape systematics each (E_ref[r_J] ~ 1)."""
    z = rng.normal(size=(n, 2))
    cols = {
        "r_S": np.exp(0.9 * z[:, 0] - 0.405),
        "r_I": np.exp(0.3 * z[:, 0] + 0.4 * z[:, 1] - 0.125),
        "r_B": np.exp(-0.6 * z[:, 0] + 0.2 * z[:, 1] - 0.2),
        "weight": rng.uniform(0.5, 1.5, n) / n,
    }
    for j, k in (("S", 0.08), ("I", -0.05), ("B", 0.12)):
        cols[f"g_{j}_jes_lo"] = np.exp(-k * z[:, 1])
        cols[f"g_{j}_jes_hi"] = np.exp(k * z[:, 1] + 0.01)
        cols[f"g_{j}_res_lo"] = 1.0 + 0.1 * np.tanh(z[:, 0])
        cols[f"g_{j}_res_hi"] = 1.0 - 0.08 * np.tanh(z[:, 0])
    return cols




# -- a synthetic parametrized-NSBI channel (tests/models/test_parametrized.py, tests/io) ----------
GRID = np.array([0.4, 1.0, 1.6, 2.5])
HISTOSYS_CODES = {"S": {"jes": 4, "res": 1}, "I": {"jes": 5, "res": 2}, "B": {"jes": 0, "res": 6}}


def processes() -> list[BinnedProcess]:
    return [
        BinnedProcess("S", 50.0, "mu", {"lumi": NormSys(0.97, 1.03, 4), "xs_S": NormSys(0.9, 1.15, 1)},
                      HISTOSYS_CODES["S"]),
        BinnedProcess("I", 30.0, "sqrt(mu)", {"lumi": NormSys(0.97, 1.03, 4)}, HISTOSYS_CODES["I"]),
        BinnedProcess("B", 400.0, "1", {"lumi": NormSys(0.97, 1.03, 4), "xs_B": NormSys(0.93, 1.05, 4)},
                      HISTOSYS_CODES["B"]),
    ]


# -- pyhf JSON tests (tests/io/test_pyhf_*.py) -------------------------------------------------
import math
from typing import Any

PYHF_DATA = Path(__file__).resolve().parent / "data" / "pyhf"  #: workspaces from pyhf's repository
PYHF_GRID = np.array([0.4, 1.0, 1.6, 2.5])  #: the mu' grid of the parametrized channels of those tests
#: A binned control region (pyhf JSON, 2 bins) sharing the normsys lumi and the POI mu with an NSBI channel.
CONTROL_REGION = {
    "channels": [{"name": "cr", "samples": [
        {"name": "bkg", "data": [500.0, 300.0], "modifiers": [
            {"name": "lumi", "type": "normsys", "data": {"hi": 1.02, "lo": 0.98}}]},
        {"name": "sig", "data": [5.0, 8.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
    "observations": [{"name": "cr", "data": [510, 301]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}



def random_point(params: Any, rng: np.random.Generator) -> dict[str, float]:
    """Values inside the ranges: alphas in [-1.5, 1.5], everything else within 10% of 1."""
    out = {}
    for v in params:
        lo, hi = (-1.5, 1.5) if v.GetName().startswith("alpha_") else (0.9, 1.1)
        out[v.GetName()] = float(rng.uniform(max(lo, v.getMin()), min(hi, v.getMax())))
    return out


def gauss_truncation(constraints: Any, globs: Any) -> float:
    r"""Sum of log P(global observable in its range) of the Gaussian constraints: the part of a
    RooFit NLL from normalising RooGaussian(glob | param, sigma) on the finite range of glob
    (``globs``: the global observables)."""
    total = 0.0
    for c in constraints:
        if not isinstance(c, ROOT.RooGaussian):
            continue
        x, mean, sigma = c.getX(), c.getMean(), c.getSigma().getVal()
        glob, par = (x, mean) if globs.find(x.GetName()) else (mean, x)
        assert globs.find(glob.GetName()), c.GetName()
        cdf = lambda v, par=par, sigma=sigma: 0.5 * math.erfc(-(v - par.getVal()) / (sigma * math.sqrt(2.0)))
        total += math.log(cdf(glob.getMax()) - cdf(glob.getMin()))
    return total


def constraint_terms(mc: Any) -> list:
    """The constraint terms of a ModelConfig's pdf: the channel factors that do not depend on the observables."""
    pdf = mc.GetPdf()
    chans = [pdf.getPdf(s.first) for s in pdf.indexCat()] if isinstance(pdf, ROOT.RooSimultaneous) else [pdf]
    out = {}
    for ch in chans:
        for f in ch.pdfList():
            if not f.dependsOn(mc.GetObservables()):
                out[f.GetName()] = f
    return list(out.values())


def pyhf_fit(spec: dict) -> tuple[dict[str, float], float]:
    """pyhf's best fit as RooFit-named values (alpha_X, gamma_<name>_bin_b, Lumi) and -log L."""
    import pyhf

    from roonsbi.io.pyhf_json import roofit_names

    ws = pyhf.Workspace(spec)
    model = ws.model()
    pars, twice_nll = pyhf.infer.mle.fit(ws.data(model), model, return_fitted_val=True, tolerance=1e-12)
    return dict(zip(roofit_names(model), (float(p) for p in pars))), float(twice_nll) / 2


def assert_same_fit(roofit: dict[str, float], pyhf_values: dict[str, float]) -> None:
    """Best-fit values agree to 1e-4 relative (absolute 1e-4 for values near 0, e.g. alphas)."""
    for name, value in roofit.items():
        assert value == pytest.approx(pyhf_values[name], rel=1e-4, abs=1e-4), name


def offshell_pnsbi() -> Any:
    """The off-shell toy's basis (SBI: sqrt(mu), S: mu - sqrt(mu), B: 1 - sqrt(mu), exact ratios),
    8 bins, normsys on every process, staterror from 20000 MC events, Poisson data at mu = 1.2."""
    from roonsbi.binned.templates import Quantiles, build_templates
    from roonsbi.inputs.toy import COEFFICIENTS, OffShellToy
    from roonsbi.models.parametrized import build_parametrized_model

    toy = OffShellToy()
    x = toy.sample_ref(20_000, np.random.default_rng(21))
    mc = {f"r_{k}": v for k, v in toy.ratios(x).items()}
    mc["weight"] = np.full(len(x), 1.0 / len(x))
    procs = [BinnedProcess(n, y, COEFFICIENTS[n], {"lumi": NormSys(0.97, 1.03, 4), f"xs_{n}": NormSys(0.92, 1.1, 4)})
             for n, y in toy.basis_yields().items()]
    t = build_templates(mc, procs, PYHF_GRID, Quantiles(8), progress=False)
    counts = np.random.default_rng(5).poisson(t.expected(1.2)).astype(float)
    return build_parametrized_model(t, data=counts, name="offshell")


def pnsbi_channel(codes: tuple[int, int] = (4, 4), name: str = "pnsbi") -> Any:
    """A synthetic parametrized-NSBI channel (S: mu, I: sqrt(mu), B: 1 - 0.1 sqrt(mu); 6 bins) with the
    normsys code ``codes[0]`` on xs_S and the histosys code ``codes[1]`` on S's jes; data at mu = 1.3."""
    from roonsbi.binned.templates import Quantiles, build_templates
    from roonsbi.models.parametrized import build_parametrized_model

    ns, hs = codes
    procs = [
        BinnedProcess("S", 50.0, "mu", {"lumi": NormSys(0.97, 1.03, 4), "xs_S": NormSys(0.9, 1.15, ns)},
                      {"jes": hs, "res": 4}),
        BinnedProcess("I", 30.0, "sqrt(mu)", {"lumi": NormSys(0.97, 1.03, 4)}, {"jes": 4}),
        BinnedProcess("B", 400.0, "1 - 0.1*sqrt(mu)", {"lumi": NormSys(0.97, 1.03, 4), "xs_B": NormSys(0.93, 1.05, 4)},
                      {"jes": 4, "res": 4}),
    ]
    rng = np.random.default_rng(11)
    t = build_templates(events(6000, rng), procs, PYHF_GRID, Quantiles(6), progress=False)
    counts = rng.poisson(t.expected(1.3)).astype(float)
    return build_parametrized_model(t, data=counts, name=name)


def load_pyhf(name: str) -> dict:
    """A workspace of ``tests/data/pyhf``."""
    import json

    return json.loads((PYHF_DATA / name).read_text())
