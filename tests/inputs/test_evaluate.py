"""roonsbi evaluate's configuration: the shipped example (examples/evaluate.toml) on small generated
inputs, the JSON schema's errors, the [networks] defaults, the skl2onnx classifier outputs and the
calibration, each against onnxruntime run by hand and numpy."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")
pytest.importorskip("uproot")
pytest.importorskip("jsonschema")

from roonsbi.inputs import ColumnSpec, RatioModel, evaluate_columns, read_columns
from roonsbi.inputs.column_files import read_metadata, write_columns
from roonsbi.inputs.evaluate import CONFIG_SCHEMA, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _walkthrough():
    spec = importlib.util.spec_from_file_location("walkthrough", EXAMPLES / "walkthrough.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """The walk-through's ROOT files and skl2onnx classifiers (default export), small."""
    folder = tmp_path_factory.mktemp("evaluate")
    walk = _walkthrough()
    walk.make_events(folder, seed=3, n_mc=3000)
    walk.train_networks(folder, seed=4, n_train=3000)
    (folder / "columns").mkdir()
    shutil.copy(EXAMPLES / "evaluate.toml", folder / "evaluate.toml")
    return folder


def _features(path: Path) -> np.ndarray:
    import uproot

    with uproot.open(f"{path}:events") as tree:
        a = tree.arrays(["x0", "x1"], library="np")
    return np.column_stack([a["x0"], a["x1"]]).astype(np.float32)


