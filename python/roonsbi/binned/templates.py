r"""Templates of parametrized NSBI: per-mu' histograms of the optimal observable.

For each point :math:`\mu'_k` of a grid, :func:`build_templates` histograms the binned variable
:math:`T_{\mu'}` (:mod:`roonsbi.binned.observable`) per process and per systematic variation,
streaming the events in chunks (:mod:`roonsbi.binned.chunks`), in a binning of
:mod:`roonsbi.binned.binning`. Bin *b* covers a similar region of :math:`x` at neighbouring
grid points, which is what the vertical interpolation in :math:`\mu'` of
:class:`RooNSBIParamHistPdf` relies on.

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
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..atomic import atomic_path, refuse_existing
from ..naming import WEIGHT_NAME
from ..spec import NormSys, check_normsys, check_shape_code
from .binning import FixedEdges, Quantiles, QuantileSketch, accumulate, bin_index, quantile_fractions
from .chunks import ChunkSource, Columns, Source, progress_bar, read_chunk
from .observable import Observable, coefficients
from .process import ArrayLike, BinnedProcess

__all__ = ["Templates", "build_templates"]



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
        return coefficients(self.processes, self.poi, self.pois, values)

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
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the templates to a ``.npz`` file (arrays plus JSON metadata); an existing file is
        replaced only with ``overwrite``, atomically (:mod:`roonsbi.atomic`)."""
        path = refuse_existing(path, overwrite)
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
        arrays: dict[str, Any] = {"grid": self.grid, "edges": self.edges, "nominal": self.nominal, "sumw2": self.sumw2,
                  "mc_entries": self.mc_entries, "mc_totals": self.mc_totals}
        for i, (lo, hi) in enumerate(self.histosys.values()):
            arrays[f"histosys_{i}_lo"] = lo
            arrays[f"histosys_{i}_hi"] = hi
        if self.data is not None:
            arrays["data"] = self.data
        if self.data_sumw2 is not None:
            arrays["data_sumw2"] = self.data_sumw2
        with atomic_path(path, overwrite) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Templates:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in f.files if k != "meta"}
        processes = [
            BinnedProcess(p["name"], p["nominal_yield"], p["coefficient"],
                          {k: NormSys(float(v[0]), float(v[1]), int(v[2])) for k, v in p["normsys"].items()},
                          p["histosys"])
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
# Building, step by step
# ---------------------------------------------------------------------------------------
@dataclass
class _Setup:
    """The checked inputs of :func:`build_templates`."""

    processes: list[BinnedProcess]
    grid: np.ndarray
    poi: str
    reference: float
    pois: dict[str, float]
    shapes: list[tuple[str, str]]  #: (process, nuisance) of every histosys
    obs: Observable | None  #: None for a plain histogram of the column ``observable``
    obs_shapes: list[tuple[str, str]]  #: shape columns the (nuisance-aware) observable reads
    observable: str | None
    weight: str | None
    progress: bool | None
    total: int | None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.processes]


def _setup(processes: Sequence[BinnedProcess], grid: ArrayLike, poi: str, reference: float,
           pois: Mapping[str, float] | None, observable: str | None, weight: str | None, progress: bool | None,
           total: int | None, nuisances: Mapping[str, ArrayLike] | None = None,
           nuisance_reference: Mapping[str, float] | None = None) -> _Setup:
    """Check the processes and the grid; the observable T_mu' of the grid points."""
    if not processes:
        raise ValueError("build_templates needs at least one process")
    names = [p.name for p in processes]
    if len(set(names)) != len(names):
        raise ValueError(f"process names must be unique, got {names}")
    grid = np.asarray(grid, dtype=float).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError(f"the grid of {poi} must be finite and strictly increasing, got {grid}")
    point = dict(pois or {})
    point.setdefault(poi, float(reference))
    for p in processes:
        if not (np.isfinite(p.nominal_yield)):
            raise ValueError(f"nominal yield of process '{p.name}' is {p.nominal_yield}")
        for m, code in p.histosys_codes().items():
            check_shape_code("histosys", code, m, p.name)
        for m, ns in p.normsys_factors().items():
            check_normsys(ns, m, p.name)
    shapes = [(p.name, m) for p in processes for m in p.histosys_codes()]
    if observable is not None and nuisances is not None:
        raise ValueError("nuisances= builds the nuisance-aware optimal observable; it does not apply to a plain "
                         f"histogram of '{observable}'")
    obs = (Observable(processes, poi, point, float(reference), grid, nuisances, nuisance_reference)
           if observable is None else None)
    return _Setup(list(processes), grid, poi, float(reference), point, shapes, obs,
                  obs.shape_terms if obs is not None else [], observable, weight, progress, total)


