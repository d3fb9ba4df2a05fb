r"""Asymptotic CLs upper limits and discovery significance (arXiv:1007.1727), with the conventions
of RooStats' ``AsymptoticCalculator`` (one-sided, ``SetQTilde(true)``) and pyhf (``test_stat="qtilde"``).

Test statistics, for a POI :math:`\mu` bounded below at 0 (:math:`\hat\mu` the unconditional fit):

.. math::
    \tilde q_\mu = \begin{cases}
        2\,[\mathrm{NLL}(\mu, \hat{\hat\theta}(\mu)) - \mathrm{NLL}(0, \hat{\hat\theta}(0))] & \hat\mu < 0\\
        2\,[\mathrm{NLL}(\mu, \hat{\hat\theta}(\mu)) - \mathrm{NLL}(\hat\mu, \hat\theta)] & 0 \le \hat\mu \le \mu\\
        0 & \hat\mu > \mu \end{cases}
    \qquad
    q_0 = \begin{cases} 2\,[\mathrm{NLL}(0, \hat{\hat\theta}(0)) - \mathrm{NLL}(\hat\mu, \hat\theta)] & \hat\mu \ge 0\\
        0 & \hat\mu < 0. \end{cases}

With :math:`\tilde q_{\mu,A}` the same statistic on the background-only Asimov dataset (expected
data at :math:`\mu = 0` and the nuisance parameters of the conditional fit
:math:`\hat{\hat\theta}(0)` to the observed data, global observables at their expected values),
the test statistic :math:`t = \sqrt{\tilde q_\mu} - \sqrt{\tilde q_{\mu,A}}` if
:math:`\tilde q_\mu \le \tilde q_{\mu,A}`, else
:math:`(\tilde q_\mu - \tilde q_{\mu,A}) / (2\sqrt{\tilde q_{\mu,A}})`, and

.. math:: \mathrm{CL}_{s+b} = \Phi(-(t + \sqrt{\tilde q_{\mu,A}})),\quad \mathrm{CL}_b = \Phi(-t),\quad
          \mathrm{CL}_s = \mathrm{CL}_{s+b}/\mathrm{CL}_b.

The expected band at :math:`k\sigma` (:math:`k = -2..2`, the limit's band) takes :math:`t = -k`
(the normal, not clipped, asymptotic distribution: pyhf's default ``calc_base_dist="normal"``).
The upper limit at CL is the root of
:math:`\mathrm{CL}_s(\mu) = 1 - \mathrm{CL}` (Brent's method), for the observed and every expected
curve. Discovery: :math:`Z_0 = \sqrt{q_0}`, :math:`p_0 = 1 - \Phi(Z_0)`; the expected
:math:`Z_0` is :math:`\sqrt{q_{0,A}}` on the Asimov dataset at :math:`\mu = 1` (or ``mu_signal``).

Asimov datasets (:func:`asimov_dataset`): for binned models (HistFactory, pyhf, parametrized
NSBI at its current mu') the expected counts of RooStats'
``AsymptoticCalculator::MakeAsimovData``; for an unbinned :class:`~roonsbi.models.unbinned.NSBIModel`
the weighted reference pool of :meth:`~roonsbi.infer.toys.ToyGenerator.asimov` (a store-form
channel keeps its pool: ``ToyGenerator(model)`` by default; a column-form one needs ``generator``,
or the Asimov dataset itself as ``asimov``). A combination whose unbinned channels are all of the
store form with a pool gets RooStats' Asimov dataset too (its builder weights each pool row by
its expected events, :math:`m_k F_k`, the same weights as ``ToyGenerator.asimov``); a combination
with a column-form channel needs ``asimov``.
Every function restores the model's parameters and global observables when it ends
(:func:`~roonsbi.infer.state.saved_parameters`).

**CLs from toys** (:func:`toy_cls`, RooStats' ``FrequentistCalculator`` and pyhf's
``ToyCalculator``): at each tested :math:`\mu`, toys are generated under signal + background at
:math:`(\mu, \hat{\hat\theta}(\mu))` and under background only at :math:`(0, \hat{\hat\theta}(0))`
(conditional fits to the observed data; global observables drawn), and :math:`\tilde q_\mu` of
each toy is computed as the observed one (the same fits); then
:math:`\mathrm{CL}_{s+b} = P(\tilde q_\mu \ge \tilde q_{\mu,\mathrm{obs}} \mid s+b)`,
:math:`\mathrm{CL}_b = P(\tilde q_\mu \ge \tilde q_{\mu,\mathrm{obs}} \mid b)` and
:math:`\mathrm{CL}_s = \mathrm{CL}_{s+b}/\mathrm{CL}_b` (:class:`~roonsbi.infer.results.ToyCLsResult`).
Toys run as the seeded studies of :mod:`roonsbi.infer.toys` (any executor, resumable results).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from ..library import load
from ..models.protocol import FitModel
from ..models.unbinned import NSBIModel
from ..optional import optional_module
from .executor import capture_state, model_source
from .fit import Fitter, single_poi
from .intervals import normal_sf
from .results import CLsResult, Significance, Toy, ToyCLsResult, UpperLimit
from .state import saved_parameters
from .toys import (
    ToyGenerator,
    ToyUnit,
    check_distributable,
    draw_toy,
    poolless_unbinned_channels,
    run_toys,
    set_global_observables,
)

ROOT = load()

__all__ = ["BANDS", "CLsResult", "Significance", "ToyCLsResult", "UpperLimit", "asimov_dataset", "asymptotic_cls",
           "cls_scan", "discovery_significance", "hypotest", "toy_cls", "toy_q_tilde", "upper_limit"]

BANDS = (-2, -1, 0, 1, 2)
"""The expected bands, in standard deviations of the limit (-2: the lowest expected limit)."""


def asymptotic_cls(q_mu: float, q_mu_asimov: float, *, n_sigma: float | None = None) -> tuple[float, float, float]:
    r"""(CL_{s+b}, CL_b, CL_s) of the module doc from :math:`\tilde q_\mu` and :math:`\tilde q_{\mu,A}`;
    with ``n_sigma`` = k the expected values of the band k (the observed :math:`\tilde q_\mu` is then unused)."""
    sq, sqa = math.sqrt(max(q_mu, 0.0)), math.sqrt(max(q_mu_asimov, 0.0))
    if n_sigma is not None:
        t = -float(n_sigma)
    elif sq <= sqa or sqa == 0.0:  # no sensitivity (q_A = 0): CL_s = 1
        t = sq - sqa
    else:
        t = (q_mu - q_mu_asimov) / (2.0 * sqa)
    clsb, clb = normal_sf(t + sqa), normal_sf(t)
    return clsb, clb, (clsb / clb if clb > 0 else math.nan)


def _only_poi(model: FitModel, poi: str | None) -> str:
    """``poi`` (which must be one of the model's POIs) or the model's only POI."""
    poi = single_poi(model, poi, hint="pass poi= the one to test")
    pois = [p.GetName() for p in model.pois]
    if poi not in pois:
        raise ValueError(f"poi '{poi}' is not a POI of the model (have {pois})")
    return poi


def _tested_values(values: Iterable[float]) -> list[float]:
    """The tested POI values as floats; ValueError naming the first that is not finite and > 0."""
    tested = [float(v) for v in values]
    bad = [v for v in tested if not (np.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"tested POI values must be finite and > 0, got {bad[0]}")
    return tested


def _global_values(model: FitModel) -> dict[str, float]:
    return {g.GetName(): float(g.getVal()) for g in model.global_observables}


def asimov_dataset(model: FitModel, values: Mapping[str, float], *,
                   generator: ToyGenerator | None = None) -> Toy:
    """The Asimov dataset of ``model`` at ``values`` (POIs and nuisance parameters) and its global
    observables (see the module doc). The model's parameters and global observables are restored."""
    if isinstance(model, NSBIModel):
        if generator is None:
            if not model.pdf.usesStore():
                raise ValueError("a column-form NSBIModel needs generator= a ToyGenerator of a reference pool "
                                 "(or pass the Asimov dataset as asimov=, or build the model with form='store' "
                                 "and a pool)")
            generator = ToyGenerator(model)  # the store form keeps its pool (ValueError if it has none)
        with saved_parameters(model):
            return generator.asimov(values)
    poolless = poolless_unbinned_channels(model)
    if poolless:
        raise ValueError(f"{type(model).__name__} has unbinned NSBI channels without a reference pool "
                         f"({', '.join(poolless)}): build their Asimov dataset yourself and pass it as asimov= "
                         "(a roonsbi.infer.Toy), or build them with build_model(..., form='store', pool_weights=...)")
    model_config = getattr(model, "model_config", None)
    if model_config is None:
        raise ValueError(f"{type(model).__name__} has no ModelConfig: pass the Asimov dataset as asimov=")
    with saved_parameters(model):
        model.set_parameters(values)
        params = ROOT.RooArgSet(model.pois)
        params.add(model.nuisance_parameters)
        globs = ROOT.RooArgSet()
        ROOT.RooStats.AsymptoticCalculator.SetPrintLevel(-1)
        data = ROOT.RooStats.AsymptoticCalculator.MakeAsimovData(model_config, params, globs)
        ROOT.SetOwnership(data, True)
        return Toy(data, {g.GetName(): float(g.getVal()) for g in globs})


@dataclass
class _Side:
    """Fits of the POI on one dataset: the unconditional fit (POI clipped at 0, see the module doc)
    and a cache of conditional NLLs."""

    fitter: Fitter
    globs: dict[str, float]
    start: dict[str, float]
    mu_hat: float
    ref_nll: float
    data: Any = None  # kept alive as long as the NLL that reads it
    cache: dict[float, float] = field(default_factory=dict)

    def conditional(self, model: FitModel, poi: str, mu: float) -> float:
        """NLL(mu, profiled), warm-started from the unconditional fit."""
        if mu not in self.cache:
            set_global_observables(model, self.globs)
            model.set_parameters(self.start)
            self.cache[mu] = self.fitter.fit({poi: mu}, hesse=False).min_nll
        return self.cache[mu]

    def q_tilde(self, model: FitModel, poi: str, mu: float) -> float:
        r""":math:`\tilde q_\mu` (0 for :math:`\hat\mu > \mu`)."""
        if self.mu_hat > mu:
            return 0.0
        return max(0.0, 2.0 * (self.conditional(model, poi, mu) - self.ref_nll))

    def q0(self, model: FitModel, poi: str) -> float:
        """q_0 (0 for mu-hat < 0)."""
        return 0.0 if self.mu_hat < 0 else max(0.0, 2.0 * (self.conditional(model, poi, 0.0) - self.ref_nll))


def _side(model: FitModel, poi: str, data: Any, globs: Mapping[str, float], probes: Iterable[float] = (0.0,)) -> _Side:
    r"""Build the NLL on ``data`` (global observables ``globs``) and run the unconditional fit.
    The NLL need not be convex in the POI (e.g. :math:`\sqrt\mu` terms of NSBI models): if a
    conditional fit at one of ``probes`` (0 and the Asimov value) is lower, it is the minimum."""
    set_global_observables(model, globs)
    fitter = Fitter(model, data=data, quiet_bounds=(poi,))  # mu-hat at its bound 0 is expected here
    free = fitter.fit(hesse=False)
    side = _Side(fitter, dict(globs), dict(free.values), free.values[poi], free.min_nll, data)
    lo = float(model.parameter(poi).getMin())
    for mu in sorted({max(float(p), lo) for p in probes}):
        nll = side.conditional(model, poi, mu)
        if nll < side.ref_nll:
            side.mu_hat, side.ref_nll = mu, nll
    if side.mu_hat < 0:  # POI not bounded at 0: the reference is the fit at mu = 0
        side.ref_nll = side.conditional(model, poi, 0.0)
    return side


def _asimov_side(model: FitModel, poi: str, observed: _Side, mu_asimov: float, asimov: Toy | None,
                 generator: ToyGenerator | None) -> _Side:
    """The Asimov side: ``asimov`` or the Asimov dataset at mu = ``mu_asimov`` and the nuisance
    parameters of the conditional fit to the observed data."""
    if asimov is None:
        set_global_observables(model, observed.globs)
        model.set_parameters(observed.start)
        values = observed.fitter.fit({poi: mu_asimov}, hesse=False).values
        asimov = asimov_dataset(model, values, generator=generator)
    return _side(model, poi, asimov.data, {**observed.globs, **asimov.global_observables}, (0.0, mu_asimov))


class _Calculator:
    """Observed and Asimov sides of one model, POI and dataset; CLs at any mu (cached fits)."""

    def __init__(self, model: FitModel, poi: str, data: Any, asimov: Toy | None, generator: ToyGenerator | None,
                 mu_asimov: float = 0.0):
        self.model, self.poi = model, poi
        self.observed = _side(model, poi, data, _global_values(model))
        self.asimov = _asimov_side(model, poi, self.observed, mu_asimov, asimov, generator)
        self.results: dict[float, CLsResult] = {}

    def __call__(self, mu: float) -> CLsResult:
        mu = float(mu)
        if mu not in self.results:
            q = self.observed.q_tilde(self.model, self.poi, mu)
            qa = self.asimov.q_tilde(self.model, self.poi, mu)
            clsb, clb, cls = asymptotic_cls(q, qa)
            expected = np.array([asymptotic_cls(q, qa, n_sigma=k)[2] for k in BANDS])
            self.results[mu] = CLsResult(self.poi, mu, q, qa, clsb, clb, cls, expected)
        return self.results[mu]


def cls_scan(model: FitModel, values: Iterable[float], *, poi: str | None = None, data: Any = None,
             asimov: Toy | None = None, generator: ToyGenerator | None = None) -> list[CLsResult]:
    """Asymptotic CLs (observed and the expected band) at each POI value (see the module doc).

    Args:
        model: any :class:`~roonsbi.models.protocol.FitModel` (a POI bounded below at 0).
        values: the tested POI values (> 0).
        poi: the POI (default: the model's only one).
        data: the observed dataset (default: the model's own).
        asimov: the background-only Asimov dataset and global observables (default: built by
            :func:`asimov_dataset` at the conditional fit mu = 0 to ``data``).
        generator: the reference pool of a column-form NSBIModel (for its Asimov dataset; a
            store-form model uses its own pool).
    """
    poi = _only_poi(model, poi)
    values = _tested_values(values)
    with saved_parameters(model):
        calc = _Calculator(model, poi, data, asimov, generator)
        return [calc(v) for v in values]


def hypotest(model: FitModel, mu: float, *, poi: str | None = None, data: Any = None, asimov: Toy | None = None,
             generator: ToyGenerator | None = None) -> CLsResult:
    """Asymptotic CLs at one POI value (:func:`cls_scan` of one point)."""
    return cls_scan(model, [mu], poi=poi, data=data, asimov=asimov, generator=generator)[0]


def _bracket(calc: _Calculator, level: float, bracket: tuple[float, float] | None,
             hi_max: float) -> tuple[float, float]:
    """(lo, hi) with every CLs curve above ``level`` at lo and below at hi: ``bracket``, or from
    the POI's scale (mu-hat and its range), doubling hi up to the POI's maximum."""
    if bracket is not None:
        lo, hi = map(float, bracket)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi <= hi_max):
            raise ValueError(f"bracket=(lo, hi) = ({lo:g}, {hi:g}) must be finite with 0 < lo < hi <= {hi_max:g} (the "
                             "POI's maximum; the limit is searched in log(mu)): pass such a bracket")
    else:
        hi = max(calc.observed.mu_hat, 0.0) + 1.0
        while max(calc(hi).cls, *calc(hi).expected) > level and hi < hi_max:
            hi = min(2.0 * hi, hi_max)
        lo = 1e-3 * hi
    lowest = min(calc(lo).cls, *calc(lo).expected)
    highest = max(calc(hi).cls, *calc(hi).expected)
    if not (lowest > level > highest):
        raise ValueError(f"CLs does not cross {level:g} inside [{lo:g}, {hi:g}] (min CLs at lo {lowest:.4g}, "
                         f"max at hi {highest:.4g}); pass bracket=(lo, hi) or widen the POI's range")
    return lo, hi


