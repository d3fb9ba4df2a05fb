r"""Every result container of :mod:`roonsbi.infer` in one module (fits, scans, pulls and
impacts, toys and the Neyman construction). They hold numbers only and do no fitting.

* :class:`FitResult`: one minimisation;
* :class:`ScanResult`: :math:`t(\mu) = 2\,[\mathrm{NLL}(\mu, \hat{\hat\alpha}) - \mathrm{NLL}(\hat\mu, \hat\alpha)]`
  on a 1-D grid; :class:`ParametrizedScanResult`: the same with one observable per point;
  :class:`Scan2DResult`: a 2-D grid;
* :class:`Pull`, :class:`Impact`, :class:`ImpactResult`: nuisance-parameter pulls and ranked impacts;
* :class:`Toy`, :class:`NeymanResult`, :class:`CoverageResult`: pseudo-experiments, the toy
  confidence belt and the coverage of the asymptotic interval;
* :class:`CLsResult`, :class:`UpperLimit`, :class:`Significance`: asymptotic CLs, upper limits
  and discovery significance (:mod:`roonsbi.infer.limits`); :class:`ToyCLsResult`: CLs from toys;
* :class:`NuisanceProfile`: the conditional and free nuisance parameters of a POI grid
  (:func:`~roonsbi.infer.scan.conditional_nuisances`);
* :class:`ShapeDrift`, :class:`ShapeDriftTable`: the normalisation drift of the shape terms
  (:mod:`roonsbi.infer.normalisation`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from .intervals import chi2_threshold, crossing_interval, normal_sf

__all__ = ["CLsResult", "CoverageResult", "FitResult", "Impact", "ImpactResult", "NeymanResult", "NuisanceProfile",
           "ParametrizedScanResult", "Pull", "Scan2DResult", "ScanResult", "ShapeDrift", "ShapeDriftTable",
           "Significance", "Toy", "ToyCLsResult", "UpperLimit"]


@dataclass
class FitResult:
    r"""Result of one minimisation (:class:`~roonsbi.infer.fit.Fitter`).

    ``min_nll``: the NLL at the minimum, without any offset Minuit saw (so differences between
    fits are :math:`t/2`); ``status``: Minuit2's (0: converged, see
    :data:`~roonsbi.infer.fit.MINUIT_STATUS`); ``cov_quality``: Minuit's covariance quality
    (3: full and accurate, -1: no fit); ``edm``: the estimated distance to the minimum at the end
    (MIGRAD stops below :math:`0.002\cdot\mathrm{tolerance}\cdot\tfrac12`); ``at_bound``: the
    floating parameters that ended within :data:`~roonsbi.infer.fit.BOUND_FRACTION` (1%) of their
    range's width from a bound, name -> that bound (the fit then warns,
    :class:`~roonsbi.infer.fit.ParameterAtBoundWarning`)."""

    values: dict[str, float]
    errors: dict[str, float]
    min_nll: float
    status: int
    cov_quality: int
    fixed: dict[str, float] = field(default_factory=dict)
    roofit_result: Any = None
    edm: float = math.nan
    at_bound: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The numbers (no RooFitResult), for JSON."""
        return {"values": dict(self.values), "errors": dict(self.errors), "min_nll": self.min_nll,
                "status": self.status, "cov_quality": self.cov_quality, "edm": self.edm, "fixed": dict(self.fixed),
                "at_bound": dict(self.at_bound)}


@dataclass
class ScanResult:
    """A 1-D profile-likelihood scan; ``at_bound``: index of a scan point -> the parameters its
    fit left within 1% of a range bound (name -> bound; see :attr:`FitResult.at_bound`)."""

    poi: str
    values: np.ndarray
    nll: np.ndarray
    best: FitResult
    at_bound: dict[int, dict[str, float]] = field(default_factory=dict)
    #: index of a point whose NLL is undefined (NaN in ``nll``, e.g. nu <= 0 there) -> why
    undefined: dict = field(default_factory=dict)

    @property
    def t(self) -> np.ndarray:
        r"""t(mu) = 2 [NLL(mu, profiled) - NLL(best fit)]."""
        return 2.0 * (self.nll - self.best.min_nll)

    def interval(self, cl: float = 0.6827) -> tuple[float, float]:
        """Asymptotic interval: where t crosses the chi2 threshold (linear interpolation
        between scan points); NaN on a side where the scan does not cross."""
        return crossing_interval(self.values, self.t, chi2_threshold(cl), self.best.values[self.poi])