def _variable(s: _Setup, cols: Columns, what: str, index: int, offset: int, mc_events: bool) -> Iterator[np.ndarray]:
    """The binned variable, one grid point after the other (n,); NaN only for MC events
    without any density (they carry no weight and are dropped)."""
    if s.obs is None:
        assert cols.column is not None  # read_chunk reads the column ``observable``
        for _ in range(s.grid.size):
            yield cols.column
        return
    s.obs.set_shapes(cols.shapes)
    log_ref = s.obs.log_reference(cols.ratios)
    no_density = None
    for k in range(s.grid.size):
        t = s.obs.column(cols.ratios, k, log_ref)
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
                    f"{s.poi} = {s.grid[k]} or at the reference {s.poi} = {s.reference} (ratios "
                    f"{dict(zip(s.names, np.round(cols.ratios[i], 6)))}); check the coefficients and ratio columns")
        yield t


def _check_totals(totals: np.ndarray, names: Sequence[str]) -> None:
    if np.any(totals <= 0):
        bad = [names[int(j)] for j in np.flatnonzero(totals <= 0)]
        raise ValueError(f"MC events: the sum of w_i r_J(x_i) of process(es) {bad} is not positive")


def _sketch_pass(s: _Setup, mc: ChunkSource, sketch_size: int) -> list[QuantileSketch]:
    """Pass 1 over the MC events: one quantile sketch of T_mu'_k per grid point, weights w_i r_J(x_i)."""
    sketches = [QuantileSketch(len(s.processes), sketch_size) for _ in range(s.grid.size)]
    bar = progress_bar(s.total, "templates: quantiles (pass 1/2)", s.progress)
    offset = 0
    for index, chunk in enumerate(mc):
        cols = read_chunk(chunk, index, offset, s.processes, s.obs_shapes, s.weight, s.observable, "MC events")
        wr = cols.weights[:, None] * cols.ratios
        for k, t in enumerate(_variable(s, cols, "MC events", index, offset, True)):
            sketches[k].add(t, wr)
        offset += cols.weights.size
        bar.update(cols.weights.size)
        del chunk, cols, wr, t  # free this chunk before the next one is read
    bar.close()
    if offset == 0:
        raise ValueError("MC events: the source has no events")
    return sketches


def _quantile_edges(s: _Setup, mc: ChunkSource, binning: Quantiles) -> tuple[np.ndarray, str]:
    """Edges (K, B+1) of equal expected yield under the hypothesis of ``binning`` (open outer edges)."""
    nb = int(binning.bins)
    fractions = quantile_fractions(binning)
    if not mc.reiterable:
        raise TypeError("quantile binning reads the MC events twice: pass a list of chunks or a callable "
                        "returning a fresh iterable of chunks (e.g. lambda: uproot.iterate(...)), not a one-pass "
                        "iterator")
    sketches = _sketch_pass(s, mc, binning.sketch_size)
    totals = sketches[0].weights.sum(axis=0)
    _check_totals(totals, s.names)
    hyp = s.reference if binning.hypothesis is None else float(binning.hypothesis)
    a = coefficients(s.processes, s.poi, s.pois, hyp) * np.array([p.nominal_yield for p in s.processes]) / totals
    edges = np.empty((s.grid.size, nb + 1))
    edges[:, 0], edges[:, -1] = -np.inf, np.inf
    for k in range(s.grid.size):
        sketches[k].finish()
        inner = sketches[k].quantiles(a, fractions)
        if nb > 1 and (np.any(np.diff(inner) <= 0) or not np.all(np.isfinite(inner))):
            raise ValueError(
                f"cannot make {nb} bins of distinct edges at {s.poi}' = {s.grid[k]}: the binned variable takes too "
                f"few distinct values (edges {np.array2string(inner, precision=4)}); use fewer bins")
        edges[k, 1:-1] = inner
    return edges, f"Quantiles({nb}, hypothesis={hyp})"


def _fixed_edges(s: _Setup, binning: FixedEdges) -> tuple[np.ndarray, str]:
    """The edges (K, B+1) of ``binning``, checked."""
    n_grid = s.grid.size
    e = np.asarray(binning.edges, dtype=float)
    if e.ndim == 1:
        e = np.tile(e, (n_grid, 1))
    if e.ndim != 2 or e.shape[0] != n_grid or e.shape[1] < 2:
        raise ValueError(f"FixedEdges.edges must have shape (B+1,) or ({n_grid}, B+1), got {np.shape(binning.edges)}")
    if np.any(np.isnan(e)) or np.any(np.diff(e, axis=1) <= 0):
        raise ValueError("FixedEdges.edges must be strictly increasing (and not NaN) on every row")
    return e, f"FixedEdges({e.shape[1] - 1} bins, flow={bool(binning.flow)})"


