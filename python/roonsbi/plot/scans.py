r"""Likelihood scans: 1-D profile scans :math:`t(\mu)` (:func:`plot_scan`), 2-D contours
(:func:`plot_scan_2d`) and Neyman belts (:func:`plot_neyman`).

The thresholds are the asymptotic ones (Wilks): :math:`t < F^{-1}_{\chi^2_1}(\mathrm{CL})` in 1-D
(1 and 3.84 at 68.27% and 95%), :math:`t < F^{-1}_{\chi^2_2}(\mathrm{CL})` in 2-D (2.30 and 5.99).

Example (no model needed: a scan is numbers)::

    >>> import numpy as np
    >>> from roonsbi.infer import FitResult, ScanResult
    >>> mu = np.linspace(0, 2, 21)
    >>> best = FitResult({"mu": 1.0}, {"mu": 0.5}, 0.0, 0, 3)
    >>> fig = plot_scan({"observed": ScanResult("mu", mu, 2 * (mu - 1) ** 2, best)})
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['observed']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

import numpy as np

from ..infer.results import NeymanResult, Scan2DResult, ScanResult
from ..infer.scan import chi2_threshold
from ..optional import optional_module
from ..spec import PathLike
from .figure import PlotOptions, plotting

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["plot_neyman", "plot_scan", "plot_scan_2d"]

#: a 1-D scan: a ScanResult (also parametrized) or the pair (POI values, t)
Scan1D = Union[ScanResult, "tuple[Any, Any]"]

_CLS = (0.6827, 0.95)
_LINESTYLES = ("-", "--", ":", "-.")


def _cl_name(cl: float) -> str:
    """68% CL for 1 sigma (0.6827), else the CL in percent to 3 digits (95% CL, 99.7% CL)."""
    return "68% CL" if abs(cl - 0.6827) < 1e-3 else f"{100 * cl:.3g}% CL"


def _curve(scan: Scan1D) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(scan, ScanResult):
        return np.asarray(scan.values, dtype=float), np.asarray(scan.t, dtype=float)
    values, t = scan
    return np.asarray(values, dtype=float), np.asarray(t, dtype=float)


def plot_scan(
    scans: Scan1D | Mapping[str, Scan1D],
    path: PathLike | None = None,
    *,
    cls: Sequence[float] = _CLS,
    xlabel: str | None = None,
    title: str | None = None,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
    ylim: tuple[float, float] | None = None,
    figsize: tuple[float, float] = (7.0, 4.8),
    legend_outside: bool = False,
    **options: Unpack[PlotOptions],
) -> Any:
    r"""Profile-likelihood scans :math:`t(\mu) = -2\ln\lambda(\mu)`, one curve per scan, with the
    asymptotic thresholds :math:`F^{-1}_{\chi^2_1}(\mathrm{CL})` of ``cls`` as horizontal lines.

    Args:
        scans: a :class:`~roonsbi.infer.results.ScanResult` (also a parametrized one) or a pair
            (values, t), or a mapping legend label -> either (curves in its order).
        path: the file to write (format from its suffix, or ``formats``, e.g. ``("png", "pdf")``);
            None: draw only. An existing file is replaced only with ``overwrite=True``.
        cls: confidence levels of the threshold lines.
        xlabel: default: the POI of the first ScanResult.
        styles: legend label -> matplotlib line keywords (``color``, ``ls``, ``lw``, ``marker``, ...).
        ylim: default (0, max(8, 1.3 x the highest threshold)).
        legend_outside: put the legend to the right of the axes (for many curves).
        options: the keywords of every plot (:class:`~roonsbi.plot.PlotOptions`): the experiment
            label (``label="ATLAS", label_text="Internal", lumi=140, energy=13``; none by default),
            which also selects mplhep's style of that experiment, ``formats`` and ``overwrite``.

    Returns:
        the matplotlib ``Figure``: one line per scan (legend texts: the labels), then one per
        threshold (no legend entry; its text names the CL).
    """
    named = scans if isinstance(scans, Mapping) else {"": scans}
    styles = styles or {}
    with plotting("plot_scan", path, options, *figsize) as fig:
        ax = fig.add_subplot()
        lo, hi = np.inf, -np.inf
        for k, (name, scan) in enumerate(named.items()):
            x, t = _curve(scan)
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
            style = {"lw": 2.0, "ls": _LINESTYLES[k % len(_LINESTYLES)] if len(named) > 1 else "-",
                     **styles.get(name, {})}
            ax.plot(x, t, label=name or "_nolegend_", **style)
        thresholds = [chi2_threshold(cl) for cl in cls]
        for cl, thr in zip(cls, thresholds):
            ax.axhline(thr, color="grey", lw=0.9, ls=":", label="_nolegend_")
            ax.annotate(_cl_name(cl), (1.0, thr), xycoords=("axes fraction", "data"), xytext=(-4, 2),
                        textcoords="offset points", ha="right", va="bottom", color="grey", fontsize=9)
        first = next((s for s in named.values() if isinstance(s, ScanResult)), None)
        ax.set_xlabel(xlabel or (rf"${first.poi}$" if first is not None and len(first.poi) <= 3 else
                                 first.poi if first is not None else "parameter of interest"))
        ax.set_ylabel(r"$-2\,\ln\lambda$")
        ax.set_xlim(lo, hi)
        ax.set_ylim(*(ylim or (0.0, max(8.0, 1.3 * max(thresholds, default=4.0)))))
        if title:
            ax.set_title(title)
        if any(named):
            if legend_outside:
                ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
            else:
                ax.legend(frameon=False, loc="upper center")
    return fig


def plot_scan_2d(
    scans: Scan2DResult | Mapping[str, Scan2DResult],
    path: PathLike | None = None,
    *,
    cls: Sequence[float] = _CLS,
    xlabel: str | None = None,
    ylabel: str | None = None,
    reference: tuple[float, float] | None = None,
    title: str | None = None,
    colors: Sequence[str] = ("tab:blue", "tab:red", "tab:green", "tab:purple"),
    figsize: tuple[float, float] = (6.5, 5.2),
    **options: Unpack[PlotOptions],
) -> Any:
    r"""Confidence-region contours of 2-D profile scans: :math:`t(x, y) = F^{-1}_{\chi^2_2}(\mathrm{CL})`
    for each CL of ``cls`` (solid, dashed, ...), and the best fit of each scan as a star.

    Args:
        scans: a :class:`~roonsbi.infer.results.Scan2DResult` or legend label -> one.
        reference: a point to mark (e.g. the Standard Model), drawn as a black cross.
        Other arguments as in :func:`plot_scan`.

    Returns:
        the ``Figure``; per scan one ``ContourSet`` whose ``levels`` are the chi2 (2 dof) quantiles of ``cls``.
    """
    named = scans if isinstance(scans, Mapping) else {"": scans}
    Line2D = optional_module("matplotlib.lines", "drawing roonsbi's plots").Line2D
    with plotting("plot_scan_2d", path, options, *figsize) as fig:
        ax = fig.add_subplot()
        handles = []
        levels = [Scan2DResult.level(cl) for cl in cls]
        styles = [_LINESTYLES[i % len(_LINESTYLES)] for i in range(len(cls))]
        for k, (name, scan) in enumerate(named.items()):
            color = colors[k % len(colors)]
            ax.contour(scan.x, scan.y, np.asarray(scan.t).T, levels=levels, colors=color, linestyles=styles)
            bx, by = (scan.best.values[p] for p in scan.params)
            ax.plot(bx, by, marker="*", ms=12, color=color, ls="none", label="_nolegend_")
            handles.append(Line2D([], [], color=color, marker="*", ms=10,
                                  label=f"{name}: best fit" if name else "best fit"))
        for cl, style in zip(cls, styles):
            handles.append(Line2D([], [], color="black", ls=style, label=_cl_name(cl)))
        if reference is not None:
            ax.plot(*reference, marker="P", ms=10, color="black", ls="none", label="_nolegend_")
            handles.append(Line2D([], [], color="black", marker="P", ls="none", label="reference"))
        first = next(iter(named.values()))
        ax.set_xlabel(xlabel or first.params[0])
        ax.set_ylabel(ylabel or first.params[1])
        if title:
            ax.set_title(title)
        ax.legend(handles=handles, loc="upper right", framealpha=0.9)
    return fig


def plot_neyman(
    results: NeymanResult | Mapping[float, NeymanResult],
    path: PathLike | None = None,
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (7.5, 4.8),
    **options: Unpack[PlotOptions],
) -> Any:
    r"""A Neyman construction: the observed :math:`t(\mu)` against the toy critical values of each
    result (CL -> result; the band: the error of the first critical value) and the asymptotic
    thresholds; the shaded spans are the intervals where observed t < critical value."""
    named = results if isinstance(results, Mapping) else {results.cl: results}
    with plotting("plot_neyman", path, options, *figsize) as fig:
        ax = fig.add_subplot()
        first = next(iter(named.values()))
        ax.plot(first.values, first.t_observed, color="black", marker="o", ms=3, lw=1.5, label=r"observed $t(\mu)$")
        for (cl, r), color in zip(named.items(), ("tab:blue", "tab:orange", "tab:green")):
            name = _cl_name(cl)
            if r is first:
                ax.fill_between(r.values, r.critical - r.critical_error, r.critical + r.critical_error, color=color,
                                alpha=0.25, lw=0)
            ax.plot(r.values, r.critical, color=color, lw=1.5, label=f"{name} critical value ({len(r.toys[0])} toys)")
            ax.axhline(chi2_threshold(cl), color=color, lw=1, ls=":", label=f"{name} asymptotic ($\\chi^2_1$)")
            lo, hi = r.interval()
            ax.axvspan(lo, hi, color=color, alpha=0.07)
        ax.set_xlabel(first.poi)
        ax.set_ylabel(r"$t(\mu) = -2\,\ln\lambda(\mu)$")
        ax.set_ylim(0, 8)
        ax.set_xlim(first.values[0], first.values[-1])
        if title:
            ax.set_title(title)
        ax.legend(frameon=False, loc="upper center")
    return fig