@dataclass
class Scan2DResult:
    r"""A 2-D profile-likelihood scan of two parameters (x, y): ``nll[i, j]`` is the minimum
    with x = ``x[i]`` and y = ``y[j]`` fixed (all other parameters profiled), and

    .. math:: t(x, y) = 2\,[\mathrm{NLL}(x, y, \hat{\hat\theta}) - \mathrm{NLL}(\hat x, \hat y, \hat\theta)].

    The asymptotic confidence region at CL is :math:`\{t < F^{-1}_{\chi^2_2}(\mathrm{CL})\}`
    (2.30 at 68.27%, 5.99 at 95%). ``at_bound``: (i, j) -> the parameters the fit of that grid
    point left within 1% of a range bound (name -> bound)."""

    params: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    nll: np.ndarray
    best: FitResult
    at_bound: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    #: (i, j) of a grid point whose NLL is undefined (NaN in ``nll``) -> why
    undefined: dict = field(default_factory=dict)

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
        i, j = np.unravel_index(int(np.nanargmin(self.t)), self.t.shape)
        return float(self.x[i]), float(self.y[j]), float(self.t[i, j])


@dataclass
class ParametrizedScanResult(ScanResult):
    """A scan in which every point has its own observable, hence its own unconditional fit.

    ``nll`` holds the fixed-POI fits, ``nll_free`` the unconditional ones (both with the
    observable of the point); ``best`` is the unconditional fit of the point with the
    smallest t.
    """

    nll_free: np.ndarray = None  # type: ignore[assignment]  # always given by parametrized_scan
    free_fits: list = field(default_factory=list)
    fixed_fits: list = field(default_factory=list)

    @property
    def t(self) -> np.ndarray:
        r"""t(mu') = 2 [NLL_fixed(mu') - NLL_free(mu')], each with the observable O_mu'."""
        return 2.0 * (self.nll - self.nll_free)

    @property
    def best_value(self) -> float:
        """The scan value with the smallest t (the estimate of the POI on the scan grid)."""
        return float(self.values[int(np.nanargmin(self.t))])

    def interval(self, cl: float = 0.6827) -> tuple[float, float]:
        return crossing_interval(self.values, self.t, chi2_threshold(cl), self.best_value)


@dataclass
class Pull:
    """Post-fit value of a nuisance parameter against its constraint."""

    name: str
    value: float  # theta-hat
    error: float  # post-fit (HESSE) error
    nominal: float  # theta_0 (the global observable), NaN if unconstrained
    prefit_error: float  # sigma_0, NaN if unconstrained

    @property
    def pull(self) -> float:
        r"""(theta-hat - theta_0) / sigma_0."""
        return (self.value - self.nominal) / self.prefit_error

    @property
    def pull_error(self) -> float:
        r"""sigma-hat / sigma_0 (the constraint of theta by the data relative to its prior)."""
        return self.error / self.prefit_error


@dataclass
class Impact:
    """Shift of the POI's best-fit value when one nuisance parameter is fixed."""

    name: str
    postfit_up: float  # mu-hat-hat(theta-hat + sigma-hat) - mu-hat
    postfit_down: float  # mu-hat-hat(theta-hat - sigma-hat) - mu-hat
    prefit_up: float = math.nan  # mu-hat-hat(theta-hat + sigma_0) - mu-hat
    prefit_down: float = math.nan
    at_bound: dict[str, float] = field(default_factory=dict)  # parameters its fits left at a bound

    @property
    def size(self) -> float:
        """The ranking key: max(|post-fit up|, |post-fit down|)."""
        return max(abs(self.postfit_up), abs(self.postfit_down))


@dataclass
class ImpactResult:
    """Pulls of all nuisance parameters and their impacts on ``poi``, ranked (largest first)."""

    poi: str
    best: FitResult
    pulls: list[Pull]
    impacts: list[Impact]

    def to_dict(self) -> dict[str, Any]:
        return {
            "poi": self.poi,
            "poi_hat": self.best.values[self.poi],
            "poi_error": self.best.errors[self.poi],
            "at_bound": dict(self.best.at_bound),
            "pulls": [{**asdict(p), "pull": p.pull, "pull_error": p.pull_error} for p in self.pulls],
            "impacts": [{**asdict(i), "size": i.size} for i in self.impacts],
        }


@dataclass
class Toy:
    """One pseudo-experiment: its dataset and the values of the global observables."""

    data: Any
    global_observables: dict[str, float]


