"""Diagnostics on the reference sample: normalisation closure, ratio distributions, reweighting.

Reference density N(0, 1) in x0 and x1; process J shifts x0: p_J = N(MU, 1) x N(0, 1), so
log r_J = MU x0 - MU^2/2 exactly (a linear ONNX network with log-ratio output). The shape
variations shift the mean by +-DELTA: log g(+-1) = +-DELTA (x0 - MU) - DELTA^2/2.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from roonsbi.inputs.columns import evaluate_columns
from roonsbi.inputs.diagnostics import (
    chi2_pvalue,
    normalisation_closure,
    ratio_summary,
    reweighting_check,
)
from roonsbi.inputs.networks import RatioModel
from roonsbi.plot.diagnostics import diagnose, plot_closure
from support import make_linear_onnx, write_events

MU, DELTA = 0.5, 0.2
N_REF = 4000  # statistical error of the closure ~ sqrt((e^{MU^2} - 1)/N) = 0.84 %


def log_ratio_net(path, slope: float, offset: float):
    return make_linear_onnx(path, [slope, 0.0], offset, None, feature_names=["x0", "x1"])


@pytest.fixture
def reference(rng):
    return {"x0": rng.normal(size=N_REF), "x1": rng.normal(size=N_REF)}


@pytest.fixture
def networks(tmp_path):
    """Correct r_S and shape networks, and the same r_S off by a factor 1.1."""
    nets = {
        "good": log_ratio_net(tmp_path / "good.onnx", MU, -MU**2 / 2),
        "bad": log_ratio_net(tmp_path / "bad.onnx", MU, -MU**2 / 2 + math.log(1.1)),
        "hi": log_ratio_net(tmp_path / "hi.onnx", DELTA, -DELTA * MU - DELTA**2 / 2),
        "lo": log_ratio_net(tmp_path / "lo.onnx", -DELTA, DELTA * MU - DELTA**2 / 2),
        "lo_bad": log_ratio_net(tmp_path / "lo_bad.onnx", -DELTA, DELTA * MU - DELTA**2 / 2 - math.log(1.05)),
    }
    return nets


def test_closure_passes_correct_and_flags_misnormalised_model(reference, networks) -> None:
    spec = {
        "r_S": RatioModel(networks["good"], output="log_ratio"),
        "g_S_jes_lo": RatioModel(networks["lo"], output="log_ratio"),
        "g_S_jes_hi": RatioModel(networks["hi"], output="log_ratio"),
        "r_B": RatioModel(networks["bad"], output="log_ratio"),
        "g_B_jes_lo": RatioModel(networks["lo_bad"], output="log_ratio"),
        "g_B_jes_hi": RatioModel(networks["hi"], output="log_ratio"),
    }
    cols = evaluate_columns(reference, spec, chunk_size=1500)
    report = normalisation_closure(cols)
    assert [r.column for r in report.results] == list(spec)
    expected_error = math.sqrt((math.exp(MU**2) - 1) / N_REF)
    good, bad = report["r_S"], report["r_B"]
    assert good.error == pytest.approx(expected_error, rel=0.15)
    assert 0.006 < good.error < 0.012
    assert not good.flagged and abs(good.pull) < 3
    assert not report["g_S_jes_lo"].flagged and not report["g_S_jes_hi"].flagged
    assert bad.flagged and bad.mean == pytest.approx(1.1 * good.mean, rel=1e-6) and bad.pull > 5
    # r_B is 10% high: its variations are too (r_B g), and g_B_jes_lo another 5% low
    assert report["g_B_jes_hi"].flagged and report["g_B_jes_lo"].flagged
    assert report["g_B_jes_lo"].mean == pytest.approx(1.1 / 1.05 * report["g_S_jes_lo"].mean, rel=1e-6)
    assert not report.passed and [r.column for r in report.flagged] == ["r_B", "g_B_jes_lo", "g_B_jes_hi"]
    assert normalisation_closure(cols, processes=["S"]).passed
    # a tolerance larger than the deviation un-flags it
    assert normalisation_closure(cols, processes=["B"], tolerance=0.2).passed
    table = report.table()
    assert "r_B" in table and "FLAGGED" in table and table.count("FLAGGED") == 3
    assert json.loads(json.dumps(report.to_dict()))["passed"] is False


def test_closure_error_formula_and_weights(rng) -> None:
    r = rng.exponential(1.0, size=2000)
    report = normalisation_closure({"r_A": r})
    assert report["r_A"].mean == pytest.approx(r.mean())
    assert report["r_A"].error == pytest.approx(r.std() / math.sqrt(r.size), rel=1e-12)
    assert report["r_A"].n_eff == pytest.approx(2000)
    # weights: doubling every weight changes nothing; the column "weight" is used by default
    w = rng.uniform(0.2, 1.8, size=r.size)
    a = normalisation_closure({"r_A": r}, w)
    b = normalisation_closure({"r_A": r, "weight": 2 * w})
    assert a["r_A"].mean == pytest.approx(b["r_A"].mean) and a["r_A"].error == pytest.approx(b["r_A"].error)
    assert a["r_A"].mean == pytest.approx(np.average(r, weights=w))
    # error of the weighted mean against a bootstrap
    boots = [np.average(r[i], weights=w[i]) for i in rng.integers(0, r.size, size=(400, r.size))]
    assert a["r_A"].error == pytest.approx(np.std(boots), rel=0.15)
    with pytest.raises(ValueError, match="no ratio columns"):
        normalisation_closure({"x": r})


def test_reweighting_check_and_ratio_summary(rng, reference) -> None:
    target = {"x0": rng.normal(MU, 1.0, size=N_REF), "x1": rng.normal(size=N_REF)}
    good = np.exp(MU * reference["x0"] - MU**2 / 2)
    wrong = np.exp(0.25 * reference["x0"] - 0.25**2 / 2)  # normalised, but the wrong shape
    ok = reweighting_check(reference, good, target, bins=20, column="r_S")
    bad = reweighting_check(reference, wrong, target, bins=20, column="r_S")
    assert [f.feature for f in ok.features] == ["x0", "x1"]
    assert ok.passed() and all(f.p_value > 1e-3 for f in ok.features)
    assert not bad.passed() and bad.features[0].p_value < 1e-6 and bad.features[1].p_value > 1e-3
    x0 = ok.features[0]
    inside = (reference["x0"] >= x0.edges[0]) & (reference["x0"] <= x0.edges[-1])
    assert x0.ndf == 20 and x0.reweighted.sum() == pytest.approx(np.sum(good[inside]) / N_REF)
    assert "x0" in bad.table()
    # the Wilson-Hilferty p-value against known chi2 quantiles
    assert chi2_pvalue(31.41, 20) == pytest.approx(0.05, rel=0.03)
    assert chi2_pvalue(3.841, 1) == pytest.approx(0.05, rel=0.1)
    summary = ratio_summary({"r_S": good, "r_S_std": good * 0.01, "g_S_a_lo": np.ones(N_REF), "x0": reference["x0"]})
    assert list(summary) == ["r_S", "g_S_a_lo"]
    assert summary["r_S"]["median"] == pytest.approx(np.median(good)) and summary["g_S_a_lo"]["min"] == 1.0


def test_diagnose_writes_numbers_and_plots(tmp_path, rng, reference, networks) -> None:
    spec = {"r_S": RatioModel(networks["good"], output="log_ratio"),
            "r_B": RatioModel([networks["bad"], networks["good"]], output="log_ratio"),
            "g_S_jes_lo": RatioModel(networks["lo"], output="log_ratio"),
            "g_S_jes_hi": RatioModel(networks["hi"], output="log_ratio")}
    cols = evaluate_columns(reference, spec, keep=["x0", "x1"])
    target = {"x0": rng.normal(MU, 1.0, size=N_REF), "x1": rng.normal(size=N_REF)}
    report = diagnose(cols, tmp_path / "diag", targets={"r_S": (target, None)}, formats=("png", "pdf"))
    names = sorted(p.name for p in report.files)
    assert names == sorted(["closure.png", "closure.pdf", "ratios.png", "ratios.pdf", "reweighting_r_S.png",
                            "reweighting_r_S.pdf", "closure.txt", "diagnostics.json"])
    for p in report.files:
        assert p.stat().st_size > 1000 or p.suffix in (".txt", ".json")
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if p.suffix == ".pdf":
            assert p.read_bytes()[:5] == b"%PDF-"
    data = json.loads((tmp_path / "diag" / "diagnostics.json").read_text())
    flagged = [r["column"] for r in data["closure"]["results"] if r["flagged"]]
    assert flagged == ["r_B"] and data["passed"] is False  # the ensemble mean is 5% high
    assert "r_B_std" not in data["ratios"] and "reweighting" in data
    assert "FLAGGED" in (tmp_path / "diag" / "closure.txt").read_text()
    # a single file name with suffix
    assert plot_closure(report.closure, tmp_path / "c.pdf")[0].suffix == ".pdf"

    # nothing is replaced without overwrite, and every file is checked before any is written
    before = {p.name: p.read_bytes() for p in report.files}
    with pytest.raises(FileExistsError, match=r"closure\.png exists; pass overwrite=True"):
        diagnose(cols, tmp_path / "diag", targets={"r_S": (target, None)}, formats=("png", "pdf"))
    assert {p.name: p.read_bytes() for p in report.files} == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "diagnostics.json").write_text("user file")
    with pytest.raises(FileExistsError, match=r"diagnostics\.json exists"):
        diagnose(cols, tmp_path / "other")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["diagnostics.json"]
    again = diagnose(cols, tmp_path / "diag", targets={"r_S": (target, None)}, formats=("png", "pdf"),
                     overwrite=True)
    assert sorted(p.name for p in again.files) == names == sorted(p.name for p in (tmp_path / "diag").iterdir())
    assert json.loads((tmp_path / "diag" / "diagnostics.json").read_text()) == data


def test_cli_evaluate_with_diagnostics(tmp_path, rng, networks) -> None:
    """roonsbi evaluate --diagnostics --strict: exit 0 for a closing model, 1 for a mis-normalised one."""
    write_events(tmp_path / "ref.root", {"x0": rng.normal(size=N_REF), "x1": rng.normal(size=N_REF),
                                         "w": np.ones(N_REF)})
    write_events(tmp_path / "sig.root", {"x0": rng.normal(MU, 1.0, size=N_REF), "x1": rng.normal(size=N_REF)})
    config = tmp_path / "eval.json"
    for net, status in (("good.onnx", 0), ("bad.onnx", 1)):
        config.write_text(json.dumps({
            "events": {"files": "ref.root", "weight": "w"},
            "columns": {"r_S": {"models": net, "output": "log_ratio"}},
            "output": {"path": f"cols_{status}"},
            "diagnostics": {"output": f"diag_{status}", "samples": {"r_S": {"files": ["sig.root"]}}},
        }))
        run = subprocess.run([sys.executable, "-m", "roonsbi", "evaluate", str(config), "--strict", "--no-progress"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == status, run.stdout + run.stderr
        assert "normalisation closure" in run.stdout and "reweighting check of r_S" in run.stdout
        assert ("FLAGGED" in run.stdout) == bool(status)
        assert (tmp_path / f"diag_{status}" / "reweighting_r_S.png").is_file()
        assert sorted(p.name for p in (tmp_path / f"cols_{status}").iterdir()) == ["columns.json", "r_S.npy",
                                                                                   "weight.npy"]
