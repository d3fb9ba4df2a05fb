r"""Profile-likelihood scans: 1-D and 2-D, and the scan of parametrized NSBI (one optimal
observable per scan point).

A scan point fixes the scanned parameters and profiles the others:
:math:`t(\mu) = 2\,[\mathrm{NLL}(\mu, \hat{\hat\alpha}) - \mathrm{NLL}(\hat\mu, \hat\alpha)]`.
Every scan restores the model's parameters (values and constant flags, and mu') when it ends,
also on an exception (:func:`roonsbi.infer.state.saved_parameters`). With ``executor=`` (a
``concurrent.futures`` executor or a ``dask.distributed.Client``) the fits of the scan points run
as work units on it (:mod:`roonsbi.infer.fits`; the model's own dataset only), each from the state
of the best fit (a parametrized scan: each from the model's starting values).
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import numpy as np

from ..models.parametrized import ParametrizedModel, as_param_data
from ..models.protocol import FitModel
from ..naming import nuisance_of_alpha
from .executor import open_source, restore_state
from .fit import Fitter, UndefinedNLL, single_poi
from .fits import FitUnit, as_dict, as_result, run_fits
from .intervals import chi2_threshold, crossing_interval
from .progress import progress as progress_of
from .results import FitResult, NuisanceProfile, ParametrizedScanResult, Scan2DResult, ScanResult
from .state import saved_parameters

__all__ = ["ParametrizedScanResult", "Scan2DResult", "ScanResult", "chi2_threshold", "conditional_nuisances",
           "crossing_interval", "parametrized_point", "parametrized_scan", "profile_scan", "profile_scan_2d"]


def _check_executor(executor: Any, data: Any, fitter: Fitter | None) -> None:
    if executor is not None and (data is not None or fitter is not None):
        raise ValueError("with executor= the scan fits the model's own dataset on the workers: data= and fitter= "
                         "must be None (save a model with the data to fit)")


def profile_scan(model: FitModel, poi: str, values: Iterable[float], *, data: Any = None, backend: str = "cpu",
                 fitter: Fitter | None = None, fast: bool = False, progress: bool | None = None,
                 executor: Any = None, model_file: str | os.PathLike | None = None,
                 seed_hessian: bool = False) -> ScanResult:
    """Profile-likelihood scan of ``poi``: one unconditional fit, then a fit with the POI
    fixed at each value (nuisance parameters profiled), warm-started from the previous scan
    point's solution (from the best fit for the first point and after a fit with a non-zero status).
    ``seed_hessian``: each point's MIGRAD starts from the exact Hessian of the unconditional fit instead of
    a Hessian pass of its own (an NLL with an exact Hessian, ``fast=True``; :mod:`roonsbi.infer.fit`). Off by
    default: from the previous point's solution MIGRAD with the exact Hessian there needs ~2 value-and-gradient
    passes, with the global one ~8, which costs more than the Hessian pass saved (``benchmarks/RESULTS.md``).
    Points whose fit leaves a parameter at a bound are in :attr:`ScanResult.at_bound`.
    ``progress``: tqdm bar (default: when stderr is a terminal). ``executor``, ``model_file``: the
    fits of the points as work units (see the module doc)."""
    _check_executor(executor, data, fitter)
    fitter = fitter or Fitter(model, data=data, backend=backend, fast=fast)
    values = _scan_values(model, poi, values)
    nll = np.empty_like(values)
    flagged: dict[int, dict[str, float]] = {}
    undefined: dict = {}
    with saved_parameters(model):
        best = fitter.fit(hesse=True)
        if executor is not None:
            fits = run_fits(model, [({poi: v}, best.values) for v in values], executor, model_file=model_file,
                            fast=fast, backend=backend)
            return ScanResult(poi, values, np.array([f.min_nll for f in fits]), best,
                              {k: f.at_bound for k, f in enumerate(fits) if f.at_bound})
        warm = best
        for k, v in progress_of(list(enumerate(values)), desc=f"scan of {poi}", show=progress):
            model.set_parameters(warm.values)
            point = _point(fitter, {poi: v}, undefined, k, seed_hessian)
            nll[k] = np.nan if point is None else point.min_nll
            if point is not None and point.at_bound:
                flagged[k] = point.at_bound
            warm = point if point is not None and point.status == 0 else best
    return ScanResult(poi, values, nll, best, at_bound=flagged, undefined=undefined)


def _point(fitter: Fitter, fixed: dict[str, float], undefined: dict, key: Any,
           seed: bool = False) -> FitResult | None:
    """The fit at ``fixed`` (``seed``: seeded with the Hessian of the best fit), or None with the reason in
    ``undefined[key]`` where the NLL is undefined."""
    try:
        return fitter.fit(fixed, hesse=False, seed_hessian=seed)
    except UndefinedNLL as err:
        undefined[key] = str(err)
        return None


def _scan_values(model: FitModel, name: str, values: Iterable[float]) -> np.ndarray:
    """The scan values of the parameter ``name`` (a POI or nuisance parameter of the model): a non-empty 1-D
    array of finite numbers inside its range (ValueError naming the first bad entry)."""
    floating = {p.GetName() for c in (model.pois, model.nuisance_parameters) for p in c}
    if name not in floating:
        raise ValueError(f"'{name}' is not a floating parameter of the model (have {sorted(floating)})")
    try:
        arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"scan values of '{name}' must be a 1-D sequence of numbers ({err})") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"scan values of '{name}' must be numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"scan values of '{name}' must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"scan values of '{name}' are empty: give at least one value")
    arr = arr.astype(float)
    var = model.parameter(name)
    bad = ~(np.isfinite(arr) & (arr >= var.getMin()) & (arr <= var.getMax()))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"scan values of '{name}' must be finite and inside its range [{var.getMin():g}, "
                         f"{var.getMax():g}]: entry {i} = {arr[i]:g} is not (it is outside the range or NaN/inf)")
    return arr


def conditional_nuisances(model: FitModel, poi: str, values: Iterable[float], *, data: Any = None,
                          backend: str = "cpu", fast: bool = False) -> NuisanceProfile:
    r"""The free fit :math:`(\hat\mu, \hat\alpha)` and the nuisance parameters of the conditional fits
    :math:`\hat{\hat\alpha}(\mu'_k)` at ``values`` of ``poi``, of an (unbinned) model on ``data``: what
    the nuisance-aware optimal observable of parametrized NSBI is built at
    (``build_templates(..., **profile.template_arguments())``). The model's parameters are restored."""
    fitter = Fitter(model, data=data, backend=backend, fast=fast)
    values = np.asarray(list(values), dtype=float)
    names = [p.GetName() for p in model.nuisance_parameters]
    per_point = {nuisance_of_alpha(n): np.empty(values.size) for n in names}
    with saved_parameters(model):
        best = fitter.fit(hesse=False)
        for k, v in enumerate(values):
            model.set_parameters(best.values)
            fixed = fitter.fit({poi: v}, hesse=False)
            for n in names:
                per_point[nuisance_of_alpha(n)][k] = fixed.values[n]
    return NuisanceProfile(poi, values, per_point, {nuisance_of_alpha(n): float(best.values[n]) for n in names},
                           float(best.values[poi]))


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
                    progress: bool | None = None, executor: Any = None,
                    model_file: str | os.PathLike | None = None) -> Scan2DResult:
    """2-D profile-likelihood scan of ``params`` (POIs or nuisance parameters): one
    unconditional fit, then one fit per grid point with both fixed (the rest profiled,
    warm-started from the best fit). ``progress``: tqdm bar (default: when stderr is a terminal).
    ``executor``, ``model_file``: the fits of the points as work units (see the module doc)."""
    if params[0] == params[1]:  # before building the NLL
        raise ValueError(f"a 2-D scan needs two different parameters, got '{params[0]}' twice")
    _check_executor(executor, data, fitter)
    fitter = fitter or Fitter(model, data=data, backend=backend, fast=fast)
    xs = np.asarray(list(x_values), dtype=float)
    ys = np.asarray(list(y_values), dtype=float)
    _check_scan_2d(model, fitter, params, (xs, ys))
    px, py = params
    nll = np.empty((xs.size, ys.size))
    flagged: dict[tuple[int, int], dict[str, float]] = {}
    undefined: dict = {}
    with saved_parameters(model):
        best = fitter.fit(hesse=True)
        grid = [(i, j) for i in range(xs.size) for j in range(ys.size)]
        if executor is not None:
            points = [({px: xs[i], py: ys[j]}, best.values) for i, j in grid]
            fits = run_fits(model, points, executor, model_file=model_file, fast=fast, backend=backend)
            return Scan2DResult((px, py), xs, ys, np.array([f.min_nll for f in fits]).reshape(nll.shape), best,
                                at_bound={ij: f.at_bound for ij, f in zip(grid, fits) if f.at_bound})
        for i, j in progress_of(grid, desc=f"2-D scan of ({px}, {py})", show=progress):
            model.set_parameters(best.values)
            point = _point(fitter, {px: xs[i], py: ys[j]}, undefined, (i, j))
            nll[i, j] = np.nan if point is None else point.min_nll
            if point is not None and point.at_bound:
                flagged[(i, j)] = point.at_bound
    return Scan2DResult((px, py), xs, ys, nll, best, at_bound=flagged, undefined=undefined)


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
                         free.cov_quality, {}, free.roofit_result, free.edm, dict(fixed.at_bound))
    return free, fixed