def _curve(result: CLsResult, index: int | None) -> float:
    """The observed CL_s (``index`` None) or the expected CL_s of the band ``BANDS[index]``."""
    return result.cls if index is None else float(result.expected[index])


def _root(calc: _Calculator, index: int | None, level: float, lo: float, hi: float, rtol: float) -> float:
    """The crossing CL_s = ``level`` of one curve, by Brent's method in log(mu) inside the
    narrowest bracket that the points computed so far give (CL_s decreasing in mu)."""
    brentq = optional_module("scipy.optimize", "the CLs upper limit").brentq  # scipy comes with pyhf

    above = [m for m, r in calc.results.items() if lo <= m <= hi and _curve(r, index) > level]
    below = [m for m, r in calc.results.items() if lo <= m <= hi and _curve(r, index) < level]
    a, b = max(above), min(m for m in below if m > max(above))
    u = brentq(lambda v: _curve(calc(math.exp(v)), index) - level, math.log(a), math.log(b), xtol=rtol)
    return math.exp(u)


def upper_limit(model: FitModel, *, cl: float = 0.95, poi: str | None = None, data: Any = None,
                asimov: Toy | None = None, generator: ToyGenerator | None = None,
                bracket: tuple[float, float] | None = None, rtol: float = 1e-6) -> UpperLimit:
    r"""The asymptotic CLs upper limit on the POI at ``cl`` (observed and the expected band
    :data:`BANDS`): the roots of :math:`\mathrm{CL}_s(\mu) = 1 - \mathrm{cl}` found by Brent's
    method in :math:`\log\mu` inside ``bracket`` (default: found from mu-hat, see :func:`_bracket`),
    to ``rtol`` relative. Other arguments as in :func:`cls_scan`."""
    if not 0 < cl < 1:
        raise ValueError(f"cl must be in (0, 1), got {cl}")
    poi = _only_poi(model, poi)
    level = 1.0 - cl
    with saved_parameters(model):
        calc = _Calculator(model, poi, data, asimov, generator)
        lo, hi = _bracket(calc, level, bracket, float(model.parameter(poi).getMax()))
        observed = _root(calc, None, level, lo, hi, rtol)
        expected = [_root(calc, i, level, lo, hi, rtol) for i in range(len(BANDS))]
    points = [calc.results[m] for m in sorted(calc.results)]
    return UpperLimit(poi, cl, float(observed), np.array(expected, dtype=float), points)


