r"""Build unbinned NSBI models (:class:`RooNSBIPdf`) from numpy arrays.

The model of one NSBI channel is the master formula

.. math::

    \frac{p(x|\mu,\alpha)}{p_\mathrm{ref}(x)} = \frac{1}{\nu(\mu,\alpha)}
        \sum_J f_J(\mu)\,\nu_J\,G_J(\alpha)\,r_J(x) \prod_m g_{Jm}(x,\alpha_m),
    \qquad \nu(\mu,\alpha) = \sum_J f_J(\mu)\,\nu_J\,G_J(\alpha),

with Gaussian constraints on the nuisance parameters as in HistFactory
(``alpha_X`` with global observable ``nom_alpha_X`` and the factor
``alpha_XConstraint``). Everything lives in one ``RooWorkspace`` together with a
``RooStats::ModelConfig``, so the model can be saved, combined and read by any
RooFit tool once the roonsbi library is loaded.

Interpolation codes are ROOT's own numbers:

* normalisation systematics (:class:`NormSys`): ``FlexibleInterpVar`` codes
  0 (linear), 1 (exponential), 2 (parabolic), 4 (6th-order polynomial inside
  :math:`|\alpha|<1`, exponential outside; HistFactory's normsys default, pyhf ``code4``);
* per-event shape systematics (:class:`ShapeSys`): ``PiecewiseInterpolation``
  codes 0, 1, 2, 4, 5, 6; default 5 (multiplicative polynomial/exponential, as
  the ATLAS off-shell analysis). Shapes are not renormalised unless asked
  (``build_model(..., renormalise_shapes=True)``: on the reference pool, per process and
  nuisance parameter, as a function of alpha).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..checks import (
    as_column,
    check_alpha_range,
    check_density,
    check_number,
    check_pois,
    check_processes,
    check_unique,
    check_weights,
    unbinned_names,
)
from ..library import cpp_errors, load
from ..naming import (
    DATA_NAME,
    EVENT_INDEX_NAME,
    MODEL_NAME,
    MODELCONFIG_NAME,
    PDF_NAME,
    POOL_MEASURE,
    WEIGHT_NAME,
    WORKSPACE_NAME,
    coefficient_name,
    expected_yield_name,
    nominal_yield_name,
    normsys_name,
    nu_shift_name,
    ratio_column,
    shape_columns,
    shape_norm_name,
    yield_name,
)
from ..spec import ArrayLike, Process, as_shapesys, check_column, check_shape_code
from .builders import (
    check_dataset,
    coefficient_formula,
    gaussian_constraints,
    normsys_factor,
    real_var,
    with_constraints,
)
from .store import make_store, shape_store_column, store_rows
from .workspace import WorkspaceModel, read_workspace

ROOT = load()

__all__ = ["NSBIModel", "build_model", "load_model"]


@dataclass
class NSBIModel(WorkspaceModel):
    """An unbinned NSBI channel: RooNSBIPdf, constraints, data and ModelConfig.

    Use :func:`build_model` to create one and :func:`load_model` to read one back.
    """

    @property
    def pdf(self) -> Any:
        """The RooNSBIPdf (without constraint terms)."""
        return self._owned(self.workspace.pdf(PDF_NAME.format(name=self.name)))

    @property
    def data(self) -> Any:
        return self._owned(self.workspace.data(DATA_NAME))

    def own_data(self) -> Any:
        """The model's dataset; ValueError if it has none (built with ``with_data=False``)."""
        data = self.data
        if not data:
            raise ValueError(f"model '{self.name}' has no dataset (built with with_data=False): pass data=..., or "
                             "for a column-form model's fast NLL fast_nll(model, store)")
        return data

    # -- likelihood -----------------------------------------------------------
    def create_nll(self, data: Any = None, *, backend: str = "cpu") -> Any:
        """The extended NLL with constraint terms, as a RooAbsReal (no offset)."""
        data = self.own_data() if data is None else data
        check_dataset(self.pdf, data)
        return self._extended_nll(data, backend)

    def nll(self, values: Mapping[str, float] | None = None, *, data: Any = None, backend: str = "cpu") -> float:
        r"""NLL at ``values`` (others unchanged):

        .. math:: \nu - \sum_i w_i \log F_i + \sum_m (\alpha_m - a_m)^2/2 + \tfrac12\log 2\pi

        with :math:`F_i = \sum_J N_J r_J(x_i)\prod_m g_{Jm}`: RooFit's extended NLL of
        the self-normalised pdf and the normalised Gaussian constraints.
        """
        return super().nll(values, data=data, backend=backend)


