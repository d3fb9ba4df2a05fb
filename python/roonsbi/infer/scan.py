r"""Profile-likelihood scans: 1-D and 2-D, and the scan of parametrized NSBI (one optimal
observable per scan point).

A scan point fixes the scanned parameters and profiles the others:
:math:`t(\mu) = 2\,[\mathrm{NLL}(\mu, \hat{\hat\alpha}) - \mathrm{NLL}(\hat\mu, \hat\alpha)]`.
Every scan restores the model's parameters (values and constant flags, and mu') when it ends,
also on an exception (:func:`roonsbi.infer.state.saved_parameters`).
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..models.parametrized import ParametrizedModel, as_param_data
from ..models.protocol import FitModel
from .fit import Fitter, single_poi
from .intervals import chi2_threshold, crossing_interval
from .results import FitResult, ParametrizedScanResult, Scan2DResult, ScanResult
from .state import saved_parameters

__all__ = ["ParametrizedScanResult", "Scan2DResult", "ScanResult", "chi2_threshold", "crossing_interval",
           "parametrized_scan", "profile_scan", "profile_scan_2d"]


def _show_progress(progress: bool | None) -> bool:
    """tqdm bars: as asked, or by default when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def profile_scan(model: FitModel, poi: str, values: Iterable[float], *, data: Any = None, backend: str = "cpu",
                 fitter: Fitter | None = None, fast: bool = False) -> ScanResult:
    """Profile-likelihood scan of ``poi``: one unconditional fit, then a fit with the POI
    fixed at each value (nuisance parameters profiled), warm-started from the previous scan
    point's solution (from the best fit for the first point and after a fit with a non-zero status)."""
    fitter = fitter or Fitter(model, data=data, backend=backend, fast=fast)
    values = np.asarray(list(values), dtype=float)
    nll = np.empty_like(values)
    with saved_parameters(model):
        best = fitter.fit(hesse=True)
        warm = best
        for k, v in enumerate(values):
            model.set_parameters(warm.values)
            point = fitter.fit({poi: v}, hesse=False)
            nll[k] = point.min_nll
            warm = point if point.status == 0 else best
    return ScanResult(poi, values, nll, best)


def _check_scan_2d(model: FitModel, fitter: Fitter, params: tuple[str, str],
                   grids: Sequence[np.ndarray]) -> None:
    """Floating parameters, each scanned over finite values inside its range."""
    floating = {p.GetName() for p in fitter.params}
    for name in params:
        if name not in floating:
            raise ValueError(f"'{name}' is not a floating parameter of the model (have {sorted(floating)})")
    for name, vals in zip(params, grids):
        var = model.parameter(name)
        if vals.size == 0 or not np.all(np.isfinite(vals)) or vals.min() < var.getMin() or vals.max() > var.getMax():
            raise ValueError(f"scan values of '{name}' must be finite and inside its range "
                             f"[{var.getMin()}, {var.getMax()}], got [{vals.min() if vals.size else None}, "
                             f"{vals.max() if vals.size else None}]")


def profile_scan_2d(model: FitModel, params: tuple[str, str], x_values: Iterable[float], y_values: Iterable[float],
                    *, data: Any = None, backend: str = "cpu", fitter: Fitter | None = None, fast: bool = False,
                    progress: bool | None = None) -> Scan2DResult:
    """2-D profile-likelihood scan of ``params`` (POIs or nuisance parameters): one
    unconditional fit, then one fit per grid point with both fixed (the rest profiled,
    warm-started from the best fit). ``progress``: tqdm bar (default: when stderr is a terminal)."""
    if params[0] == params[1]:  # before building the NLL
        raise ValueError(f"a 2-D scan needs two different parameters, got '{params[0]}' twice")
    fitter = fitter or Fitter(model, data=data, backend=backend, fast=fast)
    xs = np.asarray(list(x_values), dtype=float)
    ys = np.asarray(list(y_values), dtype=float)
    _check_scan_2d(model, fitter, params, (xs, ys))
    px, py = params
    from tqdm.auto import tqdm

    nll = np.empty((xs.size, ys.size))
    with saved_parameters(model):
        best = fitter.fit(hesse=True)
        with tqdm(total=nll.size, desc=f"2-D scan of ({px}, {py})", disable=not _show_progress(progress),
                  leave=False) as bar:
            for i, vx in enumerate(xs):
                for j, vy in enumerate(ys):
                    model.set_parameters(best.values)
                    nll[i, j] = fitter.fit({px: vx, py: vy}, hesse=False).min_nll
                    bar.update(1)
    return Scan2DResult((px, py), xs, ys, nll, best)


