"""Events (uproot) + ONNX networks -> per-event ratio columns, checked against numpy.

The networks are built here with the onnx helper API: a linear layer z = x W + b followed by
Exp / Sigmoid / Identity, so that every output convention gives the analytic ratio exp(z).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
uproot = pytest.importorskip("uproot")

from onnx import TensorProto

from roonsbi.inputs.column_files import read_columns, write_columns
from roonsbi.inputs.columns import ColumnSpec, evaluate_columns, iter_columns, processes_from_columns
from roonsbi.inputs.events import Expression, MissingFeatureError, read_events
from roonsbi.inputs.networks import RatioModel, set_feature_names
from support import make_linear_onnx, write_events

# float32 network arithmetic: exp(z) with |z| <~ 3 is good to a few 1e-7 relative
RTOL = {"ratio": 2e-6, "log_ratio": 2e-6, "score": 2e-5}






@pytest.fixture
def events(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict[str, np.ndarray]]:
    n = 5000
    arrays = {
        "x0": rng.normal(size=n),
        "x1": rng.normal(size=n).astype(np.float32),
        "pt": rng.exponential(20.0, size=n) + 1.0,
        "w": rng.uniform(0.5, 1.5, size=n),
    }
    return write_events(tmp_path / "events.root", arrays), arrays


W = [0.4, -0.3, 0.25]
B = -0.2
FEATURES = {"x0": "x0", "x1": "x1", "logpt": "log(pt) - 3"}


def analytic_z(a: dict[str, np.ndarray], w: Sequence[float] = W, b: float = B) -> np.ndarray:
    return w[0] * a["x0"] + w[1] * a["x1"].astype(np.float64) + w[2] * (np.log(a["pt"]) - 3) + b


@pytest.mark.parametrize("output, activation", [("ratio", "Exp"), ("log_ratio", None), ("score", "Sigmoid")])
def test_output_conventions_match_numpy(tmp_path, events, output, activation) -> None:
    """ratio = y, log_ratio = exp(y), score = s/(1-s): all equal exp(xW + b) here."""
    path, a = events
    net = make_linear_onnx(tmp_path / "net.onnx", W, B, activation, feature_names=["x0", "x1", "logpt"])
    cols = evaluate_columns(path, {"r_S": RatioModel(net, output=output)}, features=FEATURES, chunk_size=1200,
                            progress=False)
    assert list(cols) == ["r_S"] and cols["r_S"].dtype == np.float32
    np.testing.assert_allclose(cols["r_S"], np.exp(analytic_z(a)), rtol=RTOL[output])
    cols64 = evaluate_columns(path, {"r_S": RatioModel(net, output=output)}, features=FEATURES, dtype="float64")
    assert cols64["r_S"].dtype == np.float64
    np.testing.assert_allclose(cols64["r_S"], np.exp(analytic_z(a)), rtol=RTOL[output])


def test_double_precision_network_and_scale(tmp_path, events) -> None:
    path, a = events
    net = make_linear_onnx(tmp_path / "net64.onnx", W, B, None, dtype=TensorProto.DOUBLE)
    model = RatioModel(net, output="log_ratio", features=["x0", "x1", "logpt"], scale=2.5)
    cols = evaluate_columns(path, {"r_S": model}, features=FEATURES, dtype=np.float64)
    np.testing.assert_allclose(cols["r_S"], 2.5 * np.exp(analytic_z(a)), rtol=1e-6)


def test_ensemble_mean_and_spread(tmp_path, events) -> None:
    path, a = events
    members = [([0.4, -0.3, 0.25], -0.2), ([0.35, -0.25, 0.3], -0.1), ([0.45, -0.35, 0.2], -0.3)]
    nets = [make_linear_onnx(tmp_path / f"m{k}.onnx", w, b, "Sigmoid", feature_names=["x0", "x1", "logpt"])
            for k, (w, b) in enumerate(members)]
    spec = ColumnSpec({"r_S": RatioModel(nets, output="score"), "r_B": RatioModel(nets[0], output="score")})
    cols = evaluate_columns(path, spec, features=FEATURES, chunk_size=777)
    assert list(cols) == ["r_S", "r_S_std", "r_B"]
    r = np.stack([np.exp(analytic_z(a, w, b)) for w, b in members])
    np.testing.assert_allclose(cols["r_S"], r.mean(axis=0), rtol=RTOL["score"])
    np.testing.assert_allclose(cols["r_S_std"], r.std(axis=0, ddof=1), rtol=1e-3, atol=1e-5 * r.mean())
    np.testing.assert_allclose(cols["r_B"], r[0], rtol=RTOL["score"])
    assert "r_S_std" not in evaluate_columns(path, spec, features=FEATURES, spread=False)


def test_feature_order_from_metadata_or_input_names(tmp_path, events) -> None:
    """The feature order declared by the network decides which event feature goes where."""
    path, a = events
    w = [0.5, -0.1]
    # metadata says the first input is x1: r = exp(0.5 x1 - 0.1 x0)
    swapped = make_linear_onnx(tmp_path / "swapped.onnx", w, 0.0, "Exp", feature_names=["x1", "x0"])
    # one [N, 1] input per feature, concatenated in the order (x1, x0) inside the network
    by_name = make_linear_onnx(tmp_path / "byname.onnx", w, 0.0, "Exp", layout="columns", input_names=["x1", "x0"])
    cols = evaluate_columns(path, {"r_A": RatioModel(swapped), "r_B": RatioModel(by_name)})
    expected = np.exp(0.5 * a["x1"].astype(np.float64) - 0.1 * a["x0"])
    np.testing.assert_allclose(cols["r_A"], expected, rtol=2e-6)
    np.testing.assert_allclose(cols["r_B"], expected, rtol=2e-6)
    # set_feature_names writes the metadata that roonsbi reads
    plain = make_linear_onnx(tmp_path / "plain.onnx", w, 0.0, "Exp")
    set_feature_names(plain, ["x1", "x0"])
    np.testing.assert_allclose(evaluate_columns(path, {"r_C": RatioModel(plain)})["r_C"], expected, rtol=2e-6)


def test_set_feature_names_output_and_a_failed_write(tmp_path, monkeypatch) -> None:
    """An existing ``output`` other than the network needs overwrite; a write that fails half-way
    (onnx.save cut short) leaves the network as it was, and no temporary file."""
    net = make_linear_onnx(tmp_path / "net.onnx", [0.5, -0.1], 0.0, "Exp")
    before = net.read_bytes()
    mine = tmp_path / "mine.onnx"
    mine.write_text("user file")
    with pytest.raises(FileExistsError, match=r"mine\.onnx exists; pass overwrite=True"):
        set_feature_names(net, ["x1", "x0"], output=mine)
    assert mine.read_text() == "user file"
    set_feature_names(net, ["x1", "x0"], output=mine, overwrite=True)
    assert {p.key: p.value for p in onnx.load(str(mine)).metadata_props}["feature_names"] == "x1,x0"
    assert net.read_bytes() == before

    real_save = onnx.save

    def half_save(model, f, *args, **kwargs):
        real_save(model, f, *args, **kwargs)
        with open(f, "r+b") as fh:
            fh.truncate(Path(f).stat().st_size // 2)
        raise OSError("simulated: no space left on device")

    monkeypatch.setattr(onnx, "save", half_save)
    with pytest.raises(OSError, match="no space left"):
        set_feature_names(net, ["x1", "x0"])  # in place
    assert net.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.onnx", "net.onnx"]


def test_mismatched_inputs_name_the_problem(tmp_path, events) -> None:
    path, _ = events
    # a feature that is not in the events: KeyError naming it, the network and the branches
    net = make_linear_onnx(tmp_path / "needs_x9.onnx", [1.0, 1.0, 1.0], 0.0, "Exp", feature_names=["x0", "x9", "x1"])
    with pytest.raises(KeyError) as err:
        evaluate_columns(path, {"r_S": RatioModel(net)})
    msg = str(err.value)
    assert isinstance(err.value, MissingFeatureError)
    assert "'x9'" in msg and "needs_x9.onnx (r_S)" in msg and "events.root" in msg and "'pt'" in msg
    assert "'x0'" not in msg.split("Available")[0]  # only x9 is reported missing

    # feature names that disagree with the network's declared order
    net = make_linear_onnx(tmp_path / "declared.onnx", [1.0, 1.0], 0.0, "Exp", feature_names=["x0", "x1"])
    with pytest.raises(ValueError, match=r"declared\.onnx.*\['x0', 'x1'\].*\['x1', 'x0'\]"):
        evaluate_columns(path, {"r_S": RatioModel(net, features=["x1", "x0"])})
    # wrong number of features for a fixed-width input; no names anywhere
    noname = make_linear_onnx(tmp_path / "noname.onnx", [1.0, 1.0], 0.0, "Exp")
    with pytest.raises(ValueError, match=r"noname\.onnx.*2 features.*3 feature names"):
        evaluate_columns(path, {"r_S": RatioModel(noname, features=["x0", "x1", "pt"])})
    with pytest.raises(ValueError, match=r"noname\.onnx has one input 'x' of shape \['N', 2\].*features="):
        evaluate_columns(path, {"r_S": RatioModel(noname)})
    # one input per feature: the names are the inputs'
    cols = make_linear_onnx(tmp_path / "cols.onnx", [1.0, 1.0], 0.0, "Exp", layout="columns", input_names=["x0", "jet"])
    with pytest.raises(KeyError, match=r"feature 'jet' \(needed by cols\.onnx \(r_S\)\) needs \['jet'\]"):
        evaluate_columns(path, {"r_S": RatioModel(cols)})
    with pytest.raises(ValueError, match=r"cols\.onnx has one input per feature, named \['x0', 'jet'\]"):
        evaluate_columns(path, {"r_S": RatioModel(cols, features=["x0", "x1"])})
    # a feature mapped to an expression of a missing branch
    with pytest.raises(KeyError, match=r"feature 'jet' = 'abs\(eta\)'.*needs \['eta'\]"):
        evaluate_columns(path, {"r_S": RatioModel(cols)}, features={"jet": "abs(eta)"})


def test_bad_network_outputs_name_column_and_event(tmp_path, events) -> None:
    path, a = events
    z = analytic_z(a)
    # "ratio" convention on an output that goes negative
    net = make_linear_onnx(tmp_path / "neg.onnx", W, B, None, feature_names=["x0", "x1", "logpt"])
    first = int(np.argmax(z < 0))
    with pytest.raises(ValueError) as err:
        evaluate_columns(path, {"r_S": RatioModel(net)}, features=FEATURES, chunk_size=100_000)
    msg = str(err.value)
    assert "column 'r_S'" in msg and "neg.onnx" in msg and f"event {first} of the selection" in msg
    assert f"x0={a['x0'][first]:.6g}" in msg
    # NaN from the network (sqrt of a negative number), found in a later chunk
    net = make_linear_onnx(tmp_path / "nan.onnx", W, B, "Sqrt", feature_names=["x0", "x1", "logpt"])
    with pytest.raises(ValueError, match=rf"column 'g_S_jes_hi'.*nan\.onnx.*ratio nan.*event {first} of the selection"):
        evaluate_columns(path, {"g_S_jes_hi": RatioModel(net)}, features=FEATURES, chunk_size=max(first // 2, 1))
    # a score of exactly 1 gives an infinite ratio
    one = make_linear_onnx(tmp_path / "one.onnx", [0.0, 0.0, 0.0], 50.0, "Sigmoid", feature_names=["x0", "x1", "logpt"])
    with pytest.raises(ValueError, match=r"ratio inf .*'y' = 1.*'score'.*event 0 of the selection"):
        evaluate_columns(path, {"r_S": RatioModel(one, output="score")}, features=FEATURES)


def test_output_shape_and_column(tmp_path, events) -> None:
    path, a = events
    net = make_linear_onnx(tmp_path / "two.onnx", W, B, "Sigmoid", feature_names=["x0", "x1", "logpt"], n_outputs=2)
    with pytest.raises(ValueError, match=r"two\.onnx: output 'y' has shape \(5000, 2\).*output_index"):
        evaluate_columns(path, {"r_S": RatioModel(net, output="score")}, features=FEATURES)
    cols = evaluate_columns(path, {"r_S": RatioModel(net, output="score", output_index=1)}, features=FEATURES)
    np.testing.assert_allclose(cols["r_S"], np.exp(analytic_z(a)), rtol=RTOL["score"])
    with pytest.raises(ValueError, match="has no output 'prob'"):
        evaluate_columns(path, {"r_S": RatioModel(net, output_name="prob")}, features=FEATURES)


def test_cut_weight_keep_rntuple_and_many_files(tmp_path, rng) -> None:
    """Two RNTuple files by glob, a cut, weights and kept features; chunks never exceed chunk_size."""
    parts = []
    for k in range(2):
        n = 3000 + 500 * k
        a = {"x0": rng.normal(size=n), "x1": rng.normal(size=n), "w": rng.uniform(0, 2, size=n)}
        write_events(tmp_path / f"part{k}.root", a, rntuple=True)
        parts.append(a)
    assert uproot.open(tmp_path / "part0.root").classnames()["events;1"] == "ROOT::RNTuple"
    a = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    net = make_linear_onnx(tmp_path / "n.onnx", [0.3, 0.2], 0.1, "Exp", feature_names=["x0", "x1"])
    cut = "(x0 > -1) and not (x1 > 1.5) and 0 < w < 1.8"
    mask = (a["x0"] > -1) & ~(a["x1"] > 1.5) & (a["w"] > 0) & (a["w"] < 1.8)
    chunks = list(iter_columns(str(tmp_path / "part*.root"), {"r_S": RatioModel(net)}, cut=cut, weight="2 * w",
                               keep=["x1"], chunk_size=1000, progress=False))
    assert all(len(c["r_S"]) <= 1000 for c in chunks) and len(chunks) >= 7
    cols = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    assert list(cols) == ["r_S", "x1", "weight"]
    np.testing.assert_allclose(cols["r_S"], np.exp(0.3 * a["x0"][mask] + 0.2 * a["x1"][mask] + 0.1), rtol=2e-6)
    np.testing.assert_allclose(cols["weight"], 2 * a["w"][mask], rtol=1e-7)
    np.testing.assert_allclose(cols["x1"], a["x1"][mask], rtol=1e-7)
    # the same from in-memory arrays
    mem = evaluate_columns(a, {"r_S": RatioModel(net)}, cut=cut, weight="2 * w", keep=["x1"], chunk_size=999)
    for k in cols:
        np.testing.assert_array_equal(mem[k], cols[k])
    # nothing selected: empty columns with the right names
    empty = evaluate_columns(a, {"r_S": RatioModel(net)}, cut="x0 > 100", weight="w")
    assert {k: len(v) for k, v in empty.items()} == {"r_S": 0, "weight": 0}


def test_expressions() -> None:
    a = {"x": np.array([-2.0, 0.5, 3.0]), "y": np.array([1.0, 2.0, 3.0]), "jet.pt": np.array([5.0, 6.0, 7.0])}
    keys = list(a)
    np.testing.assert_allclose(Expression("sqrt(y) * abs(x)", keys)(a), np.sqrt(a["y"]) * np.abs(a["x"]))
    np.testing.assert_array_equal(Expression("0 < x < 2 or y == 3", keys)(a), [False, True, True])
    np.testing.assert_array_equal(Expression("not x > 0", keys)(a), [True, False, False])
    np.testing.assert_array_equal(Expression("jet.pt", keys)(a), a["jet.pt"])
    with pytest.raises(ValueError, match=r"unknown function\(s\) \['evil'\]"):
        Expression("evil(x)", keys)
    with pytest.raises(ValueError, match="cannot parse"):
        Expression("x +* y", keys)
    with pytest.raises(ValueError, match="Attribute is not allowed"):
        Expression("x.__class__", keys)
    with pytest.raises(ValueError, match="one boolean per event"):
        read_events(a, ["x"], cut="x + 1")


@pytest.mark.parametrize("suffix", [".root", ".npz", ""])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_write_read_roundtrip_streaming(tmp_path, events, suffix, dtype) -> None:
    path, a = events
    net = make_linear_onnx(tmp_path / "n.onnx", W, B, "Exp", feature_names=["x0", "x1", "logpt"])
    spec = {"r_S": RatioModel([net, net]), "g_S_jes_hi": RatioModel(net)}
    whole = evaluate_columns(path, spec, features=FEATURES, weight="w", dtype=dtype)
    out = tmp_path / f"cols{suffix}"
    write_columns(out, iter_columns(path, spec, features=FEATURES, weight="w", chunk_size=1300, dtype=dtype),
                  dtype=dtype)
    back = read_columns(out)
    assert list(back) == ["r_S", "r_S_std", "g_S_jes_hi", "weight"]
    for k, v in whole.items():
        assert back[k].dtype == dtype
        np.testing.assert_array_equal(back[k], v)
    if suffix == "":
        assert isinstance(back["r_S"], np.memmap)  # read without copying
    assert read_columns(out, ["weight"]).keys() == {"weight"}
    with pytest.raises(KeyError, match=r"no column\(s\) \['r_X'\]"):
        read_columns(out, ["r_X"])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_columns(out, whole)
    write_columns(out, {"r_S": whole["r_S"][:10]}, overwrite=True)
    assert len(read_columns(out)["r_S"]) == 10
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize("name", ["cols.root", "cols.npz", "cols"])
def test_a_failed_overwrite_keeps_the_old_columns(tmp_path, name) -> None:
    """With overwrite=True, a stream that fails after its first chunk leaves the old output as it
    was (the new one goes to a temporary next to it) and no temporary behind."""
    out = write_columns(tmp_path / name, {"r_S": np.arange(4.0), "weight": np.ones(4)})

    def failing_chunks():
        yield {"r_S": np.full(3, 7.0), "weight": np.ones(3)}
        raise RuntimeError("simulated: the network crashed on the second chunk")

    with pytest.raises(RuntimeError, match="second chunk"):
        write_columns(out, failing_chunks(), overwrite=True)
    back = read_columns(out)
    np.testing.assert_array_equal(back["r_S"], np.arange(4.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_failed_stream_leaves_no_file_and_root_reads_the_tree(tmp_path, events) -> None:
    path, _ = events
    net = make_linear_onnx(tmp_path / "neg.onnx", W, B, None, feature_names=["x0", "x1", "logpt"])
    out = tmp_path / "cols.root"
    with pytest.raises(ValueError, match="column 'r_S'"):
        write_columns(out, iter_columns(path, {"r_S": RatioModel(net)}, features=FEATURES, chunk_size=10))
    assert not out.exists() and not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("user file")
    with pytest.raises(FileExistsError, match="did not write"):
        write_columns(tmp_path / "mine", {"r_S": np.ones(3)}, overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "user file"
    # ROOT itself reads the TTree written by uproot
    import ROOT

    write_columns(out, {"r_S": np.arange(5.0), "weight": np.ones(5)})
    f = ROOT.TFile.Open(str(out))
    tree = f.Get("columns")
    assert tree.GetEntries() == 5 and tree.GetBranch("r_S") and tree.GetBranch("weight")
    tree.GetEntry(3)
    assert tree.r_S == 3.0
    f.Close()


def test_processes_from_columns_to_build_model(tmp_path) -> None:
    from roonsbi.models.unbinned import build_model

    n = 200
    cols = {
        "r_S": np.full(n, 0.5), "r_S_std": np.full(n, 0.01), "r_S_x": np.full(n, 1.5),
        "g_S_x_jes_lo": np.full(n, 0.9), "g_S_x_jes_hi": np.full(n, 1.1),
        "g_S_jes_lo": np.full(n, 0.95), "g_S_jes_hi": np.full(n, 1.05), "weight": np.ones(n),
    }
    write_columns(tmp_path / "c", cols, dtype=np.float64)
    back = read_columns(tmp_path / "c")
    procs = processes_from_columns(back, {"S": 10.0, "S_x": 20.0}, {"S": "mu", "S_x": "1"},
                                   normsys={"S": {"lumi": (0.98, 1.02)}})
    assert [p.name for p in procs] == ["S", "S_x"]
    assert list(procs[0].shapesys) == ["jes"] and list(procs[1].shapesys) == ["jes"]
    np.testing.assert_array_equal(procs[1].shapesys["jes"].hi, cols["g_S_x_jes_hi"])
    model = build_model(procs, weights=back["weight"])
    assert model.total_yield() == pytest.approx(30.0)
    with pytest.raises(ValueError, match=r"\['r_S_x'\] belong to no process"):
        processes_from_columns(back, {"S": 10.0})
    with pytest.raises(ValueError, match="'g_S_jes_lo' has no partner"):
        processes_from_columns({k: v for k, v in back.items() if k != "g_S_jes_hi"}, {"S": 1.0, "S_x": 1.0})
    with pytest.raises(KeyError, match="no ratio column 'r_B'"):
        processes_from_columns(back, {"S": 1.0, "S_x": 1.0, "B": 1.0})


def test_column_spec_validation(tmp_path) -> None:
    spec = ColumnSpec.from_processes({"S": tmp_path / "s.onnx"}, {"S": {"jes": ("lo.onnx", "hi.onnx")}})
    assert list(spec) == ["r_S", "g_S_jes_lo", "g_S_jes_hi"]
    for bad in ("r_S_std", "weight", "r-S"):
        with pytest.raises(ValueError, match=repr(bad) if bad != "weight" else "reserved"):
            ColumnSpec({bad: "a.onnx"})
    with pytest.raises(ValueError, match="unknown network output convention 'probability'"):
        RatioModel("a.onnx", output="probability")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['ouput'\]"):
        ColumnSpec.from_dict({"r_S": {"models": "a.onnx", "ouput": "score"}})
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        evaluate_columns({"x": np.ones(3)}, {"r_S": tmp_path / "missing.onnx"})


def test_cli_evaluate(tmp_path, events) -> None:
    path, a = events
    for k in range(2):
        make_linear_onnx(tmp_path / f"s{k}.onnx", W, B + 0.01 * k, "Sigmoid", feature_names=["x0", "x1", "logpt"])
    config = tmp_path / "evaluate.toml"
    config.write_text(f"""
