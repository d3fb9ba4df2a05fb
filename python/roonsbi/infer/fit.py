r"""Maximum-likelihood fits with RooFit's Minuit2.

Works on any model of the :class:`~roonsbi.models.protocol.FitModel` protocol (every roonsbi
model). The profile-likelihood ratio of a POI value :math:`\mu` is

.. math:: t(\mu) = 2\,[\mathrm{NLL}(\mu, \hat{\hat\alpha}) - \mathrm{NLL}(\hat\mu, \hat\alpha)],

and the asymptotic (Wilks) interval at confidence level CL is
:math:`\{\mu: t(\mu) < F^{-1}_{\chi^2_1}(\mathrm{CL})\}` (:mod:`roonsbi.infer.scan`).

**Minuit2 settings** (:class:`Fitter`, :func:`fit`): MIGRAD, then HESSE, with RooFit's meaning
of strategy (0, 1, 2; default 1, as RooFit) and tolerance (``RooMinimizer::setEps``): MIGRAD
stops at

.. math:: \mathrm{EDM} < 0.002 \cdot \mathrm{tolerance} \cdot \mathrm{UP}
          \quad(\mathrm{UP} = \tfrac12 \text{ for an NLL}),

and accepts a minimum up to ten times that. The default :data:`TOLERANCE` = 1e-5 (EDM below
1e-8) puts the parameters within about :math:`\sqrt{2\,\mathrm{EDM}} \approx 10^{-4}` of their
errors from the minimum; RooFit's own default, tolerance 1 (EDM below 1e-3), allows 0.05 sigma.
Large models that cannot reach it can pass e.g. ``tolerance=1e-3``.

**Offset.** Minuit2 treats the function value :math:`F` as known to a relative precision
:math:`\epsilon \approx 9\cdot10^{-16}`: it stops MIGRAD when the EDM is below
:math:`2\sqrt\epsilon\,|F| \approx 6\cdot10^{-8}\,|F|` ("machine accuracy limit") and ends line
searches that gain less than :math:`\epsilon|F|`. For a bare NLL of a few thousand that is above
the EDM asked for, and MIGRAD ends with status -1 near, not at, the minimum. So by default
(``offset=True``) Minuit minimises

.. math:: F(\theta) = \mathrm{NLL}(\theta) - \mathrm{NLL}(\theta_0) + L,

:math:`\theta_0` the start of the MIGRAD and :math:`L` = :data:`LEVEL` = 0.01: RooFit's initial
offset (``RooFit::Offset("initial")``, enabled through ``RooMinimizer``; the data term is
subtracted with Kahan summation) plus a constant pedestal that also removes the constraint terms
RooFit leaves un-offset. The pedestal keeps :math:`F(\theta_0) \ne 0`: RooFit's offset alone makes
:math:`F(\theta_0)` exactly 0 for a model without constraint terms, and Minuit's relative
precision tests then fail in the first line search (status -1 at the start point). If MIGRAD
fails or ends above the EDM asked for, it runs once more from where it stopped, levelled there
(:math:`|F| \approx L` near the minimum, where the precision limit matters). The minimum and the
errors are those of the NLL. The RooNSBINLL of ``fast=True`` (analytic gradient) is minimised as
it is.

**Exact Hessian, Newton start** (``method``): an NLL with an exact one-pass Hessian (the RooNSBINLL
of ``fast=True``) gives it to Minuit (``RooMinimizer::Config::useHessian``) if it is positive definite
at the start (else MIGRAD starts from Minuit's own seed, instead of failing its first step after
Minuit2's "Initial matrix not pos.def."): MIGRAD's seed is the exact Hessian, so its quasi-Newton
iterations converge in about a dozen passes over the events at 101 parameters, and HESSE costs one
pass. ``method="newton"`` first runs damped Newton iterations
(:mod:`roonsbi.infer.newton`, one Hessian pass each), then MIGRAD from there and HESSE, so that the
status, the EDM, the RooFitResult and the errors stay Minuit's. The default ``"auto"`` is MIGRAD with
the exact Hessian: at 10^6 events x 3 processes x 100 NPs it took 12 passes against the Newton
start's 17 (a Hessian pass costs about 4 value-and-gradient passes; ``benchmarks/RESULTS.md``).

**Seeded conditional fits** (``fit(fixed, seed_hessian=True)``, the default of
:func:`~roonsbi.infer.impacts.impacts`, an option of :func:`~roonsbi.infer.scan.profile_scan`): a fit with HESSE
keeps the exact Hessian :math:`H` at its minimum (:attr:`Fitter.seed_hessian`, taken from the NLL's cache:
no pass). A later fit with ``seed_hessian=True`` gives MIGRAD :math:`H_{FF}`, its rows and columns of the
parameters floating in that fit (:math:`F`), as the seed (``RooNSBINLL::setSeedHessian``) instead of a
Hessian pass at its start: for a fit with one parameter fixed near the minimum (an impact, a scan point)
it is nearly the Hessian there. Where :math:`H_{FF}` is not a seed Minuit2 accepts
(:func:`~roonsbi.infer.newton.acceptable_seed`: e.g. a parameter constant in the fit that gave
:math:`H` floats now, a zero row), or MIGRAD from it ends with a non-zero status, the fit goes on as without
the seed (from where MIGRAD stopped); :attr:`Fitter.seeded` says whether the last fit used it. With strategy 1
MIGRAD ends with an exact HESSE of its own (one Hessian pass) when its covariance changed by more than 5% in the
last step, as it usually does from the global Hessian; strategy 0 skips it (``benchmarks/RESULTS.md``).
Without the seed, the exact Hessian that the start's positive-definiteness check computes is handed over the
same way, so that Minuit's request for it (which misses the NLL's cache) costs no second Hessian pass.

:attr:`FitResult.min_nll` is always the true, un-offset NLL (read with RooFit's offset hidden,
:func:`true_value`), so that ``2 * (fixed.min_nll - free.min_nll)`` is :math:`t(\mu)` for fits of
one Fitter or of different ones (scans, impacts, limits and toys rely on it). A fit that ends with
a non-zero status warns once per Fitter (:class:`FitStatusWarning`, with what to try).

**Bounds.** A floating parameter that ends within :data:`BOUND_FRACTION` (1%) of its range's width
from a bound, :math:`\min(\hat\theta - \theta_\mathrm{min}, \theta_\mathrm{max} - \hat\theta)
\le 0.01\,(\theta_\mathrm{max} - \theta_\mathrm{min})`, is listed in :attr:`FitResult.at_bound`
(name -> the bound) and warned about once per Fitter and parameter (:class:`ParameterAtBoundWarning`):
the minimum may be the bound's, not the likelihood's (e.g. a learned shape systematic pushed to
-5 puts a kink into t(mu)). Parameters held fixed in the fit are not checked.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterable, Mapping

import numpy as np

from ..library import load
from ..models.protocol import FitModel
from .newton import NewtonResult, acceptable_seed, full_hessian, newton_minimize, positive_definite_hessian, restricted
from .results import FitResult

ROOT = load()

__all__ = ["BOUND_FRACTION", "HESSE_STATUS", "LEVEL", "METHODS", "MINUIT_STATUS", "TOLERANCE", "FitResult",
           "FitStatusWarning", "Fitter", "ParameterAtBoundWarning", "UndefinedNLL", "at_bound", "fit", "single_poi",
           "true_value"]

#: The default Minuit2 tolerance of roonsbi's fits: MIGRAD stops at EDM < 0.002 * TOLERANCE * UP (1e-8).
TOLERANCE = 1e-5

#: The minimisation methods of :class:`Fitter`: "auto" and "migrad" (MIGRAD, seeded with the exact Hessian
#: when the NLL has one), "newton" (Newton iterations on the exact Hessian, then MIGRAD; an error without one).
METHODS = ("auto", "newton", "migrad")

#: With the offset: the value of the function Minuit minimises at the start of each MIGRAD.
LEVEL = 0.01

#: MIGRAD's status codes (``ROOT::Minuit2::Minuit2Minimizer::Minimize``); RooMinimizer reports -1
#: for an invalid minimum (EDM above ten times the tolerance's when MIGRAD stopped).
MINUIT_STATUS = {
    -1: "invalid minimum: EDM above the tolerance when MIGRAD stopped",
    0: "converged",
    1: "covariance matrix made positive definite",
    2: "Hessian invalid",
    3: "EDM above the maximum",
    4: "call limit reached",
    5: "other failure",
}

#: HESSE's status codes (``Minuit2Minimizer::Hesse``: 100 times these, plus MIGRAD's).
HESSE_STATUS = {1: "HESSE failed", 2: "matrix inversion failed", 3: "matrix not positive definite"}

#: What to try for each kind of non-zero status.
_ADVICE = {
    "MIGRAD": ("try strategy=2, start closer to the minimum, check that no parameter sits at a limit of "
               "its range or at a kink of the NLL (e.g. an interpolation code 0 or 2 at alpha = 0), or loosen "
               "the tolerance (e.g. tolerance=1e-3)"),
    "HESSE": ("a parameter may be at a limit of its range or not constrained by the data: widen the range, "
              "fix the parameter, or try strategy=2"),
}


#: A fitted parameter within this fraction of its range's width from a bound is flagged (module doc).
BOUND_FRACTION = 0.01


class FitStatusWarning(RuntimeWarning):
    """A Minuit2 fit ended with a non-zero status (see :data:`MINUIT_STATUS`)."""


class ParameterAtBoundWarning(RuntimeWarning):
    """A fitted parameter ended within :data:`BOUND_FRACTION` of a bound of its range (module doc)."""


def at_bound(params: Any, fixed: Mapping[str, float] | None = None,
             fraction: float = BOUND_FRACTION) -> dict[str, float]:
    r"""Name -> bound of the RooRealVars in ``params`` (not in ``fixed``, not constant) whose value
    is within ``fraction`` of their range's width from a finite bound.

    >>> import ROOT
    >>> a = ROOT.RooRealVar("a_doc", "", -4.97, -5, 5)
    >>> b = ROOT.RooRealVar("b_doc", "", 0.3, -5, 5)
    >>> at_bound([a, b])
    {'a_doc': -5.0}
    """
    out: dict[str, float] = {}
    for p in params:
        name = p.GetName()
        if name in (fixed or {}) or p.isConstant() or not (p.hasMin() and p.hasMax()):
            continue
        lo, hi, value = float(p.getMin()), float(p.getMax()), float(p.getVal())
        margin = fraction * (hi - lo)
        if value - lo <= margin:
            out[name] = lo
        elif hi - value <= margin:
            out[name] = hi
    return out


class UndefinedNLL(RuntimeError):
    """A fit ended with a non-finite NLL: the model is undefined there (e.g. nu <= 0 at the fixed
    values). Scans record the point as NaN with this message and go on."""


def _floating(model: FitModel) -> list[Any]:
    out = []
    for collection in (model.pois, model.nuisance_parameters):
        for p in collection:
            out.append(model.parameter(p.GetName()))
    return out


def true_value(nll: Any) -> float:
    """The value of ``nll`` without RooFit's offset (whatever ``RooAbsReal::hideOffset`` is)."""
    hide = bool(ROOT.RooAbsReal.hideOffset())
    ROOT.RooAbsReal.setHideOffset(True)
    try:
        nll.setValueDirty()  # the cached value may be from the other setting
        return float(nll.getVal())
    finally:
        ROOT.RooAbsReal.setHideOffset(hide)


