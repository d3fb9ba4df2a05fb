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

The plots use matplotlib's object API (no pyplot state; the Agg renderer) and are written as
PNG and/or PDF.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np

from .columns import SPREAD_SUFFIX, WEIGHT_COLUMN

PathLike = Union[str, "os.PathLike[str]"]
ArrayLike = Union[np.ndarray, Sequence[float]]


# -- column names -------------------------------------------------------------------------

def _base_columns(columns: Mapping[str, Any]) -> list[str]:
    return [c for c in columns if not (c.endswith(SPREAD_SUFFIX) and c[: -len(SPREAD_SUFFIX)] in columns)]


def _processes(columns: Mapping[str, Any]) -> list[str]:
    return [c[2:] for c in _base_columns(columns) if c.startswith("r_") and len(c) > 2]


def _variations(columns: Mapping[str, Any], processes: Sequence[str]) -> list[tuple[str, str, str]]:
    """(column, process, variation) of the shape columns g_<proc>_<np>_lo/_hi of ``processes``."""
    by_length = sorted(processes, key=len, reverse=True)
    out = []
    for c in _base_columns(columns):
        if c.startswith("g_") and (c.endswith("_lo") or c.endswith("_hi")):
            owner = next((p for p in by_length if c.startswith(f"g_{p}_") and len(c) > len(p) + 6), None)
            if owner is not None:
                out.append((c, owner, c[len(owner) + 3 :]))
    return out


def _weights(columns: Mapping[str, Any], weights: ArrayLike | str | None, n: int) -> np.ndarray:
    if isinstance(weights, str):
        w = columns[weights]
    elif weights is None:
        w = columns[WEIGHT_COLUMN] if WEIGHT_COLUMN in columns else np.ones(n)
    else:
        w = weights
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights have shape {w.shape} but the columns have {n} entries")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights have NaN or infinite entries")
    return w


def _length(columns: Mapping[str, Any]) -> int:
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
    n = _length(columns)
    w = _weights(columns, weights, n)
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
        col = f"r_{p}"
        if col not in columns:
            raise KeyError(f"no ratio column '{col}' (columns: {list(columns)})")
        r = np.asarray(columns[col], dtype=np.float64)
        results.append(result(col, p, None, r))
        for gcol, owner, variation in _variations(columns, processes):
            if owner == p:
                results.append(result(gcol, p, variation, r * np.asarray(columns[gcol], dtype=np.float64)))
    return ClosureReport(results, float(n_sigma), float(tolerance))


# -- ratio distributions ------------------------------------------------------------------------

def ratio_summary(
    columns: Mapping[str, ArrayLike], weights: ArrayLike | str | None = None
) -> dict[str, dict[str, float]]:
    """Per ratio/shape column: weighted mean, (unweighted) quantiles, fractions of zeros and non-finite values."""
    n = _length(columns)
    w = _weights(columns, weights, n)
    out = {}
    for c in _base_columns(columns):
        if not (c.startswith("r_") or c.startswith("g_")):
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
    sw, sv = w.sum(), v.sum()
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
        lo, hi = np.quantile(xt, quantiles)
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        a = np.histogram(xr, edges, weights=w * r)[0] / sw
        a_err = np.sqrt(np.histogram(xr, edges, weights=(w * r) ** 2)[0]) / abs(sw)
        t = np.histogram(xt, edges, weights=v)[0] / sv
        t_err = np.sqrt(np.histogram(xt, edges, weights=v * v)[0]) / abs(sv)
        ref = np.histogram(xr, edges, weights=w)[0] / sw
        var = a_err ** 2 + t_err ** 2
        used = var > 0
        pulls = (a[used] - t[used]) / np.sqrt(var[used])
        chi2 = float(np.sum(pulls ** 2))
        ndf = int(used.sum())
        check.features.append(FeatureComparison(
            f, edges, a, a_err, t, t_err, ref, chi2, ndf, chi2_pvalue(chi2, ndf),
            float(np.max(np.abs(pulls))) if pulls.size else 0.0,
        ))
    return check


# -- plots --------------------------------------------------------------------------------------

