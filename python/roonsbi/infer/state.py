"""Save and restore a model's parameters around a loop of fits (scans, impacts, toys).

A fit changes the values, errors and constant flags of the model's RooRealVars; a loop of fits
that stops on an exception (a bad fit, a KeyboardInterrupt) would leave the model at the last
point it reached. :func:`saved_parameters` records, for every POI, nuisance parameter, global
observable and (for a :class:`~roonsbi.models.parametrized.ParametrizedModel`) mu', the value,
the error and the constant flag, and puts them back when the block exits.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from ..models.protocol import FitModel

__all__ = ["ParameterState", "model_variables", "saved_parameters"]


@dataclass(frozen=True)
class ParameterState:
    """The state of one RooRealVar."""

    value: float
    error: float
    constant: bool


def model_variables(model: FitModel) -> dict[str, Any]:
    """Name -> RooRealVar of the POIs, nuisance parameters and global observables, and mu'
    if the model has one."""
    out: dict[str, Any] = {}
    for collection in (model.pois, model.nuisance_parameters, model.global_observables):
        for p in collection:
            out[p.GetName()] = model.parameter(p.GetName())
    mu_prime = getattr(model, "mu_prime", None)  # a ParametrizedModel's scan parameter
    if mu_prime is not None:
        out[mu_prime.GetName()] = mu_prime
    return out


def _restore(variables: dict[str, Any], saved: dict[str, ParameterState], errors: bool) -> None:
    for name, var in variables.items():
        state = saved[name]
        var.setVal(state.value)
        var.setConstant(state.constant)
        if errors:
            var.setError(state.error)


@contextmanager
def saved_parameters(model: FitModel, *, restore_on_success: bool = True) -> Iterator[dict[str, ParameterState]]:
    """Record the parameters of ``model`` (see the module doc) and restore them on exit.

    On an exception (any, including KeyboardInterrupt) values, errors and constant flags are all
    restored and the exception propagates. On a normal exit, with ``restore_on_success``, the
    values and constant flags are restored and the errors are left as the last fit set them
    (Minuit's step sizes for the next fit, as before); without it the model keeps the state the
    block left (for functions whose result is the state they set, e.g. a toy's parameters).

    Yields the recorded states (name -> :class:`ParameterState`).
    """
    variables = model_variables(model)
    saved = {name: ParameterState(float(v.getVal()), float(v.getError()), bool(v.isConstant()))
             for name, v in variables.items()}
    try:
        yield saved
    except BaseException:
        _restore(variables, saved, errors=True)
        raise
    if restore_on_success:
        _restore(variables, saved, errors=False)
