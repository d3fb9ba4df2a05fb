r"""Asymptotic thresholds and the crossings of a scanned test statistic.

The asymptotic (Wilks) interval at confidence level CL is
:math:`\{\mu: t(\mu) < F^{-1}_{\chi^2_n}(\mathrm{CL})\}`, with :math:`n` the number of scanned
parameters; on a scan grid its ends are the linearly interpolated crossings of the threshold.
"""

from __future__ import annotations

import math

import numpy as np

from ..library import load

ROOT = load()

__all__ = ["chi2_threshold", "crossing_interval", "normal_sf"]


def normal_sf(x: float) -> float:
    """1 - Phi(x), the upper tail of the standard normal distribution (a p-value of Z = x).

    >>> round(normal_sf(1.6448536269514722), 12)
    0.05
    """
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def chi2_threshold(cl: float, ndof: int = 1) -> float:
    """Quantile of the chi-square distribution: t-threshold of an asymptotic interval."""
    return float(ROOT.Math.chisquared_quantile(cl, ndof))


def crossing_interval(x: np.ndarray, t: np.ndarray, threshold: float, x_best: float) -> tuple[float, float]:
    """Lower and upper crossing of ``t = threshold`` around ``x_best`` on a scan (linear
    interpolation between scan points); NaN on a side where the scan does not cross."""
    x = np.asarray(x, dtype=float)
    t = np.asarray(t, dtype=float)
    order = np.argsort(x)
    x, t = x[order], t[order]
    lo = hi = float("nan")
    for i in range(len(x) - 1):
        a, b = t[i] - threshold, t[i + 1] - threshold
        if a == b or a * b > 0:
            continue
        cross = x[i] + (x[i + 1] - x[i]) * a / (a - b)
        if x[i + 1] <= x_best and a > 0 >= b:
            lo = cross
        elif x[i] >= x_best and a <= 0 < b and np.isnan(hi):
            hi = cross
    return lo, hi
