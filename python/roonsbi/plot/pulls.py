r"""Nuisance-parameter pulls :math:`(\hat\theta - \theta_0)/\sigma_0` (:func:`plot_pulls`) and the
ranking of their impacts on the POI (:func:`plot_ranking`), from :class:`~roonsbi.infer.results.ImpactResult`.

Example (numbers only)::

    >>> from roonsbi.infer import FitResult, Impact, ImpactResult, Pull
    >>> best = FitResult({"mu": 1.1, "alpha_a": 0.3}, {"mu": 0.2, "alpha_a": 0.8}, 0.0, 0, 3)
    >>> result = ImpactResult("mu", best, [Pull("alpha_a", 0.3, 0.8, 0.0, 1.0)], [Impact("alpha_a", 0.05, -0.04)])
    >>> fig = plot_ranking(result)
    >>> [round(float(b.get_width()), 2) for b in fig.axes[0].patches][-2:]  # post-fit up and down
    [0.05, -0.04]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

import numpy as np

from ..infer.results import ImpactResult, Pull
from ..naming import nuisance_of_alpha
from ..spec import PathLike
from .figure import PlotOptions, plotting

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["plot_pulls", "plot_ranking"]

#: the pulls of one fit: an ImpactResult or its list of Pulls
Pulls = Union[ImpactResult, Sequence[Pull]]

_MARKERS = ({"color": "black", "marker": "o"}, {"color": "tab:blue", "marker": "s"},
            {"color": "tab:red", "marker": "^"}, {"color": "tab:green", "marker": "D"})


def _symbol(poi: str) -> str:
    """The mathtext of a POI name: a Greek letter (``mu`` -> ``\\mu``) or the name in roman type."""
    greek = {"mu", "sigma", "kappa", "lambda", "theta", "alpha", "beta", "gamma", "delta", "epsilon"}
    return f"\\{poi}" if poi in greek else rf"\mathrm{{{poi}}}"


def _pulls_of(result: Pulls) -> list[Pull]:
    return list(result.pulls if isinstance(result, ImpactResult) else result)


def plot_pulls(
    results: Pulls | Mapping[str, Pulls],
    path: PathLike | None = None,
    *,
    constrained_only: bool = True,
    title: str | None = None,
    **options: Unpack[PlotOptions],
) -> Any:
    r"""Pulls :math:`(\hat\theta - \theta_0)/\sigma_0` with the error bars :math:`\hat\sigma/\sigma_0`
    of the nuisance parameters of one fit or several (legend label -> fit, slightly offset), on the
    green (:math:`\pm1`) and yellow (:math:`\pm2`) bands.

    Args:
        results: an :class:`~roonsbi.infer.results.ImpactResult` or a list of
            :class:`~roonsbi.infer.results.Pull`, or a mapping label -> either.
        constrained_only: skip the parameters without a Gaussian constraint (their pull is NaN).
        Other arguments as in :func:`roonsbi.plot.plot_scan`.

    Returns:
        the ``Figure``: one ``errorbar`` container per fit (x: the pulls, x errors: the pull errors),
        the y tick labels the parameters (``alpha_X`` shown as ``X``), first at the top.
    """
    named = results if isinstance(results, Mapping) else {"": results}
    per_fit = {k: [p for p in _pulls_of(v) if not constrained_only or math.isfinite(p.pull)] for k, v in named.items()}
    names: list[str] = []
    for pulls in per_fit.values():
        names += [p.name for p in pulls if p.name not in names]
    with plotting("plot_pulls", path, options, 6.5, 1.6 + 0.45 * max(len(names), 1)) as fig:
        ax = fig.add_subplot()
        y = np.arange(len(names))[::-1]
        ax.axvspan(-2, 2, color="gold", alpha=0.6, lw=0)
        ax.axvspan(-1, 1, color="limegreen", alpha=0.6, lw=0)
        ax.axvline(0, color="black", lw=0.8, ls="--")
        offsets = np.linspace(0.15, -0.15, len(per_fit)) if len(per_fit) > 1 else [0.0]
        for k, ((name, pulls), dy) in enumerate(zip(per_fit.items(), offsets)):
            by_name = {p.name: p for p in pulls}
            idx = [i for i, n in enumerate(names) if n in by_name]
            ax.errorbar([by_name[names[i]].pull for i in idx], y[idx] + dy,
                        xerr=[by_name[names[i]].pull_error for i in idx], ls="none", capsize=3,
                        label=name or "_nolegend_", **_MARKERS[k % len(_MARKERS)])
        ax.set_yticks(y)
        ax.set_yticklabels([nuisance_of_alpha(n) for n in names])
        ax.set_ylim(-0.7, len(names) - 0.3 + (0.8 if any(per_fit) else 0.0))
        ax.set_xlim(-2.9, 2.9)
        ax.set_xlabel(r"$(\hat\theta - \theta_0)/\Delta\theta$")
        ax.minorticks_off()
        if title:
            ax.set_title(title)
        if any(per_fit):
            ax.legend(loc="upper right", framealpha=0.9, ncol=min(len(per_fit), 3))
    return fig


def plot_ranking(
    result: ImpactResult,
    path: PathLike | None = None,
    *,
    top: int | None = None,
    show_pulls: bool = True,
    poi_label: str | None = None,
    title: str | None = None,
    **options: Unpack[PlotOptions],
) -> Any:
    r"""The impact ranking: per nuisance parameter (largest impact at the top) the pre-fit impacts
    :math:`\Delta\hat\mu(\hat\theta \pm \sigma_0)` (open bars) and post-fit impacts
    :math:`\Delta\hat\mu(\hat\theta \pm \hat\sigma)` (filled bars) on the lower axis and, with
    ``show_pulls``, the pulls on the upper axis (black points, range -2..2).

    Args:
        result: an :class:`~roonsbi.infer.results.ImpactResult` (its ``impacts`` are ranked).
        top: draw only the ``top`` largest.
        poi_label: the x label (default :math:`\Delta\hat{<poi>}`).
        Other arguments as in :func:`roonsbi.plot.plot_scan`.

    Returns:
        the ``Figure``; the bars of its first axes, in order: pre-fit up, pre-fit down, post-fit up,
        post-fit down, each from the largest impact to the smallest (widths: the impacts).
    """
    ranked = list(result.impacts)[: top if top is not None else None]
    pulls = {p.name: p for p in result.pulls}
    with plotting("plot_ranking", path, options, 7.0, 2.2 + 0.5 * max(len(ranked), 1)) as fig:
        ax = fig.add_subplot()
        y = np.arange(len(ranked))[::-1]
        h = 0.7

        def values(attr: str) -> list[float]:
            return [float(getattr(i, attr)) if math.isfinite(getattr(i, attr)) else 0.0 for i in ranked]

        ax.barh(y, values("prefit_up"), height=h, fill=False, edgecolor="tab:blue", lw=1.2,
                label=r"pre-fit, $\theta = \hat\theta + \Delta\theta$")
        ax.barh(y, values("prefit_down"), height=h, fill=False, edgecolor="tab:cyan", lw=1.2,
                label=r"pre-fit, $\theta = \hat\theta - \Delta\theta$")
        ax.barh(y, values("postfit_up"), height=h * 0.6, color="tab:blue", alpha=0.8,
                label=r"post-fit, $\theta = \hat\theta + \hat\sigma_\theta$")
        ax.barh(y, values("postfit_down"), height=h * 0.6, color="tab:cyan", alpha=0.8,
                label=r"post-fit, $\theta = \hat\theta - \hat\sigma_\theta$")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([nuisance_of_alpha(i.name) for i in ranked])
        ax.set_ylim(-0.7, len(ranked) + 1.9)
        sizes = [abs(v) for a in ("prefit_up", "prefit_down", "postfit_up", "postfit_down") for v in values(a)]
        lim = 1.15 * max(max(sizes, default=0.0), 1e-12)
        ax.set_xlim(-lim, lim)
        poi = result.poi
        ax.set_xlabel(poi_label or rf"$\Delta\hat{{{_symbol(poi)}}}$")
        ax.minorticks_off()
        best = result.best
        ax.legend(loc="upper right", ncol=2, framealpha=0.9, fontsize=8,
                  title=rf"$\hat{{{_symbol(poi)}}}$ = {best.values[poi]:.3f} $\pm$ {best.errors[poi]:.3f}")
        if show_pulls:
            top_ax = ax.twiny()
            shown = [(yi, pulls[i.name]) for yi, i in zip(y, ranked) if i.name in pulls and
                     math.isfinite(pulls[i.name].pull)]
            top_ax.errorbar([p.pull for _, p in shown], [yi for yi, _ in shown],
                            xerr=[p.pull_error for _, p in shown], fmt="o", color="black", ms=4, capsize=2)
            top_ax.set_xlim(-2.0, 2.0)
            top_ax.set_xlabel(r"pull $(\hat\theta - \theta_0)/\Delta\theta$ (points)")
            top_ax.minorticks_off()
        if title:
            ax.set_title(title, loc="left")
    return fig
