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

**Nuisance-aware observable** (``nuisances=``). :math:`O_{\mu'}` is built at nominal nuisance
parameters, so its bins carry no information on the shape systematics that the unbinned
likelihood constrains, and the profiled t(mu) of the binned model comes out low. Built instead
as the likelihood ratio of the two hypotheses the profile-likelihood ratio compares,

.. math::

    O_{\mu'}(x) = \frac{p(x|\mu', \hat{\hat\alpha}(\mu'))}{p(x|\mu_\mathrm{ref}, \hat\alpha)},\qquad
    \frac{p(x|\mu,\alpha)}{p_\mathrm{ref}(x)} = \frac{\sum_J f_J(\mu)\nu_J G_J(\alpha)\,r_J(x)\,g_J(x,\alpha)}
        {\sum_J f_J(\mu)\nu_J G_J(\alpha)},

with the conditional fit :math:`\hat{\hat\alpha}(\mu')` of each grid point and the free fit
:math:`\hat\alpha` (``nuisance_reference``; the unbinned fits, e.g. of
:func:`roonsbi.infer.conditional_nuisances`), its bins are (as bins become fine) sufficient for that
pair, so the binned t(mu') equals the unbinned one to first order in the bin width (the binned NLL is
below the unbinned one for all alpha and equal, and stationary, at :math:`\hat{\hat\alpha}`). The
per-event factors interpolate the columns :math:`g_{Jm}(x, \pm 1)` with each histosys code and the
normsys factors with their codes (:mod:`roonsbi.binned.interpolation`), i.e. as the unbinned model
with the same codes does; with additive histosys codes (0, 2, 4) the binned model is then exactly
the bin integral of that unbinned model at every alpha. At :math:`\mu' = \mu_\mathrm{ref}` the
variable is the score at :math:`\hat{\hat\alpha}` if that equals :math:`\hat\alpha`, else
:math:`\log O`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..naming import ratio_column
from ..spec import evaluate_formula
from .interpolation import NORMSYS_AS_SHAPE, term_factor
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
    """T_mu'(x) for the grid points, from the ratio columns (see the module doc); with
    ``nuisances`` (name -> one value per grid point) and ``nuisance_reference`` (name -> value)
    the nuisance-aware variable, which also reads the shape columns (:meth:`set_shapes`)."""

    def __init__(self, processes: Sequence[BinnedProcess], poi: str, pois: Mapping[str, float], reference: float,
                 grid: np.ndarray, nuisances: Mapping[str, ArrayLike] | None = None,
                 nuisance_reference: Mapping[str, float] | None = None):
        nu = np.array([p.nominal_yield for p in processes], dtype=float)
        self.processes = list(processes)
        self.reference = reference
        self.grid = grid
        self.nuisances = _nuisance_values(processes, grid, nuisances, nuisance_reference)
        self._shapes: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
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

    @property
    def shape_terms(self) -> list[tuple[str, str]]:
        """(process, nuisance) of the shape columns the nuisance-aware variable reads."""
        if self.nuisances is None:
            return []
        return [(p.name, m) for p in self.processes for m in p.histosys_codes() if m in self.nuisances[1]]

    def set_shapes(self, shapes: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> None:
        """The shape columns g(x, -1), g(x, +1) of the events of the next :meth:`column` calls."""
        self._shapes = shapes

    def _mixture(self, ratios: np.ndarray, a: np.ndarray, alphas: Mapping[str, float] | None) -> tuple[np.ndarray,
                                                                                                      float]:
        """(sum_J a_J G_J r_J g_J per event, sum_J a_J G_J) at the nuisance values ``alphas``."""
        if alphas is None:
            return ratios @ a, float(a.sum())
        out = np.zeros(ratios.shape[0])
        total = 0.0
        for j, p in enumerate(self.processes):
            weight = a[j]
            for m, ns in p.normsys_factors().items():  # G_J, accumulated as FlexibleInterpVar does
                if m in alphas:
                    g = float(term_factor(NORMSYS_AS_SHAPE[ns.code], ns.lo, ns.hi, alphas[m]))
                    weight = weight * g if NORMSYS_AS_SHAPE[ns.code] in (1, 5) else weight + (g - 1.0) * a[j]
            column = np.full(ratios.shape[0], 1.0)
            for m, code in p.histosys_codes().items():  # g_J, accumulated as PiecewiseInterpolation does
                if m in alphas and alphas[m] != 0.0:
                    lo, hi = self._shapes[p.name, m]
                    f = term_factor(code, lo, hi, alphas[m])
                    column = column * f if code in (1, 5, 6) else column + (f - 1.0)
            column = weight * ratios[:, j] * column
            out += column
            total += weight
        return out, total

    def values(self, ratios: np.ndarray) -> np.ndarray:
        """T (n, K) from the ratio columns R (n, J)."""
        log_ref = self.log_reference(ratios)
        return np.stack([self.column(ratios, k, log_ref) for k in range(self.grid.size)], axis=1)

    def log_reference(self, ratios: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.nuisances is not None:
                mix, total = self._mixture(ratios, self.a_ref, self.nuisances[1])
                return np.log(mix) - np.log(total)
            return np.log(ratios @ self.a_ref) - np.log(self.nu_ref)

    def column(self, ratios: np.ndarray, k: int, log_ref: np.ndarray) -> np.ndarray:
        """T_mu'_k (n,) (matrix-vector products: (n, J) @ (J, K) is slow in numpy for small J)."""
        if self.nuisances is not None:
            return self._nuisance_column(ratios, k, log_ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.at_reference[k]:
                return (np.log(ratios @ self.a_hi) - np.log(self.a_hi.sum())
                        - np.log(ratios @ self.a_lo) + np.log(self.a_lo.sum())) / self.h
            log_k = np.log(ratios @ np.ascontiguousarray(self.a_grid[:, k])) - np.log(self.nu_grid[k])
            return (log_k - log_ref) / (self.grid[k] - self.reference)

    def _nuisance_column(self, ratios: np.ndarray, k: int, log_ref: np.ndarray) -> np.ndarray:
        assert self.nuisances is not None
        at_k = {m: float(v[k]) for m, v in self.nuisances[0].items()}
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.at_reference[k]:
                if at_k != self.nuisances[1]:
                    mix, total = self._mixture(ratios, self.a_ref, at_k)
                    return np.log(mix) - np.log(total) - log_ref
                hi, t_hi = self._mixture(ratios, self.a_hi, at_k)
                lo, t_lo = self._mixture(ratios, self.a_lo, at_k)
                return (np.log(hi) - np.log(t_hi) - np.log(lo) + np.log(t_lo)) / self.h
            mix, total = self._mixture(ratios, np.ascontiguousarray(self.a_grid[:, k]), at_k)
            return (np.log(mix) - np.log(total) - log_ref) / (self.grid[k] - self.reference)


def _nuisance_values(processes: Sequence[BinnedProcess], grid: np.ndarray, nuisances: Mapping[str, ArrayLike] | None,
                     reference: Mapping[str, float] | None) -> tuple[dict[str, np.ndarray], dict[str, float]] | None:
    """The checked nuisance values of the nuisance-aware observable: (name -> (K,), name -> reference value)."""
    if nuisances is None:
        if reference is not None:
            raise ValueError("nuisance_reference needs nuisances= (the conditional values on the grid)")
        return None
    known = {m for p in processes for m in list(p.normsys_factors()) + list(p.histosys_codes())}
    per_point: dict[str, np.ndarray] = {}
    for m, values in nuisances.items():
        if m not in known:
            raise ValueError(f"nuisances: '{m}' is no normsys or histosys of the processes (have {sorted(known)})")
        v = np.broadcast_to(np.asarray(values, dtype=float), grid.shape).copy()
        if not np.all(np.isfinite(v)):
            raise ValueError(f"nuisances['{m}'] must be finite, one value per grid point ({grid.size}), got {values}")
        per_point[m] = v
    ref = dict.fromkeys(per_point, 0.0)
    for m, value in (reference or {}).items():
        if m not in per_point:
            raise ValueError(f"nuisance_reference: '{m}' is not in nuisances ({sorted(per_point)})")
        ref[m] = float(value)
    return per_point, ref



def optimal_observable(ratios: Mapping[str, ArrayLike], processes: Sequence[BinnedProcess], mu_prime: float,
                       poi: str = "mu", reference: float = 1.0, pois: Mapping[str, float] | None = None) -> np.ndarray:
    r"""The binned variable T_mu'(x) of events with ratio columns ``r_<proc>`` (see the module doc)."""
    pois = dict(pois or {})
    pois.setdefault(poi, float(reference))
    r = np.stack([np.asarray(ratios[ratio_column(p.name)], dtype=float) for p in processes], axis=1)
    return Observable(processes, poi, pois, float(reference), np.array([float(mu_prime)])).values(r)[:, 0]