@dataclass
class NeymanResult:
    r"""A Neyman construction for one POI: per grid value mu_k the toy critical value
    :math:`c_k` (the CL quantile of t(mu_k) under mu_k) and the observed :math:`t(\mu_k)`;
    the confidence set is :math:`\{\mu_k: t_\mathrm{obs}(\mu_k) < c_k\}`."""

    poi: str
    values: np.ndarray
    critical: np.ndarray
    critical_error: np.ndarray
    t_observed: np.ndarray
    toys: list[np.ndarray]
    cl: float

    def interval(self) -> tuple[float, float]:
        """Crossings of t_obs(mu) = c(mu), linearly interpolated between grid points."""

        best = float(self.values[int(np.argmin(self.t_observed - self.critical))])
        return crossing_interval(self.values, self.t_observed - self.critical, 0.0, best)


@dataclass
class CoverageResult:
    r"""A coverage study: t(mu_true) of toys generated at the truth; the asymptotic interval at
    ``cl`` covers the truth in a toy where :math:`t < F^{-1}_{\chi^2_1}(\mathrm{cl})` (``threshold``)."""

    poi: str
    value: float
    cl: float
    t: np.ndarray
    threshold: float

    @property
    def coverage(self) -> float:
        """The fraction of toys whose interval contains the truth."""
        return float(np.mean(self.t < self.threshold))

    @property
    def error(self) -> float:
        """The binomial error of :attr:`coverage` at the nominal ``cl``: sqrt(cl (1 - cl) / n)."""
        return math.sqrt(self.cl * (1 - self.cl) / self.t.size)

    def at(self, cl: float, threshold: float | None = None) -> CoverageResult:
        r"""The same toys for the interval at ``cl`` whose edge is ``threshold``: by default the
        asymptotic one, :math:`F^{-1}_{\chi^2_1}(\mathrm{cl})`; a Neyman interval's is the
        critical value of its belt at the truth (``neyman_construction(...).critical``, from
        other toys than these).

        >>> import numpy as np
        >>> study = CoverageResult("mu", 1.0, 0.6827, np.array([0.1, 0.5, 2.0, 5.0]), 1.0)
        >>> study.coverage, study.at(0.95).coverage, study.at(0.95, 1.5).coverage
        (0.5, 0.75, 0.5)
        """
        return CoverageResult(self.poi, self.value, float(cl), self.t,
                              chi2_threshold(cl) if threshold is None else float(threshold))

    def to_dict(self) -> dict[str, Any]:
        return {"poi": self.poi, "value": self.value, "cl": self.cl, "n_toys": int(self.t.size),
                "coverage": self.coverage, "error": self.error, "threshold": self.threshold,
                "t": [float(v) for v in self.t]}


@dataclass
class ToyCLsResult:
    r"""CLs at one POI value from toys (:func:`roonsbi.infer.limits.toy_cls`): the observed
    :math:`\tilde q_\mu`, the toy :math:`\tilde q_\mu` under signal + background (``q_sb``) and
    background only (``q_b``),

    .. math:: \mathrm{CL}_{s+b} = P(\tilde q \ge \tilde q_\mathrm{obs} \mid s+b),\quad
              \mathrm{CL}_b = P(\tilde q \ge \tilde q_\mathrm{obs} \mid b),\quad
              \mathrm{CL}_s = \mathrm{CL}_{s+b}/\mathrm{CL}_b,

    their binomial errors, and the expected CL_s of the bands (-2, -1, 0, 1, 2) sigma: the
    quantiles :math:`\Phi(k)` of CL_s evaluated at each background-only toy (pyhf's ``ToyCalculator``)."""

    poi: str
    mu: float
    q_mu: float
    q_sb: np.ndarray
    q_b: np.ndarray
    clsb: float
    clb: float
    cls: float
    clsb_error: float
    clb_error: float
    cls_error: float
    expected: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("q_sb", "q_b", "expected")}
        return {**out, "n_toys_sb": int(self.q_sb.size), "n_toys_b": int(self.q_b.size),
                "expected": [float(v) for v in self.expected]}


@dataclass
class CLsResult:
    r"""Asymptotic CLs at one POI value (:mod:`roonsbi.infer.limits`): the test statistics
    :math:`\tilde q_\mu` (observed) and :math:`\tilde q_{\mu,A}` (background-only Asimov),
    observed CL_{s+b}, CL_b, CL_s, and the expected CL_s of the bands -2..+2 sigma."""

    poi: str
    mu: float
    q_mu: float
    q_mu_asimov: float
    clsb: float
    clb: float
    cls: float
    expected: np.ndarray  # CL_s of the bands (-2, -1, 0, 1, 2) sigma

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "expected": [float(v) for v in self.expected]}


