r"""Plots of the diagnostics of the ratio columns (:mod:`roonsbi.inputs.diagnostics`), and
:func:`diagnose`, which computes them and writes numbers, tables and plots to a folder.

The plots use matplotlib's object API (no pyplot state; the Agg renderer) and are written as
PNG and/or PDF. matplotlib is imported when a figure is drawn, not with this module.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..atomic import refuse_existing, write_text
from ..inputs.diagnostics import (
    ClosureReport,
    DiagnosticsReport,
    ReweightingCheck,
    base_columns,
    column_length,
    compute_diagnostics,
    event_weights,
)
from ..optional import optional_module
from ..spec import ArrayLike, PathLike
from .figure import figure_paths, new_figure, save_figure

__all__ = ["diagnose", "diagnostics_files", "plot_closure", "plot_ratio_distributions", "plot_reweighting"]



# -- figures --------------------------------------------------------------------------------------

def plot_closure(report: ClosureReport, path: PathLike, formats: Sequence[str] | None = None,
                 overwrite: bool = False) -> list[Path]:
    """Deviation m - 1 (in %) with its statistical error per column; flagged columns in red."""
    results = report.results
    fig = new_figure(7.5, 1.6 + 0.42 * len(results))
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
    Line2D = optional_module("matplotlib.lines", "drawing the diagnostic plots").Line2D
    ax.legend(handles=[
        Line2D([], [], color="tab:green", marker="o", label="ok (±1σ bar)"),
        Line2D([], [], color="tab:red", marker="o", label=f"flagged (> {report.n_sigma:g}σ)"),
        Line2D([], [], color="tab:green", lw=6, alpha=0.35, label=f"±{report.n_sigma:g}σ"),
    ], loc="lower left", fontsize=8, framealpha=0.9)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path, formats, overwrite)


def plot_ratio_distributions(
    columns: Mapping[str, ArrayLike],
    path: PathLike,
    weights: ArrayLike | str | None = None,
    formats: Sequence[str] | None = None,
    bins: int = 60,
    overwrite: bool = False,
) -> list[Path]:
    r"""Weighted distributions of :math:`\log_{10}` of the ratio columns (left) and shape columns (right)."""
    n = column_length(columns)
    w = event_weights(columns, weights, n)
    groups = {
        "ratios $r_J$": [c for c in base_columns(columns) if c.startswith("r_")],
        r"shape ratios $g_{Jm}(\pm1)$": [c for c in base_columns(columns) if c.startswith("g_")],
    }
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        raise ValueError(f"no r_/g_ columns among {list(columns)}")
    fig = new_figure(6.0 * len(groups), 4.6)
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
    return save_figure(fig, path, formats, overwrite)


def plot_reweighting(check: ReweightingCheck, path: PathLike, formats: Sequence[str] | None = None,
                     max_columns: int = 3, overwrite: bool = False) -> list[Path]:
    """Per feature: reference, reference x r and the process sample, with the ratio to the process sample."""
    nf = len(check.features)
    ncol = min(nf, max_columns)
    nrow = math.ceil(nf / ncol)
    fig = new_figure(4.6 * ncol, 4.4 * nrow)
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
    return save_figure(fig, path, formats, overwrite)


# -- everything at once ---------------------------------------------------------------------------

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
    overwrite: bool = False,
) -> DiagnosticsReport:
    """Run the closure, the ratio distributions and (if ``targets``) the reweighting checks
    (:func:`roonsbi.inputs.diagnostics.compute_diagnostics`) and write them.

    Writes to ``out_dir`` the files of :func:`diagnostics_files`: ``diagnostics.json`` (all
    numbers), ``closure.txt`` (the tables), ``closure.<fmt>``, ``ratios.<fmt>`` and
    ``reweighting_<column>.<fmt>`` per target. Existing files are replaced only with
    ``overwrite`` (all are checked before the computation), each atomically.

    Args:
        columns, weights, reference_features, targets, n_sigma, tolerance, bins: as in
            :func:`~roonsbi.inputs.diagnostics.compute_diagnostics`.
        formats: plot formats (``"png"``, ``"pdf"``).

    Returns:
        the :class:`~roonsbi.inputs.diagnostics.DiagnosticsReport`, its ``files`` those written.
    """
    out = Path(out_dir)
    for path in diagnostics_files(out, list(targets or ()), formats):
        refuse_existing(path, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    w = event_weights(columns, weights, column_length(columns))
    report = compute_diagnostics(columns, weights=w, reference_features=reference_features, targets=targets,
                                 n_sigma=n_sigma, tolerance=tolerance, bins=bins)
    files = plot_closure(report.closure, out / "closure", formats, overwrite)
    files += plot_ratio_distributions(columns, out / "ratios", w, formats, overwrite=overwrite)
    for col, check in report.reweighting.items():
        files += plot_reweighting(check, out / f"reweighting_{col}", formats, overwrite=overwrite)
    files.append(write_text(out / "closure.txt", report.summary() + "\n", overwrite))
    files.append(write_text(out / "diagnostics.json", json.dumps(report.to_dict(), indent=1, default=float) + "\n",
                            overwrite))
    report.files = files
    return report


def diagnostics_files(out_dir: PathLike, targets: Sequence[str] = (), formats: Sequence[str] = ("png",)) -> list[Path]:
    """The files :func:`diagnose` writes to ``out_dir`` with the reweighting ``targets`` (ratio
    columns) and plot ``formats``."""
    out = Path(out_dir)
    stems = ["closure", "ratios", *(f"reweighting_{col}" for col in targets)]
    return [p for stem in stems for p in figure_paths(out / stem, formats)] + [out / "closure.txt",
                                                                               out / "diagnostics.json"]
