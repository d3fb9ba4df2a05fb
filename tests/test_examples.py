"""examples/walkthrough.py runs end to end with no by-hand step (ROOT files -> skl2onnx classifiers ->
roonsbi evaluate with calibration -> NSBI -> combination with ROOT's HistFactory tutorial -> fit, scan,
impacts, CLs limit, plots), and its NSBI interval, from learned and calibrated ratios, is that of the
exact likelihood of the toy's known densities (tests/reference.py's numpy NLL, profiled with scipy)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("uproot")

from scipy.optimize import minimize, minimize_scalar

from reference import RefProcess, nll
from roonsbi.infer.intervals import chi2_threshold, crossing_interval

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gauss(x: np.ndarray, shape) -> np.ndarray:
    (m0, m1), sigma = shape
    return np.exp(-((x[:, 0] - m0) ** 2 + (x[:, 1] - m1) ** 2) / (2 * sigma**2)) / (2 * math.pi * sigma**2)


def _exact_t(walk, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """t(mu) of the exact density ratios p_J/p_ref, alpha_syst2 (code-4 normsys on B) profiled."""
    ref = _gauss(x, walk.REFERENCE)
    r_s, r_b = _gauss(x, walk.SIGNAL) / ref, _gauss(x, walk.BACKGROUND) / ref
    procs = [RefProcess(walk.YIELDS["S"], r_s, lambda p: p["mu"]),
             RefProcess(walk.YIELDS["B"], r_b, lambda p: 1.0, normsys={"syst2": (0.95, 1.05, 4)})]
    profile = [minimize_scalar(lambda a, m=m: nll(procs, {"mu": m}, {"syst2": a}), bounds=(-5, 5),
                               method="bounded", options={"xatol": 1e-7}).fun for m in grid]
    free = minimize(lambda v: nll(procs, {"mu": v[0]}, {"syst2": v[1]}), x0=[1.0, 0.0], bounds=[(0, 3), (-5, 5)],
                    method="L-BFGS-B", options={"ftol": 1e-12, "gtol": 1e-9})
    best = min(free.fun, min(profile))
    return 2 * (np.array(profile) - best)


def test_walkthrough(tmp_path: Path) -> None:
    import uproot

    walk = _module("walkthrough")
    out = tmp_path / "walkthrough"
    summary = walk.run(out)
    assert summary["fit"]["status"] == 0
    # the calibration: factors near 1 (the classifiers are of the exact family), in the columns' metadata
    from roonsbi.inputs.column_files import read_metadata

    factors = summary["calibration"]["factors"]
    assert set(factors) == {"r_S", "r_B"} and all(0.9 < f < 1.1 for f in factors.values())
    assert read_metadata(out / "columns" / "data.npz")["calibration"]["factors"] == pytest.approx(factors)
    # the NSBI channel alone: its 68% CL interval is the exact likelihood's (learned ratios: within 0.05)
    with uproot.open(f"{out / 'events' / 'data.root'}:events") as tree:
        a = tree.arrays(["x0", "x1"], library="np")
    x = np.column_stack([a["x0"], a["x1"]])
    grid = np.linspace(0.0, 3.0, 16)
    t = _exact_t(walk, x, grid)
    exact = crossing_interval(grid, t, chi2_threshold(0.6827), float(grid[np.argmin(t)]))
    assert summary["intervals68"]["NSBI"] == pytest.approx(exact, abs=0.05)
    # the combination with the tutorial narrows the interval; the limit and its band are ordered
    (lo_n, hi_n), (lo_c, hi_c) = summary["intervals68"]["NSBI"], summary["intervals68"]["NSBI + HistFactory tutorial"]
    assert hi_c - lo_c < hi_n - lo_n
    limit = summary["upper_limit"]
    assert 0 < limit["observed"] < 3 and np.all(np.diff(limit["expected"]) > 0)
    assert {i["name"] for i in summary["impacts"]["impacts"]} >= {"alpha_syst2", "alpha_syst3"}
    for path in summary["plots"]:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(path).stat().st_size > 5000
    assert (out / "diagnostics" / "closure.png").is_file()
    # a second run into the same folder is refused, naming the option
    with pytest.raises(FileExistsError, match="--overwrite"):
        walk.run(out)