@dataclass
class UpperLimit:
    """An asymptotic CLs upper limit at confidence level ``cl``: observed and the expected band
    (-2, -1, 0, 1, 2) sigma; ``points``: the CLs evaluations of the root finding, sorted in mu."""

    poi: str
    cl: float
    observed: float
    expected: np.ndarray
    points: list[CLsResult] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median expected limit."""
        return float(self.expected[2])

    def to_dict(self) -> dict[str, Any]:
        return {"poi": self.poi, "cl": self.cl, "observed": self.observed,
                "expected": [float(v) for v in self.expected]}


@dataclass
class Significance:
    r"""Discovery significance: :math:`q_0` observed and on the Asimov dataset with signal,
    :math:`Z_0 = \sqrt{q_0}` and :math:`p_0 = 1 - \Phi(Z_0)`."""

    poi: str
    mu_hat: float
    q0: float
    q0_asimov: float

    @property
    def z0(self) -> float:
        return math.sqrt(max(self.q0, 0.0))

    @property
    def p0(self) -> float:
        return normal_sf(self.z0)

    @property
    def expected_z0(self) -> float:
        return math.sqrt(max(self.q0_asimov, 0.0))

    @property
    def expected_p0(self) -> float:
        return normal_sf(self.expected_z0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "z0": self.z0, "p0": self.p0, "expected_z0": self.expected_z0,
                "expected_p0": self.expected_p0}


@dataclass
class ShapeDrift:
    r"""The normalisation of one shape term (process J, nuisance parameter m) at ``alpha``:

    ``expectation`` :math:`c_{Jm}(\alpha) = \sum_k m_k r_J(x_k) g_{Jm}(x_k,\alpha) / \sum_k m_k r_J(x_k)`
    on the reference pool (the term alone, not renormalised); ``drift`` = c - 1, the relative
    change of process J's events that the term makes; ``renormalised``: whether the model divides
    the term by its own :math:`c_{Jm}`; ``residual``: the drift left in the model (c times the
    model's factor, minus 1: 0 to rounding when renormalised, ``drift`` otherwise)."""

    process: str
    nuisance: str
    code: int
    alpha: float
    expectation: float
    renormalised: bool
    residual: float

    @property
    def drift(self) -> float:
        return self.expectation - 1.0


@dataclass
class ShapeDriftTable:
    """The :class:`ShapeDrift` of every shape term of a channel; ``str()`` is a text table."""

    rows: list[ShapeDrift]

    def __str__(self) -> str:
        head = (f"{'process':<12} {'nuisance':<14} {'code':>4} {'alpha':>8} {'drift':>11} {'renorm.':>7} "
                f"{'residual':>11}")
        lines = [head]
        for r in self.rows:
            lines.append(f"{r.process:<12} {r.nuisance:<14} {r.code:>4} {r.alpha:>8.3f} {r.drift:>+11.4e} "
                         f"{'yes' if r.renormalised else 'no':>7} {r.residual:>+11.4e}")
        return "\n".join(lines)

    def max_residual(self) -> float:
        """The largest |residual| (0 for no shape terms)."""
        return max((abs(r.residual) for r in self.rows), default=0.0)


@dataclass
class NuisanceProfile:
    r"""The nuisance parameters (by name ``X`` of ``alpha_X``) of the conditional fits at the
    values ``grid`` of ``poi`` (``conditional[X][k]`` = :math:`\hat{\hat\alpha}_X(\mu'_k)`) and
    of the free fit (``free``, at ``poi_hat``)."""

    poi: str
    grid: np.ndarray
    conditional: dict[str, np.ndarray]
    free: dict[str, float]
    poi_hat: float

    def template_arguments(self) -> dict[str, Any]:
        """The arguments of :func:`roonsbi.binned.build_templates` for the nuisance-aware observable
        p(x|mu'_k, alpha-hat-hat_k)/p(x|mu-hat, alpha-hat): ``nuisances``, ``nuisance_reference``,
        ``reference`` (mu-hat, also the default hypothesis of :class:`~roonsbi.binned.Quantiles`:
        bins of equal expected yield under the free fit) and ``poi``."""
        return {"nuisances": self.conditional, "nuisance_reference": self.free, "reference": self.poi_hat,
                "poi": self.poi}
