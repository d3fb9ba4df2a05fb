r"""Templates of parametrized NSBI: per-mu' histograms of the optimal observable.

For a value :math:`\mu'` of the POI, the density ratio of the model at :math:`\mu'` to the
model at the reference hypothesis :math:`\mu_\mathrm{ref}` (the SM, :math:`\mu = 1`),

.. math::

    O_{\mu'}(x) = \frac{p(x|\mu')}{p(x|\mu_\mathrm{ref})},\qquad
    \frac{p(x|\mu)}{p_\mathrm{ref}(x)} = \frac{\sum_J f_J(\mu)\,\nu_J\,r_J(x)}{\sum_J f_J(\mu)\,\nu_J},

is the optimal observable for testing :math:`\mu'` (DESIGN 1.3). It is a function of the
ratio columns only. This module histograms it, for each point :math:`\mu'_k` of a grid,
per process and per systematic variation, streaming the events in chunks.

**The binned variable** is not :math:`O_{\mu'}` itself but the monotone transform

.. math::

    T_{\mu'}(x) = \frac{\log O_{\mu'}(x)}{\mu' - \mu_\mathrm{ref}}
                \xrightarrow{\ \mu'\to\mu_\mathrm{ref}\ }
                \frac{\partial}{\partial\mu}\log p(x|\mu)\Big|_{\mu_\mathrm{ref}}
                \quad\text{(the score)},

which orders the events like :math:`O_{\mu'}` (reversed below :math:`\mu_\mathrm{ref}`; the
bins are the same sets), stays well defined at :math:`\mu' = \mu_\mathrm{ref}` where
:math:`O \equiv 1`, and is continuous in :math:`\mu'`: bin *b* covers a similar region of
:math:`x` at neighbouring grid points, which is what the vertical interpolation in
:math:`\mu'` of :class:`RooNSBIParamHistPdf` relies on. (At the reference point itself the
score is taken by a central difference.)

**Binnings** (:class:`FixedEdges`, :class:`Quantiles`): fixed edges on
:math:`T_{\mu'}`, or bins of equal expected yield under a chosen hypothesis (by default the
reference), computed per grid point from a first streaming pass with a mergeable weighted
quantile sketch (rank error below about 0.1% of the total; the templates themselves are
exact histograms in the edges found).

**Normalisation** (events :math:`x_i` with weights :math:`w_i` from one reference/MC sample):

.. math::

    T_{Jkb} = \nu_J\,\frac{\sum_{i\in b} w_i\,r_J(x_i)}{\sum_{i} w_i\,r_J(x_i)},\qquad
    T^\pm_{Jmkb} = \nu_J\,\frac{\sum_{i\in b} w_i\,r_J(x_i)\,g_{Jm}(x_i,\pm1)}{\sum_{i} w_i\,r_J(x_i)},

so the nominal templates of process *J* sum to :math:`\nu_J` exactly (the yields of the
unbinned :class:`RooNSBIPdf`) when every event is in a bin (quantile binning, or fixed
edges with ``flow=True``). The variations are normalised by the *nominal* sum, so they keep
the MC estimate of the shape's yield effect, :math:`\nu_J E_J[g]`, which is 1 for exact
density-ratio columns (the unbinned model's convention: shapes are not renormalised; the
model builder can renormalise them on request). Normalisation systematics carry over as they
are.

**MC statistics**: per bin the sums :math:`\Sigma_{JLkb} = \frac{\nu_J\nu_L}{S_J S_L}
\sum_{i\in b} w_i^2 r_J(x_i) r_L(x_i)` (all process pairs, since all processes share the
events), from which the relative MC uncertainty of the expected total at any hypothesis
follows: :math:`\sqrt{a^T\Sigma_{kb} a}/(a\cdot T_{kb})` with :math:`a_J = f_J(\mu)`; for one
process this is HistFactory's :math:`\sqrt{\sum w^2}/\sum w`.

Column names are those of :mod:`roonsbi.model` and :mod:`roonsbi.columns`: ``r_<proc>``,
``g_<proc>_<np>_lo`` / ``g_<proc>_<np>_hi`` and ``weight``. A *source* of events is a dict of
arrays (one chunk), a list of such dicts, a callable returning an iterable of chunks (e.g.
``lambda: uproot.iterate("mc.root:events", step_size="100 MB", library="np")``), or any other
iterable of chunks (one pass only: not enough for :class:`Quantiles`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

import numpy as np

from ..naming import WEIGHT_NAME
from ..spec import (
    DEFAULT_HISTOSYS_CODE,
    NormSys,
    check_column,
    check_normsys,
    check_shape_code,
    evaluate_formula,
)

ArrayLike = Union[np.ndarray, Sequence[float]]
Chunk = Mapping[str, Any]
Source = Union[Chunk, Sequence[Chunk], Callable[[], Iterable[Chunk]], Iterable[Chunk]]

#: PiecewiseInterpolation codes accepted for binned shape systematics (histosys).
#: Default histosys code: 4, additive 6th-order polynomial / linear (HistFactory's default, pyhf code4p).

WEIGHT_COLUMN = WEIGHT_NAME


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------
@dataclass
class BinnedProcess:
    """One process J of a parametrized (binned) NSBI channel.

    Args:
        name: process name; its ratio column is ``r_<name>``.
        nominal_yield: nu_J, the expected number of events at f_J = 1, alpha = 0.
        coefficient: f_J of the POIs: a RooFit formula in the POI names (``"sqrt(mu)"``,
            ``"mu - sqrt(mu)"``), as :class:`roonsbi.model.Process`, or a Python callable
            taking a dict of POI values.
        normsys: nuisance-parameter name -> :class:`~roonsbi.model.NormSys` or ``(lo, hi)``.
        histosys: nuisance-parameter names whose per-event columns ``g_<name>_<np>_lo/_hi`` are in
            the events; a mapping name -> PiecewiseInterpolation code for the binned histosys
            (default 4, HistFactory's histosys default), or a sequence of names.
    """

    name: str
    nominal_yield: float
    coefficient: Any = "1"
    normsys: Mapping[str, NormSys | tuple[float, float]] = field(default_factory=dict)
    histosys: Mapping[str, int] | Sequence[str] = field(default_factory=dict)

    def histosys_codes(self) -> dict[str, int]:
        if isinstance(self.histosys, Mapping):
            return {k: int(v) for k, v in self.histosys.items()}
        return dict.fromkeys(self.histosys, DEFAULT_HISTOSYS_CODE)

    def normsys_factors(self) -> dict[str, NormSys]:
        return {k: (v if isinstance(v, NormSys) else NormSys(*v)) for k, v in self.normsys.items()}


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


# ---------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------
@dataclass
class Templates:
    """Per-grid-point templates of a parametrized NSBI channel (see the module doc).

    Arrays: ``nominal`` (K, J, B) expected yields at f_J = 1, alpha = 0; ``histosys`` maps
    (process, np) to the (lo, hi) contents, each (K, B); ``sumw2`` (K, J, J, B) the normalised
    sums of squared weights per process pair; ``mc_entries`` (K, B) the number of MC events per
    bin; ``data`` / ``data_sumw2`` (K, B) the binned data (``data_sumw2`` None for unweighted
    data); ``edges`` (K, B+1) the bin edges on the binned variable (+-inf for open edges).
    """

    poi: str
    reference: float
    pois: dict[str, float]
    grid: np.ndarray
    edges: np.ndarray
    processes: list[BinnedProcess]
    nominal: np.ndarray
    histosys: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    histosys_totals: dict[tuple[str, str], tuple[float, float]]
    sumw2: np.ndarray
    mc_entries: np.ndarray
    mc_totals: np.ndarray
    n_events: int
    observable: str = "optimal"
    binning: str = ""
    data: np.ndarray | None = None
    data_sumw2: np.ndarray | None = None
    n_data: int = 0

    @property
    def num_bins(self) -> int:
        return int(self.edges.shape[1] - 1)

    @property
    def num_grid_points(self) -> int:
        return int(self.grid.size)

    @property
    def process_names(self) -> list[str]:
        return [p.name for p in self.processes]

    # -- model quantities --------------------------------------------------------------
    def coefficients(self, values: Mapping[str, float] | float | None = None) -> np.ndarray:
        """f_J at the POI values (a float sets the templates' POI; others at their reference)."""
        return _coefficients(self.processes, self.poi, self.pois, values)

    def expected(self, values: Mapping[str, float] | float | None = None) -> np.ndarray:
        """Expected yields (K, B) at the POI values (alpha = 0, gamma = 1): sum_J f_J T_Jkb."""
        return np.einsum("j,kjb->kb", self.coefficients(values), self.nominal)

    def asimov(self, values: Mapping[str, float] | float | None = None) -> np.ndarray:
        """Asimov data (K, B): the expected yields at the POI values (default: the reference)."""
        return self.expected(values)

    def stat_uncertainty(self, values: Mapping[str, float] | float | None = None) -> np.ndarray:
        """Relative MC uncertainty (K, B) of the expected total at the POI values (default:
        the reference): sqrt(a^T Sigma_kb a) / (a . T_kb), a_J = f_J."""
        a = self.coefficients(values)
        var = np.einsum("j,l,kjlb->kb", a, a, self.sumw2)
        total = np.einsum("j,kjb->kb", a, self.nominal)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(np.clip(var, 0.0, None)) / np.abs(total)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the templates to a ``.npz`` file (arrays plus JSON metadata)."""
        path = Path(path)
        meta = {
            "poi": self.poi, "reference": self.reference, "pois": self.pois, "n_events": self.n_events,
            "observable": self.observable, "binning": self.binning, "n_data": self.n_data,
            "processes": [
                {"name": p.name, "nominal_yield": p.nominal_yield,
                 "coefficient": p.coefficient if isinstance(p.coefficient, str) else None,
                 "normsys": {k: [v.lo, v.hi, v.code] for k, v in p.normsys_factors().items()},
                 "histosys": p.histosys_codes()}
                for p in self.processes
            ],
            "histosys": [[j, m] for j, m in self.histosys],
            "histosys_totals": [list(v) for v in self.histosys_totals.values()],
        }
        if any(not isinstance(p.coefficient, str) for p in self.processes):
            raise ValueError("templates with Python-callable coefficients cannot be saved; use formula strings")
        arrays = {"grid": self.grid, "edges": self.edges, "nominal": self.nominal, "sumw2": self.sumw2,
                  "mc_entries": self.mc_entries, "mc_totals": self.mc_totals}
        for i, (lo, hi) in enumerate(self.histosys.values()):
            arrays[f"histosys_{i}_lo"] = lo
            arrays[f"histosys_{i}_hi"] = hi
        if self.data is not None:
            arrays["data"] = self.data
        if self.data_sumw2 is not None:
            arrays["data_sumw2"] = self.data_sumw2
        with open(path, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Templates:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in f.files if k != "meta"}
        processes = [
            BinnedProcess(p["name"], p["nominal_yield"], p["coefficient"],
                          {k: NormSys(*v[:2], int(v[2])) for k, v in p["normsys"].items()}, p["histosys"])
            for p in meta["processes"]
        ]
        keys = [tuple(k) for k in meta["histosys"]]
        histosys = {k: (arrays[f"histosys_{i}_lo"], arrays[f"histosys_{i}_hi"]) for i, k in enumerate(keys)}
        totals = {k: tuple(v) for k, v in zip(keys, meta["histosys_totals"])}
        return cls(meta["poi"], meta["reference"], meta["pois"], arrays["grid"], arrays["edges"], processes,
                   arrays["nominal"], histosys, totals, arrays["sumw2"], arrays["mc_entries"], arrays["mc_totals"],
                   meta["n_events"], meta["observable"], meta["binning"], arrays.get("data"),
                   arrays.get("data_sumw2"), meta["n_data"])


# ---------------------------------------------------------------------------------------
# Coefficients and the binned variable
# ---------------------------------------------------------------------------------------
def _coefficient_function(coefficient: Any, names: Sequence[str]) -> Callable[[Mapping[str, float]], float]:
    """f_J(values) of a formula string (:func:`roonsbi.spec.evaluate_formula`) or a callable."""
    if callable(coefficient) and not isinstance(coefficient, str):
        return coefficient
    if not isinstance(coefficient, str):
        raise TypeError(f"a coefficient must be a formula string or a callable, got {type(coefficient).__name__}")
    return lambda values: evaluate_formula(coefficient, values)


def _coefficients(processes: Sequence[BinnedProcess], poi: str, pois: Mapping[str, float],
                  values: Mapping[str, float] | float | None) -> np.ndarray:
    point = dict(pois)
    if isinstance(values, Mapping):
        point.update({k: float(v) for k, v in values.items()})
    elif values is not None:
        point[poi] = float(values)
    names = sorted(point)
    out = np.array([_coefficient_function(p.coefficient, names)(point) for p in processes], dtype=float)
    if not np.all(np.isfinite(out)):
        bad = [p.name for p, v in zip(processes, out) if not np.isfinite(v)]
        raise ValueError(f"coefficients f_J of processes {bad} are not finite at {point}")
    return out


class _Observable:
    """T_mu'(x) for the grid points, from the ratio columns (see the module doc)."""

    def __init__(self, processes: Sequence[BinnedProcess], poi: str, pois: Mapping[str, float], reference: float,
                 grid: np.ndarray):
        nu = np.array([p.nominal_yield for p in processes], dtype=float)
        self.reference = reference
        self.grid = grid
        # one column of A per grid point: f_J(mu'_k) nu_J, and the reference
        coef = lambda mu: _coefficients(processes, poi, pois, mu) * nu
        self.a_ref = coef(reference)
        self.a_grid = np.stack([coef(m) for m in grid], axis=1)  # (J, K)
        self.nu_ref = self.a_ref.sum()
        self.nu_grid = self.a_grid.sum(axis=0)
        scale = max(1.0, abs(reference))
        self.at_reference = np.abs(grid - reference) <= 1e-9 * scale
        if np.any(self.at_reference):
            # the score at the reference by a central difference (one-sided if the
            # coefficients are not defined on one side, e.g. sqrt(mu) at mu = 0)
            h = 1e-4 * scale
            lo, hi = reference - h, reference + h
            try:
                a_lo = coef(lo)
            except ValueError:
                a_lo, lo = self.a_ref, reference
            try:
                a_hi = coef(hi)
            except ValueError:
                a_hi, hi = self.a_ref, reference
            self.a_lo, self.a_hi, self.h = a_lo, a_hi, hi - lo
        for k, m in enumerate(grid):
            if not (self.nu_grid[k] > 0):
                raise ValueError(f"the expected number of events nu({poi} = {m}) = {self.nu_grid[k]:.6g} is not "
                                 "positive: the optimal observable is undefined at this grid point")
        if not (self.nu_ref > 0):
            raise ValueError(f"nu at the reference {poi} = {reference} is {self.nu_ref:.6g}, not positive")

    def values(self, ratios: np.ndarray) -> np.ndarray:
        """T (n, K) from the ratio columns R (n, J)."""
        log_ref = self.log_reference(ratios)
        return np.stack([self.column(ratios, k, log_ref) for k in range(self.grid.size)], axis=1)

    def log_reference(self, ratios: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(ratios @ self.a_ref) - np.log(self.nu_ref)

    def column(self, ratios: np.ndarray, k: int, log_ref: np.ndarray) -> np.ndarray:
        """T_mu'_k (n,) (matrix-vector products: (n, J) @ (J, K) is slow in numpy for small J)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.at_reference[k]:
                return (np.log(ratios @ self.a_hi) - np.log(self.a_hi.sum())
                        - np.log(ratios @ self.a_lo) + np.log(self.a_lo.sum())) / self.h
            log_k = np.log(ratios @ np.ascontiguousarray(self.a_grid[:, k])) - np.log(self.nu_grid[k])
            return (log_k - log_ref) / (self.grid[k] - self.reference)


# ---------------------------------------------------------------------------------------
# Sources of chunks
# ---------------------------------------------------------------------------------------
class _Source:
    """Chunks of events: re-iterable if the source allows it."""

    def __init__(self, source: Source, what: str):
        self.what = what
        self._used = False
        if isinstance(source, Mapping) or _is_record_array(source):
            self._factory: Callable[[], Iterable[Chunk]] | None = lambda: [source]
            self._once = None
        elif isinstance(source, (list, tuple)):
            self._factory = lambda: source
            self._once = None
        elif callable(source):
            self._factory = source
            self._once = None
        elif isinstance(source, Iterable):
            self._factory = None
            self._once = source
        else:
            raise TypeError(f"{what}: expected a dict of arrays, a list of chunks, a callable returning chunks or an "
                            f"iterable of chunks, got {type(source).__name__}")

    @property
    def reiterable(self) -> bool:
        return self._factory is not None

    def __iter__(self) -> Iterator[Chunk]:
        if self._factory is not None:
            return iter(self._factory())
        if self._used:
            raise TypeError(f"{self.what}: this iterable of chunks can be read only once; pass a list of chunks or a "
                            "callable returning a fresh iterable (e.g. lambda: uproot.iterate(...))")
        self._used = True
        return iter(self._once)


def _is_record_array(obj: Any) -> bool:
    return hasattr(obj, "fields") and not isinstance(obj, (list, tuple))


def _columns_of(chunk: Any) -> set[str]:
    if hasattr(chunk, "fields"):
        return set(chunk.fields)
    return set(chunk.keys())


def _progress(total: int | None, desc: str, enabled: bool | None):
    show = sys.stderr.isatty() if enabled is None else bool(enabled)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _NoProgress()
    return tqdm(total=total, desc=desc, unit="evt", unit_scale=True, disable=not show, leave=False)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class _Columns:
    """The columns needed from a chunk, checked."""

    ratios: np.ndarray  # (n, J)
    weights: np.ndarray  # (n,)
    shapes: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    column: np.ndarray | None  # the plain-histogram column, if any
    weighted: bool


def _read_chunk(chunk: Any, index: int, offset: int, processes: Sequence[BinnedProcess], shapes: Sequence[tuple[str, str]],
                weight: str | None, column: str | None, what: str, need_weights: bool = False) -> _Columns:
    have = _columns_of(chunk)
    needed = [f"r_{p.name}" for p in processes]
    for j, m in shapes:
        needed += [f"g_{j}_{m}_lo", f"g_{j}_{m}_hi"]
    if column is not None:
        needed.append(column)
    missing = [c for c in needed if c not in have]
    if missing:
        raise ValueError(f"{what}, chunk {index}: missing column(s) {missing} (columns present: {sorted(have)})")
    n = None

    def get(col: str, role: str, strictly_positive: bool | None) -> np.ndarray:
        nonlocal n
        arr = np.asarray(chunk[col], dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"{what}, chunk {index}: column '{col}' must be 1-D, got shape {arr.shape}")
        if n is None:
            n = arr.size
        elif arr.size != n:
            raise ValueError(f"{what}, chunk {index}: column '{col}' has {arr.size} entries but the other columns "
                             f"have {n}")
        if strictly_positive is not None:
            try:
                check_column(col, role, arr, strictly_positive)
            except ValueError as err:
                raise ValueError(f"{what}, chunk {index} (events from {offset}): {err}") from None
        elif not np.all(np.isfinite(arr)):
            bad = int(np.argmax(~np.isfinite(arr)))
            raise ValueError(f"{what}, chunk {index} (events from {offset}): {role} column '{col}' has "
                             f"{np.count_nonzero(~np.isfinite(arr))} NaN or infinite entries (first: entry {bad} = "
                             f"{arr[bad]})")
        return arr

    ratios = np.stack([get(f"r_{p.name}", "ratio", False) for p in processes], axis=1)
    sh = {(j, m): (get(f"g_{j}_{m}_lo", "shape (-1 sigma)", True), get(f"g_{j}_{m}_hi", "shape (+1 sigma)", True))
          for j, m in shapes}
    col = get(column, "observable", None) if column is not None else None
    weighted = weight is not None and weight in have
    if weighted:
        w = get(weight, "weight", None)
    elif need_weights:
        raise ValueError(f"{what}, chunk {index}: missing weight column '{weight}'")
    else:
        w = np.ones(ratios.shape[0])
    return _Columns(ratios, w, sh, col, weighted)


# ---------------------------------------------------------------------------------------
# Weighted quantile sketch
# ---------------------------------------------------------------------------------------
class _Sketch:
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


# ---------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------
def _bin_index(values: np.ndarray, edges: np.ndarray, flow: bool) -> np.ndarray:
    """Bin of each value for edges (B+1,); -1 for values outside without flow (or NaN)."""
    nb = edges.size - 1
    idx = np.searchsorted(edges[1:-1], values, side="right")
    if not flow:
        outside = (values < edges[0]) | (values > edges[-1])
        idx = np.where(outside, -1, idx)
    del nb
    return np.where(np.isnan(values), -1, idx).astype(np.int64)


def _accumulate(out: np.ndarray, idx: np.ndarray, weights: np.ndarray, nb: int, ok: np.ndarray | None) -> None:
    """out += per-bin sums of weights (``ok``: mask of the events in a bin, None for all)."""
    if ok is None:
        out += np.bincount(idx, weights=weights, minlength=nb)
    else:
        out += np.bincount(idx[ok], weights=weights[ok], minlength=nb)


def build_templates(
    source: Source,
    processes: Sequence[BinnedProcess],
    grid: ArrayLike,
    binning: FixedEdges | Quantiles,
    *,
    poi: str = "mu",
    reference: float = 1.0,
    pois: Mapping[str, float] | None = None,
    data: Source | None = None,
    observable: str | None = None,
    weight: str | None = WEIGHT_COLUMN,
    progress: bool | None = None,
    total: int | None = None,
) -> Templates:
    r"""Histogram the optimal observable for every grid point, per process and variation.

    Args:
        source: the reference/MC events (see the module doc for the accepted forms); each
            chunk has ``r_<proc>`` for every process, ``g_<proc>_<np>_lo/_hi`` for every
            histosys and, if present, the weight column.
        processes: the processes J (:class:`BinnedProcess`).
        grid: the grid points mu'_k of the POI ``poi`` (strictly increasing).
        binning: :class:`FixedEdges` or :class:`Quantiles` (two passes over ``source``).
        poi: the POI whose values the grid holds.
        reference: the reference hypothesis mu_ref of the observable's denominator (the SM).
        pois: values of all POIs used by the coefficients (default ``{poi: reference}``);
            POIs other than ``poi`` stay at these values in the observable.
        data: optional events to histogram in the same binning (observed data, or weighted
            expected data): ``r_<proc>`` columns and optionally the weight column.
        observable: None for the optimal observable T_mu'; or the name of a column to
            histogram instead, the same at every grid point (a plain histogram of one variable,
            for comparisons).
        weight: name of the weight column (None: unit weights; missing in a chunk: unit weights).
        progress: show a tqdm progress bar (default: when stderr is a terminal).
        total: number of MC events, for the progress bar.

    Raises:
        ValueError: missing columns, columns of different lengths, NaN/inf or negative ratios,
            non-positive shape columns, non-finite weights, unknown histosys codes, bad edges,
            duplicate names, or quantile edges that are not distinct.
        TypeError: a one-pass iterable with :class:`Quantiles`.
    """
    if not processes:
        raise ValueError("build_templates needs at least one process")
    names = [p.name for p in processes]
    if len(set(names)) != len(names):
        raise ValueError(f"process names must be unique, got {names}")
    grid = np.asarray(grid, dtype=float).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError(f"the grid of {poi} must be finite and strictly increasing, got {grid}")
    pois = dict(pois or {})
    pois.setdefault(poi, float(reference))
    for p in processes:
        if not (np.isfinite(p.nominal_yield)):
            raise ValueError(f"nominal yield of process '{p.name}' is {p.nominal_yield}")
        for m, code in p.histosys_codes().items():
            check_shape_code("histosys", code, m, p.name)
        for m, ns in p.normsys_factors().items():
            check_normsys(ns, m, p.name)
    shapes = [(p.name, m) for p in processes for m in p.histosys_codes()]
    n_grid, n_proc = grid.size, len(processes)
    obs = _Observable(processes, poi, pois, float(reference), grid) if observable is None else None

    mc = _Source(source, "MC events")
    data_src = _Source(data, "data events") if data is not None else None

    def variable(cols: _Columns, what: str, index: int, offset: int, mc_events: bool) -> Iterator[np.ndarray]:
        """The binned variable, one grid point after the other (n,); NaN only for MC events
        without any density (they carry no weight and are dropped)."""
        if obs is None:
            for _ in range(n_grid):
                yield cols.column
            return
        log_ref = obs.log_reference(cols.ratios)
        no_density = None
        for k in range(n_grid):
            t = obs.column(cols.ratios, k, log_ref)
            bad = np.isnan(t)
            if bad.any():
                if mc_events:
                    if no_density is None:
                        no_density = cols.ratios.sum(axis=1) == 0
                    bad &= ~no_density
                if bad.any():
                    i = int(np.argmax(bad))
                    raise ValueError(
                        f"{what}, chunk {index}: the model density is negative or zero for event {offset + i} at "
                        f"{poi} = {grid[k]} or at the reference {poi} = {reference} (ratios "
                        f"{dict(zip(names, np.round(cols.ratios[i], 6)))}); check the coefficients and ratio columns")
            yield t

    # -- pass 1: quantile edges ------------------------------------------------------------
    if isinstance(binning, Quantiles):
        nb = int(binning.bins)
        if nb < 1:
            raise ValueError(f"Quantiles needs at least one bin, got {binning.bins}")
        if binning.fractions is not None:
            fractions = np.asarray(binning.fractions, dtype=float).ravel()
            if fractions.size != nb - 1 or np.any(np.diff(fractions) <= 0) or (
                    fractions.size and (fractions[0] <= 0 or fractions[-1] >= 1)):
                raise ValueError(f"Quantiles.fractions must be {nb - 1} strictly increasing values in (0, 1), "
                                 f"got {fractions}")
        else:
            fractions = np.arange(1, nb) / nb
        if not mc.reiterable:
            raise TypeError("quantile binning reads the MC events twice: pass a list of chunks or a callable "
                            "returning a fresh iterable of chunks (e.g. lambda: uproot.iterate(...)), not a one-pass "
                            "iterator")
        sketches = [_Sketch(n_proc, binning.sketch_size) for _ in range(n_grid)]
        bar = _progress(total, "templates: quantiles (pass 1/2)", progress)
        offset = 0
        for index, chunk in enumerate(mc):
            cols = _read_chunk(chunk, index, offset, processes, [], weight, observable, "MC events")
            wr = cols.weights[:, None] * cols.ratios
            for k, t in enumerate(variable(cols, "MC events", index, offset, True)):
                sketches[k].add(t, wr)
            offset += cols.weights.size
            bar.update(cols.weights.size)
            del chunk, cols, wr, t  # free this chunk before the next one is read
        bar.close()
        if offset == 0:
            raise ValueError("MC events: the source has no events")
        totals = sketches[0].weights.sum(axis=0)
        if np.any(totals <= 0):
            bad = [names[j] for j in np.flatnonzero(totals <= 0)]
            raise ValueError(f"MC events: the sum of w_i r_J(x_i) of process(es) {bad} is not positive")
        hyp = reference if binning.hypothesis is None else float(binning.hypothesis)
        a = _coefficients(processes, poi, pois, hyp) * np.array([p.nominal_yield for p in processes]) / totals
        edges = np.empty((n_grid, nb + 1))
        edges[:, 0], edges[:, -1] = -np.inf, np.inf
        for k in range(n_grid):
            sketches[k].finish()
            inner = sketches[k].quantiles(a, fractions)
            if nb > 1 and (np.any(np.diff(inner) <= 0) or not np.all(np.isfinite(inner))):
                raise ValueError(
                    f"cannot make {nb} bins of distinct edges at {poi}' = {grid[k]}: the binned variable takes too few "
                    f"distinct values (edges {np.array2string(inner, precision=4)}); use fewer bins")
            edges[k, 1:-1] = inner
        del sketches
        flow = True
        binning_desc = f"Quantiles({nb}, hypothesis={hyp})"
    elif isinstance(binning, FixedEdges):
        e = np.asarray(binning.edges, dtype=float)
        if e.ndim == 1:
            e = np.tile(e, (n_grid, 1))
        if e.ndim != 2 or e.shape[0] != n_grid or e.shape[1] < 2:
            raise ValueError(f"FixedEdges.edges must have shape (B+1,) or ({n_grid}, B+1), got {np.shape(binning.edges)}")
        if np.any(np.isnan(e)) or np.any(np.diff(e, axis=1) <= 0):
            raise ValueError("FixedEdges.edges must be strictly increasing (and not NaN) on every row")
        edges, flow, nb = e, bool(binning.flow), e.shape[1] - 1
        binning_desc = f"FixedEdges({nb} bins, flow={flow})"
    else:
        raise TypeError(f"binning must be FixedEdges or Quantiles, got {type(binning).__name__}")

    # -- pass 2 (or the only pass): fill ------------------------------------------------------
    raw_nom = np.zeros((n_grid, n_proc, nb))
    raw_var = {s: np.zeros((n_grid, 2, nb)) for s in shapes}
    raw_w2 = np.zeros((n_grid, n_proc, n_proc, nb))
    entries = np.zeros((n_grid, nb))
    sums = np.zeros(n_proc)
    var_sums = {s: np.zeros(2) for s in shapes}
    proc_index = {n: j for j, n in enumerate(names)}
    bar = _progress(total, "templates: filling" + (" (pass 2/2)" if isinstance(binning, Quantiles) else ""), progress)
    offset = 0
    for index, chunk in enumerate(mc):
        cols = _read_chunk(chunk, index, offset, processes, shapes, weight, observable, "MC events")
        w = cols.weights
        wr = w[:, None] * cols.ratios  # (n, J)
        sums += wr.sum(axis=0)
        wvar = {}
        for s, (g_lo, g_hi) in cols.shapes.items():
            j = proc_index[s[0]]
            wvar[s] = (wr[:, j] * g_lo, wr[:, j] * g_hi)
            var_sums[s] += (wvar[s][0].sum(), wvar[s][1].sum())
        w2rr = {(j, l): (w * w) * cols.ratios[:, j] * cols.ratios[:, l] for j in range(n_proc) for l in range(j, n_proc)}
        ones = np.ones_like(w)
        for k, t in enumerate(variable(cols, "MC events", index, offset, True)):
            idx = _bin_index(t, edges[k], flow)
            ok = None if idx.size == 0 or idx.min() >= 0 else idx >= 0
            _accumulate(entries[k], idx, ones, nb, ok)
            for j in range(n_proc):
                _accumulate(raw_nom[k, j], idx, wr[:, j], nb, ok)
            for s, (lo, hi) in wvar.items():
                _accumulate(raw_var[s][k, 0], idx, lo, nb, ok)
                _accumulate(raw_var[s][k, 1], idx, hi, nb, ok)
            for (j, l), v in w2rr.items():
                _accumulate(raw_w2[k, j, l], idx, v, nb, ok)
        offset += w.size
        bar.update(w.size)
        del chunk, cols, w, wr, wvar, w2rr, ones, t, idx  # free this chunk before the next one is read
    bar.close()
    n_events = offset
    if n_events == 0:
        raise ValueError("MC events: the source has no events")
    if np.any(sums <= 0):
        bad = [names[j] for j in np.flatnonzero(sums <= 0)]
        raise ValueError(f"MC events: the sum of w_i r_J(x_i) of process(es) {bad} is not positive")
    for j in range(n_proc):
        for l in range(j):
            raw_w2[:, j, l] = raw_w2[:, l, j]

    nu = np.array([p.nominal_yield for p in processes], dtype=float)
    scale = nu / sums
    nominal = raw_nom * scale[None, :, None]
    histosys = {s: (raw_var[s][:, 0] * scale[proc_index[s[0]]], raw_var[s][:, 1] * scale[proc_index[s[0]]])
                for s in shapes}
    histosys_totals = {s: (float(var_sums[s][0] * scale[proc_index[s[0]]]),
                           float(var_sums[s][1] * scale[proc_index[s[0]]])) for s in shapes}
    sumw2 = raw_w2 * (scale[:, None] * scale[None, :])[None, :, :, None]

    # -- data ---------------------------------------------------------------------------------
    counts = counts_w2 = None
    n_data = 0
    if data_src is not None:
        counts = np.zeros((n_grid, nb))
        counts_w2 = np.zeros((n_grid, nb))
        weighted = False
        bar = _progress(None, "templates: data", progress)
        for index, chunk in enumerate(data_src):
            cols = _read_chunk(chunk, index, n_data, processes, [], weight, observable, "data events")
            weighted |= cols.weighted
            for k, t in enumerate(variable(cols, "data events", index, n_data, False)):
                idx = _bin_index(t, edges[k], flow)
                ok = None if idx.size == 0 or idx.min() >= 0 else idx >= 0
                _accumulate(counts[k], idx, cols.weights, nb, ok)
                _accumulate(counts_w2[k], idx, cols.weights**2, nb, ok)
            n_data += cols.weights.size
            bar.update(cols.weights.size)
            del chunk, cols
        bar.close()
        if not weighted:
            counts_w2 = None

    return Templates(
        poi=poi, reference=float(reference), pois=pois, grid=grid, edges=edges, processes=list(processes),
        nominal=nominal, histosys=histosys, histosys_totals=histosys_totals, sumw2=sumw2, mc_entries=entries,
        mc_totals=sums, n_events=n_events, observable=observable or "optimal", binning=binning_desc,
        data=counts, data_sumw2=counts_w2, n_data=n_data,
    )


def optimal_observable(ratios: Mapping[str, ArrayLike], processes: Sequence[BinnedProcess], mu_prime: float,
                       poi: str = "mu", reference: float = 1.0, pois: Mapping[str, float] | None = None) -> np.ndarray:
    r"""The binned variable T_mu'(x) of events with ratio columns ``r_<proc>`` (see the module doc)."""
    pois = dict(pois or {})
    pois.setdefault(poi, float(reference))
    r = np.stack([np.asarray(ratios[f"r_{p.name}"], dtype=float) for p in processes], axis=1)
    return _Observable(processes, poi, pois, float(reference), np.array([float(mu_prime)])).values(r)[:, 0]