def _parametrized_point(fitter: Fitter, model: ParametrizedModel, poi: str, value: float,
                        warm: dict[str, float]) -> tuple[FitResult, FitResult]:
    r"""(free, fixed) fits at one scan point (mu' = ``value`` already set), warm-started from
    ``warm``; the free fit is restarted from the fixed one if it missed the minimum, so that
    :math:`\mathrm{NLL}_\mathrm{free} \le \mathrm{NLL}_\mathrm{fixed}`."""
    model.set_parameters(warm)
    free = fitter.fit(hesse=False)
    model.set_parameters(free.values)
    fixed = fitter.fit({poi: value}, hesse=False)
    if free.min_nll > fixed.min_nll + 1e-9:
        # the unconditional fit missed the minimum: restart it from the conditional one
        model.set_parameters(fixed.values)
        again = fitter.fit(hesse=False)
        free = again if again.min_nll < free.min_nll else free
    if free.min_nll > fixed.min_nll:
        free = FitResult(dict(fixed.values), dict(fixed.errors), fixed.min_nll, free.status,
                         free.cov_quality, {}, free.roofit_result, free.edm)
    return free, fixed


def _progress(values: np.ndarray, poi: str, show: bool) -> Iterator[tuple[int, float]]:
    try:
        from tqdm.auto import tqdm

        return iter(tqdm(list(enumerate(values)), desc=f"scan of {poi}", disable=not show, leave=False))
    except ImportError:  # pragma: no cover
        return enumerate(values)


def parametrized_scan(model: FitModel, poi: str | None = None, values: Iterable[float] | None = None, *,
                      data: Any = None, backend: str = "cpu", interpolate: bool = False, strategy: int = 1,
                      progress: bool | None = None) -> ScanResult:
    r"""Profile-likelihood scan with the observable of each scan point.

    For a :class:`ParametrizedModel`: at each value v, mu' = v, the data binned in O_v
    (exact at grid points; between them only with ``interpolate``, else ValueError), one
    unconditional fit and one fit with ``poi`` = v, both warm-started;
    ``t = 2 (NLL_fixed - NLL_free)``. For any other model (an unbinned
    :class:`~roonsbi.models.unbinned.NSBIModel`) this is :func:`profile_scan`.

    Args:
        model: a ParametrizedModel or an NSBIModel.
        poi: the scanned POI (default: the templates' POI / the model's only POI).
        values: scan points (default: the grid of mu').
        data: None (the channel's data), a RooNSBIParamDataHist, or counts (K, B); for an
            unbinned model, a RooAbsData.
        interpolate: allow scan points between grid points (data and templates interpolated).
        progress: tqdm progress bar (default: when stderr is a terminal).
    """
    poi = single_poi(model, poi, hint="name the one to scan")
    if not isinstance(model, ParametrizedModel):
        if values is None:
            raise ValueError("an unbinned model needs the scan values")
        return profile_scan(model, poi, values, data=data, backend=backend)
    grid = model.grid if values is None else np.asarray(list(values), dtype=float)
    nll_fixed, nll_free = np.empty(grid.size), np.empty(grid.size)
    free_fits: list[FitResult] = []
    fixed_fits: list[FitResult] = []
    source = None if data is None else as_param_data(data, model.grid, model.pdf.numBins(), model.name)
    with saved_parameters(model):
        warm = model.parameters()
        for i, v in _progress(grid, poi, _show_progress(progress)):
            model.set_mu_prime(v)
            fitter = Fitter(model, data=model.data_at(v, interpolate, source), backend=backend, strategy=strategy)
            free, fixed = _parametrized_point(fitter, model, poi, v, warm)
            nll_fixed[i], nll_free[i] = fixed.min_nll, free.min_nll
            free_fits.append(free)
            fixed_fits.append(fixed)
            warm = dict(free.values)
    best = free_fits[int(np.argmin(2.0 * (nll_fixed - nll_free)))]
    return ParametrizedScanResult(poi, grid, nll_fixed, best, nll_free, free_fits, fixed_fits)