def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Any, path: PathLike, formats: Sequence[str] | None = None) -> list[Path]:
    """Save ``fig`` as ``path`` (format from its suffix) or, without suffix, as ``path.<fmt>`` per format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix and formats is None:
        targets = [path]
    else:
        stem = path.with_suffix("") if path.suffix.lower() in (".png", ".pdf", ".svg") else path
        targets = [stem.with_name(f"{stem.name}.{fmt.lstrip('.')}") for fmt in (formats or ("png",))]
    for target in targets:
        fig.savefig(target, dpi=120)
    return targets


def plot_closure(report: ClosureReport, path: PathLike, formats: Sequence[str] | None = None) -> list[Path]:
    """Deviation m - 1 (in %) with its statistical error per column; flagged columns in red."""
    results = report.results
    fig = _figure(7.5, 1.6 + 0.42 * len(results))
    ax = fig.add_subplot()
    y = np.arange(len(results))[::-1]
    dev = np.array([100 * r.deviation for r in results])
    err = np.array([100 * r.error for r in results])
    colors = ["tab:red" if r.flagged else "tab:green" for r in results]
    for yi, d, e, c in zip(y, dev, err, colors):
        ax.errorbar(d, yi, xerr=e, fmt="o", color=c, capsize=3)
        ax.errorbar(d, yi, xerr=report.n_sigma * e, fmt="none", color=c, alpha=0.35, lw=6)
    ax.axvline(0, color="black", lw=1)
    ax.set_yticks(y, [r.column for r in results])
    ax.set_ylim(-0.7, len(results) - 0.3)
    span = max(np.max(np.abs(dev) + report.n_sigma * err) if len(results) else 1.0, 1e-3) * 1.25
    ax.set_xlim(-span, span)
    for yi, r in zip(y, results):
        ax.annotate(f"{r.pull:+.1f}σ", (span, yi), xytext=(-4, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=9, color="tab:red" if r.flagged else "0.3")
    ax.set_xlabel(r"$\sum_i w_i\,v_i / \sum_i w_i - 1$  [%]    ($v = r_J$, or $r_J\,g_{Jm}$ for variations)")
    ax.set_title(
        f"Normalisation closure on the reference sample (n_eff = {results[0].n_eff:.0f})" if results else
        "Normalisation closure", fontsize=11)
    from matplotlib.lines import Line2D

    ax.legend(handles=[
        Line2D([], [], color="tab:green", marker="o", label="ok (±1σ bar)"),
        Line2D([], [], color="tab:red", marker="o", label=f"flagged (> {report.n_sigma:g}σ)"),
        Line2D([], [], color="tab:green", lw=6, alpha=0.35, label=f"±{report.n_sigma:g}σ"),
    ], loc="lower left", fontsize=8, framealpha=0.9)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path, formats)


def plot_ratio_distributions(
    columns: Mapping[str, ArrayLike],
    path: PathLike,
    weights: ArrayLike | str | None = None,
    formats: Sequence[str] | None = None,
    bins: int = 60,
) -> list[Path]:
    r"""Weighted distributions of :math:`\log_{10}` of the ratio columns (left) and shape columns (right)."""
    n = _length(columns)
    w = _weights(columns, weights, n)
    groups = {
        "ratios $r_J$": [c for c in _base_columns(columns) if c.startswith("r_")],
        r"shape ratios $g_{Jm}(\pm1)$": [c for c in _base_columns(columns) if c.startswith("g_")],
    }
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        raise ValueError(f"no r_/g_ columns among {list(columns)}")
    fig = _figure(6.0 * len(groups), 4.6)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (title, cols) in zip(axes, groups.items()):
        logs = {}
        for c in cols:
            v = np.asarray(columns[c], dtype=np.float64)
            pos = v > 0
            logs[c] = (np.log10(v[pos]), w[pos], 1.0 - pos.mean() if n else 0.0)
        allv = np.concatenate([lv for lv, _, _ in logs.values()]) if logs else np.zeros(0)
        lo, hi = (np.quantile(allv, [0.01, 0.99]) if allv.size else (-1.0, 1.0))
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        styles = ("-", "--", ":", "-.")  # identical columns stay visible on top of each other
        for k, (c, (lv, lw, zero)) in enumerate(logs.items()):
            label = c + (f" ({100 * zero:.1f}% zero)" if zero > 0 else "")
            ax.hist(np.clip(lv, lo, hi), edges, weights=lw / w.sum(), histtype="step", lw=1.6,
                    ls=styles[k % len(styles)], label=label)
        ax.axvline(0, color="0.5", lw=0.8, ls=":")
        ax.set_xlabel(r"$\log_{10}$ ratio  (under/overflow in the edge bins)")
        ax.set_ylabel("weighted fraction of reference events")
        ax.set_title(f"{title} on the reference sample", fontsize=11)
        ax.legend(fontsize=8, ncol=1 if len(cols) <= 8 else 2)
    return save_figure(fig, path, formats)


def plot_reweighting(check: ReweightingCheck, path: PathLike, formats: Sequence[str] | None = None,
                     max_columns: int = 3) -> list[Path]:
    """Per feature: reference, reference x r and the process sample, with the ratio to the process sample."""
    nf = len(check.features)
    ncol = min(nf, max_columns)
    nrow = math.ceil(nf / ncol)
    fig = _figure(4.6 * ncol, 4.4 * nrow)
    grid = fig.add_gridspec(2 * nrow, ncol, height_ratios=[3, 1] * nrow)
    for k, fc in enumerate(check.features):
        row, col = divmod(k, ncol)
        ax = fig.add_subplot(grid[2 * row, col])
        rax = fig.add_subplot(grid[2 * row + 1, col], sharex=ax)
        e = fc.edges
        width = np.diff(e)
        centres = 0.5 * (e[:-1] + e[1:])
        ax.stairs(fc.reference / width, e, color="0.55", ls="--", label="reference")
        ax.stairs(fc.reweighted / width, e, color="tab:blue", lw=1.6, label=f"reference × {check.column}")
        ax.stairs((fc.reweighted + fc.reweighted_error) / width, e,
                  baseline=(fc.reweighted - fc.reweighted_error) / width, fill=True, color="tab:blue", alpha=0.25)
        ax.errorbar(centres, fc.target / width, yerr=fc.target_error / width, fmt="o", ms=3, color="black",
                    label="process sample")
        ax.set_ylabel("probability density")
        ax.set_title(f"{fc.feature}:  χ²/ndf = {fc.chi2:.1f}/{fc.ndf},  p = {fc.p_value:.2g}", fontsize=10)
        ax.legend(fontsize=8)
        ax.tick_params(labelbottom=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = fc.reweighted / fc.target
            q_err = np.sqrt(fc.reweighted_error ** 2 + (fc.reweighted * fc.target_error / fc.target) ** 2) / fc.target
        rax.axhline(1, color="black", lw=0.8)
        rax.errorbar(centres, q, yerr=q_err, fmt="o", ms=3, color="tab:blue")
        finite = np.isfinite(q) & np.isfinite(q_err)
        span = min(max(0.05, float(np.max(np.abs(q[finite] - 1) + q_err[finite])) * 1.1 if finite.any() else 0.1), 1.0)
        rax.set_ylim(1 - span, 1 + span)
        rax.set_ylabel("rew. / proc.")
        rax.set_xlabel(fc.feature)
        rax.grid(alpha=0.3)
    fig.suptitle(f"Reweighting check of {check.column}", fontsize=12)
    return save_figure(fig, path, formats)


# -- everything at once ---------------------------------------------------------------------------

@dataclass
class DiagnosticsReport:
    """What :func:`diagnose` computed and the files it wrote."""

    closure: ClosureReport
    ratios: dict[str, dict[str, float]]
    reweighting: dict[str, ReweightingCheck]
    files: list[Path]

    @property
    def passed(self) -> bool:
        """Closure passed and every reweighting check has p >= 1e-3."""
        return self.closure.passed and all(c.passed() for c in self.reweighting.values())

    def summary(self) -> str:
        parts = [self.closure.table()] + [c.table() for c in self.reweighting.values()]
        return "\n\n".join(parts)


def diagnose(
    columns: Mapping[str, ArrayLike],
    out_dir: PathLike,
    *,
    weights: ArrayLike | str | None = None,
    reference_features: Mapping[str, ArrayLike] | None = None,
    targets: Mapping[str, tuple[Mapping[str, ArrayLike], ArrayLike | None]] | None = None,
    formats: Sequence[str] = ("png",),
    n_sigma: float = 3.0,
    tolerance: float = 0.0,
    bins: int = 30,
) -> DiagnosticsReport:
    """Run the closure, the ratio distributions and (if ``targets``) the reweighting checks.

    Writes to ``out_dir``: ``diagnostics.json`` (all numbers), ``closure.txt`` (the tables),
    ``closure.<fmt>``, ``ratios.<fmt>`` and ``reweighting_<column>.<fmt>`` per target.

    Args:
        columns: columns evaluated on the reference sample.
        weights: reference weights or a column name (default: column ``weight`` or 1).
        reference_features: feature -> values on the reference sample (for the reweighting checks;
            default: the columns themselves, e.g. written with ``keep=``).
        targets: ratio column (``r_<proc>``) -> (process-sample features, process weights or None).
        formats: plot formats (``"png"``, ``"pdf"``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = _length(columns)
    w = _weights(columns, weights, n)
    closure = normalisation_closure(columns, w, n_sigma=n_sigma, tolerance=tolerance)
    files = plot_closure(closure, out / "closure", formats)
    files += plot_ratio_distributions(columns, out / "ratios", w, formats)
    summary = ratio_summary(columns, w)
    checks = {}
    for col, (features, target_weights) in (targets or {}).items():
        if col not in columns:
            raise KeyError(f"reweighting target for '{col}', which is not a column ({list(columns)})")
        ref = reference_features if reference_features is not None else columns
        check = reweighting_check(ref, columns[col], features, reference_weights=w, target_weights=target_weights,
                                  bins=bins, column=col,
                                  features=[f for f in features if f in ref])
        checks[col] = check
        files += plot_reweighting(check, out / f"reweighting_{col}", formats)
    report = DiagnosticsReport(closure, summary, checks, files)
    (out / "closure.txt").write_text(report.summary() + "\n")
    (out / "diagnostics.json").write_text(json.dumps({
        "closure": closure.to_dict(),
        "ratios": summary,
        "reweighting": {k: v.to_dict() for k, v in checks.items()},
        "passed": report.passed,
    }, indent=1, default=float) + "\n")
    files += [out / "closure.txt", out / "diagnostics.json"]
    report.files = files
    return report
