r"""Binnings of the optimal observable: fixed edges, or quantiles from a weighted quantile sketch.

:class:`FixedEdges` are fixed edges on the binned variable :math:`T_{\mu'}`;
:class:`Quantiles` are bins of equal expected yield under a chosen hypothesis (by default the
reference), computed per grid point from a first streaming pass with the mergeable weighted
quantile sketch :class:`QuantileSketch` (rank error below about 0.1% of the total; the
templates themselves are exact histograms in the edges found). :func:`bin_index` and
:func:`accumulate` are the histogramming primitives of :func:`roonsbi.binned.build_templates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FixedEdges", "QuantileSketch", "Quantiles", "accumulate", "bin_index", "quantile_fractions"]


@dataclass(frozen=True)
class FixedEdges:
    """Fixed bin edges on the binned variable T_mu' (or on the column of ``observable``).

    Args:
        edges: B+1 strictly increasing edges, the same for every grid point, or an array of
            shape (K, B+1) with one row per grid point.
        flow: put events below the first / above the last edge into the first / last bin
            (default), so that every process keeps its full yield nu_J; with False they are dropped.
    """

    edges: Any
    flow: bool = True


@dataclass(frozen=True)
class Quantiles:
    """Bins of equal expected yield (or of given cumulative fractions) under a hypothesis,
    computed separately for every grid point (first streaming pass).

    Args:
        bins: number of bins B.
        hypothesis: POI value of the hypothesis whose expected yield is split (default: the
            reference of the templates, i.e. the SM).
        fractions: optional B-1 interior cumulative fractions in (0, 1), strictly increasing
            (e.g. finer bins in the tails); default equal fractions b/B.
        sketch_size: resolution of the quantile sketch (points per grid point and pass).
    """

    bins: int
    hypothesis: float | None = None
    fractions: Any = None
    sketch_size: int = 8192


def quantile_fractions(binning: Quantiles) -> np.ndarray:
    """The B-1 interior cumulative fractions of ``binning`` (default b/B), checked."""
    nb = int(binning.bins)
    if nb < 1:
        raise ValueError(f"Quantiles needs at least one bin, got {binning.bins}")
    if binning.fractions is None:
        return np.arange(1, nb) / nb
    fractions = np.asarray(binning.fractions, dtype=float).ravel()
    if fractions.size != nb - 1 or np.any(np.diff(fractions) <= 0) or (
            fractions.size and (fractions[0] <= 0 or fractions[-1] >= 1)):
        raise ValueError(f"Quantiles.fractions must be {nb - 1} strictly increasing values in (0, 1), "
                         f"got {fractions}")
    return fractions


class QuantileSketch:
    """Mergeable summary of a weighted sample of one variable with J weight columns.

    Rows (value, weights[J]) stand for the events between the previous row's value and
    their own; the cumulative weights at the rows are exact up to the compressions, each of
    which merges rows into segments of at most 1/size of the total |weight|.
    """

    def __init__(self, n_weights: int, size: int):
        self.size = int(size)
        self.values = np.empty(0)
        self.weights = np.empty((0, n_weights))

    @staticmethod
    def _compress(values: np.ndarray, weights: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(values)
        values, weights = values[order], weights[order]
        if values.size <= size:
            return values, weights
        measure = np.cumsum(np.abs(weights).sum(axis=1))
        total = measure[-1]
        if total <= 0:
            return values[-1:], weights.sum(axis=0, keepdims=True)
        targets = total * np.arange(1, size + 1) / size
        ends = np.unique(np.minimum(np.searchsorted(measure, targets, side="left"), values.size - 1))
        ends[-1] = values.size - 1
        starts = np.concatenate([[0], ends[:-1] + 1])
        return values[ends], np.add.reduceat(weights, starts, axis=0)

    def add(self, values: np.ndarray, weights: np.ndarray) -> None:
        finite = ~np.isnan(values)
        v, w = self._compress(values[finite], weights[finite], self.size)
        self.values = np.concatenate([self.values, v])
        self.weights = np.concatenate([self.weights, w])
        if self.values.size > 16 * self.size:
            self.values, self.weights = self._compress(self.values, self.weights, 4 * self.size)

    def finish(self) -> None:
        self.values, self.weights = self._compress(self.values, self.weights, 16 * self.size)

    def quantiles(self, a: np.ndarray, fractions: np.ndarray) -> np.ndarray:
        """Values where the cumulative of sum_J a_J w_J reaches the fractions of its total."""
        h = self.weights @ a
        c = np.cumsum(h)
        total = c[-1] if c.size else 0.0
        if not (total > 0):
            raise ValueError("the hypothesis has no positive expected yield in the events")
        out = np.empty(len(fractions))
        for i, q in enumerate(fractions):
            target = q * total
            r = int(np.argmax(c >= target))
            prev_c = c[r - 1] if r > 0 else 0.0
            prev_v = self.values[r - 1] if r > 0 else self.values[0]
            frac = (target - prev_c) / h[r] if h[r] > 0 else 1.0
            v0, v1 = prev_v, self.values[r]
            if not (np.isfinite(v0) and np.isfinite(v1)):
                out[i] = v1 if np.isfinite(v1) else v0
            else:
                out[i] = v0 + min(max(frac, 0.0), 1.0) * (v1 - v0)
        return out



def bin_index(values: np.ndarray, edges: np.ndarray, flow: bool) -> np.ndarray:
    """Bin of each value for edges (B+1,); -1 for values outside without flow (or NaN)."""
    idx = np.searchsorted(edges[1:-1], values, side="right")
    if not flow:
        outside = (values < edges[0]) | (values > edges[-1])
        idx = np.where(outside, -1, idx)
    return np.where(np.isnan(values), -1, idx).astype(np.int64)


def accumulate(out: np.ndarray, idx: np.ndarray, weights: np.ndarray, nb: int, ok: np.ndarray | None) -> None:
    """out += per-bin sums of weights (``ok``: mask of the events in a bin, None for all)."""
    if ok is None:
        out += np.bincount(idx, weights=weights, minlength=nb)
    else:
        out += np.bincount(idx[ok], weights=weights[ok], minlength=nb)
