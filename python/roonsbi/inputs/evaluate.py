r"""``roonsbi evaluate``: a configuration file -> a columns file (the diagnostics: :mod:`roonsbi.cli.evaluate`).

The configuration is TOML (``.toml``; Python's ``tomllib``) or JSON (``.json``), checked against
the JSON schema :data:`CONFIG_SCHEMA` (jsonschema) before anything runs: an error names the file,
the key and what is allowed. Relative paths are taken from the folder of the configuration file.
The example shipped with roonsbi, ``examples/evaluate.toml``, runs in the tests. The sections::

    [events]                       # the sample to evaluate (required)
    files = ["ref_*.root"]         # globs and "file.root:tree" allowed (required)
    tree = "events"                # TTree or RNTuple (default: the only one)
    cut = "n_jets >= 2"            # optional, on branches
    weight = "weight"              # optional branch/expression -> column "weight"
    chunk_size = 100000

    [events.features]              # optional: feature name -> branch or expression
    log_pt = "log(pt)"             # features not listed are read from branches of that name

    [networks]                     # optional: defaults of every column (a column's own keys win)
    output = "score"               # "ratio", "log_ratio" or "score"
    features = ["m4l", "log_pt"]   # the input features, in the networks' order
    output_name = "probabilities"  # the ONNX output (default: the first float output)
    output_index = 1               # the column of an [N, k] output
    scale = 1.0

    [columns]                      # column -> ONNX file(s) or a table (required)
    r_S = ["nets/S_0.onnx", "nets/S_1.onnx"]       # an ensemble, with the [networks] defaults
    r_B = { models = "nets/B.onnx", output = "ratio" }
    g_S_jes_lo = { models = "nets/S_jes_dn.onnx", output = "log_ratio" }
    g_S_jes_hi = { models = "nets/S_jes_up.onnx", output = "log_ratio" }

    [output]
    path = "columns.root"          # .root (TTree), .npz, or a folder of .npy files
    dtype = "float32"              # or "float64"
    spread = true                  # <column>_std for ensembles
    keep = []                      # features/branches copied to the output
    tree = "columns"

    [calibration]                  # optional (or: roonsbi evaluate --calibrate-on FILES)
    files = ["ref_calib.root"]     # an independent sample of the reference density
    weight = "weight"              # default: [events] weight; tree and cut default to [events]'s

    [diagnostics]                  # optional (or: roonsbi evaluate --diagnostics DIR)
    output = "diagnostics"
    formats = ["png", "pdf"]
    n_sigma = 3.0
    [diagnostics.samples.r_S]      # process sample for the reweighting check of r_S
    files = ["signal.root"]
    weight = "weight"

Classifiers exported by skl2onnx need no options beyond ``output = "score"``: their label output
is skipped for the probabilities, a ZipMap is read, and a two-class output gives the probability
of class 1 (:mod:`roonsbi.inputs.networks`).

**Calibration.** With ``[calibration]`` (or ``--calibrate-on``), the networks are first evaluated
on the calibration sample and the normalisation closure computed there
(:func:`~roonsbi.inputs.diagnostics.normalisation_closure`: :math:`m_J = \sum_i w_i r_J/\sum_i w_i`,
which is 1 for exact ratios); the written columns are multiplied by
:func:`~roonsbi.inputs.diagnostics.calibration_factors` (:math:`1/m_J` for :math:`r_J`,
:math:`m_J/m_{Jm}` for :math:`g_{Jm}`; the ``_std`` columns alike), and the factors, the closure and
the sample are recorded in the output's metadata (:func:`~roonsbi.inputs.column_files.read_metadata`,
key ``calibration``).

This module reads and checks the configuration and evaluates the columns (no ROOT, no plots);
:func:`roonsbi.cli.evaluate.run_evaluate` adds the diagnostics and their plots.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..checks import check_file
from ..naming import SPREAD_SUFFIX
from ..optional import optional_module
from .column_files import write_columns
from .columns import ColumnSpec, iter_columns
from .diagnostics import calibration_factors, normalisation_closure
from .events import read_events
from .networks import OUTPUT_CONVENTIONS, RatioEvaluator, SessionCache

__all__ = ["CONFIG_SCHEMA", "EvaluatedColumns", "calibration_settings", "diagnostics_settings", "evaluate_config",
           "load_config", "read_targets"]

_STRINGS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
_NAMES = {"type": "array", "items": {"type": "string"}}
_NETWORK = {
    "output": {"enum": list(OUTPUT_CONVENTIONS)},
    "features": _NAMES,
    "output_name": {"type": "string"},
    "output_index": {"type": "integer", "minimum": 0},
    "scale": {"type": "number", "exclusiveMinimum": 0},
}
_SAMPLE = {"type": "object", "additionalProperties": False, "required": ["files"],
           "properties": {"files": _STRINGS, "tree": {"type": "string"}, "cut": {"type": "string"},
                          "weight": {"type": "string"}}}

#: The JSON schema of the configuration (draft 2020-12), checked by :func:`load_config`.
CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "roonsbi evaluate configuration",
    "type": "object",
    "additionalProperties": False,
    "required": ["events", "columns"],
    "properties": {
        "events": {
            "type": "object", "additionalProperties": False, "required": ["files"],
            "properties": {
                "files": _STRINGS, "tree": {"type": "string"}, "cut": {"type": "string"},
                "weight": {"type": "string"}, "chunk_size": {"type": "integer", "minimum": 1},
                "features": {"oneOf": [{"type": "object", "additionalProperties": {"type": "string"}}, _NAMES]},
            },
        },
        "networks": {"type": "object", "additionalProperties": False, "properties": _NETWORK},
        "columns": {
            "type": "object", "minProperties": 1,
            "additionalProperties": {"oneOf": [
                _STRINGS,
                {"type": "object", "additionalProperties": False, "required": ["models"],
                 "properties": {"models": _STRINGS, **_NETWORK}},
            ]},
        },
        "output": {
            "type": "object", "additionalProperties": False,
            "properties": {"path": {"type": "string"}, "dtype": {"enum": ["float32", "float64"]},
                           "spread": {"type": "boolean"}, "keep": _NAMES, "tree": {"type": "string"}},
        },
        "calibration": {**_SAMPLE, "required": []},
        "diagnostics": {
            "type": "object", "additionalProperties": False,
            "properties": {"output": {"type": "string"},
                           "formats": {"type": "array", "items": {"enum": ["png", "pdf", "svg"]}},
                           "n_sigma": {"type": "number", "exclusiveMinimum": 0},
                           "tolerance": {"type": "number", "minimum": 0},
                           "bins": {"type": "integer", "minimum": 1},
                           "samples": {"type": "object", "additionalProperties": _SAMPLE}},
        },
    },
}


def _location(path: Sequence[Any]) -> str:
    """``[events]``, ``[columns] r_S.output`` ...: where a schema error is, as the TOML reads."""
    if not path:
        return "the top level"
    section, rest = str(path[0]), ".".join(str(p) for p in path[1:])
    return f"[{section}]" + (f" {rest}" if rest else "")


def _form(schema: Mapping[str, Any]) -> str:
    """What a schema allows, in words: "a string or a list of strings", "a table"."""
    if "oneOf" in schema:
        return " or ".join(_form(s) for s in schema["oneOf"])
    kind = {"object": "table", "array": "list", "string": "string", "integer": "integer", "number": "number",
            "boolean": "boolean"}.get(str(schema.get("type")), str(schema.get("type")))
    if kind == "list" and "items" in schema:
        return f"a list of {_form(schema['items']).removeprefix('a ').removeprefix('an ')}s"
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _schema_message(error: Any) -> str:
    """One schema error as a sentence naming the key and what is allowed."""
    where = _location(list(error.absolute_path))
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(schema.get("properties"), Mapping):
        unknown = sorted(set(error.instance) - set(schema["properties"]))
        return f"{where}: unknown key(s) {unknown}; allowed: {sorted(schema['properties'])}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "oneOf" and error.context:
        # the complaint of the alternative of the right type (e.g. a table with a bad key), if any
        matched = [e for e in error.context if e.validator not in ("type", "oneOf")]
        if matched:
            return _schema_message(max(matched, key=lambda e: len(e.absolute_path)))
        return f"{where}: {error.instance!r} is not {_form(schema)}"
    return f"{where}: {error.message}"


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML or JSON configuration and validate it against :data:`CONFIG_SCHEMA`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not TOML/JSON, or not valid: the message names the file, then each problem
            with its key (``[columns] r_S.output: 'scores' is not one of [...]``).
    """
    path = check_file(path, "configuration")
    config = _read_config(path)
    jsonschema = optional_module("jsonschema", "checking roonsbi evaluate configurations")
    validator = jsonschema.Draft202012Validator(CONFIG_SCHEMA)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [_schema_message(e) for e in errors]
        raise ValueError(f"{path}: " + ("\n  ".join(["invalid configuration:", *lines]) if len(lines) > 1 else
                                         lines[0]))
    return config


