"""The coefficients f_J of the binned channels, evaluated without ROOT by
:func:`roonsbi.spec.evaluate_formula`, against ROOT's RooFormulaVar (the independent reference:
the models evaluate the same strings as RooFormulaVar)."""

from __future__ import annotations

import re

import pytest

from roonsbi.library import load
from roonsbi.spec import evaluate_formula

FORMULAS = ["mu", "sqrt(mu)", "mu - sqrt(mu)", "1 - sqrt(mu)", "mu^2", "pow(mu, 1.5)", "exp(-mu)", "2*mu*k"]
POINTS = [{"mu": 0.0, "k": 1.0}, {"mu": 0.25, "k": -0.5}, {"mu": 1.0, "k": 2.0}, {"mu": 2.7, "k": 0.3}]


def _roofit(formula: str, point: dict[str, float]) -> float:
    ROOT = load()
    names = [n for n in ("mu", "k") if re.search(rf"\b{n}\b", formula)]
    variables = [ROOT.RooRealVar(n, n, point[n], -10.0, 10.0) for n in names]
    args = ROOT.RooArgList()
    for v in variables:
        args.add(v)
    return float(ROOT.RooFormulaVar("f", "f", formula, args).getVal())


@pytest.mark.parametrize("formula", FORMULAS)
def test_evaluate_formula_agrees_with_roofit(formula: str) -> None:
    for point in POINTS:
        assert evaluate_formula(formula, point) == pytest.approx(_roofit(formula, point), rel=1e-12, abs=1e-14), point


@pytest.mark.parametrize("formula", ["2*mu*k + q", "mu; import os", "mu.__class__"])
def test_a_bad_formula_raises_value_error_naming_it(formula: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"'{formula}'")):
        evaluate_formula(formula, {"mu": 1.0, "k": 2.0})
