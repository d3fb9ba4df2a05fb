"""Data against model: a HistFactory channel (stacked samples) and a parametrized-NSBI channel,
each with a ratio panel. Plain numbers in, a figure out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .figure import pyplot, write_figure

__all__ = ["BinnedChannelYields", "ControlRegionYields", "plot_data_vs_model"]


@dataclass
class ControlRegionYields:
    """A binned channel with a background and a signal sample: bin ``edges`` (B+1), observed ``data``
    (B), and the per-sample yields (sample -> (B,)) before and after the fit."""

    edges: np.ndarray
    data: np.ndarray
    prefit: Mapping[str, np.ndarray]
    postfit: Mapping[str, np.ndarray]
    background: str
    signal: str


@dataclass
class BinnedChannelYields:
    """A parametrized-NSBI channel at the grid point ``mu_prime``: observed ``counts`` per bin, the
    model's yields at the best fit ``mu_hat`` (``fitted``) and at mu = 1 (``at_one``)."""

    mu_prime: float
    mu_hat: float
    counts: np.ndarray
    fitted: np.ndarray
    at_one: np.ndarray


def _control_region(axes: Any, cr: ControlRegionYields) -> None:
    edges = np.asarray(cr.edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    data = np.asarray(cr.data)
    bkg, sig = cr.postfit[cr.background], cr.postfit[cr.signal]
    prefit = sum(cr.prefit.values())
    ax, rax = axes
    ax.stairs(bkg, edges, fill=True, color="lightsteelblue", label="background (post-fit)")
    ax.stairs(bkg + sig, edges, baseline=bkg, fill=True, color="tab:red", alpha=0.7,
              label=rf"signal $\times\,\hat\mu$ (post-fit; {100 * sig.sum() / (bkg + sig).sum():.2f}% of the events)")
    ax.stairs(prefit, edges, baseline=None, color="black", ls="--", lw=1.2, label=r"pre-fit ($\mu = 1$, $\alpha = 0$)")
    ax.errorbar(centres, data, yerr=np.sqrt(data), fmt="ko", ms=4, label="data")
    ax.set_ylabel("events / bin")
    ax.set_title("Control region (HistFactory), combined fit", fontsize=10)
    ax.legend(fontsize=8)
    total = bkg + sig
    rax.errorbar(centres, data / total, yerr=np.sqrt(data) / total, fmt="ko", ms=4)
    rax.stairs(prefit / total, edges, baseline=None, color="black", ls="--", lw=1.2)
    rax.axhline(1.0, color="grey", lw=0.8)
    rax.set_ylim(0.7, 1.3)
    rax.set_ylabel("data / post-fit")
    rax.set_xlabel(r"feature $x_0$ (control region)")


def _binned_channel(axes: Any, ch: BinnedChannelYields) -> None:
    counts, fitted, at_one = np.asarray(ch.counts), np.asarray(ch.fitted), np.asarray(ch.at_one)
    b_edges = np.arange(counts.size + 1)
    b_centres = b_edges[:-1] + 0.5
    ax, rax = axes
    ax.stairs(fitted, b_edges, fill=True, color="lightsteelblue", label=rf"model at $\hat\mu$ = {ch.mu_hat:.2f}")
    ax.stairs(at_one, b_edges, baseline=None, color="black", ls="--", lw=1.2, label=r"model at $\mu = 1$")
    ax.errorbar(b_centres, counts, yerr=np.sqrt(counts), fmt="ko", ms=4, label="data")
    ax.set_ylabel("events / bin")
    ax.set_title(rf"Parametrized NSBI channel at best-fit $\mu'$ = {ch.mu_prime:.2f}", fontsize=10)
    ax.legend(fontsize=8)
    rax.errorbar(b_centres, counts / fitted, yerr=np.sqrt(counts) / fitted, fmt="ko", ms=4)
    rax.stairs(at_one / fitted, b_edges, baseline=None, color="black", ls="--", lw=1.2)
    rax.axhline(1.0, color="grey", lw=0.8)
    rax.set_ylim(0.0, 2.0)
    rax.set_ylabel("data / fit")
    rax.set_xlabel(r"bin of the optimal observable $O_{\mu'}$ (quantile bins)")


def plot_data_vs_model(control: ControlRegionYields, binned: BinnedChannelYields, path: Path,
                       overwrite: bool = False) -> None:
    """Data vs pre-/post-fit model of a control region (left) and a parametrized-NSBI channel (right)."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 5.8), sharex="col", gridspec_kw={"height_ratios": (3, 1)})
    _control_region((axes[0, 0], axes[1, 0]), control)
    _binned_channel((axes[0, 1], axes[1, 1]), binned)
    fig.tight_layout()
    write_figure(fig, path, overwrite=overwrite, dpi=110, close=True)
