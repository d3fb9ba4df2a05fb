r"""The normalisation drift of per-event shape terms (issue: shapes are not renormalised unless asked).

A shape term :math:`g_{Jm}(x, \alpha)` is a density ratio :math:`p_J(x|\alpha)/p_J(x|0)` known at
:math:`\alpha = \pm 1`; between and beyond those points its reference expectation

.. math::

    c_{Jm}(\alpha) = \frac{\sum_k m_k\, r_J(x_k)\, g_{Jm}(x_k, \alpha)}{\sum_k m_k\, r_J(x_k)}

(pool rows :math:`x_k \sim p_\mathrm{ref}` with measure :math:`m_k`) can drift from 1, which moves
process J's number of events by :math:`c_{Jm} - 1` although the term should only change its shape.
:func:`shape_drift` reports it for every term at given (e.g. fitted) parameter values, with what is
left in the model (0 when it was built with ``build_model(..., renormalise_shapes=True)``).

>>> import numpy as np
>>> from roonsbi import Process, ShapeSys, build_model
>>> rng = np.random.default_rng(0)
>>> lo, hi = rng.uniform(0.8, 1.0, 200), rng.uniform(1.0, 1.3, 200)
>>> m = build_model([Process("S", 50.0, np.ones(200), "mu", shapesys={"jes": ShapeSys(lo, hi)})],
...                 pool_weights=np.ones(200))
>>> row = shape_drift(m, {"alpha_jes": -5.0}).rows[0]
>>> row.process, row.nuisance, row.renormalised, round(row.drift, 3) == round(row.residual, 3)
('S', 'jes', False, True)
"""

from __future__ import annotations

from typing import Mapping

from ..library import cpp_errors, load
from ..models.store import store_rows
from ..models.unbinned import NSBIModel
from ..naming import nuisance_of_alpha, process_of_ratio, shape_norm_name
from .results import ShapeDrift, ShapeDriftTable
from .state import saved_parameters

ROOT = load()

__all__ = ["shape_drift"]


def shape_drift(model: NSBIModel, values: Mapping[str, float] | None = None) -> ShapeDriftTable:
    r"""The normalisation :math:`c_{Jm}(\alpha)` of every shape term of a store-form channel with a
    reference pool, at ``values`` (None: the current parameters, e.g. after a fit), as a
    :class:`~roonsbi.infer.results.ShapeDriftTable`. The expectation is computed from the pdf's
    own store (float32 columns) with ``RooNSBIShapeNorm``, i.e. the term's interpolation code as the
    pdf evaluates it. The model's parameters are left unchanged.

    Raises:
        ValueError: a column-form channel or one without a pool (no reference sample).
    """
    pdf = model.pdf
    n_pool = int(pdf.numPoolRows()) if pdf.usesStore() else 0
    if not n_pool:
        raise ValueError(f"model '{model.name}' has no reference pool: the normalisation drift is computed on it "
                         "(build the channel with build_model(..., pool=...) or pool_weights=)")
    store = pdf.store()
    measure = store_rows(store, str(pdf.measureColumn()), n_pool)
    rows = []
    with saved_parameters(model):
        if values:
            model.set_parameters(values)
        for t, code in enumerate(pdf.shapeCodes()):
            j = int(pdf.shapeProcess()[t])
            alpha = pdf.shapeParams()[int(pdf.shapeParamIndex()[t])]
            ratio_col = str(pdf.ratioColumns()[j])
            process = process_of_ratio(ratio_col) or ratio_col
            nuisance = nuisance_of_alpha(alpha.GetName())
            lo = store_rows(store, str(pdf.shapeLowColumns()[t]), n_pool)
            hi = store_rows(store, str(pdf.shapeHighColumns()[t]), n_pool)
            w = measure * store_rows(store, ratio_col, n_pool)
            vectors = [ROOT.std.vector["double"](a) for a in (w, lo, hi)]
            with cpp_errors():
                ROOT.RooNSBIShapeNorm.check(f"drift_{process}_{nuisance}", int(code), *vectors)
            probe = ROOT.RooNSBIShapeNorm(f"drift_{process}_{nuisance}", "", alpha, int(code), *vectors)
            a = float(alpha.getVal())
            c = float(probe.expectation(a))
            factor = model.workspace.function(shape_norm_name(process, nuisance))
            residual = c * float(factor.getVal()) - 1.0 if factor else c - 1.0
            rows.append(ShapeDrift(process, nuisance, int(code), a, c, bool(factor), residual))
    return ShapeDriftTable(rows)
