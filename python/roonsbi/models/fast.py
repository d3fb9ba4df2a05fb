r"""The fast NSBI likelihood: float32 event store and analytic gradient (``RooNSBINLL``).

For millions of events and hundreds of per-event systematic columns, a RooDataSet holds
every column in double precision and Minuit differentiates numerically. ``RooNSBINLL``
instead reads the columns from a compact ``RooNSBI::EventStore`` (float32; shape columns
of the codes 1, 5 as logarithms ``log:g_*``, of the additive codes 0, 2, 4 and of code 6
as values ``g_*``; optionally memory-mapped from a file) and gives RooMinimizer the value and
the analytic gradient of

.. math:: \mathrm{NLL} = \nu - \sum_i w_i \log F_i + \sum_m c_m(\alpha_m)

in one threaded pass over the events. Its value equals :meth:`NSBIModel.nll` on the
float32-rounded inputs (tests: 1e-10 relative).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import check_density, check_weights
from ..library import cpp_errors, load
from ..naming import WEIGHT_NAME, constraint, global_observable
from ..spec import check_column
from .store import make_store, shape_store_column
from .unbinned import NSBIModel

ROOT = load()

__all__ = ["FastNLL", "check_mapped", "check_store_values", "constraint_terms", "fast_nll", "store_from_model"]


def store_from_model(model: NSBIModel) -> Any:
    """The EventStore of a model's dataset: ratio columns, shape columns in the form each
    term's code needs (``RooNSBINLL::shapeColumn``: logarithms for the multiplicative codes,
    values for the additive ones), weights."""
    if model.pdf.usesStore():
        return model.pdf.store()  # the store form's own store (its rows; weights are in the dataset)
    data = model.own_data()
    arrays = data.to_numpy()
    pdf = model.pdf
    columns = {r.GetName(): arrays[r.GetName()] for r in pdf.ratios()}
    logs = {}
    for t, code in enumerate(pdf.shapeCodes()):
        for var in (pdf.shapeLow()[t], pdf.shapeHigh()[t]):
            name = var.GetName()
            if shape_store_column(code, name) == name:
                columns[name] = arrays[name]
            else:
                logs[name] = arrays[name]
    weights = arrays.get(WEIGHT_NAME) if data.isWeighted() else None
    return make_store(columns, logs, weights)


def check_store_values(pdf: Any, store: Any) -> None:
    r"""ValueError naming the column and its first bad entry unless the columns of ``store`` that the column-form
    ``pdf`` reads are valid: ratio columns finite and :math:`\ge 0`, shape columns finite and :math:`> 0` (as
    values) or finite (as logarithms), weights finite with a positive total, and no event with :math:`r_J = 0`
    for every process (the checks of :func:`~roonsbi.models.unbinned.build_model`, on a store made elsewhere,
    e.g. mapped from a file)."""
    n = store.size()

    def values(name: str) -> np.ndarray:  # a streamed store (larger than memory): read ahead, released once checked
        store.prefetchColumn(name)
        return np.frombuffer(store.column(name), dtype=np.float32, count=n) if n else np.zeros(0, np.float32)

    if pdf.usesStore():  # a store-form pdf names its columns (its RooArgLists are empty)
        ratio_names = [str(c) for c in pdf.ratioColumns()]
        lows, highs = [str(c) for c in pdf.shapeLowColumns()], [str(c) for c in pdf.shapeHighColumns()]
    else:
        ratio_names = [r.GetName() for r in pdf.ratios()]
        lows, highs = [v.GetName() for v in pdf.shapeLow()], [v.GetName() for v in pdf.shapeHigh()]
    ratios = {name: values(name) for name in ratio_names}
    for name, col in ratios.items():
        check_column(name, "event store", col)
    for t, code in enumerate(pdf.shapeCodes()):
        for var_name in (lows[t], highs[t]):
            name = shape_store_column(code, var_name)
            col = values(name)
            if name == var_name:
                check_column(name, "event store", col, strictly_positive=True)
            elif not np.isfinite(col).all():
                i = int(np.argmax(~np.isfinite(col)))
                raise ValueError(f"event store column '{name}' has {int((~np.isfinite(col)).sum())} of {n} entries "
                                 f"that are NaN or infinite (first: entry {i} = {col[i]:g})")
            if name not in ratios:
                store.releaseColumn(name)
    weights = None
    if store.hasColumn(WEIGHT_NAME):
        weights = check_weights(values(WEIGHT_NAME), n, f"event store column '{WEIGHT_NAME}'")
    check_density(ratios, weights)
    for name in [*ratios, *([WEIGHT_NAME] if weights is not None else [])]:
        store.releaseColumn(name)


def check_mapped(store: Any) -> None:
    """OSError naming the file if ``store`` is mapped from a file that changed since (values read since then
    are not the file's: ``EventStore::changedOnDisk``)."""
    if store.isMapped():
        why = str(store.changedOnDisk())
        if why:
            raise OSError(why)


@dataclass
class FastNLL:
    """A RooNSBINLL with the objects it needs kept alive (store, constraint terms)."""

    nll: Any
    store: Any
    extra: list[Any] = field(default_factory=list)

    def getVal(self) -> float:
        value = self.nll.getVal()
        check_mapped(self.store)
        return value

    def gradient(self) -> dict[str, float]:
        """Analytic gradient: parameter name -> dNLL/dparameter (floating parameters)."""
        params = self.nll.gradientParameters()
        out = np.zeros(params.size())
        self.nll.gradient(out)
        return {p.GetName(): float(g) for p, g in zip(params, out) if not p.isConstant()}


def constraint_terms(model: NSBIModel) -> list[Any]:
    r"""One ``RooConstraintSum`` per nuisance parameter: -log N(nom_alpha_X | alpha_X, 1),
    normalised over the global observable, as in RooFit's NLL with ``GlobalObservables``."""
    terms = []
    for alpha in model.nuisance_parameters:
        name = alpha.GetName()
        cname, gname = constraint(name), global_observable(name)
        cons = model.workspace.pdf(cname)
        glob = model.workspace.var(gname)
        if not cons or not glob:
            raise KeyError(f"no constraint {cname} with global observable {gname} in the workspace")
        terms.append(ROOT.RooConstraintSum(f"nll_{cname}", "", ROOT.RooArgSet(cons), ROOT.RooArgSet(glob)))
    return terms


def fast_nll(model: NSBIModel, store: Any = None, extra: list[Any] | None = None, threads: int = 0, *,
             data: Any = None, float_code5: bool = False) -> FastNLL:
    """The fast NLL of ``model``: RooNSBINLL plus the model's constraint terms and any ``extra``
    RooAbsReal terms (e.g. binned channels). A store-form model reads its own EventStore at the
    rows of ``data`` (default: the model's dataset); a column-form model reads ``store``
    (default: made from the model's dataset).

    ``float_code5=True`` evaluates shape code 5 inside ``|alpha| < 1`` in float for the value and gradient
    passes (``RooNSBINLL::setFloatCode5``): the factor as its deviation from 1, ``g - 1 = e_h (P0 + a_h) + a_h
    + e_l (Q0 + a_l) + a_l`` with ``e = expm1(log g(+-1))``, multiplied into the product in double, so each
    factor keeps a relative error of a few float ulps times ``|log g|`` (~1e-8 for 5% shifts). About 1.4x
    faster passes for an NLL that moves by ~1e-7 at 10^6 events x 300 terms (benchmarks/RESULTS.md);
    the default is double, equal to RooFit's NLL to rounding."""
    if not isinstance(float_code5, (bool, np.bool_)):
        raise TypeError(f"float_code5 must be True or False, got {type(float_code5).__name__}")
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be an integer (0: the default), got {type(threads).__name__}")
    if threads < 0:
        raise ValueError(f"threads must be a number of threads >= 0 (0: the default), got {threads}")
    for i, term in enumerate(extra or []):
        if not isinstance(term, ROOT.RooAbsReal):
            raise TypeError(f"extra[{i}] must be a RooAbsReal term of the NLL, got {type(term).__name__}")
    terms = constraint_terms(model) + list(extra or [])
    arglist = ROOT.RooArgList()
    for t in terms:
        arglist.add(t)
    name = f"fastnll_{model.name}"
    if model.pdf.usesStore() and store is None:
        data = model.own_data() if data is None else data
        with cpp_errors():
            ROOT.RooNSBINLL.checkData(name, model.pdf, data, arglist)
        nll = ROOT.RooNSBINLL(name, "fast NSBI NLL", model.pdf, data, arglist)
        store = model.pdf.store()
    else:
        if data is not None:
            raise ValueError("data= needs a store-form model (a column-form model's fast NLL reads an EventStore)")
        given = store is not None
        store = store_from_model(model) if store is None else store
        with cpp_errors():
            ROOT.RooNSBINLL.checkInputs(name, model.pdf, store, arglist)
        if given:
            check_store_values(model.pdf, store)
        nll = ROOT.RooNSBINLL(name, "fast NSBI NLL", model.pdf, store, arglist)
    if threads:
        nll.setNumThreads(threads)
    nll.setFloatCode5(bool(float_code5))
    # the RooNSBINLL alone (e.g. Fitter(nll=...), fast_nll(build_model(...))) keeps what it reads alive
    nll._roonsbi_keep = (model, store, terms, arglist)
    return FastNLL(nll, store, terms)
