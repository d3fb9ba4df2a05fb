r"""Nuisance-parameter pulls :math:`(\hat\theta - \theta_0)/\Delta\theta` and the impact ranking on the POI."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..infer.impacts import ImpactResult
from ..naming import nuisance_of_alpha
from .figure import pyplot, write_figure

__all__ = ["plot_impacts", "plot_pulls"]


def plot_pulls(results: Mapping[str, ImpactResult], path: Path, overwrite: bool = False) -> None:
    """Pulls with their post-fit errors of the nuisance parameters of every result (label -> result)."""
    plt = pyplot()
    names: list[str] = []
    for r in results.values():
        names += [p.name for p in r.pulls if p.name not in names]
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.55 * len(names)))
    y = np.arange(len(names))[::-1]
    ax.axvspan(-2, 2, color="gold", alpha=0.5, lw=0)
    ax.axvspan(-1, 1, color="limegreen", alpha=0.5, lw=0)
    ax.axvline(0, color="black", lw=0.8, ls="--")
    offsets = np.linspace(0.15, -0.15, len(results))
    for (label, r), dy, style in zip(results.items(), offsets, ({"color": "tab:blue", "marker": "o"},
                                                                 {"color": "black", "marker": "s"})):
        pulls = {p.name: p for p in r.pulls}
        idx = [i for i, n in enumerate(names) if n in pulls]
        ax.errorbar([pulls[names[i]].pull for i in idx], y[idx] + dy,
                    xerr=[pulls[names[i]].pull_error for i in idx], ls="none", capsize=3, label=label, **style)
    ax.set_yticks(y)
    ax.set_yticklabels([nuisance_of_alpha(n) for n in names])
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_xlim(-2.5, 2.5)
    ax.set_xlabel(r"pull $(\hat\theta - \theta_0)/\Delta\theta$  (error bar: post-fit $\hat\sigma/\Delta\theta$)")
    ax.set_title("Nuisance-parameter pulls")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    fig.tight_layout()
    write_figure(fig, path, overwrite=overwrite, dpi=120, close=True)


def plot_impacts(result: ImpactResult, path: Path, label: str, overwrite: bool = False) -> None:
    """Pre-fit and post-fit impacts on the POI of model ``label``, largest first."""
    plt = pyplot()
    ranked = result.impacts  # largest first
    fig, ax = plt.subplots(figsize=(6.5, 1.6 + 0.6 * len(ranked)))
    y = np.arange(len(ranked))[::-1]
    h = 0.7
    ax.barh(y, [i.prefit_up for i in ranked], height=h, fill=False, edgecolor="tab:blue", lw=1.2,
            label=r"pre-fit impact, $\theta = \hat\theta + \Delta\theta$")
    ax.barh(y, [i.prefit_down for i in ranked], height=h, fill=False, edgecolor="tab:cyan", lw=1.2,
            label=r"pre-fit impact, $\theta = \hat\theta - \Delta\theta$")
    ax.barh(y, [i.postfit_up for i in ranked], height=h * 0.6, color="tab:blue", alpha=0.8,
            label=r"post-fit impact, $\theta = \hat\theta + \hat\sigma_\theta$")
    ax.barh(y, [i.postfit_down for i in ranked], height=h * 0.6, color="tab:cyan", alpha=0.8,
            label=r"post-fit impact, $\theta = \hat\theta - \hat\sigma_\theta$")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([nuisance_of_alpha(i.name) for i in ranked])
    ax.set_ylim(-0.7, len(ranked) + 0.9)
    lim = 1.15 * max(max(abs(v) for v in (i.prefit_up, i.prefit_down, i.postfit_up, i.postfit_down)
                         if np.isfinite(v)) for i in ranked)
    ax.set_xlim(-lim, lim)
    ax.set_xlabel(r"$\Delta\hat\mu$")
    ax.set_title(rf"Impacts on $\mu$ ({label}: $\hat\mu$ = {result.best.values[result.poi]:.3f} "
                 rf"$\pm$ {result.best.errors[result.poi]:.3f})", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", ncol=2, framealpha=0.9)
    fig.tight_layout()
    write_figure(fig, path, overwrite=overwrite, dpi=120, close=True)
