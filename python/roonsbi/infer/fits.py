"""The fits of scans and impacts as work units (:mod:`roonsbi.infer.executor`).

With ``executor=``, :func:`~roonsbi.infer.scan.profile_scan`, :func:`~roonsbi.infer.scan.profile_scan_2d`,
:func:`~roonsbi.infer.scan.parametrized_scan` and :func:`~roonsbi.infer.impacts.impacts` run
their conditional fits as :class:`FitUnit` s: the model's source, the state of its variables
after the driver's best fit (values, errors as Minuit's step sizes, constant flags), the start
values, the fixed parameters and, for a parametrized channel, mu'. Each unit builds a fresh
:class:`~roonsbi.infer.fit.Fitter` on the model's own dataset, so its result depends on the unit
alone (in-process, the loops reuse one Fitter and start each fit from the previous one's step
sizes: the minima agree to the fit tolerance, not bit for bit).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .executor import ModelSource, capture_state, model_source, open_source, restore_state, run_units
from .fit import Fitter
from .results import FitResult

__all__ = ["FitUnit", "as_dict", "as_result", "fit_unit", "run_fits"]


@dataclass(frozen=True)
class FitUnit:
    """One conditional fit: ``fixed`` parameters held, the others started at ``start``, after the
    model's variables are put back to ``state``."""

    source: ModelSource
    state: dict[str, tuple[float, float, bool]]
    start: dict[str, float]
    fixed: dict[str, float]
    hesse: bool = False
    fast: bool = False
    backend: str = "cpu"
    options: dict[str, Any] = field(default_factory=dict)


def as_result(out: Mapping[str, Any]) -> FitResult:
    """A FitResult from the dict of :func:`fit_unit` (no RooFitResult)."""
    return FitResult(dict(out["values"]), dict(out["errors"]), float(out["min_nll"]), int(out["status"]),
                     int(out["cov_quality"]), dict(out["fixed"]), None, float(out["edm"]), dict(out["at_bound"]))


def as_dict(result: FitResult) -> dict[str, Any]:
    """A FitResult as plain data (what a work unit returns; :func:`as_result` reverses it)."""
    return {"values": result.values, "errors": result.errors, "min_nll": result.min_nll, "status": result.status,
            "cov_quality": result.cov_quality, "fixed": result.fixed, "edm": result.edm,
            "at_bound": result.at_bound}


def fit_unit(unit: FitUnit) -> dict[str, Any]:
    """The work of one :class:`FitUnit`: the fit's result as a dict (:func:`as_result`)."""
    model = open_source(unit.source)
    restore_state(model, unit.state)
    model.set_parameters(unit.start)
    fitter = Fitter(model, fast=unit.fast, backend=unit.backend)
    return as_dict(fitter.fit(unit.fixed, hesse=unit.hesse))


def run_fits(model: Any, points: Sequence[tuple[Mapping[str, float], Mapping[str, float]]], executor: Any, *,
             model_file: str | os.PathLike | None = None, fast: bool = False, backend: str = "cpu",
             function: Any = fit_unit, options: Sequence[Mapping[str, Any]] | None = None) -> list[Any]:
    """The results of ``function`` (default :func:`fit_unit`: FitResults) for ``points`` =
    [(fixed, start), ...] on ``executor``, each from the model's current state; ``options``: per
    point, extra settings for ``function``."""
    state = capture_state(model)
    with model_source(model, executor, model_file) as source:
        units = [FitUnit(source, state, dict(start), dict(fixed), False, fast, backend,
                         dict(options[i]) if options else {}) for i, (fixed, start) in enumerate(points)]
        out: list[Any] = [None] * len(units)
        for i, result in run_units(function, units, executor):
            out[i] = result
    if function is fit_unit:
        return [as_result(r) for r in out]
    return out