def build_model(
    processes: Sequence[Process],
    pois: Mapping[str, tuple[float, float, float]] | None = None,
    weights: ArrayLike | None = None,
    name: str = "nsbi",
    alpha_range: tuple[float, float] = (-5.0, 5.0),
    with_data: bool = True,
    *,
    pool: Sequence[Process] | None = None,
    pool_weights: ArrayLike | None = None,
    form: str = "store",
    renormalise_shapes: bool = False,
) -> NSBIModel:
    r"""Build an NSBI channel from numpy arrays.

    Args:
        processes: the processes J (all arrays must have one entry per event).
        pois: POI name -> (initial value, min, max); default ``{"mu": (1, 0, 10)}``.
        weights: per-event weights w_i (MC weights for expected data); None for data.
        name: channel name (workspace ``ws_<name>``, pdf ``nsbi_<name>``).
        alpha_range: range of every nuisance parameter alpha_X.
        with_data: create the RooDataSet ``obsData`` from the columns. Without it the
            arrays only name the columns (placeholders of any common length will do),
            for the fast likelihood on an EventStore (:mod:`roonsbi.fast`).
        pool: the processes of a reference pool :math:`x_k \sim p_\mathrm{ref}` (same process
            names and systematics as ``processes``), kept with the channel (store form): RooFit's
            ``generate`` draws toys from it and RooStats' Asimov builder weights it, as
            :mod:`roonsbi.infer.toys` does. Its rows come first in the store.
        pool_weights: the pool weights :math:`u_k` (default 1), giving the pool measure
            :math:`m_k = u_k/\sum_l u_l`. Without ``pool``, the events of ``processes``
            themselves are the pool (MC events; ``weights`` are then the dataset's weights).
        form: ``"store"`` (default): the columns live in a float32 ``RooNSBI::EventStore`` owned
            by the pdf, the dataset holds an event index (``event_<name>``) and weights: scalable,
            and what the standard RooStats tools and xRooFit need. ``"columns"``: every column is
            an observable of a double-precision RooDataSet (small channels; HS3 export).
        renormalise_shapes: renormalise every per-event shape term on the reference pool, per
            process J and nuisance parameter m, as a function of alpha:
            :math:`g_{Jm}(x,\alpha) \to g_{Jm}(x,\alpha)/c_{Jm}(\alpha)` with
            :math:`c_{Jm}(\alpha) = \sum_k m_k r_J(x_k) g_{Jm}(x_k,\alpha) / \sum_k m_k r_J(x_k)`,
            so that a shape-only nuisance parameter changes no process's number of events:
            :math:`\sum_k m_k F_k = \sum_J f_J \nu_J G_J \sum_k m_k r_J(x_k)` at every alpha (exactly
            for one shape term per process; = nu when the ratios are normalised on the pool). The
            factors are ``RooNSBIShapeNorm`` objects (``shapenorm_<J>_<m>``, value :math:`1/c_{Jm}`)
            in the yields ``N_J`` and the pdf's expected-events shift keeps
            :math:`\nu = \sum_J` ``Nexp_J``; all of it is saved with the workspace. Needs the store
            form with a pool (``pool=`` or ``pool_weights=``).
            :func:`roonsbi.infer.shape_drift` reports :math:`c_{Jm}` at any alpha.

    Returns:
        :class:`NSBIModel` with the pdf, the constraints, the dataset ``obsData``
        and the ``ModelConfig``.

    Raises:
        ValueError: arrays of different lengths, NaN/inf or negative ratios,
            non-positive shape columns or normsys factors, unknown interpolation
            codes, duplicated names, or nu <= 0 at the initial POI values.

    Example (a store-form channel whose events are a weighted MC pool):

    >>> import numpy as np
    >>> from roonsbi import Process, build_model
    >>> rng = np.random.default_rng(0)
    >>> m = build_model([Process("S", 10.0, rng.uniform(0.5, 2, 100), "mu"),
    ...                  Process("B", 50.0, rng.uniform(0.5, 2, 100))], pool_weights=np.ones(100))
    >>> m.pdf.usesStore(), m.pdf.numPoolRows(), m.data.numEntries()
    (True, 100, 100)
    """
    if form not in ("store", "columns"):
        raise ValueError(f"form must be 'store' or 'columns', got {form!r}")
    if form == "columns" and (pool is not None or pool_weights is not None):
        raise ValueError("pool and pool_weights need form='store' (the column form keeps no pool; use "
                         "roonsbi.infer.toys.ToyGenerator for its toys)")
    processes = check_processes(processes)
    if not processes:
        raise ValueError("build_model needs at least one process")
    if pool is not None:
        pool = check_processes(pool, "pool")
    if renormalise_shapes and (form != "store" or (pool is None and pool_weights is None)):
        kept = "the column form keeps no reference pool" if form == "columns" else "no pool was given"
        raise ValueError(f"renormalise_shapes=True renormalises the shapes on the reference pool and {kept}: it "
                         "needs form='store' and pool= (or pool_weights=, when the events are the pool)")
    alpha_range = check_alpha_range(alpha_range)
    pois = check_pois({"mu": (1.0, 0.0, 10.0)} if pois is None else pois)
    names = [p.name for p in processes]
    if len(set(names)) != len(names):
        raise ValueError(f"process names must be unique, got {names}")
    check_unique(unbinned_names(pois, processes, name))
    columns = _columns(processes, keep_float32=form == "store")
    n_events = next(iter(columns.values())).size
    w = None if weights is None else check_weights(weights, n_events)
    check_density({c: columns[c] for c in map(ratio_column, names)}, w)

    ws = ROOT.RooWorkspace(WORKSPACE_NAME.format(name=name), f"NSBI channel {name}")
    keep: list[Any] = []  # Python-side owners until the import into the workspace
    # POIs live in the workspace from the start: formulas then point at workspace-owned
    # variables, also for POIs a coefficient does not use.
    poi_vars = {}
    for poi, (value, lo, hi) in pois.items():
        ws.Import(real_var(poi, value, lo, hi), ROOT.RooFit.Silence(True))
        poi_vars[poi] = ws.var(poi)
    np_names = sorted({n for p in processes for n in list(p.normsys) + list(p.shapesys)})
    alphas, globs, constraints = gaussian_constraints(np_names, poi_vars, alpha_range, keep)
    rows = _StoreRows.of(processes, columns, pool, pool_weights, n_events) if form == "store" else None
    store = _row_store(processes, rows) if rows is not None else None
    yields = ROOT.RooArgList()
    shifts = []  # renormalised shapes: (expected yield, yield) per renormalised process
    for p in processes:
        yld = _process_yield(p, poi_vars, alphas, keep)
        if renormalise_shapes and p.shapesys:
            assert rows is not None
            expected = yld
            yld = _renormalised_yield(p, expected, alphas, store, rows.n_pool, keep)
            shifts.append((expected, yld))
        yields.add(yld)
    if rows is not None:
        index = _index_variable(name, rows)
        pdf = _store_pdf(name, processes, yields, alphas, index, rows, store)
        if shifts:
            pdf.setExpectedEventsShift(_nu_shift(name, shifts, keep))
        observables = [index.GetName()]
    else:
        col_vars = {col: real_var(col, 1.0) for col in columns}
        pdf = _nsbi_pdf(name, processes, yields, alphas, col_vars)
        observables = list(columns)
    model = _channel_model(pdf, constraints, name)
    _check_positive_yield(pdf, yields, pois)
    ws.Import(model, ROOT.RooFit.Silence(True), ROOT.RooFit.RecycleConflictNodes(True))
    if with_data:
        if rows is not None:
            data_columns = {observables[0]: rows.data_index()}
        else:
            data_columns = columns
        ws.Import(_dataset(ws, data_columns, w, n_events), ROOT.RooFit.Silence(True))
    _model_config(ws, model.GetName(), poi_vars, alphas, globs, observables)
    return NSBIModel(ws, name)