def _by_hand(onnx: Path, x: np.ndarray) -> np.ndarray:
    """r = p/(1-p) with p the probability of class 1 from onnxruntime's ZipMap output."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == ["output_label", "output_probability"]  # skl2onnx's default export
    probabilities = session.run(["output_probability"], {session.get_inputs()[0].name: x})[0]
    p = np.array([row[1] for row in probabilities], dtype=np.float64)
    return p / (1 - p)


def test_the_shipped_example_config_with_calibration(inputs: Path) -> None:
    config = inputs / "evaluate.toml"
    proc = subprocess.run([sys.executable, "-m", "roonsbi", "evaluate", str(config), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    cols = read_columns(inputs / "columns" / "reference.npz")
    assert list(cols) == ["r_S", "r_B"]
    x_ref, x_cal = _features(inputs / "events" / "reference.root"), _features(inputs / "events" / "calibration.root")
    meta = read_metadata(inputs / "columns" / "reference.npz")["calibration"]
    assert meta["entries"] == len(x_cal) and meta["files"] == [str(inputs / "events" / "calibration.root")]
    for col, net in (("r_S", "signal"), ("r_B", "background")):
        onnx = inputs / "nets" / f"{net}.onnx"
        factor = 1.0 / np.mean(_by_hand(onnx, x_cal))  # the closure on the calibration sample
        assert meta["factors"][col] == pytest.approx(factor, rel=1e-9)
        np.testing.assert_allclose(cols[col], factor * _by_hand(onnx, x_ref), rtol=2e-6)
        assert 0.8 < factor < 1.25  # the classifiers are close to the exact ratios
    # the diagnostics of [diagnostics], on the calibrated reference sample
    report = json.loads((inputs / "diagnostics" / "diagnostics.json").read_text())
    assert {r["column"] for r in report["closure"]["results"]} == {"r_S", "r_B"}
    assert (inputs / "diagnostics" / "reweighting_r_S.png").stat().st_size > 1000
    # a second run is refused naming the command-line option, not the Python argument
    again = subprocess.run([sys.executable, "-m", "roonsbi", "evaluate", str(config), "--no-progress"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "--overwrite" in again.stderr and "overwrite=True" not in again.stderr


def test_calibrate_on_overrides_the_section_and_the_factors_are_the_closure(inputs: Path) -> None:
    out = inputs / "columns" / "on_signal.root"
    proc = subprocess.run([sys.executable, "-m", "roonsbi", "evaluate", str(inputs / "evaluate.toml"),
                           "--output", str(out), "--no-progress", "--calibrate-on",
                           str(inputs / "events" / "reference.root")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "diagnostics" in proc.stderr and "--overwrite" in proc.stderr  # they exist
    config = json.loads(json.dumps(load_config(inputs / "evaluate.toml")))
    del config["diagnostics"]
    (inputs / "nodiag.json").write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, "-m", "roonsbi", "evaluate", str(inputs / "nodiag.json"),
                           "--output", str(out), "--no-progress", "--calibrate-on",
                           str(inputs / "events" / "reference.root")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    cols, meta = read_columns(out), read_metadata(out)["calibration"]
    # calibrated on the evaluated sample itself: the closure there is exact
    for col in ("r_S", "r_B"):
        assert np.mean(cols[col].astype(np.float64)) == pytest.approx(1.0, rel=1e-6)
    assert meta["files"] == [str(inputs / "events" / "reference.root")]


def test_schema_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    def error(text: str) -> str:
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(ValueError) as err:
            load_config(path)
        assert str(err.value).startswith(f"{path}: ")
        return str(err.value)

    base = '[events]\nfiles = "a.root"\n[columns]\nr_S = "s.onnx"\n'
    assert "[events]: unknown key(s) ['weights']; allowed: ['chunk_size', 'cut', 'features', 'files', 'tree', " \
           "'weight']" in error('[events]\nfiles = "a.root"\nweights = "w"\n[columns]\nr_S = "s.onnx"\n')
    assert "[columns] r_S.output: 'scores' is not one of ['ratio', 'log_ratio', 'score']" in error(
        '[events]\nfiles = "a.root"\n[columns]\nr_S = { models = "s.onnx", output = "scores" }\n')
    assert "[networks] output_index: -1 is less than the minimum of 0" in error(
        base + "[networks]\noutput_index = -1\n")
    assert "[events] chunk_size: '100' is not of type 'integer'" in error(
        '[events]\nfiles = "a.root"\nchunk_size = "100"\n[columns]\nr_S = "s.onnx"\n')
    assert "the top level: 'columns' is a required property" in error('[events]\nfiles = "a.root"\n')
    assert "the top level: unknown key(s) ['column']" in error(base + '[column]\nr_B = "b.onnx"\n')
    assert "[columns] r_S: unknown key(s) ['ouput']" in error(
        '[events]\nfiles = "a.root"\n[columns]\nr_S = { models = "s.onnx", ouput = "score" }\n')
    assert "[diagnostics] samples.r_S: 'files' is a required property" in error(
        base + '[diagnostics]\noutput = "d"\n[diagnostics.samples.r_S]\nweight = "w"\n')
    several = error('[events]\nfiles = 3\n[columns]\nr_S = { models = "s.onnx", scale = 0 }\n')
    assert "invalid configuration:" in several and "[events] files" in several and "[columns] r_S.scale" in several
    # the example validates; the schema itself is a valid draft 2020-12 schema
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(CONFIG_SCHEMA)
    assert load_config(EXAMPLES / "evaluate.toml")["networks"]["output"] == "score"


def test_network_defaults_and_classifier_exports(inputs: Path, tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x = _features(inputs / "events" / "reference.root")[:500]
    data = {"x0": x[:, 0], "x1": x[:, 1]}
    rng = np.random.default_rng(5)
    y2, y3 = rng.integers(0, 2, len(x)), rng.integers(0, 3, len(x))
    two = LogisticRegression().fit(x + 0.3 * y2[:, None], y2)
    three = LogisticRegression().fit(x + 0.3 * y3[:, None], y3)
    (tmp_path / "zip.onnx").write_bytes(to_onnx(two, x[:1]).SerializeToString())
    (tmp_path / "nozip.onnx").write_bytes(to_onnx(two, x[:1], options={"zipmap": False}).SerializeToString())
    (tmp_path / "three.onnx").write_bytes(to_onnx(three, x[:1]).SerializeToString())
    p = two.predict_proba(x)[:, 1]  # scikit-learn itself: the reference
    spec = ColumnSpec.from_dict({"r_A": "zip.onnx", "r_B": {"models": "nozip.onnx"},
                                 "r_C": {"models": "three.onnx", "output_index": 2}},
                                tmp_path, defaults={"output": "score", "features": ["x0", "x1"]})
    cols = evaluate_columns(data, spec, dtype=np.float64)
    for col in ("r_A", "r_B"):
        np.testing.assert_allclose(cols[col], p / (1 - p), rtol=1e-5)
    p3 = three.predict_proba(x)[:, 2]
    np.testing.assert_allclose(cols["r_C"], p3 / (1 - p3), rtol=1e-5)
    # the label output chosen by hand: a clear message naming the probabilities output
    with pytest.raises(ValueError, match=r"output 'output_label' is tensor\(int64\).*predicted label.*"
                                         r"'output_probability'"):
        evaluate_columns(data, {"r_A": RatioModel(tmp_path / "zip.onnx", "score", ["x0", "x1"],
                                                  output_name="output_label")})
    # three classes and no output_index: the shape and the option are named
    with pytest.raises(ValueError, match=r"output 'output_probability' has shape \(500, 3\).*output_index"):
        evaluate_columns(data, {"r_C": RatioModel(tmp_path / "three.onnx", "score", ["x0", "x1"])})


def test_metadata_round_trip_in_every_format(tmp_path: Path) -> None:
    meta = {"calibration": {"factors": {"r_S": 0.98}}}
    for name in ("c.root", "c.npz", "c"):
        path = write_columns(tmp_path / name, {"r_S": np.ones(4)}, metadata=meta)
        assert read_metadata(path) == meta
        np.testing.assert_array_equal(read_columns(path)["r_S"], np.ones(4))
        assert read_metadata(write_columns(tmp_path / f"plain_{name}", {"r_S": np.ones(2)})) == {}