@dataclass
class _Sums:
    """Unnormalised per-bin sums of the MC events (see the module doc)."""

    nominal: np.ndarray  #: (K, J, B) sum w r_J
    variations: dict[tuple[str, str], np.ndarray]  #: (K, 2, B) sum w r_J g_Jm(-1 / +1)
    w2: np.ndarray  #: (K, J, J, B) sum w^2 r_J r_L
    entries: np.ndarray  #: (K, B) MC events
    totals: np.ndarray  #: (J,) sum w r_J over all events
    variation_totals: dict[tuple[str, str], np.ndarray]  #: (2,) sum w r_J g_Jm over all events
    n_events: int = 0


def _fill_chunk(s: _Setup, sums: _Sums, cols: Columns, index: int, offset: int, edges: np.ndarray,
                flow: bool) -> None:
    """Add one chunk of MC events to ``sums``."""
    n_proc, nb = len(s.processes), edges.shape[1] - 1
    proc_index = {n: j for j, n in enumerate(s.names)}
    w = cols.weights
    wr = w[:, None] * cols.ratios  # (n, J)
    sums.totals += wr.sum(axis=0)
    wvar = {}
    for key, (g_lo, g_hi) in cols.shapes.items():
        j = proc_index[key[0]]
        wvar[key] = (wr[:, j] * g_lo, wr[:, j] * g_hi)
        sums.variation_totals[key] += (wvar[key][0].sum(), wvar[key][1].sum())
    w2rr = {(j, i): (w * w) * cols.ratios[:, j] * cols.ratios[:, i] for j in range(n_proc) for i in range(j, n_proc)}
    ones = np.ones_like(w)
    for k, t in enumerate(_variable(s, cols, "MC events", index, offset, True)):
        idx = bin_index(t, edges[k], flow)
        ok = None if idx.size == 0 or idx.min() >= 0 else idx >= 0
        accumulate(sums.entries[k], idx, ones, nb, ok)
        for j in range(n_proc):
            accumulate(sums.nominal[k, j], idx, wr[:, j], nb, ok)
        for key, (lo, hi) in wvar.items():
            accumulate(sums.variations[key][k, 0], idx, lo, nb, ok)
            accumulate(sums.variations[key][k, 1], idx, hi, nb, ok)
        for (j, i), v in w2rr.items():
            accumulate(sums.w2[k, j, i], idx, v, nb, ok)


def _fill(s: _Setup, mc: ChunkSource, edges: np.ndarray, flow: bool, second_pass: bool) -> _Sums:
    """The (only or second) pass over the MC events: per-bin sums in ``edges``."""
    n_grid, n_proc, nb = s.grid.size, len(s.processes), edges.shape[1] - 1
    sums = _Sums(np.zeros((n_grid, n_proc, nb)), {key: np.zeros((n_grid, 2, nb)) for key in s.shapes},
                 np.zeros((n_grid, n_proc, n_proc, nb)), np.zeros((n_grid, nb)), np.zeros(n_proc),
                 {key: np.zeros(2) for key in s.shapes})
    bar = progress_bar(s.total, "templates: filling" + (" (pass 2/2)" if second_pass else ""), s.progress)
    for index, chunk in enumerate(mc):
        cols = read_chunk(chunk, index, sums.n_events, s.processes, s.shapes, s.weight, s.observable, "MC events")
        _fill_chunk(s, sums, cols, index, sums.n_events, edges, flow)
        sums.n_events += cols.weights.size
        bar.update(cols.weights.size)
        del chunk, cols  # free this chunk before the next one is read
    bar.close()
    if sums.n_events == 0:
        raise ValueError("MC events: the source has no events")
    _check_totals(sums.totals, s.names)
    for j in range(n_proc):
        for i in range(j):
            sums.w2[:, j, i] = sums.w2[:, i, j]
    return sums