@dataclass
class _StoreRows:
    """The rows of a store-form channel's EventStore: the pool rows [0, n_pool), then the
    events of the dataset (or the dataset's events are the pool: ``shared``)."""

    columns: dict[str, np.ndarray]  # every row, by column name
    n_pool: int
    n_rows: int
    n_data: int
    measure: np.ndarray | None  # m_k of the pool rows
    shared: bool  # the dataset's events are the pool rows

    @classmethod
    def of(cls, processes: Sequence[Process], columns: dict[str, np.ndarray], pool: Sequence[Process] | None,
           pool_weights: ArrayLike | None, n_events: int) -> _StoreRows:
        if pool is None:
            n_pool = n_events if pool_weights is not None else 0
            rows = columns
        else:
            if [p.name for p in pool] != [p.name for p in processes]:
                raise ValueError(f"pool processes {[p.name for p in pool]} must be those of processes "
                                 f"{[p.name for p in processes]}, in the same order")
            pool_columns = _columns(pool, keep_float32=True)
            if set(pool_columns) != set(columns):
                missing = sorted(set(columns) ^ set(pool_columns))
                raise ValueError(f"pool and processes must have the same columns; they differ in {missing} "
                                 "(give the pool the same shape systematics)")
            n_pool = next(iter(pool_columns.values())).size
            rows = {c: np.concatenate([pool_columns[c], columns[c]]) for c in columns}
        measure = None
        if n_pool:
            u = np.ones(n_pool) if pool_weights is None else check_weights(pool_weights, n_pool, "pool_weights")
            if np.any(u < 0) or not u.sum() > 0:
                bad = int(np.argmax(u < 0)) if np.any(u < 0) else 0
                raise ValueError(f"pool_weights must be >= 0 with a positive sum (entry {bad} = {u[bad]:.6g}); "
                                 "the pool measure is u_k / sum_l u_l")
            measure = u / u.sum()
        n_rows = next(iter(rows.values())).size
        return cls(rows, n_pool, n_rows, n_events, measure, pool is None and n_pool > 0)

    def data_index(self) -> np.ndarray:
        """The event index of the dataset's events (their rows)."""
        first = 0 if self.shared or self.n_pool == 0 else self.n_pool
        return np.arange(first, first + self.n_data, dtype=np.float64)


