r"""The optimal observable of parametrized NSBI and the coefficients f_J of its processes.

For a value :math:`\mu'` of the POI, the density ratio of the model at :math:`\mu'` to the
model at the reference hypothesis :math:`\mu_\mathrm{ref}` (the SM, :math:`\mu = 1`),

.. math::

    O_{\mu'}(x) = \frac{p(x|\mu')}{p(x|\mu_\mathrm{ref})},\qquad
    \frac{p(x|\mu)}{p_\mathrm{ref}(x)} = \frac{\sum_J f_J(\mu)\,\nu_J\,r_J(x)}{\sum_J f_J(\mu)\,\nu_J},

is the optimal observable for testing :math:`\mu'` (DESIGN 1.3). It is a function of the
ratio columns only. The binned variable is the monotone transform

.. math::

    T_{\mu'}(x) = \frac{\log O_{\mu'}(x)}{\mu' - \mu_\mathrm{ref}}
                \xrightarrow{\ \mu'\to\mu_\mathrm{ref}\ }
                \frac{\partial}{\partial\mu}\log p(x|\mu)\Big|_{\mu_\mathrm{ref}}
                \quad\text{(the score)},

which orders the events like :math:`O_{\mu'}` (reversed below :math:`\mu_\mathrm{ref}`; the
bins are the same sets), stays well defined at :math:`\mu' = \mu_\mathrm{ref}` where
:math:`O \equiv 1` (there the score is taken by a central difference), and is continuous in
:math:`\mu'`. The coefficients :math:`f_J` are RooFit formula strings, evaluated with
:func:`roonsbi.spec.evaluate_formula` (no ROOT), or Python callables.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..naming import ratio_column
from ..spec import evaluate_formula
from .process import ArrayLike, BinnedProcess

__all__ = ["Observable", "coefficient_function", "coefficients", "optimal_observable"]


def coefficient_function(coefficient: Any, names: Sequence[str]) -> Callable[[Mapping[str, float]], float]:
    """f_J(values) of a formula string (:func:`roonsbi.spec.evaluate_formula`) or a callable."""
    if callable(coefficient) and not isinstance(coefficient, str):
        return coefficient
    if not isinstance(coefficient, str):
        raise TypeError(f"a coefficient must be a formula string or a callable, got {type(coefficient).__name__}")
    return lambda values: evaluate_formula(coefficient, values)


def coefficients(processes: Sequence[BinnedProcess], poi: str, pois: Mapping[str, float],
                 values: Mapping[str, float] | float | None) -> np.ndarray:
    """f_J of every process at ``pois`` updated by ``values`` (a float sets ``poi``); finite, or ValueError."""
    point = dict(pois)
    if isinstance(values, Mapping):
        point.update({k: float(v) for k, v in values.items()})
    elif values is not None:
        point[poi] = float(values)
    names = sorted(point)
    out = np.array([coefficient_function(p.coefficient, names)(point) for p in processes], dtype=float)
    if not np.all(np.isfinite(out)):
        bad = [p.name for p, v in zip(processes, out) if not np.isfinite(v)]
        raise ValueError(f"coefficients f_J of processes {bad} are not finite at {point}")
    return out


class Observable:
    """T_mu'(x) for the grid points, from the ratio columns (see the module doc)."""

    def __init__(self, processes: Sequence[BinnedProcess], poi: str, pois: Mapping[str, float], reference: float,
                 grid: np.ndarray):
        nu = np.array([p.nominal_yield for p in processes], dtype=float)
        self.reference = reference
        self.grid = grid
        # one column of A per grid point: f_J(mu'_k) nu_J, and the reference
        coef = lambda mu: coefficients(processes, poi, pois, mu) * nu
        self.a_ref = coef(reference)
        self.a_grid = np.stack([coef(m) for m in grid], axis=1)  # (J, K)
        self.nu_ref = self.a_ref.sum()
        self.nu_grid = self.a_grid.sum(axis=0)
        scale = max(1.0, abs(reference))
        self.at_reference = np.abs(grid - reference) <= 1e-9 * scale
        if np.any(self.at_reference):
            # the score at the reference by a central difference (one-sided if the
            # coefficients are not defined on one side, e.g. sqrt(mu) at mu = 0)
            h = 1e-4 * scale
            lo, hi = reference - h, reference + h
            try:
                a_lo = coef(lo)
            except ValueError:
                a_lo, lo = self.a_ref, reference
            try:
                a_hi = coef(hi)
            except ValueError:
                a_hi, hi = self.a_ref, reference
            self.a_lo, self.a_hi, self.h = a_lo, a_hi, hi - lo
        for k, m in enumerate(grid):
            if not (self.nu_grid[k] > 0):
                raise ValueError(f"the expected number of events nu({poi} = {m}) = {self.nu_grid[k]:.6g} is not "
                                 "positive: the optimal observable is undefined at this grid point")
        if not (self.nu_ref > 0):
            raise ValueError(f"nu at the reference {poi} = {reference} is {self.nu_ref:.6g}, not positive")

    def values(self, ratios: np.ndarray) -> np.ndarray:
        """T (n, K) from the ratio columns R (n, J)."""
        log_ref = self.log_reference(ratios)
        return np.stack([self.column(ratios, k, log_ref) for k in range(self.grid.size)], axis=1)

    def log_reference(self, ratios: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(ratios @ self.a_ref) - np.log(self.nu_ref)

    def column(self, ratios: np.ndarray, k: int, log_ref: np.ndarray) -> np.ndarray:
        """T_mu'_k (n,) (matrix-vector products: (n, J) @ (J, K) is slow in numpy for small J)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.at_reference[k]:
                return (np.log(ratios @ self.a_hi) - np.log(self.a_hi.sum())
                        - np.log(ratios @ self.a_lo) + np.log(self.a_lo.sum())) / self.h
            log_k = np.log(ratios @ np.ascontiguousarray(self.a_grid[:, k])) - np.log(self.nu_grid[k])
            return (log_k - log_ref) / (self.grid[k] - self.reference)



def optimal_observable(ratios: Mapping[str, ArrayLike], processes: Sequence[BinnedProcess], mu_prime: float,
                       poi: str = "mu", reference: float = 1.0, pois: Mapping[str, float] | None = None) -> np.ndarray:
    r"""The binned variable T_mu'(x) of events with ratio columns ``r_<proc>`` (see the module doc)."""
    pois = dict(pois or {})
    pois.setdefault(poi, float(reference))
    r = np.stack([np.asarray(ratios[ratio_column(p.name)], dtype=float) for p in processes], axis=1)
    return Observable(processes, poi, pois, float(reference), np.array([float(mu_prime)])).values(r)[:, 0]