def _fill_data(s: _Setup, data: ChunkSource, edges: np.ndarray, flow: bool) -> tuple[np.ndarray, np.ndarray | None,
                                                                                      int]:
    """Binned data (K, B), its sums of squared weights (None for unweighted data) and its number of events."""
    n_grid, nb = s.grid.size, edges.shape[1] - 1
    counts, counts_w2 = np.zeros((n_grid, nb)), np.zeros((n_grid, nb))
    weighted, n_data = False, 0
    bar = progress_bar(None, "templates: data", s.progress)
    for index, chunk in enumerate(data):
        cols = read_chunk(chunk, index, n_data, s.processes, s.obs_shapes, s.weight, s.observable, "data events")
        weighted |= cols.weighted
        for k, t in enumerate(_variable(s, cols, "data events", index, n_data, False)):
            idx = bin_index(t, edges[k], flow)
            ok = None if idx.size == 0 or idx.min() >= 0 else idx >= 0
            accumulate(counts[k], idx, cols.weights, nb, ok)
            accumulate(counts_w2[k], idx, cols.weights**2, nb, ok)
        n_data += cols.weights.size
        bar.update(cols.weights.size)
        del chunk, cols
    bar.close()
    return counts, (counts_w2 if weighted else None), n_data


def _normalised(s: _Setup, sums: _Sums, edges: np.ndarray, binning: str) -> Templates:
    """The templates: the sums scaled by nu_J / sum_i w_i r_J(x_i) (see the module doc)."""
    nu = np.array([p.nominal_yield for p in s.processes], dtype=float)
    scale = nu / sums.totals
    of = {n: scale[j] for j, n in enumerate(s.names)}
    histosys = {key: (sums.variations[key][:, 0] * of[key[0]], sums.variations[key][:, 1] * of[key[0]])
                for key in s.shapes}
    histosys_totals = {key: (float(sums.variation_totals[key][0] * of[key[0]]),
                             float(sums.variation_totals[key][1] * of[key[0]])) for key in s.shapes}
    return Templates(
        poi=s.poi, reference=s.reference, pois=s.pois, grid=s.grid, edges=edges, processes=s.processes,
        nominal=sums.nominal * scale[None, :, None], histosys=histosys, histosys_totals=histosys_totals,
        sumw2=sums.w2 * (scale[:, None] * scale[None, :])[None, :, :, None], mc_entries=sums.entries,
        mc_totals=sums.totals, n_events=sums.n_events,
        observable=s.observable or ("optimal, nuisance-aware" if s.obs_shapes or (s.obs and s.obs.nuisances) else
                                    "optimal"), binning=binning,
    )


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
    weight: str | None = WEIGHT_NAME,
    progress: bool | None = None,
    total: int | None = None,
    nuisances: Mapping[str, ArrayLike] | None = None,
    nuisance_reference: Mapping[str, float] | None = None,
) -> Templates:
    r"""Histogram the optimal observable for every grid point, per process and variation.

    Args:
        source: the reference/MC events (see :mod:`roonsbi.binned.chunks` for the accepted
            forms); each chunk has ``r_<proc>`` for every process, ``g_<proc>_<np>_lo/_hi`` for
            every histosys and, if present, the weight column.
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
        nuisances: None (default) for the optimal observable at nominal nuisance parameters;
            or nuisance-parameter name -> one value per grid point (the conditional fit
            alpha-hat-hat(mu'_k)) for the nuisance-aware observable
            p(x|mu'_k, alpha_k)/p(x|reference, nuisance_reference) (:mod:`roonsbi.binned.observable`;
            :func:`roonsbi.infer.conditional_nuisances` gives both from the unbinned fits). The data
            then need the shape columns of those nuisance parameters too.
        nuisance_reference: the nuisance values of the denominator (the free fit alpha-hat;
            default 0).

    Raises:
        ValueError: missing columns, columns of different lengths, NaN/inf or negative ratios,
            non-positive shape columns, non-finite weights, unknown histosys codes, bad edges,
            duplicate names, or quantile edges that are not distinct.
        TypeError: a one-pass iterable with :class:`Quantiles`.
    """
    s = _setup(processes, grid, poi, reference, pois, observable, weight, progress, total, nuisances,
               nuisance_reference)
    mc = ChunkSource(source, "MC events")
    data_src = ChunkSource(data, "data events") if data is not None else None
    if isinstance(binning, Quantiles):
        edges, description = _quantile_edges(s, mc, binning)
        flow = True
    elif isinstance(binning, FixedEdges):
        (edges, description), flow = _fixed_edges(s, binning), bool(binning.flow)
    else:
        raise TypeError(f"binning must be FixedEdges or Quantiles, got {type(binning).__name__}")
    templates = _normalised(s, _fill(s, mc, edges, flow, isinstance(binning, Quantiles)), edges, description)
    if data_src is not None:
        templates.data, templates.data_sumw2, templates.n_data = _fill_data(s, data_src, edges, flow)
    return templates