def _index_variable(name: str, rows: _StoreRows) -> Any:
    """The event-index observable ``event_<name>``: range [0, n_rows), one bin per pool row."""
    index = real_var(EVENT_INDEX_NAME.format(name=name), 0.0, 0.0, float(rows.n_rows))
    index.setBinning(ROOT.RooNSBIRowBinning(rows.n_pool, rows.n_rows))
    return index


def _row_store(processes: Sequence[Process], rows: _StoreRows) -> Any:
    """The EventStore of the rows (shape columns as each code needs them) and the pool measure."""
    columns: dict[str, np.ndarray] = {}
    logs: dict[str, np.ndarray] = {}
    for p in processes:
        columns[ratio_column(p.name)] = rows.columns[ratio_column(p.name)]
        for np_name, value in p.shapesys.items():
            code = as_shapesys(value).code
            for col in shape_columns(p.name, np_name):
                target = columns if shape_store_column(code, col) == col else logs
                target[col] = rows.columns[col]
    store = make_store(columns, logs)
    if rows.measure is not None:
        store.addColumn(POOL_MEASURE, rows.measure if rows.measure.size else ROOT.nullptr)
    return store


def _store_pdf(name: str, processes: Sequence[Process], yields: Any, alphas: Mapping[str, Any], index: Any,
               rows: _StoreRows, store: Any) -> Any:
    """The store-form RooNSBIPdf of the store of the rows, the event index, the pool and its measure."""
    ratio_names = ROOT.std.vector["std::string"]([ratio_column(p.name) for p in processes])
    with cpp_errors():
        pdf = ROOT.RooNSBIPdf(PDF_NAME.format(name=name), f"NSBI pdf of {name}", yields, index, store, ratio_names,
                              rows.n_pool, POOL_MEASURE if rows.n_pool else "")
        for j, p in enumerate(processes):
            for np_name, value in p.shapesys.items():
                lo_col, hi_col = shape_columns(p.name, np_name)
                pdf.addShapeSystematic(j, alphas[np_name], lo_col, hi_col, as_shapesys(value).code)
    return pdf


