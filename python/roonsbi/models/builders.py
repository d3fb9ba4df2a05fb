"""RooFit building blocks shared by the model builders: parameters, coefficients f_J(mu),
HistFactory's Gaussian constraint terms and dataset checks."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from .. import naming
from ..checks import check_formula_names
from ..library import cpp_errors, load
from ..spec import NormSys, as_normsys, check_normsys

ROOT = load()

__all__ = [
    "check_dataset",
    "coefficient_formula",
    "ALPHA_GLOBAL_RANGE",
    "gaussian_constraint",
    "gaussian_constraints",
    "gaussian_parts",
    "normsys_factor",
    "real_var",
    "with_constraints",
]


def real_var(name: str, value: float = 0.0, lo: float | None = None, hi: float | None = None) -> Any:
    """A RooRealVar ``name`` with ``value`` and the range [lo, hi] (infinite where None); a ranged
    one (a parameter) keeps ``value`` as its declared start (:data:`~roonsbi.naming.INITIAL_ATTR`,
    what exports write as initial values, whatever a fit did since)."""
    inf = ROOT.RooNumber.infinity()
    var = ROOT.RooRealVar(name, name, value, -inf if lo is None else lo, inf if hi is None else hi)
    if lo is not None or hi is not None:
        var.setStringAttribute(naming.INITIAL_ATTR, repr(float(value)))
    return var


def gaussian_parts(constraint: Any, param: str) -> tuple[Any, float] | None:
    r"""(other argument, sigma) of a Gaussian constraint term on the parameter ``param``: a
    ``RooGaussian`` whose x or mean is ``param`` (the other argument is its global observable,
    theta_0) and whose width does not depend on it; None for any other term."""
    if not isinstance(constraint, ROOT.RooGaussian):
        return None
    x, mean, sigma = constraint.getX(), constraint.getMean(), constraint.getSigma()
    for par, other in ((x, mean), (mean, x)):
        if par.GetName() == param and not sigma.dependsOn(par):
            return other, float(sigma.getVal())
    return None


def check_dataset(pdf: Any, data: Any) -> None:
    """Raise ValueError unless ``data`` is a dataset of ``pdf`` with valid values, by the C++ checks
    that the likelihoods run themselves: for the column form every ratio and shape column with valid
    values and finite weights (``RooNSBIPdf::checkColumns``); for the store form the event index, each
    value a row of the pdf's event store, finite weights and no event on a pool row of measure
    :math:`m_k \\le 0` (``RooNSBINLL::checkData``, the data check of the fast likelihood, whose rule is
    RooFit's NLL's too). The message names the pdf, the dataset and the first bad entry."""
    with cpp_errors():
        if pdf.usesStore():
            ROOT.RooNSBINLL.checkData(f"nll_{pdf.GetName()}_{data.GetName()}", pdf, data)
        else:
            pdf.checkColumns(data)


def coefficient_formula(name: str, expression: str, poi_vars: Mapping[str, Any], process: str) -> Any:
    """RooFormulaVar f_J of the POIs that ``expression`` uses (only those: RooFit's vectorised
    RooFormula evaluation expects every listed variable to be a server of the formula)."""
    check_formula_names(expression, poi_vars, process)
    used = ROOT.RooArgList()
    for poi, var in poi_vars.items():
        if re.search(rf"(?<![\w.]){re.escape(poi)}(?![\w(])", expression):
            used.add(var)
    try:
        return ROOT.RooFormulaVar(name, expression, expression, used)
    except (TypeError, ROOT.std.runtime_error):  # what cppyy raises when TFormula rejects the expression
        raise ValueError(
            f"coefficient '{expression}' of process '{process}' is not a valid formula of the POIs {list(poi_vars)}"
        ) from None


#: range of HistFactory's global observables nom_alpha_X
ALPHA_GLOBAL_RANGE = (-10.0, 10.0)


def gaussian_constraint(alpha: Any) -> tuple[Any, Any, Any]:
    r"""HistFactory's Gaussian constraint of a nuisance parameter ``alpha_X``: (the global observable
    ``nom_alpha_X`` (0, constant, range :data:`ALPHA_GLOBAL_RANGE`), the constraint
    ``alpha_XConstraint`` = Gauss(nom_alpha_X | alpha_X, 1), its width, a RooConstVar to keep alive)."""
    name = alpha.GetName()
    nom = real_var(naming.global_observable(name), 0.0, *ALPHA_GLOBAL_RANGE)
    nom.setConstant(True)
    sigma = ROOT.RooConstVar(naming.constraint_width(name), "1", 1.0)
    cname = naming.constraint(name)
    return nom, ROOT.RooGaussian(cname, cname, alpha, nom, sigma), sigma


def gaussian_constraints(np_names: Sequence[str], poi_vars: Mapping[str, Any], alpha_range: tuple[float, float],
                         keep: list[Any]) -> tuple[dict[str, Any], list[Any], list[Any]]:
    r"""HistFactory's constraint terms for nuisance parameters ``X``: ``alpha_X`` (range
    ``alpha_range``, error 1), the global observable ``nom_alpha_X`` (constant 0) and
    ``Gaussian::alpha_XConstraint(alpha_X, nom_alpha_X, 1)``. Returns the alphas by name,
    the global observables and the constraint pdfs; helper objects are appended to ``keep``."""
    alphas, globs, constraints = {}, [], []
    for np_name in np_names:
        if np_name in poi_vars:
            raise ValueError(f"'{np_name}' is both a POI and a nuisance parameter")
        alpha = real_var(naming.alpha(np_name), 0.0, *alpha_range)
        alpha.setError(1.0)
        nom, cons, sigma = gaussian_constraint(alpha)
        alphas[np_name] = alpha
        globs.append(nom)
        constraints.append(cons)
        keep.append(sigma)
    return alphas, globs, constraints


def with_constraints(pdf: Any, constraints: Sequence[Any], name: str, title: str) -> Any:
    """The channel pdf times its constraint terms (a RooProdPdf), or the pdf if there are none."""
    if not constraints:
        return pdf
    factors = ROOT.RooArgList(pdf)
    for c in constraints:
        factors.add(c)
    return ROOT.RooProdPdf(name, title, factors)




def normsys_factor(name: str, normsys: Mapping[str, NormSys | tuple[float, float]], alphas: Mapping[str, Any],
                   process: str) -> Any:
    r"""G_J(alpha) = prod_m I_m(alpha_m) of the normalisation systematics of a process: HistFactory's
    ``FlexibleInterpVar`` (nominal 1, the factors at alpha = -1/+1 and the code of each)."""
    par = ROOT.RooArgList()
    lo: list[float] = []
    hi: list[float] = []
    codes: list[int] = []
    for np_name, value in normsys.items():
        norm = as_normsys(value, f"normalisation systematic '{np_name}' of process '{process}'")
        check_normsys(norm, np_name, process)
        par.add(alphas[np_name])
        lo.append(float(norm.lo))
        hi.append(float(norm.hi))
        codes.append(int(norm.code))
    return ROOT.RooStats.HistFactory.FlexibleInterpVar(name, name, par, 1.0, lo, hi, codes)
