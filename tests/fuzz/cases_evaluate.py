"""Fuzz cases of the evaluate pipeline (configuration file -> events -> ONNX networks -> columns file):
configuration sections, keys and values (chunk size, dtype, output), event files, networks (missing,
damaged, bad outputs); a good configuration gives the numpy reference exp(x W + b)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from harness import Case, error, result

CASES: list[Case] = []
add = CASES.append
W, B = [0.4, -0.3], -0.2
N = 300


def setup(tmp: Path, activation: str | None = "Exp", bias: float = B) -> dict[str, np.ndarray]:
    import support

    rng = np.random.default_rng(3)
    arrays = {"x0": rng.normal(size=N), "x1": rng.normal(size=N), "w": rng.uniform(0.5, 1.5, N)}
    support.write_events(tmp / "events.root", arrays)
    support.make_linear_onnx(tmp / "net.onnx", W, bias, activation, feature_names=["x0", "x1"])
    return arrays


def config(**changes: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "events": {"files": ["events.root"], "tree": "events", "chunk_size": 100},
        "columns": {"r_S": "net.onnx"},
        "output": {"path": "out.npz", "dtype": "float64"},
    }
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            if value is None:
                cfg[section].pop(name, None)
            else:
                cfg[section][name] = value
        elif value is None:
            cfg.pop(section)
        else:
            cfg[section] = value
    return cfg


def evaluate(
    cfg: dict[str, Any] | str, activation: str | None = "Exp", bias: float = B, suffix: str = ".json", **kwargs: Any
):
    def run(tmp: Path) -> Any:
        from roonsbi.inputs.column_files import read_columns
        from roonsbi.inputs.evaluate import evaluate_config, load_config

        arrays = setup(tmp, activation, bias)
        path = tmp / f"evaluate{suffix}"
        path.write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))
        summary = evaluate_config(path, load_config(path), log=lambda *a: None, progress=False, **kwargs).summary
        return arrays, read_columns(summary["output"])

    return run


def exp_reference(v: tuple[dict, dict]) -> str | None:
    arrays, cols = v
    expected = np.exp(W[0] * arrays["x0"] + W[1] * arrays["x1"] + B)
    if not np.allclose(cols["r_S"], expected, rtol=2e-6):
        return f"r_S differs from exp(x W + b) by up to {np.max(np.abs(cols['r_S'] / expected - 1)):.3g}"
    return None


add(result("evaluate-good", evaluate(config()), exp_reference))
add(
    result(
        "evaluate-good-toml",
        evaluate(
            '[events]\nfiles = ["events.root"]\ntree = "events"\n[columns]\n'
            'r_S = "net.onnx"\n[output]\npath = "out.npz"\ndtype = "float64"\n',
            suffix=".toml",
        ),
        exp_reference,
    )
)
add(result("evaluate-chunk-size-1", evaluate(config(events__chunk_size=1)), exp_reference))
add(result("evaluate-chunk-argument", evaluate(config(), chunk_size=7), exp_reference))
for i, (cfg, kwargs, words) in enumerate(
    [
        (
            config(),
            {"chunk_size": 0},
            r"--chunk-size / chunk_size= must be a positive number of entries per chunk, got 0",
        ),
        (config(), {"chunk_size": -5}, r"must be a positive number of entries per chunk, got -5"),
        (config(), {"chunk_size": 2.5}, r"must be a positive number of entries per chunk, got 2.5"),
        (
            config(events__chunk_size=0),
            {},
            r"evaluate.json.*\[events\] chunk_size.*(must be a positive number .* got 0|0 is less than the minimum)",
        ),
        (config(events__chunk_size="100"), {}, r"\[events\] chunk_size.*('100' is not of type 'integer'|got '100')"),
        (config(events__chunk_size=True), {}, r"\[events\] chunk_size.*(True is not of type|got True)"),
    ]
):
    add(error(f"evaluate-chunk-{i}", evaluate(cfg, **kwargs), ValueError, words))
for i, (cfg, kind, words) in enumerate(
    [
        (config(extra={}), ValueError, r"extra"),
        (config(events__colour="red"), ValueError, r"colour"),
        (config(events__files=None), (ValueError, KeyError), r"files"),
        (config(events__files=["nothing_*.root"]), FileNotFoundError, r"no file matches .*nothing_\*.root"),
        (config(events__files=["missing.root"]), FileNotFoundError, r"event file .*missing.root does not exist"),
        (config(columns={}), ValueError, r"\[columns\].*(should be non-empty|the column spec is empty)"),
        (config(columns={"weight": "net.onnx"}), ValueError, r"'weight' is reserved for the event weights"),
        (config(columns={"r-S": "net.onnx"}), ValueError, r"column name 'r-S' is not an identifier"),
        (config(columns={"r_S": "none.onnx"}), (FileNotFoundError, ValueError, OSError), r"none.onnx"),
        (config(columns={"r_S": {"model": "net.onnx"}}), ValueError, r"r_S.*unknown key\(s\) \['model'\]"),
        (config(columns={"r_S": 3}), ValueError, r"r_S.*(3 is not a string or a list|expected a path)"),
        (config(output__dtype="float16"), ValueError, r"dtype.*float16"),
        (config(output__path="out.csv"), ValueError, r"out.csv|format"),
        (config(output__path=None), ValueError, r"give the output file in \[output\] path"),
        (config(events__features={"x0": "log(x0_missing)"}), Exception, r"x0_missing"),
        (config(events__cut="x0 >"), ValueError, r"cut.*cannot parse 'x0 >'|x0 >"),
        (config(events__tree="nope"), Exception, r"no TTree/RNTuple 'nope'"),
    ]
):
    add(error(f"evaluate-config-{i}", evaluate(cfg), kind, words))
add(error("evaluate-not-json", evaluate("{ this is not json"), ValueError, r"evaluate.json"))
add(error("evaluate-not-toml", evaluate("[events\nfiles = ", suffix=".toml"), ValueError, r"evaluate.toml"))
add(error("evaluate-bad-suffix", evaluate("{}", suffix=".yaml"), ValueError, r"evaluate.yaml"))
# networks whose outputs are not ratios: named by column and event
add(error("evaluate-negative-ratio", evaluate(config(), activation=None), ValueError, r"r_S"))
add(error("evaluate-nan-ratio", evaluate(config(), activation="Sqrt", bias=-5.0), ValueError, r"r_S"))


def damaged_network(tmp: Path) -> Any:
    from roonsbi.inputs.evaluate import evaluate_config, load_config

    setup(tmp)
    (tmp / "net.onnx").write_bytes((tmp / "net.onnx").read_bytes()[:40])
    (tmp / "e.json").write_text(json.dumps(config()))
    return evaluate_config(tmp / "e.json", load_config(tmp / "e.json"), log=lambda *a: None, progress=False)


def existing_output(tmp: Path) -> Any:
    from roonsbi.inputs.evaluate import evaluate_config, load_config

    setup(tmp)
    (tmp / "out.npz").write_text("the user's file")
    (tmp / "e.json").write_text(json.dumps(config()))
    try:
        return evaluate_config(tmp / "e.json", load_config(tmp / "e.json"), log=lambda *a: None, progress=False)
    finally:
        assert (tmp / "out.npz").read_text() == "the user's file"


def fifo_config(tmp: Path) -> Any:
    from roonsbi.inputs.evaluate import load_config

    os.mkfifo(tmp / "e.json")
    return load_config(tmp / "e.json")


add(error("evaluate-damaged-network", damaged_network, (ValueError, OSError, RuntimeError), r"net.onnx"))
add(error("evaluate-existing-output", existing_output, FileExistsError, r"out.npz exists; pass overwrite=True"))
add(error("evaluate-fifo-config", fifo_config, ValueError, r"e.json is a FIFO"))
