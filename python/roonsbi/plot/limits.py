r"""The "Brazil" plot of a CLs scan (:func:`plot_limit_bands`): observed :math:`\mathrm{CL}_s(\mu)`,
the expected median and its :math:`\pm1\sigma` (green) and :math:`\pm2\sigma` (yellow) bands, and
the line :math:`\mathrm{CL}_s = 1 - \mathrm{CL}` whose crossings are the upper limits
(:mod:`roonsbi.infer.limits`).

Example (numbers only)::

    >>> import numpy as np
    >>> from roonsbi.infer import CLsResult
    >>> scan = [CLsResult("mu", m, 0.0, 0.0, 0.0, 0.0, np.exp(-m), np.exp(-m * np.array([2, 1.5, 1, 0.7, 0.5])))
    ...         for m in (0.5, 1.0, 2.0, 4.0)]
    >>> fig = plot_limit_bands(scan)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['observed', 'expected', 'expected $\\pm 1\\sigma$', 'expected $\\pm 2\\sigma$', '$\\mathrm{CL}_s$ = 0.05']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..infer.limits import BANDS
from ..infer.results import CLsResult, UpperLimit
from ..spec import PathLike
from .figure import PlotOptions, plotting

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["plot_limit_bands"]


def plot_limit_bands(
    scan: UpperLimit | Sequence[CLsResult],
    path: PathLike | None = None,
    *,
    cl: float | None = None,
    show_observed: bool = True,
    logy: bool = False,
    xlabel: str | None = None,
    title: str | None = None,
    **options: Unpack[PlotOptions],
) -> Any:
    r"""CLs against the POI from a CLs scan: observed (black, points), expected median (dashed),
    :math:`\pm1\sigma` and :math:`\pm2\sigma` bands, and :math:`\mathrm{CL}_s = 1 - \mathrm{cl}` (red).

    Args:
        scan: :func:`~roonsbi.infer.limits.cls_scan`'s results, or an
            :class:`~roonsbi.infer.results.UpperLimit` (its ``points``; its limits are marked as
            vertical lines: observed solid, expected median dashed).
        cl: the confidence level of the red line (default: the UpperLimit's, else 0.95).
        show_observed: False for an expected-only (blinded) plot.
        logy: logarithmic CLs axis.
        Other arguments as in :func:`roonsbi.plot.plot_scan`.

    Returns:
        the ``Figure``: lines observed (if shown), expected median, the CL line; two
        ``fill_between`` collections, +-1 sigma then +-2 sigma, between the expected CLs of the bands
        (-1, +1) and (-2, +2) sigma (:data:`~roonsbi.infer.limits.BANDS`).
    """
    limit = scan if isinstance(scan, UpperLimit) else None
    points = sorted(scan.points if isinstance(scan, UpperLimit) else scan, key=lambda r: r.mu)
    if len(points) < 2:
        raise ValueError(f"plot_limit_bands needs a CLs scan of at least 2 points, got {len(points)}")
    cl = cl if cl is not None else (limit.cl if limit is not None else 0.95)
    mu = np.array([p.mu for p in points])
    observed = np.array([p.cls for p in points])
    expected = np.array([np.asarray(p.expected, dtype=float) for p in points])  # (n, 5)
    band = {k: expected[:, i] for i, k in enumerate(BANDS)}
    with plotting("plot_limit_bands", path, options, 6.8, 4.8) as fig:
        ax = fig.add_subplot()
        if show_observed:
            ax.plot(mu, observed, color="black", marker="o", ms=4, lw=1.6, label="observed")
        ax.plot(mu, band[0], color="black", ls="--", lw=1.4, label="expected")
        ax.fill_between(mu, np.minimum(band[-1], band[1]), np.maximum(band[-1], band[1]), color="limegreen",
                        lw=0, label=r"expected $\pm 1\sigma$", zorder=-1)
        ax.fill_between(mu, np.minimum(band[-2], band[2]), np.maximum(band[-2], band[2]), color="gold",
                        lw=0, label=r"expected $\pm 2\sigma$", zorder=-2)
        ax.axhline(1.0 - cl, color="tab:red", lw=1.2, label=rf"$\mathrm{{CL}}_s$ = {1.0 - cl:.3g}")
        if limit is not None:
            if show_observed:
                ax.axvline(limit.observed, color="black", lw=0.8, label="_nolegend_")
            ax.axvline(limit.median, color="black", lw=0.8, ls="--", label="_nolegend_")
        ax.set_xlabel(xlabel or (r"$\mu$" if points[0].poi == "mu" else points[0].poi))
        ax.set_ylabel(r"$\mathrm{CL}_s$")
        ax.set_xlim(mu[0], mu[-1])
        if logy:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0.0, 1.05)
        if title:
            ax.set_title(title)
        ax.legend(loc="upper right", framealpha=0.9)
    return fig
