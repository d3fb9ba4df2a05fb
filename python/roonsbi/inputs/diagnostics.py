r"""Checks of the ratio columns on the reference sample, as numbers and plots.

**Normalisation closure.** A density ratio integrates to one over the reference density,
:math:`\int p_\mathrm{ref}\,r_J = \int p_J = 1`, and so does a shape variation,
:math:`\int p_\mathrm{ref}\,r_J\,g_{Jm}(\cdot,\pm1) = \int p_J(\cdot|\pm1) = 1`. On reference
events :math:`x_i` with weights :math:`w_i` the estimate and its statistical error are

.. math::

    m = \frac{\sum_i w_i v_i}{\sum_i w_i}, \qquad
    \sigma_m = \frac{\sqrt{\sum_i w_i^2 (v_i - m)^2}}{\left|\sum_i w_i\right|},

with :math:`v_i = r_J(x_i)` per process and :math:`v_i = r_J(x_i)\,g_{Jm}(x_i,\pm1)` per variation
(the delta-method error of a ratio estimator). A column is *flagged* when
:math:`|m - 1| > n_\sigma\,\sigma_m` and :math:`|m - 1| >` ``tolerance``.

**Reweighting check.** For each feature, the reference sample reweighted by :math:`r_J` must
reproduce the process sample: per bin :math:`b`,
:math:`\sum_{i\in b} w_i r_J(x_i)/\sum_i w_i \approx \sum_{j\in b} v_j/\sum_j v_j` (process events
:math:`x_j` with weights :math:`v_j`). The agreement is summarised by
:math:`\chi^2 = \sum_b (a_b - t_b)^2/(\sigma_{a,b}^2 + \sigma_{t,b}^2)` over the bins with entries
and its p-value (Wilson-Hilferty approximation of the :math:`\chi^2` distribution).

This module computes the numbers (no plots, no ROOT); :mod:`roonsbi.plot.diagnostics` draws them
and :func:`roonsbi.plot.diagnostics.diagnose` runs everything and writes the files.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..naming import SPREAD_SUFFIX, WEIGHT_NAME, parse_shape_column, process_of_ratio, ratio_column
from ..spec import ArrayLike

__all__ = [
    "ClosureReport",
    "ClosureResult",
    "DiagnosticsReport",
    "FeatureComparison",
    "ReweightingCheck",
    "base_columns",
    "calibration_factors",
    "chi2_pvalue",
    "column_length",
    "compute_diagnostics",
    "event_weights",
    "normalisation_closure",
    "ratio_summary",
    "reweighting_check",
]



# -- column names -------------------------------------------------------------------------

def base_columns(columns: Mapping[str, Any]) -> list[str]:
    """The columns without the ensemble spreads ``<column>_std`` of other columns."""
    return [c for c in columns if not (c.endswith(SPREAD_SUFFIX) and c[: -len(SPREAD_SUFFIX)] in columns)]


def _processes(columns: Mapping[str, Any]) -> list[str]:
    return [p for p in map(process_of_ratio, base_columns(columns)) if p is not None]


def _variations(columns: Mapping[str, Any], processes: Sequence[str]) -> list[tuple[str, str, str]]:
    """(column, process, variation ``<np>_lo/_hi``) of the shape columns g_<proc>_<np>_lo/_hi of ``processes``."""
    out = []
    for c in base_columns(columns):
        parsed = parse_shape_column(c, processes)
        if parsed is not None:
            out.append((c, parsed[0], f"{parsed[1]}_{parsed[2]}"))
    return out


def event_weights(columns: Mapping[str, Any], weights: ArrayLike | str | None, n: int) -> np.ndarray:
    """The ``n`` event weights: ``weights`` (values or a column name), else the column ``weight``, else 1."""
    if isinstance(weights, str):
        w = columns[weights]
    elif weights is None:
        w = columns[WEIGHT_NAME] if WEIGHT_NAME in columns else np.ones(n)
    else:
        w = weights
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights have shape {w.shape} but the columns have {n} entries")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights have NaN or infinite entries")
    return w


def column_length(columns: Mapping[str, Any]) -> int:
    """The common length of the columns (0 without columns)."""
    lengths = {c: len(v) for c, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns of different lengths: {lengths}")
    return next(iter(lengths.values()), 0)


# -- normalisation closure --------------------------------------------------------------------

@dataclass(frozen=True)
class ClosureResult:
    r"""Closure of one process (``variation`` None) or one shape variation.

    Attributes:
        column: the column tested (``r_<proc>`` or ``g_<proc>_<np>_lo/_hi``; the latter
            multiplied by ``r_<proc>``).
        mean: :math:`m = \sum_i w_i v_i / \sum_i w_i`.
        error: its statistical error :math:`\sigma_m`.
        n_eff: effective number of events :math:`(\sum w)^2/\sum w^2`.
        flagged: :math:`|m-1|` beyond ``n_sigma`` errors and the tolerance.
    """

    column: str
    process: str
    variation: str | None
    mean: float
    error: float
    n_events: int
    n_eff: float
    flagged: bool

    @property
    def deviation(self) -> float:
        """m - 1."""
        return self.mean - 1.0

    @property
    def pull(self) -> float:
        """(m - 1)/sigma_m."""
        return self.deviation / self.error if self.error > 0 else (0.0 if self.deviation == 0 else math.inf)


@dataclass
class ClosureReport:
    """Closure results of all processes and variations; ``passed`` when none is flagged."""

    results: list[ClosureResult]
    n_sigma: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return not self.flagged

    @property
    def flagged(self) -> list[ClosureResult]:
        return [r for r in self.results if r.flagged]

    def __getitem__(self, column: str) -> ClosureResult:
        for r in self.results:
            if r.column == column:
                return r
        raise KeyError(f"no closure result for column '{column}'")

    def table(self) -> str:
        """A plain-text table (one line per column)."""
        width = max([len("column")] + [len(r.column) for r in self.results])
        lines = [
            f"normalisation closure on the reference sample: sum w r / sum w = 1 "
            f"(flag beyond {self.n_sigma:g} sigma" + (f" and {self.tolerance:g}" if self.tolerance else "") + ")",
            f"{'column':<{width}}  {'mean':>9}  {'error':>9}  {'pull':>7}  {'n_eff':>10}  status",
        ]
        for r in self.results:
            status = "FLAGGED" if r.flagged else "ok"
            lines.append(f"{r.column:<{width}}  {r.mean:9.5f}  {r.error:9.5f}  {r.pull:+7.2f}  "
                         f"{r.n_eff:10.1f}  {status}")
        return "\n".join(lines)

    __str__ = table

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_sigma": self.n_sigma,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "results": [{**asdict(r), "pull": r.pull} for r in self.results],
        }


def normalisation_closure(
    columns: Mapping[str, ArrayLike],
    weights: ArrayLike | str | None = None,
    *,
    processes: Sequence[str] | None = None,
    n_sigma: float = 3.0,
    tolerance: float = 0.0,
) -> ClosureReport:
    r"""Check :math:`\sum_i w_i r_J(x_i)/\sum_i w_i = 1` per process and per shape variation.

    Args:
        columns: columns evaluated on the *reference* sample (``r_<proc>``,
            ``g_<proc>_<np>_lo/_hi``; ``_std`` columns are ignored).
        weights: reference-sample weights, or a column name (default: the column
            ``weight`` if present, else unit weights).
        processes: processes to check (default: every ``r_<proc>`` column).
        n_sigma: flag deviations beyond this many statistical errors.
        tolerance: and beyond this absolute deviation (0: statistics only).

    Returns:
        :class:`ClosureReport` (``.passed``, ``.flagged``, ``.table()``, ``.to_dict()``).
    """
    n = column_length(columns)
    w = event_weights(columns, weights, n)
    processes = list(processes) if processes is not None else _processes(columns)
    if not processes:
        raise ValueError(f"no ratio columns r_<proc> among {list(columns)}")
    sw, sw2 = w.sum(), np.sum(w * w)
    if not sw > 0:
        raise ValueError(f"the sum of the weights is {sw}; the closure needs a positive total weight")
    n_eff = float(sw * sw / sw2)

    def result(column: str, process: str, variation: str | None, v: np.ndarray) -> ClosureResult:
        m = float(np.dot(w, v) / sw)
        err = float(math.sqrt(np.sum((w * (v - m)) ** 2)) / abs(sw))
        dev = abs(m - 1.0)
        flagged = bool(dev > n_sigma * err and dev > tolerance) or not math.isfinite(m)
        return ClosureResult(column, process, variation, m, err, n, n_eff, flagged)

    results = []
    for p in processes:
        col = ratio_column(p)
        if col not in columns:
            raise KeyError(f"no ratio column '{col}' (columns: {list(columns)})")
        r = np.asarray(columns[col], dtype=np.float64)
        results.append(result(col, p, None, r))
        for gcol, owner, variation in _variations(columns, processes):
            if owner == p:
                results.append(result(gcol, p, variation, r * np.asarray(columns[gcol], dtype=np.float64)))
    return ClosureReport(results, float(n_sigma), float(tolerance))


def calibration_factors(report: ClosureReport) -> dict[str, float]:
    r"""The factors that make the normalisation closure of ``report`` exact: per process
    :math:`c_J = 1/m_J` for :math:`r_J`, and per shape variation :math:`c_{Jm} = m_J/m_{Jm}` for
    :math:`g_{Jm}` (:math:`m_{Jm}` the mean of :math:`r_J\,g_{Jm}`), so that on the reference sample
    :math:`\sum_i w_i c_J r_J / \sum_i w_i = 1` and :math:`\sum_i w_i c_J r_J\,c_{Jm} g_{Jm}/\sum_i w_i = 1`.
    The calibration of ``roonsbi evaluate --calibrate-on`` (the demo's networks: ``1/mean``).

    >>> import numpy as np
    >>> report = normalisation_closure({"r_S": np.array([1.0, 1.5]), "g_S_jes_hi": np.array([1.0, 2.0])})
    >>> calibration_factors(report)  # m_S = 1.25, m_S,jes = (1 + 3) / 2 = 2
    {'r_S': 0.8, 'g_S_jes_hi': 0.625}
    """
    means = {r.process: r.mean for r in report.results if r.variation is None}
    out = {}
    for r in report.results:
        if not (math.isfinite(r.mean) and r.mean > 0):
            raise ValueError(f"column '{r.column}': its mean on the calibration sample is {r.mean}; "
                             "cannot calibrate it (is the sample the reference one?)")
        out[r.column] = 1.0 / r.mean if r.variation is None else means[r.process] / r.mean
    return out


# -- ratio distributions ------------------------------------------------------------------------

def ratio_summary(
    columns: Mapping[str, ArrayLike], weights: ArrayLike | str | None = None
) -> dict[str, dict[str, float]]:
    """Per ratio/shape column: weighted mean, (unweighted) quantiles, fractions of zeros and non-finite values."""
    n = column_length(columns)
    w = event_weights(columns, weights, n)
    out = {}
    for c in base_columns(columns):
        if not c.startswith(("r_", "g_")):
            continue
        v = np.asarray(columns[c], dtype=np.float64)
        finite = np.isfinite(v)
        vf = v[finite]
        q = np.quantile(vf, [0.0, 0.01, 0.5, 0.99, 1.0]) if vf.size else [math.nan] * 5
        out[c] = {
            "n": int(n),
            "mean": float(np.dot(w[finite], vf) / w[finite].sum()) if vf.size else math.nan,
            "min": float(q[0]), "q01": float(q[1]), "median": float(q[2]), "q99": float(q[3]), "max": float(q[4]),
            "fraction_zero": float(np.mean(v == 0)) if n else 0.0,
            "fraction_nonfinite": float(np.mean(~finite)) if n else 0.0,
        }
    return out


# -- reweighting check --------------------------------------------------------------------------

def chi2_pvalue(chi2: float, ndf: int) -> float:
    """Upper-tail probability of the chi2 distribution (Wilson-Hilferty cube-root approximation)."""
    if ndf <= 0:
        return math.nan
    k = float(ndf)
    z = ((chi2 / k) ** (1.0 / 3.0) - (1.0 - 2.0 / (9.0 * k))) / math.sqrt(2.0 / (9.0 * k))
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass
class FeatureComparison:
    """Binned comparison of one feature: reference x r against the process sample.

    ``reweighted``, ``target`` and ``reference`` are probabilities per bin (not divided by the
    bin width): ``sum_{i in b} w_i r_i / sum_i w_i``, ``sum_{j in b} v_j / sum_j v_j`` and
    ``sum_{i in b} w_i / sum_i w_i``.
    """

    feature: str
    edges: np.ndarray
    reweighted: np.ndarray
    reweighted_error: np.ndarray
    target: np.ndarray
    target_error: np.ndarray
    reference: np.ndarray
    chi2: float
    ndf: int
    p_value: float
    max_abs_pull: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}


@dataclass
class ReweightingCheck:
    """Reweighting check of one ratio column over several features."""

    column: str
    features: list[FeatureComparison] = field(default_factory=list)

    def passed(self, p_min: float = 1e-3) -> bool:
        """True when every feature's chi2 p-value is at least ``p_min``."""
        return all(not (f.p_value < p_min) for f in self.features)

    def table(self) -> str:
        width = max([len("feature")] + [len(f.feature) for f in self.features])
        lines = [f"reweighting check of {self.column}: reference x {self.column} against the process sample",
                 f"{'feature':<{width}}  {'chi2/ndf':>12}  {'p-value':>9}  {'max|pull|':>9}"]
        for f in self.features:
            chi2 = f"{f.chi2:.1f}/{f.ndf}"
            lines.append(f"{f.feature:<{width}}  {chi2:>12}  {f.p_value:9.3g}  {f.max_abs_pull:9.2f}")
        return "\n".join(lines)

    __str__ = table

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "features": [f.to_dict() for f in self.features]}