def discovery_significance(model: FitModel, *, poi: str | None = None, data: Any = None, asimov: Toy | None = None,
                           generator: ToyGenerator | None = None, mu_signal: float = 1.0) -> Significance:
    r"""Discovery test of mu = 0: observed :math:`q_0`, :math:`Z_0 = \sqrt{q_0}`, :math:`p_0 = 1 - \Phi(Z_0)`,
    and the expected ones on the Asimov dataset at mu = ``mu_signal`` (``asimov``, or built at the
    conditional fit mu = ``mu_signal`` to ``data``, see :func:`asimov_dataset`)."""
    poi = _only_poi(model, poi)
    par = model.parameter(poi)
    if isinstance(mu_signal, bool) or not isinstance(mu_signal, (int, float, np.integer, np.floating)) or not (
            math.isfinite(mu_signal) and par.getMin() <= mu_signal <= par.getMax()):
        raise ValueError(f"mu_signal = {mu_signal!r} (the POI value of the expected significance's Asimov data) must "
                         f"be a number inside the range [{par.getMin():g}, {par.getMax():g}] of '{poi}'")
    with saved_parameters(model):
        calc = _Calculator(model, poi, data, asimov, generator, mu_asimov=mu_signal)
        q0 = calc.observed.q0(model, poi)
        q0_a = calc.asimov.q0(model, poi)
        mu_hat = calc.observed.mu_hat
    return Significance(poi, float(mu_hat), q0, q0_a)