def _channel_model(pdf: Any, constraints: Sequence[Any], name: str) -> Any:
    """The channel pdf times its constraint terms: a RooNSBIModel for the store form (a RooProdPdf
    whose createNLL gives the fast RooNSBINLL), a RooProdPdf (or the pdf alone) for the column form."""
    if pdf.usesStore():
        factors = ROOT.RooArgList()
        for c in constraints:
            factors.add(c)
        return ROOT.RooNSBIModel(MODEL_NAME.format(name=name), f"NSBI model of {name}", pdf, factors)
    return with_constraints(pdf, constraints, MODEL_NAME.format(name=name), f"NSBI model of {name}")


def _columns(processes: Sequence[Process], keep_float32: bool = False) -> dict[str, np.ndarray]:
    """The checked per-event columns (``r_J``, ``g_J_m_lo/_hi``) by name: 1-D, one length, valid values
    (float64, or float32 arrays as they are with ``keep_float32``)."""
    columns: dict[str, np.ndarray] = {}

    def add(col: str, values: ArrayLike, role: str, strictly_positive: bool) -> None:
        arr = as_column(col, role, values, next(iter(columns.values())).size if columns else None,
                        keep_float32=keep_float32)
        check_column(col, role, arr, strictly_positive)
        columns[col] = arr

    for p in processes:
        add(ratio_column(p.name), p.ratio, "ratio", False)
        for np_name, value in p.shapesys.items():
            shape = as_shapesys(value, f"shape systematic '{np_name}' of process '{p.name}'")
            check_shape_code("shape", shape.code, np_name, p.name)
            lo_col, hi_col = shape_columns(p.name, np_name)
            add(lo_col, shape.lo, "shape (-1 sigma)", True)
            add(hi_col, shape.hi, "shape (+1 sigma)", True)
    return columns


def _process_yield(p: Process, poi_vars: Mapping[str, Any], alphas: Mapping[str, Any], keep: list[Any]) -> Any:
    """N_J = f_J(mu) nu_J G_J(alpha) as a RooProduct (G_J a FlexibleInterpVar of the normsys)."""
    check_number(p.nominal_yield, f"nominal yield of process '{p.name}'")
    if isinstance(p.coefficient, (int, float, np.integer, np.floating)) and not isinstance(p.coefficient, bool):
        value = check_number(p.coefficient, f"coefficient of process '{p.name}'")
        coef = coefficient_formula(coefficient_name(p.name), repr(value), poi_vars, p.name)
    elif isinstance(p.coefficient, str):
        coef = coefficient_formula(coefficient_name(p.name), p.coefficient, poi_vars, p.name)
    elif isinstance(p.coefficient, ROOT.RooAbsReal):
        coef = p.coefficient
    else:
        raise TypeError(f"coefficient of process '{p.name}' must be a formula string of the POIs (e.g. \"mu\", "
                        f"\"1\") or a RooAbsReal, got {type(p.coefficient).__name__}")
    nominal = ROOT.RooConstVar(nominal_yield_name(p.name), nominal_yield_name(p.name), float(p.nominal_yield))
    factors = ROOT.RooArgList(coef, nominal)
    if p.normsys:
        interp = normsys_factor(normsys_name(p.name), p.normsys, alphas, p.name)
        factors.add(interp)
        keep.append(interp)
    yld = ROOT.RooProduct(yield_name(p.name), yield_name(p.name), factors)
    keep += [coef, nominal, yld]
    return yld


