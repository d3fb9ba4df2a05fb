"""Profile-likelihood scans: 1-D and 2-D, and the scan of parametrized NSBI (one optimal
observable per scan point)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from ..library import load
from ..models.parametrized import ParametrizedModel, as_param_data
from .fit import FitResult, Fitter

ROOT = load()

__all__ = ["ParametrizedScanResult", "Scan2DResult", "ScanResult", "chi2_threshold", "crossing_interval",
           "parametrized_scan", "profile_scan", "profile_scan_2d"]


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


@dataclass
class ParametrizedScanResult(ScanResult):
    """A scan in which every point has its own observable, hence its own unconditional fit.

    ``nll`` holds the fixed-POI fits, ``nll_free`` the unconditional ones (both with the
    observable of the point); ``best`` is the unconditional fit of the point with the
    smallest t.
    """

    nll_free: np.ndarray = None
    free_fits: list = field(default_factory=list)
    fixed_fits: list = field(default_factory=list)

    @property
    def t(self) -> np.ndarray:
        r"""t(mu') = 2 [NLL_fixed(mu') - NLL_free(mu')], each with the observable O_mu'."""
        return 2.0 * (self.nll - self.nll_free)

    @property
    def best_value(self) -> float:
        """The scan value with the smallest t (the estimate of the POI on the scan grid)."""
        return float(self.values[int(np.argmin(self.t))])

    def interval(self, cl: float = 0.6827) -> tuple[float, float]:
        return crossing_interval(self.values, self.t, chi2_threshold(cl), self.best_value)


def parametrized_scan(
    model: Any,
    poi: str | None = None,
    values: Iterable[float] | None = None,
    data: Any = None,
    backend: str = "cpu",
    interpolate: bool = False,
    strategy: int = 1,
    progress: bool | None = None,
) -> ScanResult:
    r"""Profile-likelihood scan with the observable of each scan point.

    For a :class:`ParametrizedModel`: at each value v, mu' = v, the data binned in O_v
    (exact at grid points; between them only with ``interpolate``, else ValueError), one
    unconditional fit and one fit with ``poi`` = v, both warm-started;
    ``t = 2 (NLL_fixed - NLL_free)``. For any other model (an unbinned
    :class:`~roonsbi.model.NSBIModel`) this is :func:`roonsbi.inference.profile_scan`.

    Args:
        model: a ParametrizedModel or an NSBIModel.
        poi: the scanned POI (default: the templates' POI / the model's only POI).
        values: scan points (default: the grid of mu').
        data: None (the channel's data), a RooNSBIParamDataHist, or counts (K, B); for an
            unbinned model, a RooAbsData.
        interpolate: allow scan points between grid points (data and templates interpolated).
        progress: tqdm progress bar (default: when stderr is a terminal).
    """
    if poi is None:
        pois = [p.GetName() for p in model.pois]
        if len(pois) != 1:
            raise ValueError(f"the model has POIs {pois}; name the one to scan")
        poi = pois[0]
    if not isinstance(model, ParametrizedModel):
        if values is None:
            raise ValueError("an unbinned model needs the scan values")
        return profile_scan(model, poi, values, data, backend)

    values = model.grid if values is None else np.asarray(list(values), dtype=float)
    start = model.parameters()
    mu_prime_start = model.mu_prime.getVal()
    nll_fixed = np.empty(values.size)
    nll_free = np.empty(values.size)
    free_fits: list[FitResult] = []
    fixed_fits: list[FitResult] = []
    source = None if data is None else as_param_data(data, model.grid, model.pdf.numBins(), model.name)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    try:
        from tqdm.auto import tqdm

        iterator = tqdm(list(enumerate(values)), desc=f"scan of {poi}", disable=not show, leave=False)
    except ImportError:  # pragma: no cover
        iterator = enumerate(values)
    warm = dict(start)
    try:
        for i, v in iterator:
            model.set_mu_prime(v)
            hist = model.data_at(v, interpolate, source)
            fitter = Fitter(model, hist, backend, strategy)
            model.set_parameters(warm)
            free = fitter.fit(hesse=False)
            model.set_parameters(free.values)
            fixed = fitter.fit({poi: v}, hesse=False)
            if free.min_nll > fixed.min_nll + 1e-9:
                # the unconditional fit missed the minimum: restart it from the conditional one
                model.set_parameters(fixed.values)
                again = fitter.fit(hesse=False)
                free = again if again.min_nll < free.min_nll else free
            if free.min_nll > fixed.min_nll:
                free = FitResult(dict(fixed.values), dict(fixed.errors), fixed.min_nll, free.status,
                                 free.cov_quality, {}, free.roofit_result)
            nll_fixed[i], nll_free[i] = fixed.min_nll, free.min_nll
            free_fits.append(free)
            fixed_fits.append(fixed)
            warm = dict(free.values)
    finally:
        model.set_parameters(start)
        model.set_mu_prime(mu_prime_start)
    t = 2.0 * (nll_fixed - nll_free)
    best = free_fits[int(np.argmin(t))]
    return ParametrizedScanResult(poi, values, nll_fixed, best, nll_free, free_fits, fixed_fits)
