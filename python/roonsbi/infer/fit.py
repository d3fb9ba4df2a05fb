r"""Maximum-likelihood fits with RooFit's Minuit2.

Works on any model of the :class:`~roonsbi.models.protocol.FitModel` protocol (every roonsbi
model). The profile-likelihood ratio of a POI value :math:`\mu` is

.. math:: t(\mu) = 2\,[\mathrm{NLL}(\mu, \hat{\hat\alpha}) - \mathrm{NLL}(\hat\mu, \hat\alpha)],

and the asymptotic (Wilks) interval at confidence level CL is
:math:`\{\mu: t(\mu) < F^{-1}_{\chi^2_1}(\mathrm{CL})\}` (:mod:`roonsbi.infer.scan`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..library import load
from ..models.protocol import FitModel
from .results import FitResult

ROOT = load()

__all__ = ["FitResult", "Fitter", "fit", "single_poi"]


def _floating(model: FitModel) -> list[Any]:
    out = []
    for collection in (model.pois, model.nuisance_parameters):
        for p in collection:
            out.append(model.parameter(p.GetName()))
    return out


class Fitter:
    """Minimise one NLL repeatedly (unconditional and conditional fits).

    The NLL object is created once; fits only toggle which parameters are fixed.
    With ``fast=True`` it is the RooNSBINLL (float32 store, analytic gradient) of an
    NSBIModel instead of RooFit's NLL; both have the same value.
    """

    def __init__(self, model: FitModel, *, data: Any = None, backend: str = "cpu", strategy: int = 1,
                 print_level: int = -1, fast: bool = False, nll: Any = None, tolerance: float = 1e-3):
        self.model = model
        self.tolerance = tolerance
        if nll is not None:  # a prebuilt NLL, e.g. a RooNSBINLL on an EventStore
            self.nll = nll
        elif fast:
            from ..models.fast import fast_nll
            from ..models.unbinned import NSBIModel

            if not isinstance(model, NSBIModel):
                raise TypeError(f"fast=True needs an NSBIModel (an unbinned channel), got a {type(model).__name__}")
            if data is not None:
                raise ValueError("fast=True fits the model's own dataset (or build a FastNLL on another store)")
            self._fast = fast_nll(model)  # keeps the event store and constraint terms alive
            self.nll = self._fast.nll
        else:
            self.nll = model.create_nll(data, backend=backend)
        self.params = _floating(model)
        self.strategy = strategy
        self.print_level = print_level
        if hasattr(model, "total_yield"):
            nu = model.total_yield()
            if not (nu > 0 and np.isfinite(nu)):
                raise ValueError(f"expected number of events nu = {nu} is not positive at the start of the fit")

    def fit(self, fixed: Mapping[str, float] | None = None, *, hesse: bool = True) -> FitResult:
        """MIGRAD (then HESSE with ``hesse``) with the parameters in ``fixed`` held at the given
        values; the constant flags are restored afterwards (also on an exception)."""
        fixed = dict(fixed or {})
        was_constant = {p.GetName(): p.isConstant() for p in self.params}
        try:
            for name, value in fixed.items():
                par = self.model.parameter(name)
                par.setVal(float(value))
                par.setConstant(True)
            if all(p.isConstant() for p in self.params):
                values = {p.GetName(): p.getVal() for p in self.params}
                return FitResult(values, dict.fromkeys(values, 0.0), self.nll.getVal(), 0, -1, fixed)
            status, result = self._minimize(hesse)
            min_nll = self.nll.getVal()
        finally:
            for p in self.params:
                p.setConstant(was_constant[p.GetName()])
        if not np.isfinite(min_nll):
            raise RuntimeError(f"fit ended with a non-finite NLL ({min_nll}); check the model and data")
        values = {p.GetName(): p.getVal() for p in self.params}
        errors = {p.GetName(): (0.0 if p.GetName() in fixed else p.getError()) for p in self.params}
        return FitResult(values, errors, min_nll, int(status), int(result.covQual()), fixed, result)

    def _minimize(self, hesse: bool) -> tuple[int, Any]:
        """One Minuit2 minimisation of the NLL: (status, RooFitResult)."""
        config = ROOT.RooMinimizer.Config()
        config.useHessian = bool(self.nll.hasHessian())  # RooNSBINLL: Hessian from its gradient
        minimizer = ROOT.RooMinimizer(self.nll, config)
        minimizer.setPrintLevel(self.print_level)
        minimizer.setStrategy(self.strategy)
        minimizer.setEps(self.tolerance)  # MIGRAD stops at EDM < 0.002 * tolerance * error level
        status = minimizer.minimize("Minuit2", "Migrad")
        if hesse:
            status_hesse = minimizer.hesse()
            status = status or status_hesse
        result = minimizer.save()  # a new RooFitResult that the caller owns (C++ raw pointer)
        ROOT.SetOwnership(result, True)  # Python deletes it with its last reference
        return int(status), result


def fit(model: FitModel, *, data: Any = None, fixed: Mapping[str, float] | None = None, hesse: bool = True,
        backend: str = "cpu", strategy: int = 1, fast: bool = False) -> FitResult:
    """Minimise the model's NLL with Minuit2 (MIGRAD, then HESSE) and return the result.

    ``fixed`` maps parameter names to values held constant during this fit; ``fast``
    uses the RooNSBINLL with its analytic gradient (see :mod:`roonsbi.models.fast`).
    """
    return Fitter(model, data=data, backend=backend, strategy=strategy, fast=fast).fit(fixed, hesse=hesse)


def single_poi(model: FitModel, poi: str | None, *, hint: str) -> str:
    """``poi``, or the model's only POI; ValueError ending in ``hint`` if the model has several."""
    if poi is not None:
        return poi
    pois = [p.GetName() for p in model.pois]
    if len(pois) != 1:
        raise ValueError(f"the model has POIs {pois}; {hint}")
    return pois[0]