def _read_config(path: Path) -> dict[str, Any]:
    """The mapping of a ``.toml`` (tomllib, or tomli before Python 3.11) or ``.json`` file."""
    if path.suffix.lower() == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            tomllib = optional_module("tomli", "reading TOML configurations before Python 3.11")
        with open(path, "rb") as fh:
            try:
                return dict(tomllib.load(fh))
            except tomllib.TOMLDecodeError as err:
                raise ValueError(f"{path}: {err}") from None
    if path.suffix.lower() == ".json":
        try:
            return dict(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: {err}") from None
    raise ValueError(f"configuration {path}: use a .toml or .json file")


def _files(value: Any, base: Path) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [item if os.path.isabs(item) else str(base / item) for item in items]


def _collect(stream: Iterator[dict[str, np.ndarray]], extra: list[str], stats: dict[str, Any],
             store: dict[str, list[np.ndarray]] | None) -> Iterator[dict[str, np.ndarray]]:
    """Pass chunks on without the ``extra`` columns, counting them and keeping them in ``store``."""
    for chunk in stream:
        stats["entries"] = stats.get("entries", 0) + len(next(iter(chunk.values())))
        out = {k: v for k, v in chunk.items() if k not in extra}
        stats["columns"] = list(out)
        if store is not None:
            for name, values in chunk.items():
                store.setdefault(name, []).append(values)
        yield out


def diagnostics_settings(config: Mapping[str, Any], config_path: Path, diagnostics: str | os.PathLike | None,
                         formats: list[str] | None) -> dict[str, Any]:
    """The ``[diagnostics]`` section with the command-line overrides (empty: no diagnostics); its
    ``output`` relative to the configuration's folder."""
    base = config_path.resolve().parent
    diag_cfg = dict(config.get("diagnostics", {}))
    if diagnostics is not None:
        diag_cfg["output"] = str(diagnostics)
    elif "output" in diag_cfg:
        diag_cfg["output"] = str(base / diag_cfg["output"])
    if formats and diag_cfg:
        diag_cfg["formats"] = formats
    if diag_cfg and "output" not in diag_cfg:
        raise ValueError(f"{config_path}: [diagnostics] needs 'output' (a folder)")
    return diag_cfg


def calibration_settings(config: Mapping[str, Any], config_path: Path,
                         calibrate_on: Sequence[str | os.PathLike] | None) -> dict[str, Any]:
    """The ``[calibration]`` section with the files of ``--calibrate-on`` (paths as given on the
    command line) in place of its ``files`` (relative to the configuration's folder); empty: no
    calibration."""
    cal = dict(config.get("calibration", {}))
    if calibrate_on:
        cal["files"] = [str(f) for f in calibrate_on]
    elif cal:
        if "files" not in cal:
            raise ValueError(f"{config_path}: [calibration] needs 'files' (or pass --calibrate-on FILES)")
        cal["files"] = _files(cal["files"], config_path.resolve().parent)
    return cal


def _calibration(spec: ColumnSpec, events: Mapping[str, Any], cal: Mapping[str, Any], chunk_size: int,
                 progress: bool | None, threads: int | None) -> dict[str, Any]:
    """Evaluate ``spec`` on the calibration sample (tree, cut, features and weight of ``[events]``
    unless ``cal`` has its own) and return the record of the calibration: its files, entries, the
    closure there and the factors (:func:`~roonsbi.inputs.diagnostics.calibration_factors`)."""
    store: dict[str, list[np.ndarray]] = {}
    for chunk in iter_columns(cal["files"], spec, tree=cal.get("tree", events.get("tree")),
                              features=events.get("features"), cut=cal.get("cut", events.get("cut")),
                              weight=cal.get("weight", events.get("weight")), chunk_size=chunk_size, spread=False,
                              dtype="float64", progress=progress, threads=threads):
        for name, values in chunk.items():
            store.setdefault(name, []).append(values)
    columns = {k: np.concatenate(v) for k, v in store.items()}
    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0:
        raise ValueError(f"the calibration sample {list(cal['files'])} has no (selected) events")
    closure = normalisation_closure(columns)
    return {"files": [str(f) for f in cal["files"]], "entries": n, "factors": calibration_factors(closure),
            "closure": closure.to_dict()}


def _calibrated(stream: Iterator[dict[str, np.ndarray]],
                factors: Mapping[str, float]) -> Iterator[dict[str, np.ndarray]]:
    """The chunks with each column (and its ensemble spread) multiplied by its factor."""
    for chunk in stream:
        for column, factor in factors.items():
            for name in (column, column + SPREAD_SUFFIX):
                if name in chunk:
                    chunk[name] = chunk[name] * chunk[name].dtype.type(factor)
        yield chunk


def _network_features(spec: ColumnSpec, threads: int | None) -> list[str]:
    """The event features read by any network of ``spec``, in first-seen order."""
    cache = SessionCache(threads)
    seen: dict[str, None] = {}
    for model in spec.values():
        seen.update(dict.fromkeys(RatioEvaluator.load(model, cache).features))
    return list(seen)


@dataclass
class EvaluatedColumns:
    """What :func:`evaluate_config` wrote: the summary (``output``, ``entries``, ``columns``,
    ``seconds``) and, when asked for, the columns of the reference sample with the network features."""

    summary: dict[str, Any]
    reference: dict[str, np.ndarray] | None
    network_features: list[str]


def _chunk_size(given: Any, events: Mapping[str, Any], config_path: Any) -> int:
    """The entries per chunk: ``given`` (``--chunk-size``), else ``[events] chunk_size``, else 100000; a
    positive integer (ValueError naming where it came from otherwise: 0 is not "the default")."""
    value, where = (given, "--chunk-size / chunk_size=") if given is not None else \
        (events.get("chunk_size", 100_000), f"[events] chunk_size of {config_path}")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{where} must be a positive number of entries per chunk, got {value!r}")
    return int(value)


def evaluate_config(
    config_path: str | os.PathLike,
    config: Mapping[str, Any],
    *,
    output: str | os.PathLike | None = None,
    dtype: str | None = None,
    chunk_size: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    threads: int | None = None,
    keep_reference: bool = False,
    calibrate_on: Sequence[str | os.PathLike] | None = None,
    log: Any = print,
) -> EvaluatedColumns:
    """Evaluate the columns of a configuration (read by :func:`load_config`) and write them.

    Keyword arguments override the configuration. With ``keep_reference`` the written columns and
    the networks' features are also kept in memory (for the diagnostics), the features not
    written to the output. With a ``[calibration]`` section or ``calibrate_on`` (files of a
    reference sample) the columns are calibrated (see the module doc); the record is in the
    summary and in the output's metadata (``calibration``).
    """
    config_path = Path(config_path)
    base = config_path.resolve().parent
    events, out_cfg = config["events"], config.get("output", {})
    spec = ColumnSpec.from_dict(config["columns"], base, defaults=config.get("networks"))
    cal = calibration_settings(config, config_path, calibrate_on)
    out_path = Path(output) if output is not None else (base / out_cfg["path"] if "path" in out_cfg else None)
    if out_path is None:
        raise ValueError(f"{config_path}: give the output file in [output] path = ... or with --output")
    dtype = dtype or out_cfg.get("dtype", "float32")
    keep = list(out_cfg.get("keep", []))
    network_features = _network_features(spec, threads) if keep_reference else []
    extra = [f for f in network_features if f not in keep]
    start = time.perf_counter()
    chunk_size = _chunk_size(chunk_size, events, config_path)
    calibration = _calibration(spec, events, cal, chunk_size, progress, threads) if cal else None
    if calibration is not None:
        log(f"roonsbi evaluate: calibration on {calibration['entries']} events of {calibration['files']}: factors "
            + ", ".join(f"{c} x {f:.5g}" for c, f in calibration["factors"].items()))
    stream = iter_columns(
        _files(events["files"], base), spec, tree=events.get("tree"), features=events.get("features"),
        cut=events.get("cut"), weight=events.get("weight"), keep=keep + extra,
        chunk_size=chunk_size, spread=bool(out_cfg.get("spread", True)),
        dtype=dtype, progress=progress, threads=threads,
    )
    if calibration is not None:
        stream = _calibrated(stream, calibration["factors"])
    stats: dict[str, Any] = {}
    store: dict[str, list[np.ndarray]] | None = {} if keep_reference else None
    write_columns(out_path, _collect(stream, extra, stats, store), dtype=dtype,
                  tree=out_cfg.get("tree", "columns"), overwrite=overwrite,
                  metadata={"calibration": calibration} if calibration is not None else None)
    seconds = time.perf_counter() - start
    log(f"roonsbi evaluate: {stats['entries']} events, columns {stats['columns']} -> {out_path} ({seconds:.1f} s)")
    summary = {"output": out_path, "entries": stats["entries"], "columns": stats["columns"], "seconds": seconds}
    if calibration is not None:
        summary["calibration"] = calibration
    reference = None if store is None else {k: np.concatenate(v) for k, v in store.items()}
    return EvaluatedColumns(summary, reference, network_features)


def read_targets(config_path: str | os.PathLike, config: Mapping[str, Any], diag_cfg: Mapping[str, Any],
                 network_features: list[str], chunk_size: int | None = None) -> dict[str, tuple[dict, Any]]:
    """The process samples of ``[diagnostics.samples]``: ratio column -> (features, weights or None),
    the features defined as in ``[events.features]``."""
    base = Path(config_path).resolve().parent
    events = config["events"]
    features = events.get("features")
    expressions = dict(features) if isinstance(features, Mapping) else {}
    chunk_size = _chunk_size(chunk_size, events, config_path)
    targets = {}
    for col, sample in diag_cfg.get("samples", {}).items():
        wanted = {f: expressions.get(f, f) for f in network_features}
        if sample.get("weight"):
            wanted["@weight"] = sample["weight"]
        data = read_events(_files(sample["files"], base), wanted, tree=sample.get("tree", events.get("tree")),
                           cut=sample.get("cut"), chunk_size=chunk_size)
        targets[col] = (data, data.pop("@weight", None))
    return targets
