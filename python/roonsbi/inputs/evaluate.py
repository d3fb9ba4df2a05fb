"""``roonsbi evaluate``: a configuration file -> a columns file (and diagnostics).

The configuration is TOML (``.toml``; Python's ``tomllib``) or JSON (``.json``). Relative
paths are taken from the folder of the configuration file. Example (TOML)::

    [events]                       # the reference sample
    files = ["ref_*.root"]         # globs and "file.root:tree" allowed
    tree = "events"                # TTree or RNTuple (default: the only one)
    cut = "n_jets >= 2"            # optional, on branches
    weight = "weight"              # optional branch/expression -> column "weight"
    chunk_size = 100000

    [events.features]              # optional: feature name -> branch or expression
    log_pt = "log(pt)"             # features not listed are read from branches of that name

    [columns]
    r_S = { models = ["nets/S_0.onnx", "nets/S_1.onnx"], output = "score" }
    r_B = "nets/B.onnx"            # one network giving the ratio directly
    g_S_jes_lo = { models = "nets/S_jes_dn.onnx", output = "log_ratio" }
    g_S_jes_hi = { models = "nets/S_jes_up.onnx", output = "log_ratio" }

    [output]
    path = "columns.root"          # .root (TTree), .npz, or a folder of .npy files
    dtype = "float32"              # or "float64"
    spread = true                  # <column>_std for ensembles
    keep = []                      # features/branches copied to the output
    tree = "columns"

    [diagnostics]                  # optional (or: roonsbi evaluate --diagnostics DIR)
    output = "diagnostics"
    formats = ["png", "pdf"]
    n_sigma = 3.0
    [diagnostics.samples.r_S]      # process sample for the reweighting check of r_S
    files = ["signal.root"]
    weight = "weight"
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .columns import ColumnSpec, iter_columns, write_columns
from .events import read_events
from .networks import RatioEvaluator, SessionCache

_SECTIONS = {
    "events": {"files", "tree", "cut", "weight", "chunk_size", "features"},
    "columns": None,
    "output": {"path", "dtype", "spread", "keep", "tree"},
    "diagnostics": {"output", "formats", "n_sigma", "tolerance", "bins", "samples"},
}
_SAMPLE_KEYS = {"files", "tree", "cut", "weight"}


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML or JSON configuration and check its sections and keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration {path} does not exist")
    if path.suffix.lower() == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        with open(path, "rb") as fh:
            try:
                config = tomllib.load(fh)
            except tomllib.TOMLDecodeError as err:
                raise ValueError(f"{path}: {err}") from None
    elif path.suffix.lower() == ".json":
        try:
            config = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: {err}") from None
    else:
        raise ValueError(f"configuration {path}: use a .toml or .json file")
    unknown = sorted(set(config) - set(_SECTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; allowed: {sorted(_SECTIONS)}")
    for section in ("events", "columns"):
        if section not in config:
            raise ValueError(f"{path}: the section [{section}] is missing")
    for section, keys in _SECTIONS.items():
        if keys is not None and section in config:
            bad = sorted(set(config[section]) - keys)
            if bad:
                raise ValueError(f"{path}: unknown key(s) {bad} in [{section}]; allowed: {sorted(keys)}")
    for col, sample in config.get("diagnostics", {}).get("samples", {}).items():
        bad = sorted(set(sample) - _SAMPLE_KEYS)
        if bad:
            raise ValueError(
                f"{path}: unknown key(s) {bad} in [diagnostics.samples.{col}]; allowed: {sorted(_SAMPLE_KEYS)}"
            )
        if "files" not in sample:
            raise ValueError(f"{path}: [diagnostics.samples.{col}] needs 'files'")
    if "files" not in config["events"]:
        raise ValueError(f"{path}: [events] needs 'files'")
    return config


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


def run_evaluate(
    config_path: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    dtype: str | None = None,
    chunk_size: int | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    threads: int | None = None,
    diagnostics: str | os.PathLike | None = None,
    formats: list[str] | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Evaluate the columns of a configuration file, write them, and run the diagnostics.

    Keyword arguments override the configuration. Returns a summary dict with ``output``,
    ``entries``, ``columns``, ``seconds`` and, with diagnostics, ``diagnostics`` (the
    :class:`~roonsbi.diagnostics.DiagnosticsReport`).
    """
    config_path = Path(config_path)
    config = load_config(config_path)
    base = config_path.resolve().parent
    events = config["events"]
    out_cfg = config.get("output", {})
    diag_cfg = dict(config.get("diagnostics", {}))
    if diagnostics is not None:
        diag_cfg["output"] = str(diagnostics)
    elif "output" in diag_cfg:
        diag_cfg["output"] = str(base / diag_cfg["output"])
    if formats and diag_cfg:
        diag_cfg["formats"] = formats
    if diag_cfg and "output" not in diag_cfg:
        raise ValueError(f"{config_path}: [diagnostics] needs 'output' (a folder)")

    spec = ColumnSpec.from_dict(config["columns"], base)
    out_path = Path(output) if output is not None else (base / out_cfg["path"] if "path" in out_cfg else None)
    if out_path is None:
        raise ValueError(f"{config_path}: give the output file in [output] path = ... or with --output")
    dtype = dtype or out_cfg.get("dtype", "float32")
    features = events.get("features")
    keep = list(out_cfg.get("keep", []))
    weight = events.get("weight")
    files = _files(events["files"], base)

    network_features: list[str] = []
    if diag_cfg:
        cache = SessionCache(threads)
        seen: dict[str, None] = {}
        for model in spec.values():
            seen.update(dict.fromkeys(RatioEvaluator.load(model, cache).features))
        network_features = list(seen)
    diag_features = [f for f in network_features if f not in keep]
    chunk_size = int(chunk_size or events.get("chunk_size", 100_000))

    start = time.perf_counter()
    stream = iter_columns(
        files, spec, tree=events.get("tree"), features=features, cut=events.get("cut"), weight=weight,
        keep=keep + diag_features, chunk_size=chunk_size, spread=bool(out_cfg.get("spread", True)),
        dtype=dtype, progress=progress, threads=threads,
    )
    stats: dict[str, Any] = {}
    store: dict[str, list[np.ndarray]] | None = {} if diag_cfg else None
    write_columns(out_path, _collect(stream, diag_features, stats, store), dtype=dtype,
                  tree=out_cfg.get("tree", "columns"), overwrite=overwrite)
    seconds = time.perf_counter() - start
    log(f"roonsbi evaluate: {stats['entries']} events, columns {stats['columns']} -> {out_path} ({seconds:.1f} s)")
    summary: dict[str, Any] = {"output": out_path, "entries": stats["entries"], "columns": stats["columns"],
                               "seconds": seconds}

    if diag_cfg:
        from .diagnostics import diagnose

        reference = {k: np.concatenate(v) for k, v in (store or {}).items()}
        expressions = dict(features) if isinstance(features, Mapping) else {}
        targets = {}
        for col, sample in diag_cfg.get("samples", {}).items():
            wanted = {f: expressions.get(f, f) for f in network_features}
            if sample.get("weight"):
                wanted["@weight"] = sample["weight"]
            data = read_events(_files(sample["files"], base), wanted, tree=sample.get("tree", events.get("tree")),
                               cut=sample.get("cut"), chunk_size=chunk_size)
            targets[col] = (data, data.pop("@weight", None))
        report = diagnose(
            reference, diag_cfg["output"], weights=reference.get("weight"), targets=targets,
            formats=tuple(diag_cfg.get("formats", ("png",))), n_sigma=float(diag_cfg.get("n_sigma", 3.0)),
            tolerance=float(diag_cfg.get("tolerance", 0.0)), bins=int(diag_cfg.get("bins", 30)),
        )
        log(report.summary())
        log(f"diagnostics: {', '.join(str(p) for p in report.files)}")
        summary["diagnostics"] = report
    return summary