def reweighting_check(
    reference: Mapping[str, ArrayLike],
    ratio: ArrayLike,
    target: Mapping[str, ArrayLike],
    *,
    reference_weights: ArrayLike | None = None,
    target_weights: ArrayLike | None = None,
    features: Sequence[str] | None = None,
    bins: int = 30,
    quantiles: tuple[float, float] = (0.005, 0.995),
    column: str = "r",
) -> ReweightingCheck:
    r"""Compare the reference sample reweighted by ``ratio`` with the process sample, per feature.

    Args:
        reference: feature -> values on the reference sample.
        ratio: :math:`r_J(x_i)` on the reference sample (e.g. the column ``r_<proc>``).
        target: feature -> values on the process sample (the sample ``r_J`` was trained for).
        reference_weights, target_weights: event weights (default 1).
        features: features to compare (default: those in both samples).
        bins: uniform bins between the ``quantiles`` of the process sample.
        column: label of the ratio (for tables and plots).

    Returns:
        :class:`ReweightingCheck` with per-feature histograms, chi2, ndf and p-value.
    """
    r = np.asarray(ratio, dtype=np.float64)
    n = r.size
    w = np.ones(n) if reference_weights is None else np.asarray(reference_weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"reference weights have shape {w.shape}, the ratio has {n} entries")
    if features is None:
        features = [f for f in reference if f in target]
    if not features:
        raise ValueError(f"no common features between the reference {list(reference)} and the target {list(target)}")
    first = np.asarray(target[features[0]])
    v = np.ones(first.size) if target_weights is None else np.asarray(target_weights, dtype=np.float64)
    check = ReweightingCheck(column)
    for f in features:
        if f not in reference or f not in target:
            sample = "reference" if f not in reference else "process"
            raise KeyError(f"feature '{f}' is missing in the {sample} sample")
        xr = np.asarray(reference[f], dtype=np.float64)
        xt = np.asarray(target[f], dtype=np.float64)
        if xr.shape != (n,) or xt.shape != v.shape:
            raise ValueError(f"feature '{f}': {xr.shape[0]} reference / {xt.shape[0]} process values for "
                             f"{n} ratios / {v.size} process weights")
        check.features.append(_compare_feature(f, xr, w * r, w, xt, v, bins, quantiles))
    return check