def toy_q_tilde(unit: ToyUnit) -> dict[str, Any]:
    r"""The work of one toy of :func:`toy_cls`: :math:`\tilde q_\mu` on the toy, with the fits of the
    observed one (:func:`_side`: unconditional fit, checked against the fit at 0); its record."""
    model, toy = draw_toy(unit)
    globs = _global_values(model)
    model.set_parameters(unit.start)
    side = _side(model, unit.poi, toy.data, globs)
    return unit.record(side.q_tilde(model, unit.poi, unit.mu), toy.data.numEntries())


def _tail(q: np.ndarray, q_obs: float) -> tuple[float, float]:
    """P(q >= q_obs) over the toys and its binomial error."""
    p = float(np.mean(q >= q_obs))
    return p, math.sqrt(max(p * (1 - p), 1.0 / q.size) / q.size)


def _toy_result(poi: str, mu: float, q_obs: float, q_sb: np.ndarray, q_b: np.ndarray) -> ToyCLsResult:
    clsb, clsb_error = _tail(q_sb, q_obs)
    clb, clb_error = _tail(q_b, q_obs)
    cls = clsb / clb if clb > 0 else math.nan
    cls_error = cls * math.hypot(clsb_error / clsb, clb_error / clb) if clsb > 0 and clb > 0 else math.nan
    # pyhf's expected band: CL_s at every background-only toy, its quantiles Phi(k)
    sb_sorted, b_sorted = np.sort(q_sb), np.sort(q_b)
    p_sb = 1.0 - np.searchsorted(sb_sorted, q_b, side="left") / q_sb.size
    p_b = 1.0 - np.searchsorted(b_sorted, q_b, side="left") / q_b.size
    expected = np.percentile(p_sb / p_b, [100 * (1 - normal_sf(k)) for k in BANDS])
    return ToyCLsResult(poi, mu, q_obs, q_sb, q_b, clsb, clb, cls, clsb_error, clb_error, cls_error, expected)