def _renormalised_yield(p: Process, expected: Any, alphas: Mapping[str, Any], store: Any, n_pool: int,
                        keep: list[Any]) -> Any:
    r"""N_J = Nexp_J prod_m 1/c_Jm(alpha_m): the yield ``expected`` (renamed ``Nexp_J``) times one
    ``RooNSBIShapeNorm`` per shape term, on the pool rows with weights w_k = m_k r_J(x_k), all read
    from the store as the pdf reads them (float32). The codes whose delta is linear in the
    per-event values (0, 2, 4, 6) get one event, the w-weighted means of g(x,-1) and g(x,+1)
    (exact); the exponential codes 1 and 5 every pool row."""
    expected.SetName(expected_yield_name(p.name))
    expected.SetTitle(expected_yield_name(p.name))
    w = store_rows(store, POOL_MEASURE, n_pool) * store_rows(store, ratio_column(p.name), n_pool)
    if not w.sum() > 0:
        raise ValueError(f"process '{p.name}' has no reference weight on the pool (sum_k m_k r_J(x_k) = 0): "
                         "its shapes cannot be renormalised (renormalise_shapes=True)")
    factors = ROOT.RooArgList(expected)
    for np_name, value in p.shapesys.items():
        code = as_shapesys(value).code
        lo_col, hi_col = shape_columns(p.name, np_name)
        lo, hi = store_rows(store, lo_col, n_pool), store_rows(store, hi_col, n_pool)
        weights = w
        if code not in (1, 5):  # linear delta: the expectation of g is g of the expectations
            weights, lo, hi = np.ones(1), np.array([w @ lo / w.sum()]), np.array([w @ hi / w.sum()])
        vectors = [ROOT.std.vector["double"](a) for a in (weights, lo, hi)]
        norm_name = shape_norm_name(p.name, np_name)
        with cpp_errors():
            ROOT.RooNSBIShapeNorm.check(norm_name, code, *vectors)
        norm = ROOT.RooNSBIShapeNorm(norm_name, f"shape normalisation of {np_name} for {p.name}", alphas[np_name],
                                     code, *vectors)
        factors.add(norm)
        keep.append(norm)
    yld = ROOT.RooProduct(yield_name(p.name), yield_name(p.name), factors)
    keep.append(yld)
    return yld


def _nu_shift(name: str, shifts: Sequence[tuple[Any, Any]], keep: list[Any]) -> Any:
    """delta = sum_J (Nexp_J - N_J) of the renormalised processes (RooNSBIPdf::setExpectedEventsShift)."""
    terms = ROOT.RooArgList()
    for expected, yld in shifts:
        terms.add(expected)
        terms.add(yld)
    formula = " + ".join(f"x[{2 * j}] - x[{2 * j + 1}]" for j in range(len(shifts)))
    shift = ROOT.RooFormulaVar(nu_shift_name(name), formula, formula, terms)
    keep.append(shift)
    return shift


