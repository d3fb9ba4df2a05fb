r"""Maximum-likelihood fits and profile-likelihood scans with RooFit's Minuit2.

Works on any model object that offers ``create_nll(data, backend)``,
``parameter(name)``, ``pois`` and ``nuisance_parameters`` (:class:`roonsbi.model.NSBIModel`).

The profile-likelihood ratio of a POI value :math:`\mu` is

.. math:: t(\mu) = 2\,[\mathrm{NLL}(\mu, \hat{\hat\alpha}) - \mathrm{NLL}(\hat\mu, \hat\alpha)],

and the asymptotic (Wilks) interval at confidence level CL is
:math:`\{\mu: t(\mu) < F^{-1}_{\chi^2_1}(\mathrm{CL})\}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from . import _library

_library.load_library()
import ROOT  # noqa: E402


@dataclass
class FitResult:
    """Result of one minimisation."""

    values: dict[str, float]
    errors: dict[str, float]
    min_nll: float
    status: int
    cov_quality: int
    fixed: dict[str, float] = field(default_factory=dict)
    roofit_result: Any = None


def _floating(model: Any) -> list[Any]:
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

    def __init__(self, model: Any, data: Any = None, backend: str = "cpu", strategy: int = 1, print_level: int = -1,
                 fast: bool = False, nll: Any = None, tolerance: float = 1e-3):
        self.model = model
        self.tolerance = tolerance
        if nll is not None:  # a prebuilt NLL, e.g. a RooNSBINLL on an EventStore
            self.nll = nll
        elif fast:
            from .fast import fast_nll

            if data is not None:
                raise ValueError("fast=True fits the model's own dataset (or build a FastNLL on another store)")
            self._fast = fast_nll(model)  # keeps the event store and constraint terms alive
            self.nll = self._fast.nll
        else:
            self.nll = model.create_nll(data, backend)
        self.params = _floating(model)
        self.strategy = strategy
        self.print_level = print_level
        if hasattr(model, "total_yield"):
            nu = model.total_yield()
            if not (nu > 0 and np.isfinite(nu)):
                raise ValueError(f"expected number of events nu = {nu} is not positive at the start of the fit")

    def fit(self, fixed: Mapping[str, float] | None = None, hesse: bool = True) -> FitResult:
        fixed = dict(fixed or {})
        was_constant = {p.GetName(): p.isConstant() for p in self.params}
        try:
            for name, value in fixed.items():
                par = self.model.parameter(name)
                par.setVal(float(value))
                par.setConstant(True)
            if all(p.isConstant() for p in self.params):
                min_nll = self.nll.getVal()
                values = {p.GetName(): p.getVal() for p in self.params}
                return FitResult(values, dict.fromkeys(values, 0.0), min_nll, 0, -1, fixed)
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
            result = minimizer.save()
            min_nll = self.nll.getVal()
        finally:
            for p in self.params:
                p.setConstant(was_constant[p.GetName()])
        if not np.isfinite(min_nll):
            raise RuntimeError(f"fit ended with a non-finite NLL ({min_nll}); check the model and data")
        values = {p.GetName(): p.getVal() for p in self.params}
        errors = {p.GetName(): (0.0 if p.GetName() in fixed else p.getError()) for p in self.params}
        return FitResult(values, errors, min_nll, int(status), int(result.covQual()), fixed, result)


def fit(model: Any, data: Any = None, fixed: Mapping[str, float] | None = None, hesse: bool = True,
        backend: str = "cpu", strategy: int = 1, fast: bool = False) -> FitResult:
    """Minimise the model's NLL with Minuit2 (MIGRAD, then HESSE) and return the result.

    ``fixed`` maps parameter names to values held constant during this fit; ``fast``
    uses the RooNSBINLL with its analytic gradient (see :mod:`roonsbi.fast`).
    """
    return Fitter(model, data, backend, strategy, fast=fast).fit(fixed, hesse)


def chi2_threshold(cl: float, ndof: int = 1) -> float:
    """Quantile of the chi-square distribution: t-threshold of an asymptotic interval."""
    return float(ROOT.Math.chisquared_quantile(cl, ndof))


@dataclass
class ScanResult:
    """A 1-D profile-likelihood scan."""

    poi: str
    values: np.ndarray
    nll: np.ndarray
    best: FitResult

    @property
    def t(self) -> np.ndarray:
        r"""t(mu) = 2 [NLL(mu, profiled) - NLL(best fit)]."""
        return 2.0 * (self.nll - self.best.min_nll)

    def interval(self, cl: float = 0.6827) -> tuple[float, float]:
        """Asymptotic interval: where t crosses the chi2 threshold (linear interpolation
        between scan points); NaN on a side where the scan does not cross."""
        return crossing_interval(self.values, self.t, chi2_threshold(cl), self.best.values[self.poi])


def crossing_interval(x: np.ndarray, t: np.ndarray, threshold: float, x_best: float) -> tuple[float, float]:
    """Lower and upper crossing of ``t = threshold`` around ``x_best`` on a scan."""
    x = np.asarray(x, dtype=float)
    t = np.asarray(t, dtype=float)
    order = np.argsort(x)
    x, t = x[order], t[order]
    lo = hi = float("nan")
    for i in range(len(x) - 1):
        a, b = t[i] - threshold, t[i + 1] - threshold
        if a == b or a * b > 0:
            continue
        cross = x[i] + (x[i + 1] - x[i]) * a / (a - b)
        if x[i + 1] <= x_best and a > 0 >= b:
            lo = cross
        elif x[i] >= x_best and a <= 0 < b and np.isnan(hi):
            hi = cross
    return lo, hi


def profile_scan(model: Any, poi: str, values: Iterable[float], data: Any = None, backend: str = "cpu",
                 fitter: Fitter | None = None, fast: bool = False) -> ScanResult:
    """Profile-likelihood scan of ``poi``: one unconditional fit, then a fit with the POI
    fixed at each value (nuisance parameters profiled, warm-started from the best fit)."""
    fitter = fitter or Fitter(model, data, backend, fast=fast)
    start = {p.GetName(): p.getVal() for p in fitter.params}
    best = fitter.fit(hesse=True)
    values = np.asarray(list(values), dtype=float)
    nll = np.empty_like(values)
    for k, v in enumerate(values):
        model.set_parameters(best.values)
        nll[k] = fitter.fit({poi: v}, hesse=False).min_nll
    model.set_parameters(start)
    return ScanResult(poi, values, nll, best)


@dataclass
class Scan2DResult:
    r"""A 2-D profile-likelihood scan of two parameters (x, y): ``nll[i, j]`` is the minimum
    with x = ``x[i]`` and y = ``y[j]`` fixed (all other parameters profiled), and

    .. math:: t(x, y) = 2\,[\mathrm{NLL}(x, y, \hat{\hat\theta}) - \mathrm{NLL}(\hat x, \hat y, \hat\theta)].

    The asymptotic confidence region at CL is :math:`\{t < F^{-1}_{\chi^2_2}(\mathrm{CL})\}`
    (2.30 at 68.27%, 5.99 at 95%)."""

    params: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    nll: np.ndarray
    best: FitResult

    @property
    def t(self) -> np.ndarray:
        """t on the grid, shape (len(x), len(y))."""
        return 2.0 * (self.nll - self.best.min_nll)

    @staticmethod
    def level(cl: float) -> float:
        """The contour level of ``cl``: the chi2 quantile with 2 degrees of freedom."""
        return chi2_threshold(cl, 2)

    def levels(self, cls: Iterable[float] = (0.6827, 0.95)) -> dict[float, float]:
        return {cl: self.level(cl) for cl in cls}

    def grid_minimum(self) -> tuple[float, float, float]:
        """(x, y, t) of the smallest t on the grid."""
        i, j = np.unravel_index(int(np.argmin(self.t)), self.t.shape)
        return float(self.x[i]), float(self.y[j]), float(self.t[i, j])


def profile_scan_2d(model: Any, params: tuple[str, str], x_values: Iterable[float], y_values: Iterable[float],
                    data: Any = None, backend: str = "cpu", fitter: Fitter | None = None, fast: bool = False,
                    progress: bool | None = None) -> Scan2DResult:
    """2-D profile-likelihood scan of ``params`` (POIs or nuisance parameters): one
    unconditional fit, then one fit per grid point with both fixed (the rest profiled,
    warm-started from the best fit). ``progress``: tqdm bar (default: when stderr is a terminal)."""
    import sys

    px, py = params
    if px == py:
        raise ValueError(f"a 2-D scan needs two different parameters, got '{px}' twice")
    fitter = fitter or Fitter(model, data, backend, fast=fast)
    floating = {p.GetName() for p in fitter.params}
    for name in params:
        if name not in floating:
            raise ValueError(f"'{name}' is not a floating parameter of the model (have {sorted(floating)})")
    xs = np.asarray(list(x_values), dtype=float)
    ys = np.asarray(list(y_values), dtype=float)
    for name, vals in ((px, xs), (py, ys)):
        var = model.parameter(name)
        if vals.size == 0 or not np.all(np.isfinite(vals)) or vals.min() < var.getMin() or vals.max() > var.getMax():
            raise ValueError(f"scan values of '{name}' must be finite and inside its range "
                             f"[{var.getMin()}, {var.getMax()}], got [{vals.min() if vals.size else None}, "
                             f"{vals.max() if vals.size else None}]")
    start = {p.GetName(): p.getVal() for p in fitter.params}
    show = sys.stderr.isatty() if progress is None else bool(progress)
    from tqdm.auto import tqdm

    nll = np.empty((xs.size, ys.size))
    try:
        best = fitter.fit(hesse=True)
        with tqdm(total=nll.size, desc=f"2-D scan of ({px}, {py})", disable=not show, leave=False) as bar:
            for i, vx in enumerate(xs):
                for j, vy in enumerate(ys):
                    model.set_parameters(best.values)
                    nll[i, j] = fitter.fit({px: vx, py: vy}, hesse=False).min_nll
                    bar.update(1)
    finally:
        model.set_parameters(start)
    return Scan2DResult((px, py), xs, ys, nll, best)