def toy_cls(model: NSBIModel, values: Iterable[float], *, n_toys: int, seed: int, poi: str | None = None,
            n_toys_b: int | None = None, data: Any = None, generator: ToyGenerator | None = None,
            executor: Any = None, results: str | os.PathLike | None = None, first_toy: int = 0,
            chunk_size: int = 100, model_file: str | os.PathLike | None = None) -> list[ToyCLsResult]:
    r"""CLs from toys at each POI value (see the module doc): ``n_toys`` toys under signal +
    background and ``n_toys_b`` (default ``n_toys``) under background only per value. Toy k of
    value j uses ``SeedSequence(seed, spawn_key=(j, 0, k))`` (s+b) and ``(j, 1, k)`` (b);
    ``executor``, ``results``, ``first_toy``, ``chunk_size``, ``model_file`` and ``generator``
    as in :func:`~roonsbi.infer.toys.neyman_construction`; ``data``: the observed dataset
    (default: the model's own). The model's parameters are restored."""
    poi = _only_poi(model, poi)
    values = _tested_values(values)
    n_b = n_toys if n_toys_b is None else int(n_toys_b)
    check_distributable(model, executor, model_file)
    with saved_parameters(model):
        state = capture_state(model)
        observed = _side(model, poi, data, _global_values(model))
        q_obs = [observed.q_tilde(model, poi, mu) for mu in values]

        def conditional(mu: float) -> dict[str, float]:
            set_global_observables(model, observed.globs)
            model.set_parameters(observed.start)
            return observed.fitter.fit({poi: mu}, hesse=False).values

        background = conditional(0.0)
        units = []
        with model_source(model, executor, model_file, extra=generator) as source:
            for j, mu in enumerate(values):
                signal = conditional(mu)
                for h, params, n in ((0, signal, n_toys), (1, background, n_b)):
                    units += [ToyUnit(source, "qtilde", poi, mu, params, params, state, int(seed), (j, h, k))
                              for k in range(first_toy, first_toy + n)]
            records = run_toys(toy_q_tilde, units, executor, results=results, chunk_size=chunk_size)
    out = []
    for j, mu in enumerate(values):
        q = {h: np.array([r["t"] for r in records if r["seed"]["spawn_key"][:2] == [j, h]]) for h in (0, 1)}
        out.append(_toy_result(poi, mu, q_obs[j], q[0], q[1]))
    return out
