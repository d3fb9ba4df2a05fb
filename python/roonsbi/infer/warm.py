r"""Warm starts of conditional fits (impacts, profile scans) from the covariance of the best fit.

A conditional fit holds some parameters :math:`F` at values :math:`v_F` and profiles the others
:math:`O`. Near the best fit :math:`\hat\theta` with covariance :math:`C` (the inverse Hessian of
the NLL, from HESSE), the NLL is the quadratic form :math:`\tfrac12 (\theta-\hat\theta)^T C^{-1}
(\theta-\hat\theta)`, whose minimum over :math:`O` at fixed :math:`\theta_F = v_F` is the
conditional mean of a Gaussian:

.. math:: \theta_O = \hat\theta_O + C_{OF}\, C_{FF}^{-1}\, (v_F - \hat\theta_F).

:func:`linear_response` computes it, also from another starting point :math:`w` (the previous
point of a scan: :math:`\theta_O = w_O + C_{OF} C_{FF}^{-1} (v_F - w_F)`, the tangent step of a
continuation). For a quadratic NLL it is the exact conditional minimum; for the NSBI likelihood,
a start a second-order distance from it, where starting at :math:`\hat\theta` leaves MIGRAD the
first-order shift of every correlated parameter to find.
:func:`conditional_start` reads :math:`C` from a :class:`~roonsbi.infer.results.FitResult` with
HESSE errors and clips the start inside the parameters' ranges; without a covariance it returns the
plain warm start.

Example (two correlated parameters; fixing ``b`` one sigma up moves ``a`` by rho sigma_a)::

    >>> import numpy as np
    >>> cov = np.array([[4.0, 1.2], [1.2, 1.0]])  # sigma_a = 2, sigma_b = 1, rho = 0.6
    >>> linear_response({"a": 0.0, "b": 0.0}, cov, ["a", "b"], {"b": 1.0})
    {'a': 1.2, 'b': 1.0}
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..models.protocol import FitModel
from .results import FitResult

__all__ = ["conditional_start", "covariance_of", "linear_response"]

#: A start is kept this fraction of a parameter's range width inside its bounds.
MARGIN = 1e-3


def linear_response(start: Mapping[str, float], covariance: np.ndarray, names: Sequence[str],
                    fixed: Mapping[str, float]) -> dict[str, float]:
    r""":math:`w_O + C_{OF} C_{FF}^{-1} (v_F - w_F)` for the parameters ``names`` (the order of
    ``covariance``), ``w`` = ``start``, ``v`` = ``fixed`` (module doc); parameters of ``start`` not
    in ``names`` keep their values, the fixed ones take ``fixed``'s."""
    out = {k: float(v) for k, v in start.items()}
    out.update({k: float(v) for k, v in fixed.items()})
    index = {n: i for i, n in enumerate(names)}
    f = [index[k] for k in fixed if k in index]
    if not f or any(k not in index for k in fixed):
        return out  # a fixed parameter without a covariance row: no linear response known
    o = [i for i in range(len(names)) if i not in f]
    cov = np.asarray(covariance, dtype=float)
    delta = np.array([float(fixed[names[i]]) - float(start[names[i]]) for i in f])
    try:
        shift = cov[np.ix_(o, f)] @ np.linalg.solve(cov[np.ix_(f, f)], delta)
    except np.linalg.LinAlgError:
        return out
    if not np.all(np.isfinite(shift)):
        return out
    for i, s in zip(o, shift):
        out[names[i]] = float(start[names[i]]) + float(s)
    return out


def covariance_of(best: FitResult) -> tuple[np.ndarray, list[str]] | None:
    """(covariance, names of its rows) of the floating parameters of ``best``, from its RooFitResult
    (HESSE's when the fit ran it), or None without one or with an invalid covariance (quality < 2)."""
    result = best.roofit_result
    if result is None or best.cov_quality < 2:
        return None
    names = [p.GetName() for p in result.floatParsFinal()]
    matrix = result.covarianceMatrix()
    n = len(names)
    cov = np.array([[matrix(i, j) for j in range(n)] for i in range(n)], dtype=float)
    if not np.all(np.isfinite(cov)):
        return None
    return cov, names


def conditional_start(model: FitModel, best: FitResult, fixed: Mapping[str, float],
                      start: Mapping[str, float] | None = None,
                      covariance: tuple[np.ndarray, list[str]] | None = None) -> dict[str, Any]:
    """Start values of the fit with ``fixed`` held: :func:`linear_response` from ``start`` (default
    ``best.values``) with the covariance of ``best`` (or ``covariance``, from :func:`covariance_of`),
    each value kept :data:`MARGIN` of its range inside the range of its parameter in ``model``."""
    start = dict(best.values if start is None else start)
    cov = covariance if covariance is not None else covariance_of(best)
    out = linear_response(start, cov[0], cov[1], fixed) if cov is not None else {**start, **fixed}
    for name, value in out.items():
        if name in fixed or value == start.get(name):
            continue
        var = model.parameter(name)
        lo, hi = float(var.getMin()), float(var.getMax())
        if np.isfinite(lo) and np.isfinite(hi):
            margin = MARGIN * (hi - lo)
            out[name] = min(max(value, lo + margin), hi - margin)
    return out
