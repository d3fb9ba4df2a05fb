r"""Nuisance-parameter pulls and impacts on a POI (the ATLAS "ranking plot").

For a nuisance parameter :math:`\theta` with a Gaussian constraint
:math:`\mathcal{N}(\theta_0 \mid \theta, \sigma_0)` (``theta_0`` the global observable; for
HistFactory's ``alpha_X``: ``nom_alpha_X = 0`` and :math:`\sigma_0 = 1`) and the
unconditional fit :math:`(\hat\mu, \hat\theta \pm \hat\sigma)`:

* the **pull** is :math:`(\hat\theta - \theta_0)/\sigma_0` with error :math:`\hat\sigma/\sigma_0`
  (a pull error below 1 means the data constrain :math:`\theta` beyond its prior);
* the **post-fit impact** is :math:`\Delta\hat\mu^\pm = \hat{\hat\mu}(\theta = \hat\theta \pm
  \hat\sigma) - \hat\mu`, with :math:`\hat{\hat\mu}` the fit with :math:`\theta` fixed and all
  other parameters free; the **pre-fit impact** uses :math:`\theta = \hat\theta \pm \sigma_0`;
* nuisance parameters are ranked by :math:`\max(|\Delta\hat\mu^+|, |\Delta\hat\mu^-|)`
  (post-fit), largest first.

Errors are Minuit2's HESSE errors (symmetric). Nuisance parameters without a Gaussian
constraint (free normalisation factors, Poisson-constrained gammas) get NaN pre-fit values
and no pre-fit impact. The model is any :class:`~roonsbi.models.protocol.FitModel`
(tested with :class:`~roonsbi.models.unbinned.NSBIModel`, :class:`~roonsbi.models.combined.CombinedModel`
and :class:`~roonsbi.models.parametrized.ParametrizedModel`, which is fitted at its current mu').
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

from ..models.builders import gaussian_parts
from ..models.protocol import FitModel
from .fit import Fitter, single_poi
from .fits import run_fits
from .progress import progress as progress_of
from .results import FitResult, Impact, ImpactResult, Pull
from .state import saved_parameters

__all__ = ["Impact", "ImpactResult", "Pull", "gaussian_constraints_of", "impacts", "pulls"]


def gaussian_constraints_of(model: FitModel) -> dict[str, tuple[float, float]]:
    r"""Nuisance parameter name -> (theta_0, sigma_0) of its Gaussian constraint term in the
    model pdf: a ``RooGaussian`` whose x or mean is the parameter and whose other argument is
    a global observable (HistFactory's ``alpha_X`` and Gaussian ``gamma`` terms)."""
    globs = {g.GetName() for g in model.global_observables}
    nps = {p.GetName() for p in model.nuisance_parameters}
    out: dict[str, tuple[float, float]] = {}
    for comp in model.model.getComponents():
        for par in nps:
            parts = gaussian_parts(comp, par)
            if parts and parts[0].GetName() in globs:
                out[par] = (float(parts[0].getVal()), parts[1])
    return out


def pulls(model: FitModel, best: FitResult, *, nuisance_parameters: Sequence[str] | None = None) -> list[Pull]:
    """Pulls of the nuisance parameters (default: all of the model, in its order) at ``best``."""
    constraints = gaussian_constraints_of(model)
    names = list(nuisance_parameters) if nuisance_parameters is not None else \
        [p.GetName() for p in model.nuisance_parameters]
    out = []
    for name in names:
        if name not in best.values:
            raise KeyError(f"'{name}' is not a floating parameter of the fit (have {sorted(best.values)})")
        nominal, sigma0 = constraints.get(name, (math.nan, math.nan))
        out.append(Pull(name, best.values[name], best.errors[name], nominal, sigma0))
    return out


def _shift(model: FitModel, fitter: Fitter, best: FitResult, poi: str, name: str, value: float,
           flagged: dict[str, float], seed: bool) -> float:
    r""":math:`\hat{\hat\mu}(\theta = \mathrm{value}) - \hat\mu`: the fit with ``name`` fixed at
    ``value``, started from the best fit (with ``seed``: MIGRAD seeded with its Hessian); the parameters it
    leaves at a bound go into ``flagged``."""
    var = model.parameter(name)
    if not var.getMin() <= value <= var.getMax():
        raise ValueError(f"impact of '{name}': {value:.6g} is outside its range [{var.getMin()}, "
                         f"{var.getMax()}] (widen the range)")
    model.set_parameters(best.values)
    result = fitter.fit({name: value}, hesse=False, seed_hessian=seed)
    flagged.update(result.at_bound)
    return result.values[poi] - best.values[poi]


def _impact(model: FitModel, fitter: Fitter, best: FitResult, poi: str, pull: Pull, prefit: bool,
            seed: bool) -> Impact:
    """Post-fit (and with ``prefit``, pre-fit) impact of one nuisance parameter."""
    if not (pull.error > 0 and math.isfinite(pull.error)):
        raise ValueError(f"the fit gives no valid error for '{pull.name}' ({pull.error}); impacts need HESSE errors")
    flagged: dict[str, float] = {}
    impact = Impact(pull.name, _shift(model, fitter, best, poi, pull.name, pull.value + pull.error, flagged, seed),
                    _shift(model, fitter, best, poi, pull.name, pull.value - pull.error, flagged, seed))
    if prefit and math.isfinite(pull.prefit_error):
        impact.prefit_up = _shift(model, fitter, best, poi, pull.name, pull.value + pull.prefit_error, flagged, seed)
        impact.prefit_down = _shift(model, fitter, best, poi, pull.name, pull.value - pull.prefit_error, flagged, seed)
    impact.at_bound = flagged
    return impact


def _distributed_impacts(model: FitModel, best: FitResult, poi: str, result_pulls: list[Pull], prefit: bool,
                         executor: Any, model_file: str | os.PathLike | None, backend: str) -> list[Impact]:
    """The shifted fits of :func:`impacts` as work units on ``executor`` (:mod:`roonsbi.infer.fits`)."""
    points: list[tuple[dict[str, float], dict[str, float]]] = []
    for p in result_pulls:
        if not (p.error > 0 and math.isfinite(p.error)):
            raise ValueError(f"the fit gives no valid error for '{p.name}' ({p.error}); impacts need HESSE errors")
        shifts = [p.error, -p.error] + ([p.prefit_error, -p.prefit_error] if prefit and
                                        math.isfinite(p.prefit_error) else [])
        for s in shifts:
            var = model.parameter(p.name)
            value = p.value + s
            if not var.getMin() <= value <= var.getMax():
                raise ValueError(f"impact of '{p.name}': {value:.6g} is outside its range [{var.getMin()}, "
                                 f"{var.getMax()}] (widen the range)")
            points.append(({p.name: value}, best.values))
    fits = iter(run_fits(model, points, executor, model_file=model_file, backend=backend))
    out = []
    for p in result_pulls:
        impact = Impact(p.name, next(fits).values[poi] - best.values[poi], next(fits).values[poi] - best.values[poi])
        if prefit and math.isfinite(p.prefit_error):
            impact.prefit_up = next(fits).values[poi] - best.values[poi]
            impact.prefit_down = next(fits).values[poi] - best.values[poi]
        out.append(impact)
    return out


def impacts(model: FitModel, poi: str | None = None, *, data: Any = None,
            nuisance_parameters: Sequence[str] | None = None, prefit: bool = True, fitter: Fitter | None = None,
            backend: str = "cpu", progress: bool | None = None, executor: Any = None,
            model_file: str | os.PathLike | None = None, seed_hessian: bool = True) -> ImpactResult:
    r"""Pulls and ranked impacts of the nuisance parameters on ``poi`` (see the module doc).

    One unconditional fit (MIGRAD + HESSE), then per nuisance parameter two fits with it fixed
    at :math:`\hat\theta \pm \hat\sigma` and, with ``prefit``, two at
    :math:`\hat\theta \pm \sigma_0`; each conditional fit starts from the best fit (parameters
    that a fit leaves within 1% of a bound: ``best.at_bound`` and each :attr:`Impact.at_bound`). The model's
    parameters (values and constant flags) are restored afterwards, also on an exception.
    ``progress``: a tqdm bar over the nuisance parameters (default: when stderr is a terminal;
    see :mod:`roonsbi.infer.progress`). With ``executor`` (and ``model_file``) the conditional fits
    run as work units on it (:mod:`roonsbi.infer.fits`; the model's own dataset only).
    ``seed_hessian``: each conditional fit's MIGRAD starts from the exact Hessian of the unconditional fit
    instead of a Hessian pass of its own (an NLL with an exact Hessian, ``fast=True``; see
    :mod:`roonsbi.infer.fit`, "Seeded conditional fits"; the same minima).

    Raises:
        ValueError: ``poi`` not given for a model with several POIs, the best fit has no
            valid (positive) error for a nuisance parameter, or a shifted value is outside the
            parameter's range.
    """
    poi = single_poi(model, poi, hint="name the one whose impacts to compute")
    if executor is not None and (data is not None or fitter is not None):
        raise ValueError("with executor= the impacts fit the model's own dataset on the workers: data= and fitter= "
                         "must be None")
    fitter = fitter or Fitter(model, data=data, backend=backend)
    with saved_parameters(model):
        best = fitter.fit(hesse=True)
        result_pulls = pulls(model, best, nuisance_parameters=nuisance_parameters)
        if executor is not None:
            out = _distributed_impacts(model, best, poi, result_pulls, prefit, executor, model_file, backend)
        else:
            out = [_impact(model, fitter, best, poi, p, prefit, seed_hessian)
                   for p in progress_of(result_pulls, desc=f"impacts on {poi}", show=progress)]
    out.sort(key=lambda i: i.size, reverse=True)
    return ImpactResult(poi, best, result_pulls, out)
