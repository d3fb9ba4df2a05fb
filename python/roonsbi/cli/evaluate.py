"""``roonsbi evaluate``: evaluate the networks of a configuration into columns, then the diagnostics.

The configuration format and the evaluation are :mod:`roonsbi.inputs.evaluate`; the diagnostics
(numbers and plots) are :func:`roonsbi.plot.diagnostics.diagnose`. This module joins them, as the
command does.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "command", "run_evaluate"]


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
    calibrate_on: list[str] | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Evaluate the columns of a configuration file, write them, and run the diagnostics.

    Keyword arguments override the configuration (``calibrate_on``: the files of the calibration
    sample, see :mod:`roonsbi.inputs.evaluate`). Returns a summary dict with ``output``,
    ``entries``, ``columns``, ``seconds``, with a calibration ``calibration`` (files, entries,
    closure, factors) and, with diagnostics, ``diagnostics`` (the
    :class:`~roonsbi.inputs.diagnostics.DiagnosticsReport`).
    """
    from ..inputs.evaluate import diagnostics_settings, evaluate_config, load_config, read_targets

    config_path = Path(config_path)
    config = load_config(config_path)
    diag_cfg = diagnostics_settings(config, config_path, diagnostics, formats)
    if diag_cfg:  # refuse existing diagnostics before the evaluation, not after it
        from ..atomic import refuse_existing
        from ..plot.diagnostics import diagnostics_files

        for path in diagnostics_files(diag_cfg["output"], list(diag_cfg.get("samples", {})),
                                      tuple(diag_cfg.get("formats", ("png",)))):
            refuse_existing(path, overwrite)
    evaluated = evaluate_config(config_path, config, output=output, dtype=dtype, chunk_size=chunk_size,
                                overwrite=overwrite, progress=progress, threads=threads,
                                keep_reference=bool(diag_cfg), calibrate_on=calibrate_on, log=log)
    summary = evaluated.summary
    if diag_cfg:
        from ..plot.diagnostics import diagnose

        reference = evaluated.reference or {}
        targets = read_targets(config_path, config, diag_cfg, evaluated.network_features, chunk_size)
        report = diagnose(
            reference, diag_cfg["output"], weights=reference.get("weight"), targets=targets,
            formats=tuple(diag_cfg.get("formats", ("png",))), n_sigma=float(diag_cfg.get("n_sigma", 3.0)),
            tolerance=float(diag_cfg.get("tolerance", 0.0)), bins=int(diag_cfg.get("bins", 30)),
            overwrite=overwrite,
        )
        log(report.summary())
        log(f"diagnostics: {', '.join(str(p) for p in report.files)}")
        summary["diagnostics"] = report
    return summary


def add_arguments(ev: argparse.ArgumentParser) -> None:
    """The arguments of ``roonsbi evaluate``."""
    ev.add_argument("config", help="configuration file (.toml or .json)")
    ev.add_argument("-o", "--output", help="output file (.root, .npz or a folder); overrides [output] path")
    ev.add_argument("--dtype", choices=("float32", "float64"), help="column type (default: float32)")
    ev.add_argument("--chunk-size", type=int, help="entries per chunk (bounds the memory; default 100000)")
    ev.add_argument("--threads", type=int, help="onnxruntime threads per network (default: one per core)")
    ev.add_argument("--overwrite", action="store_true", help="replace an existing output (and diagnostics)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.add_argument("--diagnostics", metavar="DIR", help="run the diagnostics on the evaluated (reference) "
                    "sample and write them to DIR; overrides [diagnostics] output")
    ev.add_argument("--formats", help="plot formats, comma-separated (default: png)")
    ev.add_argument("--calibrate-on", nargs="+", metavar="REFERENCE",
                    help="ROOT file(s) of an independent reference sample: divide each column by its mean there "
                    "(the normalisation closure), recorded in the output's metadata; overrides [calibration] files")
    ev.add_argument("--strict", action="store_true", help="exit with status 1 when a diagnostic is flagged")


def command(args: argparse.Namespace) -> int:
    """Run ``roonsbi evaluate``: exit status 0, 1 (``--strict`` and a diagnostic flagged) or 2 (an error)."""
    try:
        summary = run_evaluate(
            args.config, output=args.output, dtype=args.dtype, chunk_size=args.chunk_size,
            overwrite=args.overwrite, progress=False if args.no_progress else None, threads=args.threads,
            diagnostics=args.diagnostics, formats=args.formats.split(",") if args.formats else None,
            calibrate_on=args.calibrate_on,
        )
    except (ValueError, KeyError, OSError, ImportError) as err:
        from ..atomic import OVERWRITE_HINT

        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"roonsbi evaluate: error: {str(message).replace(OVERWRITE_HINT, '--overwrite')}", file=sys.stderr)
        return 2
    report = summary.get("diagnostics")
    if args.strict and report is not None and not report.passed:
        print("roonsbi evaluate: diagnostics flagged (see above)", file=sys.stderr)
        return 1
    return 0
