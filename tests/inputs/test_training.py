"""Learned ratios (roonsbi.inputs.training, roonsbi demo --networks): the ONNX path against scikit-learn,
the learned ratios against the toy's exact ratios, the demo row against the exact likelihood."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from roonsbi.demo.run import demo_toy
from roonsbi.inputs.toy import OffShellToy
from roonsbi.inputs.training import (
    PROCESSES,
    TrainedRatios,
    export_onnx,
    ratio_models,
    train_classifier,
    train_toy_ratios,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """One run of ``roonsbi demo --quick --networks`` shared by the tests below (~30 s)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = subprocess.run([sys.executable, "-m", "roonsbi", "demo", "--quick", "--networks", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "summary.json").read_text()), proc.stdout


def test_onnx_ratios_equal_sklearn_ratios(tmp_path: Path) -> None:
    # a small network (seconds): the ratios through skl2onnx + onnxruntime + RatioModel against
    # scikit-learn's own predict_proba, r_J = s_J / (pi_J c_J)
    toy = OffShellToy()
    trained = train_toy_ratios(toy, tmp_path / "r.onnx", n_train=4000, n_calibration=4000, epochs=15, seed=3)
    x = trained.sample_reference(toy, 5000, np.random.default_rng(11))
    columns = trained.evaluate(x)
    proba = trained.classifier.predict_proba(x)  # float64 scikit-learn
    for j, p in enumerate(PROCESSES):
        expected = proba[:, j] / (trained.priors[p] * trained.calibration[p])
        # the ONNX network computes in float32 (eps 1.2e-7): ~100 ulps
        np.testing.assert_allclose(columns[f"r_{p}"], expected, rtol=1e-5, atol=1e-5)
    # the calibration is the mean of the raw ratio on a reference sample: a few % from 1 at most
    assert all(abs(c - 1) < 0.1 for c in trained.calibration.values())
    # the ONNX metadata carries the feature names; a RatioModel with other names is refused
    with pytest.raises(ValueError, match="metadata declares"):
        TrainedRatios(trained.path, ratio_models(trained.path, PROCESSES, trained.priors, ["x1", "x0"]), None,
                      trained.priors, {}, ["x1", "x0"]).evaluate(x)


def test_training_errors(tmp_path: Path) -> None:
    toy = OffShellToy()
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="at least two"):
        train_classifier({"S": toy.sample_basis("S", 10, rng)})
    with pytest.raises(ValueError, match="same d"):
        train_classifier({"S": np.zeros((5, 2)), "B": np.zeros((5, 3))})
    with pytest.raises(ValueError, match="unknown basis process"):
        toy.sample_basis("SB", 10, rng)
    clf = train_classifier({p: toy.sample_basis(p, 200, rng) for p in PROCESSES}, epochs=2, batch_size=100)
    path = tmp_path / "net.onnx"
    path.write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_onnx(clf, path, ["x0", "x1"])
    assert path.read_text() == "mine"
    with pytest.raises(FileExistsError, match="overwrite"):
        train_toy_ratios(toy, path)
    with pytest.raises(ValueError, match="positive"):
        train_toy_ratios(toy, tmp_path / "other.onnx", n_train=0)
    assert path.read_text() == "mine" and not (tmp_path / "other.onnx").exists()


def test_basis_samples_follow_their_densities() -> None:
    # E_J[x0] and E_J[x1^2] from sample_basis against importance sampling of the exact densities
    # from p_ref (independent sampler): E_J[f] = E_ref[f r_J]
    toy = OffShellToy()
    rng = np.random.default_rng(5)
    x_ref = toy.sample_ref(400_000, rng)
    ratios = toy.ratios(x_ref)
    for p in PROCESSES:
        x = toy.sample_basis(p, 200_000, rng)
        for f in (lambda v: v[:, 0], lambda v: v[:, 1] ** 2):
            ref = f(x_ref) * ratios[p]
            err = np.hypot(ref.std() / np.sqrt(len(ref)), f(x).std() / np.sqrt(len(x)))
            assert abs(f(x).mean() - ref.mean()) < 5 * err, p


def test_learned_ratios_approximate_exact_ratios(demo) -> None:
    # the demo's network (ONNX file + priors + calibration from summary.json) on fresh reference
    # events against the toy's exact ratios p_J / sum_K pi_K p_K. Measured median relative errors
    # (demo seed: 1.2% SBI, 3.6% S, 1.8% B; over 6 training seeds: at most 6%); r_S is small in the
    # tails, where its relative error is large and irrelevant, hence the median. Closure on 50k
    # events: |m - 1| <= 0.7% over the 6 seeds.
    out, summary, _ = demo
    info = summary["networks"]
    toy = demo_toy()
    path = out / "networks" / "ratios.onnx"
    trained = TrainedRatios(path, ratio_models(path, PROCESSES, info["priors"], info["features"], info["calibration"]),
                            None, info["priors"], info["calibration"], info["features"])
    x = trained.sample_reference(toy, 50_000, np.random.default_rng(99))
    learned, exact = trained.evaluate(x), trained.exact_ratios(toy, x)
    for col in exact:
        assert np.median(np.abs(learned[col] / exact[col] - 1)) < 0.1, col
        # normalisation closure on these independent events: 1 within 2% (stat. error 0.2-0.5%)
        assert abs(learned[col].mean() - 1) < 0.02, col
        # and the exact ratios close on the same events (checks the sampler of the reference)
        assert abs(exact[col].mean() - 1) < 0.02, col
    # the demo's closure diagnostic (roonsbi.inputs.diagnostics) passed and was printed
    assert info["closure"]["passed"]
    assert {r["column"] for r in info["closure"]["results"]} == {"r_SBI", "r_S", "r_B"}


def test_demo_networks_row(demo) -> None:
    out, summary, stdout = demo
    assert (out / "networks" / "ratios.onnx").stat().st_size > 0
    assert "normalisation closure" in stdout and "NSBI (trained networks)" in stdout
    methods = {m["method"]: m for m in summary["methods"]}
    exact, learned = methods["exact likelihood"], methods["NSBI (trained networks)"]
    # Learned ratios reproduce the exact likelihood's result loosely. Measured on the demo's data
    # with 6 training seeds (60k events per process): mu-hat within 0.07 of the exact one, 68% and
    # 95% CL edges within 0.11, the 68% CL width (0.52 exact) up to 18% wider.
    assert learned["mu_hat"] == pytest.approx(exact["mu_hat"], abs=0.15)
    assert learned["interval68"] == pytest.approx(exact["interval68"], abs=0.15)
    assert learned["interval95"] == pytest.approx(exact["interval95"], abs=0.2)
    width = lambda m: m["interval68"][1] - m["interval68"][0]
    assert width(learned) == pytest.approx(width(exact), rel=0.3)
