"""``roonsbi evaluate``: a configuration file -> a columns file (the diagnostics: :mod:`roonsbi.cli.evaluate`).

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
from typing import Any, Iterator, Mapping

import numpy as np

from ..checks import check_file
from ..optional import optional_module
from .columns import ColumnSpec, iter_columns, write_columns
from .events import read_events
from .networks import RatioEvaluator, SessionCache

__all__ = ["EvaluatedColumns", "diagnostics_settings", "evaluate_config", "load_config", "read_targets"]

_SECTIONS = {
    "events": {"files", "tree", "cut", "weight", "chunk_size", "features"},
    "columns": None,
    "output": {"path", "dtype", "spread", "keep", "tree"},
    "diagnostics": {"output", "formats", "n_sigma", "tolerance", "bins", "samples"},
}
_SAMPLE_KEYS = {"files", "tree", "cut", "weight"}


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML or JSON configuration and check its sections and keys."""
    path = check_file(path, "configuration")
    config = _read_config(path)
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
    log: Any = print,
) -> EvaluatedColumns:
    """Evaluate the columns of a configuration (read by :func:`load_config`) and write them.

    Keyword arguments override the configuration. With ``keep_reference`` the written columns and
    the networks' features are also kept in memory (for the diagnostics), the features not
    written to the output.
    """
    config_path = Path(config_path)
    base = config_path.resolve().parent
    events, out_cfg = config["events"], config.get("output", {})
    spec = ColumnSpec.from_dict(config["columns"], base)
    out_path = Path(output) if output is not None else (base / out_cfg["path"] if "path" in out_cfg else None)
    if out_path is None:
        raise ValueError(f"{config_path}: give the output file in [output] path = ... or with --output")
    dtype = dtype or out_cfg.get("dtype", "float32")
    keep = list(out_cfg.get("keep", []))
    network_features = _network_features(spec, threads) if keep_reference else []
    extra = [f for f in network_features if f not in keep]
    start = time.perf_counter()
    stream = iter_columns(
        _files(events["files"], base), spec, tree=events.get("tree"), features=events.get("features"),
        cut=events.get("cut"), weight=events.get("weight"), keep=keep + extra,
        chunk_size=_chunk_size(chunk_size, events, config_path), spread=bool(out_cfg.get("spread", True)),
        dtype=dtype, progress=progress, threads=threads,
    )
    stats: dict[str, Any] = {}
    store: dict[str, list[np.ndarray]] | None = {} if keep_reference else None
    write_columns(out_path, _collect(stream, extra, stats, store), dtype=dtype,
                  tree=out_cfg.get("tree", "columns"), overwrite=overwrite)
    seconds = time.perf_counter() - start
    log(f"roonsbi evaluate: {stats['entries']} events, columns {stats['columns']} -> {out_path} ({seconds:.1f} s)")
    summary = {"output": out_path, "entries": stats["entries"], "columns": stats["columns"], "seconds": seconds}
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