def parametrized_point(unit: FitUnit) -> tuple[dict[str, Any], dict[str, Any]]:
    """The work of one point of a parametrized scan on an executor: mu' = ``unit.options["mu_prime"]``,
    the (free, fixed) fits of :func:`_parametrized_point` warm-started at ``unit.start``, as dicts."""
    model = open_source(unit.source)
    restore_state(model, unit.state)
    v = float(unit.options["mu_prime"])
    model.set_mu_prime(v)
    fitter = Fitter(model, data=model.data_at(v, bool(unit.options["interpolate"])), backend=unit.backend,
                    strategy=int(unit.options["strategy"]))
    poi = next(iter(unit.fixed))
    free, fixed = _parametrized_point(fitter, model, poi, v, unit.start)
    return as_dict(free), as_dict(fixed)


def parametrized_scan(model: FitModel, poi: str | None = None, values: Iterable[float] | None = None, *,
                      data: Any = None, backend: str = "cpu", interpolate: bool = False, strategy: int = 1,
                      progress: bool | None = None, executor: Any = None,
                      model_file: str | os.PathLike | None = None) -> ScanResult:
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
        executor, model_file: the points' fits as work units (see the module doc); each point then
            starts from the model's values (in-process: from the previous point's free fit).
    """
    poi = single_poi(model, poi, hint="name the one to scan")
    if not isinstance(model, ParametrizedModel):
        if values is None:
            raise ValueError("an unbinned model needs the scan values")
        return profile_scan(model, poi, values, data=data, backend=backend, executor=executor, model_file=model_file)
    _check_executor(executor, data, None)
    grid = model.grid if values is None else np.asarray(list(values), dtype=float)
    nll_fixed, nll_free = np.empty(grid.size), np.empty(grid.size)
    free_fits: list[FitResult] = []
    fixed_fits: list[FitResult] = []
    source = None if data is None else as_param_data(data, model.grid, model.pdf.numBins(), model.name)
    grid = _scan_values(model, poi, grid)
    undefined: dict = {}
    with saved_parameters(model):
        warm = model.parameters()
        if executor is not None:
            options = [{"mu_prime": float(v), "interpolate": interpolate, "strategy": strategy} for v in grid]
            pairs = run_fits(model, [({poi: float(v)}, warm) for v in grid], executor, model_file=model_file,
                             backend=backend, function=parametrized_point, options=options)
            free_fits = [as_result(free) for free, _ in pairs]
            fixed_fits = [as_result(fixed) for _, fixed in pairs]
            nll_fixed = np.array([f.min_nll for f in fixed_fits])
            nll_free = np.array([f.min_nll for f in free_fits])
        else:
            for i, v in progress_of(list(enumerate(grid)), desc=f"scan of {poi}", show=progress):
                model.set_mu_prime(v)
                fitter = Fitter(model, data=model.data_at(v, interpolate, source), backend=backend,
                                strategy=strategy)
                try:
                    free, fixed = _parametrized_point(fitter, model, poi, v, warm)
                except UndefinedNLL as err:  # NaN with the reason; the scan goes on (free_fits/fixed_fits: None)
                    undefined[i] = str(err)
                    nll_fixed[i] = nll_free[i] = np.nan
                    free_fits.append(None)  # type: ignore[arg-type]
                    fixed_fits.append(None)  # type: ignore[arg-type]
                    continue
                nll_fixed[i], nll_free[i] = fixed.min_nll, free.min_nll
                free_fits.append(free)
                fixed_fits.append(fixed)
                warm = dict(free.values)
    if len(undefined) == grid.size:
        raise UndefinedNLL(f"every point of the scan of {poi} is undefined; the first: {undefined[0]}")
    best = free_fits[int(np.nanargmin(2.0 * (nll_fixed - nll_free)))]
    flagged = {i: {**free.at_bound, **fixed.at_bound} for i, (free, fixed) in enumerate(zip(free_fits, fixed_fits))
               if free is not None and (free.at_bound or fixed.at_bound)}
    return ParametrizedScanResult(poi, grid, nll_fixed, best, at_bound=flagged, undefined=undefined, nll_free=nll_free,
                                  free_fits=free_fits,
                                  fixed_fits=fixed_fits)
