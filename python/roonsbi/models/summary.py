"""What a model holds, as plain numbers (``roonsbi inspect``): channels, POIs, nuisance parameters,
processes, events and yields.

:func:`describe` works on every roonsbi model and on any workspace model with a ModelConfig
(HistFactory, pyhf, HS3): a combination is split into its channels
(:func:`~roonsbi.models.combined.channels_of`). Per channel: its observed entries and sum of
weights, its expected events at the current parameters and, where the pdf has them, its processes
with their yields: the ``N_J`` of a ``RooNSBIPdf``, the integral over the observables of each sample
function of a ``RooRealSumPdf`` (HistFactory, pyhf), the bin yields of a ``RooNSBIParamHistPdf``
summed (one entry: the channel).
"""

from __future__ import annotations

import math
from typing import Any

from ..naming import yield_name
from .combined import channels_of
from .protocol import FitModel

__all__ = ["describe", "describe_parameter"]


def describe_parameter(var: Any) -> dict[str, Any]:
    """Value, error, range (None for an infinite side) and constant flag of a RooRealVar."""
    return {"value": float(var.getVal()), "error": float(var.getError()),
            "min": float(var.getMin()) if var.hasMin() else None, "max": float(var.getMax()) if var.hasMax() else None,
            "constant": bool(var.isConstant())}


def _processes(pdf: Any, observables: Any) -> dict[str, float]:
    """Process name -> yield of the RooNSBIPdf or RooRealSumPdf components of ``pdf``."""
    out: dict[str, float] = {}
    prefix = yield_name("")
    for comp in pdf.getComponents():
        if comp.InheritsFrom("RooNSBIPdf"):
            for y in comp.yields():
                name = y.GetName()
                out[name[len(prefix):] if name.startswith(prefix) else name] = float(y.getVal())
        elif comp.InheritsFrom("RooRealSumPdf"):
            obs = comp.getObservables(observables)
            for func in comp.funcList():
                integral = func.createIntegral(obs)
                out[func.GetName()] = float(integral.getVal())
    return out


def describe(model: FitModel) -> dict[str, Any]:
    """The channels, POIs, nuisance parameters and global observables of ``model`` (module doc):
    ``{"pois": {name: parameter}, "nuisance_parameters": {...}, "global_observables": {name: value},
    "channels": [{"name", "entries", "sum_weights", "expected", "processes": {name: yield}}]}``
    (parameters as :func:`describe_parameter`)."""
    channels = []
    for ch in channels_of(model):
        pdf_obs = ch.observables
        expected = float(ch.pdf.expectedEvents(pdf_obs)) if ch.pdf.canBeExtended() else math.nan
        channels.append({"name": ch.name, "entries": int(ch.data.numEntries()),
                         "sum_weights": float(ch.data.sumEntries()), "expected": expected,
                         "processes": _processes(ch.pdf, pdf_obs)})
    return {
        "pois": {p.GetName(): describe_parameter(p) for p in model.pois},
        "nuisance_parameters": {p.GetName(): describe_parameter(p) for p in model.nuisance_parameters},
        "global_observables": {g.GetName(): float(g.getVal()) for g in model.global_observables},
        "channels": channels,
    }
