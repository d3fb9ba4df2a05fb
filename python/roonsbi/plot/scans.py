r"""Likelihood scans: 1-D profile scans :math:`t(\mu)`, 2-D contours and Neyman belts."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..infer.scan import Scan2DResult, chi2_threshold
from ..infer.toys import NeymanResult
from .figure import pyplot, write_figure

__all__ = ["plot_neyman", "plot_scan_2d", "plot_scans"]


def plot_scans(grid: np.ndarray, scans: Mapping[str, np.ndarray], path: Path,
               expected: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
               colors: Mapping[str, str] | None = None, reference: str = "exact likelihood",
               title: str = "Off-shell toy: profile-likelihood scans on the same pseudo-data",
               overwrite: bool = False) -> None:
    r"""Profile-likelihood scans t(mu) on ``grid`` (label -> t), the curve ``reference`` solid and
    underneath, dotted expected (Asimov) curves (label -> (mu values, t)), and the asymptotic
    68% / 95% CL thresholds of :math:`\chi^2_1`. As every plot here: written to ``path``
    (:func:`~roonsbi.plot.figure.write_figure`), an existing file replaced only with ``overwrite``."""
    plt = pyplot()
    colors = colors or {}
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    for label in sorted(scans, key=lambda k: k != reference):  # the reference curve first, underneath
        style = {"lw": 2.5, "ls": "-"} if label == reference else {"lw": 1.5, "ls": "--", "marker": "o", "ms": 3}
        ax.plot(grid, scans[label], label=label, color=colors.get(label), **style)
    for label, (values, t) in (expected or {}).items():
        ax.plot(values, t, label=f"{label}, expected (Asimov, $\\mu$ = 1)", color=colors.get(label), lw=1.2, ls=":")
    for cl, name in ((0.6827, "68% CL"), (0.95, "95% CL")):
        thr = chi2_threshold(cl)
        ax.axhline(thr, color="grey", lw=0.8, ls=":")
        ax.text(grid[-1], thr, name, ha="right", va="bottom", color="grey", fontsize=8)
    ax.set_xlabel(r"signal strength $\mu$")
    ax.set_ylabel(r"$t(\mu) = -2\,\ln\lambda(\mu)$")
    ax.set_ylim(0, 8)
    ax.set_xlim(0, grid[-1])
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    write_figure(fig, path, overwrite=overwrite, dpi=120, close=True)


def plot_neyman(results: Mapping[float, NeymanResult], path: Path, label: str, overwrite: bool = False) -> None:
    """Observed t(mu) against the toy critical values (the confidence belt in t) and the
    asymptotic thresholds, for the confidence levels of ``results`` (CL -> result) of model ``label``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    first = next(iter(results.values()))
    ax.plot(first.values, first.t_observed, color="black", marker="o", ms=3, lw=1.5, label=r"observed $t(\mu)$")
    for (cl, r), color in zip(results.items(), ("tab:blue", "tab:orange")):
        name = f"{100 * cl:.0f}% CL"
        if cl == first.cl:
            ax.fill_between(r.values, r.critical - r.critical_error, r.critical + r.critical_error, color=color,
                            alpha=0.25, lw=0)
        ax.plot(r.values, r.critical, color=color, lw=1.5, label=f"{name} critical value from {len(r.toys[0])} toys")
        ax.axhline(chi2_threshold(cl), color=color, lw=1, ls=":", label=f"{name} asymptotic ($\\chi^2_1$)")
        lo, hi = r.interval()
        ax.axvspan(lo, hi, color=color, alpha=0.07)
    ax.set_xlabel(r"signal strength $\mu$")
    ax.set_ylabel(r"$t(\mu) = -2\,\ln\lambda(\mu)$")
    ax.set_ylim(0, 8)
    ax.set_xlim(first.values[0], first.values[-1])
    ax.set_title(f"Neyman construction, {label}: interval where observed t < critical value", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper center")
    fig.tight_layout()
    write_figure(fig, path, overwrite=overwrite, dpi=120, close=True)


def plot_scan_2d(scans: Mapping[str, Scan2DResult], path: Path, overwrite: bool = False) -> None:
    r"""68% and 95% CL contours (:math:`\chi^2_2`) of 2-D profile scans of (mu, alpha_lumi), with the best fits."""
    plt = pyplot()
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(6.5, 5.0))
    handles = []
    for (label, scan), color in zip(scans.items(), ("tab:blue", "tab:red")):
        levels = [scan.level(0.6827), scan.level(0.95)]
        ax.contour(scan.x, scan.y, scan.t.T, levels=levels, colors=color, linestyles=["-", "--"])
        bx, by = (scan.best.values[p] for p in scan.params)
        ax.plot(bx, by, marker="*", ms=11, color=color, ls="none")
        handles.append(Line2D([], [], color=color, marker="*", label=f"{label}: best fit, 68% CL (solid), "
                                                                      "95% CL (dashed)"))
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.axhline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(r"signal strength $\mu$")
    ax.set_ylabel(r"luminosity nuisance parameter $\alpha_\mathrm{lumi}$")
    ax.set_title(r"2-D profile likelihood: $t(\mu, \alpha_\mathrm{lumi})$ contours ($\chi^2_2$: 2.30, 5.99)",
                 fontsize=10)
    ax.legend(handles=handles, fontsize=8, loc="upper right", framealpha=0.9)
    fig.tight_layout()
    write_figure(fig, path, overwrite=overwrite, dpi=120, close=True)
