"""The inference verbs on a saved model: ``roonsbi fit``, ``scan`` (1-D, 2-D), ``impacts``, ``limit``
and ``significance``. Each opens the model with :func:`roonsbi.io.open_model` (ROOT file, HS3
JSON, pyhf JSON, HistFactory XML) and calls :mod:`roonsbi.infer`; ``--json`` prints the result's
numbers (:meth:`~roonsbi.infer.results.FitResult.to_dict` and the like).
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import numpy as np

from .common import Verb, parse_assignments

__all__ = ["VERBS"]

Out = Callable[[str], None]


def _model_arguments(parser: argparse.ArgumentParser, poi: bool = True) -> None:
    parser.add_argument("model", help="model file: ROOT file (a roonsbi model, a combination or any workspace with a "
                        "ModelConfig), HS3 JSON, pyhf JSON or HistFactory XML")
    parser.add_argument("--workspace", help="the workspace to read, if the ROOT file has several")
    if poi:
        parser.add_argument("--poi", help="the parameter of interest (default: the model's only POI)")


def _open(args: argparse.Namespace) -> Any:
    from ..infer.progress import step
    from ..io.sources import open_model

    with step(f"reading {args.model}"):
        return open_model(args.model, args.workspace)


def _bounds_lines(out: Out, flagged: dict[str, float], where: str = "") -> None:
    for name, bound in flagged.items():
        out(f"  ! {name} ended within 1% of its bound {bound:g}{where}")


# -- fit --------------------------------------------------------------------------------------
def _fit_arguments(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser, poi=False)
    parser.add_argument("--fixed", action="append", metavar="NAME=VALUE",
                        help="hold a parameter at a value (repeatable)")
    parser.add_argument("--fast", action="store_true", help="RooNSBINLL with its analytic gradient (unbinned "
                        "NSBI models)")
    parser.add_argument("--strategy", type=int, default=1, choices=(0, 1, 2), help="Minuit2 strategy (default 1)")
    parser.add_argument("--tolerance", type=float, help="Minuit2 tolerance (default 1e-5: EDM < 1e-8)")


def _fit_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from ..infer.fit import TOLERANCE

    return {"fast": args.fast, "strategy": args.strategy,
            "tolerance": TOLERANCE if args.tolerance is None else args.tolerance,
            "print_level": 1 if args.verbose else -1}


def _fitter(model: Any, args: argparse.Namespace) -> Any:
    from ..infer.fit import Fitter

    return Fitter(model, **_fit_kwargs(args))


def _print_fit(out: Out, result: Any) -> None:
    out(f"status {result.status}, EDM {result.edm:.3g}, min NLL {result.min_nll:.6f}")
    width = max((len(n) for n in result.values), default=4)
    for name, value in result.values.items():
        tag = " (fixed)" if name in result.fixed else ""
        out(f"  {name:<{width}}  {value: .6g} +- {result.errors[name]:.4g}{tag}")
    _bounds_lines(out, result.at_bound)


def _fit(args: argparse.Namespace, out: Out) -> Any:
    fixed = parse_assignments(args.fixed, "--fixed")
    model = _open(args)
    for name in fixed:
        model.parameter(name)  # KeyError naming the parameter
    result = _fitter(model, args).fit(fixed)
    _print_fit(out, result)
    return result.to_dict()


# -- scan -------------------------------------------------------------------------------------
def _scan_arguments(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser)
    parser.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"),
                        help="scan range of --poi (default: its range; a parametrized model: its mu' grid)")
    parser.add_argument("--points", type=int, default=21, help="scan points (default 21)")
    parser.add_argument("--poi2", metavar="NAME", help="second parameter (POI or nuisance parameter): a 2-D scan")
    parser.add_argument("--range2", nargs=2, type=float, metavar=("LO", "HI"), help="scan range of --poi2")
    parser.add_argument("--points2", type=int, default=11, help="scan points of --poi2 (default 11)")
    parser.add_argument("--fast", action="store_true", help="RooNSBINLL (unbinned NSBI models)")
    parser.add_argument("--strategy", type=int, default=1, choices=(0, 1, 2), help="Minuit2 strategy (default 1)")
    parser.add_argument("--tolerance", type=float, help="Minuit2 tolerance (default 1e-5)")


def _grid(model: Any, name: str, bounds: list[float] | None, points: int, option: str) -> np.ndarray:
    if points < 2:
        raise ValueError(f"{option} must be at least 2, got {points}")
    var = model.parameter(name)
    lo, hi = bounds if bounds is not None else (var.getMin(), var.getMax())
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi) or abs(lo) > 1e29 or abs(hi) > 1e29:
        raise ValueError(f"scan range of '{name}' must be finite with LO < HI, got [{lo:g}, {hi:g}] (pass a range)")
    return np.linspace(lo, hi, points)


def _scan(args: argparse.Namespace, out: Out) -> Any:
    from ..infer.fit import single_poi
    from ..infer.scan import parametrized_scan, profile_scan, profile_scan_2d
    from ..models.parametrized import ParametrizedModel

    model = _open(args)
    poi = single_poi(model, args.poi, hint="pass --poi")
    if args.poi2 is not None:
        xs = _grid(model, poi, args.range, args.points, "--points")
        ys = _grid(model, args.poi2, args.range2, args.points2, "--points2")
        s2 = profile_scan_2d(model, (poi, args.poi2), xs, ys, fitter=_fitter(model, args))
        x, y, t = s2.grid_minimum()
        out(f"2-D scan of ({poi}, {args.poi2}): {xs.size} x {ys.size} points; best fit "
            f"({s2.best.values[poi]:.6g}, {s2.best.values[args.poi2]:.6g}), grid minimum t = {t:.4g} at ({x:g}, {y:g})")
        for (i, j), flagged in s2.at_bound.items():
            _bounds_lines(out, flagged, f" at ({xs[i]:g}, {ys[j]:g})")
        return {"params": [poi, args.poi2], "x": s2.x, "y": s2.y, "nll": s2.nll, "t": s2.t,
                "levels": {"68.27": s2.level(0.6827), "95": s2.level(0.95)}, "best": s2.best.to_dict(),
                "at_bound": s2.at_bound}
    if isinstance(model, ParametrizedModel):
        values = None if args.range is None else _grid(model, poi, args.range, args.points, "--points")
        s = parametrized_scan(model, poi, values, strategy=args.strategy, interpolate=values is not None)
        best = s.best_value  # type: ignore[attr-defined]
    else:
        values = _grid(model, poi, args.range, args.points, "--points")
        s = profile_scan(model, poi, values, fitter=_fitter(model, args))
        best = s.best.values[poi]
    lo68, hi68 = s.interval(0.6827)
    lo95, hi95 = s.interval(0.95)
    out(f"{poi} = {best:.6g}, 68% CL [{lo68:.6g}, {hi68:.6g}], 95% CL [{lo95:.6g}, {hi95:.6g}] "
        f"({s.values.size} points)")
    for k, flagged in s.at_bound.items():
        _bounds_lines(out, flagged, f" at {poi} = {s.values[k]:g}")
    return {"poi": poi, "values": s.values, "nll": s.nll, "t": s.t, "best_value": best, "best": s.best.to_dict(),
            "interval_68": [lo68, hi68], "interval_95": [lo95, hi95], "at_bound": s.at_bound}


# -- impacts ----------------------------------------------------------------------------------
def _impacts_arguments(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser)
    parser.add_argument("--np", action="append", metavar="NAME", dest="nps",
                        help="only these nuisance parameters (repeatable; default: all)")
    parser.add_argument("--no-prefit", action="store_true", help="post-fit impacts only (2 fits per parameter)")


def _impacts(args: argparse.Namespace, out: Out) -> Any:
    from ..infer.impacts import impacts

    model = _open(args)
    result = impacts(model, args.poi, nuisance_parameters=args.nps, prefit=not args.no_prefit)
    out(f"{result.poi} = {result.best.values[result.poi]:.6g} +- {result.best.errors[result.poi]:.4g}")
    pulls = {p.name: p for p in result.pulls}
    width = max((len(i.name) for i in result.impacts), default=4)
    out(f"  {'parameter':<{width}}  {'post-fit +':>11} {'post-fit -':>11} {'pull':>8} {'+-':>6}")
    for i in result.impacts:
        p = pulls[i.name]
        out(f"  {i.name:<{width}}  {i.postfit_up: 11.4g} {i.postfit_down: 11.4g} {p.pull: 8.3f} {p.pull_error:6.3f}")
        _bounds_lines(out, i.at_bound, f" (impact fits of {i.name})")
    _bounds_lines(out, result.best.at_bound)
    return result.to_dict()


# -- limit and significance -------------------------------------------------------------------
def _limit_arguments(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser)
    parser.add_argument("--cl", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--bracket", nargs=2, type=float, metavar=("LO", "HI"),
                        help="POI interval in which CLs crosses 1 - CL (default: found from mu-hat)")


def _limit(args: argparse.Namespace, out: Out) -> Any:
    from ..infer.limits import upper_limit
    from ..infer.progress import step

    model = _open(args)
    with step("asymptotic CLs upper limit"):
        limit = upper_limit(model, cl=args.cl, poi=args.poi, bracket=tuple(args.bracket) if args.bracket else None)
    band = ", ".join(f"{v:.4g}" for v in limit.expected)
    out(f"{limit.poi} < {limit.observed:.6g} at {100 * args.cl:g}% CL (asymptotic CLs); expected {limit.median:.6g}, "
        f"band -2..+2 sigma [{band}]")
    return {**limit.to_dict(), "points": [p.to_dict() for p in limit.points]}


def _significance_arguments(parser: argparse.ArgumentParser) -> None:
    _model_arguments(parser)
    parser.add_argument("--mu-signal", type=float, default=1.0,
                        help="POI value of the Asimov dataset of the expected significance (default 1)")


def _significance(args: argparse.Namespace, out: Out) -> Any:
    from ..infer.limits import discovery_significance
    from ..infer.progress import step

    model = _open(args)
    with step("discovery significance"):
        z = discovery_significance(model, poi=args.poi, mu_signal=args.mu_signal)
    out(f"{z.poi}-hat = {z.mu_hat:.6g}: q0 = {z.q0:.6g}, Z0 = {z.z0:.4f} sigma, p0 = {z.p0:.4g}; expected "
        f"(Asimov, {z.poi} = {args.mu_signal:g}) Z0 = {z.expected_z0:.4f}, p0 = {z.expected_p0:.4g}")
    return z.to_dict()


VERBS = (
    Verb("fit", "maximum-likelihood fit (Minuit2 MIGRAD + HESSE) of a saved model", _fit_arguments, _fit),
    Verb("scan", "profile-likelihood scan t(poi), 1-D or 2-D (--poi2), with the 68%%/95%% intervals",
         _scan_arguments, _scan),
    Verb("impacts", "pulls and ranked impacts of the nuisance parameters on the POI", _impacts_arguments, _impacts),
    Verb("limit", "asymptotic CLs upper limit with the expected -2..+2 sigma band", _limit_arguments, _limit),
    Verb("significance", "discovery significance: q0, Z0, p0 (observed and expected)", _significance_arguments,
         _significance),
)