class Fitter:
    """Minimise one NLL repeatedly (unconditional and conditional fits).

    The NLL object is created once; fits only toggle which parameters are fixed.
    With ``fast=True`` it is the RooNSBINLL (float32 store, analytic gradient) of an
    NSBIModel instead of RooFit's NLL; both have the same value.

    ``strategy`` (0, 1, 2) and ``tolerance`` are Minuit2's, as in RooFit's ``RooMinimizer``;
    ``offset`` lets Minuit minimise the NLL minus its value at the start (RooFit's initial offset
    plus a pedestal, see the module doc; this enables RooFit's offsetting on the NLL object, whose
    ``getVal`` still hides it). ``print_level`` is Minuit's (-1: quiet). A fit that ends with a
    non-zero status warns once per Fitter (:class:`FitStatusWarning`, with what to try); every
    result carries its ``status`` and ``edm``. A parameter left within 1% of a bound warns once per
    Fitter (:class:`ParameterAtBoundWarning`), except those in ``quiet_bounds`` (e.g. a POI whose
    lower bound 0 is expected in a limit); all are in :attr:`FitResult.at_bound`.
    ``method`` (:data:`METHODS`): "newton" starts an NLL
    with an exact Hessian (``fast=True``) with Newton iterations before MIGRAD (module doc; the last
    iterations are in :attr:`newton`); "auto" (default) and "migrad" run MIGRAD alone.
    """

    def __init__(self, model: FitModel, *, data: Any = None, backend: str = "cpu", strategy: int = 1,
                 print_level: int = -1, fast: bool = False, nll: Any = None, tolerance: float = TOLERANCE,
                 offset: bool = True, quiet_bounds: Iterable[str] = (), method: str = "auto"):
        # First in __dict__, so freed before the NLL they sum (CPython frees attributes in order).
        self._function: Any = None
        self._pedestal: Any = None
        if strategy not in (0, 1, 2):
            raise ValueError(f"strategy must be Minuit's 0, 1 or 2, got {strategy!r}")
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
                math.isfinite(tolerance) and tolerance > 0):
            raise ValueError(f"tolerance must be a positive number (MIGRAD stops at EDM < 0.002 * tolerance * 0.5), "
                             f"got {tolerance!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.model = model
        self.tolerance = float(tolerance)
        self.offset = bool(offset)
        if nll is not None and hasattr(nll, "store") and hasattr(nll, "nll"):  # a FastNLL (fast_nll(model, store))
            self._fast = nll
            self.nll = nll.nll
        elif nll is not None:  # a prebuilt NLL, e.g. a RooNSBINLL on an EventStore
            self.nll = nll
        elif fast:
            from ..models.fast import fast_nll
            from ..models.unbinned import NSBIModel

            if not isinstance(model, NSBIModel):
                raise TypeError(f"fast=True needs an NSBIModel (an unbinned channel), got a {type(model).__name__}")
            if data is not None and not model.pdf.usesStore():
                raise ValueError("fast=True on a column-form model fits the model's own dataset (or build a "
                                 "FastNLL on another store)")
            self._fast = fast_nll(model, data=data)  # keeps the event store and constraint terms alive
            self.nll = self._fast.nll
        else:
            self.nll = model.create_nll(data, backend=backend)
        self.params = _floating(model)
        self.strategy = strategy
        self.print_level = print_level
        self._warned = False
        self._warned_bounds: set[str] = set(quiet_bounds)  # flagged in the results, never warned about
        self.migrad_runs = 0  # MIGRAD runs of the last fit: 2 when it ran again, levelled (module doc)
        has_hessian = bool(self.nll.hasHessian())
        if method == "newton" and not has_hessian:
            raise ValueError("method='newton' needs an NLL with an exact Hessian (fast=True); use 'auto' or 'migrad'")
        self.method = "newton" if method == "newton" else "migrad"
        self.newton: NewtonResult | None = None  # the Newton iterations of the last fit (method "newton")
        #: The exact Hessian at the minimum of the last fit with HESSE (row-major over ``nll.gradientParameters()``,
        #: rows and columns of the parameters constant in that fit 0), the seed of ``fit(seed_hessian=True)``.
        self.seed_hessian: np.ndarray | None = None
        self.seeded = False  # whether the last fit's MIGRAD started from seed_hessian (module doc)
        # What Minuit minimises: the NLL or, offset (and without an analytic gradient, which a sum
        # would hide), the offset NLL plus a constant pedestal (see the module doc).
        self._function = self.nll
        if self.offset and not self.nll.hasGradient():
            name = self.nll.GetName()
            self._pedestal = ROOT.RooRealVar(f"{name}_pedestal", "pedestal of the offset NLL", LEVEL)
            self._pedestal.setConstant(True)
            self._function = ROOT.RooAddition(f"{name}_levelled", "offset NLL + pedestal",
                                              ROOT.RooArgList(self.nll, self._pedestal))
        if hasattr(model, "total_yield"):
            nu = model.total_yield()
            if not (nu > 0 and np.isfinite(nu)):
                raise ValueError(f"expected number of events nu = {nu} is not positive at the start of the fit")

    def fit(self, fixed: Mapping[str, float] | None = None, *, hesse: bool = True,
            seed_hessian: bool = False) -> FitResult:
        """MIGRAD (then HESSE with ``hesse``) with the parameters in ``fixed`` held at the given
        values; the constant flags are restored afterwards (also on an exception).

        ``status`` is MIGRAD's, or HESSE's if MIGRAD converged (:data:`MINUIT_STATUS`); the first
        non-zero status of this Fitter warns (:class:`FitStatusWarning`). ``seed_hessian``: MIGRAD starts
        from :attr:`seed_hessian` (the Hessian of the last fit with HESSE) where it is an acceptable seed,
        instead of a Hessian pass (module doc; NLLs without ``setSeedHessian``: ignored)."""
        fixed = {name: self._fixed_value(name, value) for name, value in dict(fixed or {}).items()}
        was_constant = {p.GetName(): p.isConstant() for p in self.params}
        try:
            for name, value in fixed.items():
                par = self.model.parameter(name)
                par.setVal(value)
                par.setConstant(True)
            if all(p.isConstant() for p in self.params):
                values = {p.GetName(): p.getVal() for p in self.params}
                min_nll = true_value(self.nll)
                if not np.isfinite(min_nll):
                    raise UndefinedNLL(self._undefined(min_nll, fixed))
                return FitResult(values, dict.fromkeys(values, 0.0), min_nll, 0, -1, fixed, edm=0.0)
            step, status, result = self._minimize(hesse, seed_hessian)
            min_nll = true_value(self.nll)
            if getattr(self, "_fast", None) is not None:
                from ..models.fast import check_mapped

                check_mapped(self._fast.store)  # a mapped store file changed during the fit: OSError
        finally:
            for p in self.params:
                p.setConstant(was_constant[p.GetName()])
        if not np.isfinite(min_nll):
            raise UndefinedNLL(self._undefined(min_nll, fixed))
        values = {p.GetName(): p.getVal() for p in self.params}
        errors = {p.GetName(): (0.0 if p.GetName() in fixed else p.getError()) for p in self.params}
        out = FitResult(values, errors, min_nll, status, int(result.covQual()), fixed, result, float(result.edm()),
                        at_bound(self.params, fixed))
        if status != 0:
            self._warn(step, out)
        if out.at_bound:
            self._warn_bounds(out)
        return out

    def _warn_bounds(self, result: FitResult) -> None:
        """A ParameterAtBoundWarning for the parameters of ``result.at_bound`` not yet warned about."""
        new = {k: v for k, v in result.at_bound.items() if k not in self._warned_bounds}
        if not new:
            return
        self._warned_bounds.update(new)
        which = "the unconditional fit" if not result.fixed else \
            "the fit with " + ", ".join(f"{k} = {v:.6g}" for k, v in result.fixed.items())
        listed = ", ".join(f"'{k}' = {result.values[k]:.6g} (bound {b:g})" for k, b in new.items())
        warnings.warn(f"{which} ended with parameters within {BOUND_FRACTION:.0%} of a bound of their range: "
                      f"{listed}; the minimum may be the bound's: widen the range or check the model. Flagged in "
                      "FitResult.at_bound; each parameter is warned about once per Fitter.",
                      ParameterAtBoundWarning, stacklevel=3)

    def _fixed_value(self, name: str, value: Any) -> float:
        """``fixed[name]`` as a finite float inside the parameter's range (ValueError/TypeError naming it)."""
        where = f"fixed[{name!r}] = {value!r}"
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{where} must be a number")
        par = self.model.parameter(name)  # KeyError naming an unknown parameter
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where} is not a finite number")
        if not par.getMin() <= value <= par.getMax():
            raise ValueError(f"{where} is outside the range [{par.getMin():g}, {par.getMax():g}] of '{name}': choose a "
                             "value inside it or widen the range")
        return value

    def _undefined(self, min_nll: float, fixed: Mapping[str, float]) -> str:
        """Why the fit ended with a non-finite NLL, naming the point and nu there."""
        at = ", ".join(f"{k} = {v:.6g}" for k, v in fixed.items()) or "the unconditional fit"
        why = f"the NLL is {min_nll} at {at}"
        if hasattr(self.model, "total_yield"):
            nu = self.model.total_yield()
            if not (nu > 0 and math.isfinite(nu)):
                why += f" (nu = {nu:.6g} <= 0: the model is undefined there)"
            else:
                why += f" (nu = {nu:.6g} > 0 where the fit ended: some event has F_i <= 0 there)"
        return why + "; check the model and data (e.g. coefficients f_J(mu) that keep nu > 0 and F_i > 0)"

    def _warn(self, step: str, result: FitResult) -> None:
        """The first non-zero status of this Fitter: a FitStatusWarning saying what to try."""
        if self._warned:
            return
        self._warned = True
        which = "the unconditional fit" if not result.fixed else \
            "the fit with " + ", ".join(f"{k} = {v:.6g}" for k, v in result.fixed.items())
        if step == "HESSE" and result.status >= 100:
            meaning = HESSE_STATUS.get(result.status // 100, "unknown status")
        else:
            meaning = MINUIT_STATUS.get(result.status, "unknown status")
        edm_max = 0.002 * self.tolerance * self.nll.defaultErrorLevel()
        warnings.warn(f"Minuit2 {step} of {which} ended with status {result.status} ({meaning}; EDM "
                      f"{result.edm:.3g}, tolerance {self.tolerance:g} asks for < {edm_max:.3g}): {_ADVICE[step]}. "
                      "Later non-zero statuses of this Fitter are not warned about: check FitResult.status.",
                      FitStatusWarning, stacklevel=3)

    def _level(self) -> None:
        """Set the pedestal so that the function Minuit sees is :data:`LEVEL` at the current parameters."""
        hide = bool(ROOT.RooAbsReal.hideOffset())
        ROOT.RooAbsReal.setHideOffset(False)
        try:
            self.nll.setValueDirty()
            offset_value = float(self.nll.getVal())  # NLL - RooFit's offset (which this fixes, if new)
        finally:
            ROOT.RooAbsReal.setHideOffset(hide)
        self._pedestal.setVal(LEVEL - offset_value)

    def _migrad(self, config: Any) -> tuple[Any, int, float]:
        """One MIGRAD from the current parameters (the function levelled there if offset):
        (the RooMinimizer, its status, its EDM)."""
        minimizer = ROOT.RooMinimizer(self._function, config)
        minimizer.setErrorLevel(self.nll.defaultErrorLevel())  # 0.5 for an NLL, not the sum's own default
        minimizer.setPrintLevel(self.print_level)
        minimizer.setStrategy(self.strategy)
        minimizer.setEps(self.tolerance)  # MIGRAD stops at EDM < 0.002 * tolerance * error level
        if self._pedestal is not None:
            self._level()
        try:
            status = int(minimizer.minimize("Minuit2", "Migrad"))
        finally:
            if hasattr(self.nll, "clearSeedHessian"):
                self.nll.clearSeedHessian()  # a seed MIGRAD did not ask for (it asks once, at its start)
        result = minimizer.save()
        ROOT.SetOwnership(result, True)
        return minimizer, status, float(result.edm())

    def _seed(self, floating: list[Any], full: np.ndarray | None = None) -> bool:
        """Hand ``full`` (default :attr:`seed_hessian`) over the ``floating`` parameters to the NLL for MIGRAD's
        seed, if it is an acceptable seed (module doc); whether it was."""
        full = self.seed_hessian if full is None else full
        if full is None or not hasattr(self.nll, "setSeedHessian"):
            return False
        if not acceptable_seed(restricted(self.nll, full, floating)):
            return False
        self.nll.setSeedHessian(full)  # rows and columns of constant parameters: 0 (RooNSBINLL)
        return True

    def _start_hessian(self, floating: list[Any]) -> bool:
        """Whether the exact Hessian at the current point is an acceptable seed (one Hessian pass); if it is, it
        is handed to the NLL as MIGRAD's seed, so that Minuit's request for it (at its start after the round trip
        through its internal coordinates, which misses the NLL's cache) costs no second pass."""
        if not hasattr(self.nll, "setSeedHessian"):
            return positive_definite_hessian(self.nll, floating)
        return self._seed(floating, full_hessian(self.nll))

    def _keep_hessian(self) -> None:
        """:attr:`seed_hessian` <- the NLL's Hessian at the minimum, after HESSE (its cache: no pass)."""
        self.seed_hessian = full_hessian(self.nll)

    def _minimize(self, hesse: bool, seed_hessian: bool = False) -> tuple[str, int, Any]:
        """Minuit2's MIGRAD (then HESSE) on the NLL: (the step that set the status, status, RooFitResult).

        With the offset, MIGRAD runs a second time, from where the first stopped with the
        function levelled there, if the first failed or ended above the EDM asked for (see the
        module doc). With ``seed_hessian``, MIGRAD first starts from :attr:`seed_hessian` (module doc)."""
        config = ROOT.RooMinimizer.Config()
        has_hessian = bool(self.nll.hasHessian())  # RooNSBINLL: its exact one-pass Hessian
        floating = [p for p in self.params if not p.isConstant()]
        edm_target = 0.002 * self.tolerance * self.nll.defaultErrorLevel()  # MIGRAD's stopping EDM
        config.offsetting = 1 if self.offset else 0  # RooAbsReal::enableOffsetting(offset) on the NLL
        self.seeded = False
        if seed_hessian and has_hessian and self.method != "newton" and self._seed(floating):
            config.useHessian = True
            minimizer, status, edm = self._migrad(config)
            self.seeded = True
            self.migrad_runs = 1
            if status == 0:
                return self._hesse(minimizer, hesse, status)
        if self.method == "newton":
            self.newton = newton_minimize(self.nll, floating, edm_target=edm_target)
        # MIGRAD's seed: the exact Hessian where it is positive definite, else Minuit's own
        seed = has_hessian and self._start_hessian(floating)
        if has_hessian and not seed and self.method != "newton":
            # the NLL is not convex at the start: damped Newton steps on the regularised Hessian first (the
            # start of method "newton"), towards where it is positive definite
            newton_minimize(self.nll, floating, edm_target=edm_target)
            seed = self._start_hessian(floating)
        config.useHessian = seed
        minimizer, status, edm = self._migrad(config)
        self.migrad_runs = 1 + self.seeded
        if self._pedestal is not None and (status != 0 or edm > edm_target):
            minimizer, status, edm = self._migrad(config)
            self.migrad_runs = 2
        if status != 0 and has_hessian:
            # once more from where MIGRAD stopped, with the other seed: MIGRAD seeded with RooNSBINLL's Hessian
            # can stop at the start (status -1) when the minimum is at a limit of a parameter's range (e.g.
            # mu-hat = 0): then Minuit's own seed; Minuit's own seed (the Hessian was not positive definite at
            # the start) can stop early: then the Hessian, if positive definite where it stopped
            config.useHessian = not config.useHessian and self._start_hessian(floating)
            minimizer, status, edm = self._migrad(config)
            self.migrad_runs += 1
        return self._hesse(minimizer, hesse, status)

    def _hesse(self, minimizer: Any, hesse: bool, status: int) -> tuple[str, int, Any]:
        """HESSE after MIGRAD (with ``hesse``; the exact Hessian at the minimum kept as :attr:`seed_hessian`):
        (the step that set the status, status, RooFitResult)."""
        step = "MIGRAD"
        if hesse and status == 0:
            step, status = "HESSE", int(minimizer.hesse())
        elif hesse:
            minimizer.hesse()  # errors even so; the status stays MIGRAD's
        if hesse and self.nll.hasHessian():
            self._keep_hessian()
        result = minimizer.save()  # a new RooFitResult that the caller owns (C++ raw pointer)
        ROOT.SetOwnership(result, True)  # Python deletes it with its last reference
        return step, status, result


def fit(model: FitModel, *, data: Any = None, fixed: Mapping[str, float] | None = None, hesse: bool = True,
        backend: str = "cpu", strategy: int = 1, fast: bool = False, tolerance: float = TOLERANCE,
        offset: bool = True, method: str = "auto") -> FitResult:
    """Minimise the model's NLL with Minuit2 (MIGRAD, then HESSE) and return the result.

    ``fixed`` maps parameter names to values held constant during this fit; ``fast``
    uses the RooNSBINLL with its analytic gradient and exact Hessian (see :mod:`roonsbi.models.fast`;
    ``method="newton"`` starts with Newton iterations);
    ``strategy``, ``tolerance``, ``offset`` and ``method`` as in :class:`Fitter`.
    """
    return Fitter(model, data=data, backend=backend, strategy=strategy, fast=fast, tolerance=tolerance,
                  offset=offset, method=method).fit(fixed, hesse=hesse)


def single_poi(model: FitModel, poi: str | None, *, hint: str) -> str:
    """``poi``, or the model's only POI; ValueError ending in ``hint`` if the model has several."""
    if poi is not None:
        return poi
    pois = [p.GetName() for p in model.pois]
    if len(pois) != 1:
        raise ValueError(f"the model has POIs {pois}; {hint}")
    return pois[0]