[events]
files = ["{path.name}"]
tree = "events"
cut = "x0 < 2"
weight = "w"
chunk_size = 1000
[events.features]
logpt = "log(pt) - 3"
[columns]
r_S = {{ models = ["s0.onnx", "s1.onnx"], output = "score" }}
[output]
path = "out/columns.npz"
dtype = "float64"
""")
    (tmp_path / "out").mkdir()
    run = subprocess.run([sys.executable, "-m", "roonsbi", "evaluate", str(config), "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "columns ['r_S', 'r_S_std', 'weight']" in run.stdout
    cols = read_columns(tmp_path / "out" / "columns.npz")
    mask = a["x0"] < 2
    z = analytic_z(a)[mask]
    expected = 0.5 * (np.exp(z) + np.exp(z + 0.01))
    assert cols["r_S"].dtype == np.float64
    np.testing.assert_allclose(cols["r_S"], expected, rtol=2e-5)
    np.testing.assert_allclose(cols["weight"], a["w"][mask])
    # refuses to overwrite; a missing branch is reported by name, exit status 2
    run = subprocess.run([sys.executable, "-m", "roonsbi", "evaluate", str(config), "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "overwrite" in run.stderr
    config.write_text(config.read_text().replace('logpt = "log(pt) - 3"', 'logpt = "log(ptt) - 3"'))
    run = subprocess.run([sys.executable, "-m", "roonsbi", "evaluate", str(config), "--overwrite", "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "feature 'logpt' = 'log(ptt) - 3'" in run.stderr and "needs ['ptt']" in run.stderr
