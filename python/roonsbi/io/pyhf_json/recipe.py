r"""Profile scans of non-linear POI dependences in pyhf alone.

:func:`pyhf_expression_scan` (route (a)): the workspace with ``roonsbi_expression`` modifiers
(:mod:`.expression`), where mu is pyhf's POI: ``pyhf.infer.mle.fit`` and ``fixed_poi_fit``.

:func:`pyhf_profile_scan` (the fixed form, route (b) in Python): the exported normfactors f_J of
a coefficient f_J(mu) are fixed; for each mu they are set to
f_J(mu) (``init_pars``, kept fixed with ``fixed_params``) and the other parameters are fitted with
``pyhf.infer.mle.fit``:

.. math:: t(\mu) = 2\,[\,\mathrm{NLL}(\mu, \hat{\hat\theta}(\mu))
          - \min_{\mu'} \mathrm{NLL}(\mu', \hat{\hat\theta}(\mu'))\,],

the profile-likelihood ratio of the roonsbi channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ...spec import evaluate_formula

__all__ = ["PyhfScan", "pyhf_expression_scan", "pyhf_profile_scan"]


@dataclass
class PyhfScan:
    """Profile scan of a pyhf workspace with the recipe of :mod:`roonsbi.io.pyhf_json.recipe`."""

    values: np.ndarray
    nll: np.ndarray  # -log L of the conditional fits (pyhf's logpdf, auxdata included)
    best_value: float
    best_nll: float
    fits: list  # pyhf parameter vectors of the conditional fits
    best_fit: np.ndarray
    par_names: list

    @property
    def t(self) -> np.ndarray:
        """The profile-likelihood ratio t(mu) = 2 (NLL(mu) - NLL(mu-hat))."""
        return 2.0 * (self.nll - self.best_nll)


def _conditional_fit(data: Any, model: Any, poi: str, formulas: Mapping[str, str],
                     tolerance: float) -> Callable[[float], tuple[float, np.ndarray]]:
    """mu -> (-log L, fitted parameters) with the normfactors of ``formulas`` fixed at f_J(mu)."""
    import pyhf

    index = {n: model.config.par_slice(n).start for n in formulas}
    fixed = list(model.config.suggested_fixed())
    for i in index.values():
        fixed[i] = True

    def conditional(mu: float) -> tuple[float, np.ndarray]:
        pars = np.array(model.config.suggested_init(), dtype=float)
        bounds = [list(b) for b in model.config.suggested_bounds()]
        for n, i in index.items():
            pars[i] = evaluate_formula(formulas[n], {poi: mu})
            bounds[i] = [min(bounds[i][0], pars[i]), max(bounds[i][1], pars[i])]
        best, twice_nll = pyhf.infer.mle.fit(data, model, init_pars=pars.tolist(), fixed_params=fixed,
                                             par_bounds=bounds, return_fitted_val=True, tolerance=tolerance)
        return float(twice_nll) / 2.0, np.asarray(best)

    return conditional


def pyhf_profile_scan(spec: Mapping, relation: Mapping, values: Iterable[float],
                      poi_bounds: tuple[float, float] | None = None, measurement: str | None = None,
                      tolerance: float = 1e-10) -> PyhfScan:
    """Profile scan in pyhf of a workspace with normfactors f_J(mu) (the recipe of
    :mod:`roonsbi.io.pyhf_json.recipe`): at each mu the normfactors of ``relation["normfactors"]``
    are fixed at f_J(mu) and the rest is fitted with ``pyhf.infer.mle.fit``; the best fit minimises over mu (bounded
    scalar minimisation in ``poi_bounds``, default the scan range); the POI itself, where it is
    a normfactor of linear samples, is fixed at mu too. ``tolerance``: scipy's, per fit."""
    import pyhf
    from scipy.optimize import minimize_scalar

    ws = pyhf.Workspace(dict(spec))
    model = ws.model(measurement_name=measurement)
    poi = relation["poi"]
    formulas = dict(relation.get("normfactors") or {})
    if poi in model.config.parameters:  # the POI itself is a normfactor of the linear samples
        formulas[poi] = poi
    conditional = _conditional_fit(ws.data(model), model, poi, formulas, tolerance)

    values = np.asarray(list(values), dtype=float)
    fits = [conditional(v) for v in values]
    nll = np.array([f[0] for f in fits])
    lo, hi = poi_bounds or (float(values.min()), float(values.max()))
    res = minimize_scalar(lambda m: conditional(m)[0], bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-7})
    best_nll, best_fit = conditional(float(res.x))
    k = int(np.argmin(nll))
    if nll[k] < best_nll:  # the scan point is better than the scalar minimiser
        best_nll, best_fit, best_value = nll[k], fits[k][1], float(values[k])
    else:
        best_value = float(res.x)
    return PyhfScan(values, nll, best_value, best_nll, [f[1] for f in fits], best_fit, list(model.config.par_names))


def pyhf_expression_scan(spec: Mapping, values: Iterable[float], measurement: str | None = None,
                         tolerance: float = 1e-10) -> PyhfScan:
    """Profile scan of a route-(a) workspace (``to_pyhf(..., nonlinear="expression")``) in pyhf:
    mu-hat from ``pyhf.infer.mle.fit``, -log L(mu) from ``pyhf.infer.mle.fixed_poi_fit`` at ``values``
    (pyhf's model, read with :func:`~roonsbi.io.pyhf_json.load_pyhf_model`; ``tolerance``: scipy's)."""
    import pyhf

    from .expression import load_pyhf_model

    model, data = load_pyhf_model(spec, measurement)
    best, twice_min = pyhf.infer.mle.fit(data, model, return_fitted_val=True, tolerance=tolerance)
    values = np.asarray(list(values), dtype=float)
    fits = [pyhf.infer.mle.fixed_poi_fit(float(v), data, model, return_fitted_val=True, tolerance=tolerance)
            for v in values]
    nll = np.array([float(f[1]) / 2.0 for f in fits])
    best = np.asarray(best)
    return PyhfScan(values, nll, float(best[model.config.poi_index]), float(twice_min) / 2.0,
                    [np.asarray(f[0]) for f in fits], best, list(model.config.par_names))