def _compare_feature(feature: str, xr: np.ndarray, wr: np.ndarray, w: np.ndarray, xt: np.ndarray, v: np.ndarray,
                     bins: int, quantiles: tuple[float, float]) -> FeatureComparison:
    r"""Histograms of one feature: reference events ``xr`` with weights ``wr`` = :math:`w_i r_i` (and
    ``w``) against process events ``xt`` with weights ``v``, in ``bins`` uniform bins between the
    ``quantiles`` of the process sample; :math:`\chi^2` over the bins with entries."""
    sw, sv = w.sum(), v.sum()
    lo, hi = np.quantile(xt, quantiles)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    a = np.histogram(xr, edges, weights=wr)[0] / sw
    a_err = np.sqrt(np.histogram(xr, edges, weights=wr ** 2)[0]) / abs(sw)
    t = np.histogram(xt, edges, weights=v)[0] / sv
    t_err = np.sqrt(np.histogram(xt, edges, weights=v * v)[0]) / abs(sv)
    ref = np.histogram(xr, edges, weights=w)[0] / sw
    var = a_err ** 2 + t_err ** 2
    used = var > 0
    pulls = (a[used] - t[used]) / np.sqrt(var[used])
    chi2 = float(np.sum(pulls ** 2))
    ndf = int(used.sum())
    return FeatureComparison(feature, edges, a, a_err, t, t_err, ref, chi2, ndf, chi2_pvalue(chi2, ndf),
                             float(np.max(np.abs(pulls))) if pulls.size else 0.0)