def _nsbi_pdf(name: str, processes: Sequence[Process], yields: Any, alphas: Mapping[str, Any],
              col_vars: Mapping[str, Any]) -> Any:
    """The RooNSBIPdf of the yields, ratio columns and per-event shape terms."""
    ratio_vars = ROOT.RooArgList()
    for p in processes:
        ratio_vars.add(col_vars[ratio_column(p.name)])
    pdf = ROOT.RooNSBIPdf(PDF_NAME.format(name=name), f"NSBI pdf of {name}", yields, ratio_vars)
    for j, p in enumerate(processes):
        for np_name, value in p.shapesys.items():
            lo_col, hi_col = shape_columns(p.name, np_name)
            pdf.addShapeSystematic(j, alphas[np_name], col_vars[lo_col], col_vars[hi_col], as_shapesys(value).code)
    return pdf


def _check_positive_yield(pdf: Any, yields: Any, pois: Mapping[str, tuple[float, float, float]]) -> None:
    nu0 = pdf.totalYield()
    if not (nu0 > 0 and np.isfinite(nu0)):
        detail = ", ".join(f"{y.GetName()} = {y.getVal():.6g}" for y in yields)
        raise ValueError(
            f"the expected number of events nu = {nu0:.6g} is not positive at the initial POI values "
            f"{ {k: v[0] for k, v in pois.items()} } ({detail}); choose coefficients f_J(mu) and yields "
            "that keep nu > 0"
        )


def _dataset(ws: Any, columns: Mapping[str, np.ndarray], weights: np.ndarray | None, n_events: int) -> Any:
    """The RooDataSet ``obsData`` of the columns (weighted if ``weights`` are given)."""
    obs = ROOT.RooArgSet()
    for col in columns:
        obs.add(ws.var(col))
    if weights is None:
        data = ROOT.RooDataSet.from_numpy(dict(columns), obs, name=DATA_NAME, title=DATA_NAME)
    else:
        wvar = real_var(WEIGHT_NAME, 1.0)
        obs_w = ROOT.RooArgSet(obs)
        obs_w.add(wvar)
        data = ROOT.RooDataSet.from_numpy({**columns, WEIGHT_NAME: weights}, obs_w, name=DATA_NAME, title=DATA_NAME,
                                          weight_name=WEIGHT_NAME)
    if data.numEntries() != n_events:
        raise RuntimeError(f"RooDataSet kept {data.numEntries()} of {n_events} events")
    return data


def _model_config(ws: Any, pdf_name: str, poi_vars: Mapping[str, Any], alphas: Mapping[str, Any], globs: Sequence[Any],
                  observables: Sequence[str]) -> None:
    mc = ROOT.RooStats.ModelConfig(MODELCONFIG_NAME, ws)
    mc.SetPdf(ws.pdf(pdf_name))
    mc.SetParametersOfInterest(ROOT.RooArgSet(*[ws.var(p) for p in poi_vars]))
    mc.SetNuisanceParameters(ROOT.RooArgSet(*[ws.var(a.GetName()) for a in alphas.values()]))
    mc.SetObservables(ROOT.RooArgSet(*[ws.var(c) for c in observables]))
    mc.SetGlobalObservables(ROOT.RooArgSet(*[ws.var(g.GetName()) for g in globs]))
    ws.Import(mc)


def load_model(path: str | os.PathLike, workspace: str | None = None) -> NSBIModel:
    """Read an NSBI channel written by :meth:`NSBIModel.save`.

    Raises:
        ValueError: the workspace holds no NSBI channel (e.g. a combination: read it with
            ``roonsbi.combine([path])``; a parametrized channel: ``load_parametrized_model``).
    """
    model = NSBIModel(*read_workspace(path, workspace))
    pdf = model.workspace.pdf(PDF_NAME.format(name=model.name))
    if not isinstance(pdf, ROOT.RooNSBIPdf):
        found = f"a {pdf.ClassName()} '{pdf.GetName()}'" if pdf else "nothing"
        raise ValueError(f"{path}: workspace '{model.workspace.GetName()}' holds no NSBI channel (its RooNSBIPdf "
                         f"'{PDF_NAME.format(name=model.name)}' is {found}); read a combination with "
                         "roonsbi.combine([path]), a parametrized channel with "
                         "roonsbi.models.parametrized.load_parametrized_model(path)")
    return model