# -- everything at once ---------------------------------------------------------------------------

@dataclass
class DiagnosticsReport:
    """What :func:`compute_diagnostics` computed (and :func:`roonsbi.plot.diagnostics.diagnose` the files it wrote)."""

    closure: ClosureReport
    ratios: dict[str, dict[str, float]]
    reweighting: dict[str, ReweightingCheck]
    files: list[Path] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Closure passed and every reweighting check has p >= 1e-3."""
        return self.closure.passed and all(c.passed() for c in self.reweighting.values())

    def summary(self) -> str:
        parts = [self.closure.table()] + [c.table() for c in self.reweighting.values()]
        return "\n\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """All numbers (as written to ``diagnostics.json``)."""
        return {
            "closure": self.closure.to_dict(),
            "ratios": self.ratios,
            "reweighting": {k: v.to_dict() for k, v in self.reweighting.items()},
            "passed": self.passed,
        }


def compute_diagnostics(
    columns: Mapping[str, ArrayLike],
    *,
    weights: ArrayLike | str | None = None,
    reference_features: Mapping[str, ArrayLike] | None = None,
    targets: Mapping[str, tuple[Mapping[str, ArrayLike], ArrayLike | None]] | None = None,
    n_sigma: float = 3.0,
    tolerance: float = 0.0,
    bins: int = 30,
) -> DiagnosticsReport:
    """The closure, the ratio summaries and (if ``targets``) the reweighting checks, without plots.

    Args:
        columns: columns evaluated on the reference sample.
        weights: reference weights or a column name (default: column ``weight`` or 1).
        reference_features: feature -> values on the reference sample (for the reweighting checks;
            default: the columns themselves, e.g. written with ``keep=``).
        targets: ratio column (``r_<proc>``) -> (process-sample features, process weights or None).
        n_sigma, tolerance: a closure is flagged when :math:`|m - 1|` exceeds both ``n_sigma`` of its
            standard errors and ``tolerance`` (:func:`normalisation_closure`).
        bins: bins per feature of the reweighting checks.
    """
    n = column_length(columns)
    w = event_weights(columns, weights, n)
    closure = normalisation_closure(columns, w, n_sigma=n_sigma, tolerance=tolerance)
    summary = ratio_summary(columns, w)
    checks = {}
    for col, (features, target_weights) in (targets or {}).items():
        if col not in columns:
            raise KeyError(f"reweighting target for '{col}', which is not a column ({list(columns)})")
        ref = reference_features if reference_features is not None else columns
        checks[col] = reweighting_check(ref, columns[col], features, reference_weights=w,
                                        target_weights=target_weights, bins=bins, column=col,
                                        features=[f for f in features if f in ref])
    return DiagnosticsReport(closure, summary, checks)
