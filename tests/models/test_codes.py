"""The one C++ table of interpolation codes (``RooNSBI/Codes.h``) agrees with the one Python table
(``roonsbi.spec``) and with ROOT itself: which codes ``FlexibleInterpVar`` (normsys) and
``PiecewiseInterpolation`` (shapes, histosys) accept, which of them are additive and which
extrapolate exponentially (the codes whose columns the fast likelihood stores as logarithms);
and roonsbi's own closed forms of the codes agree with ``flexibleInterpSingle``."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import pytest
import ROOT

import roonsbi.library
from roonsbi.spec import ADDITIVE_SHAPE_CODES, NORMSYS_CODES, SHAPESYS_CODES

CODES = range(-2, 11)
LOW, HIGH = 0.8, 1.3


@pytest.fixture(scope="module")
def codes() -> Any:
    roonsbi.library.load()
    ROOT.gInterpreter.Declare('#include "RooNSBI/Codes.h"')
    return ROOT.RooNSBI.Codes


@pytest.fixture(scope="module")
def quiet() -> Iterator[None]:
    """ROOT reports a rejected code as an ERROR message: not printed here."""
    msg = ROOT.RooMsgService.instance()
    kill_below = msg.globalKillBelow()
    msg.setGlobalKillBelow(ROOT.RooFit.FATAL)
    yield
    msg.setGlobalKillBelow(kill_below)


def _piecewise(code: int, n_params: int = 1, alpha: float = 0.5, start: int | None = None) -> Any:
    """PiecewiseInterpolation around a nominal of 1 with ``n_params`` parameters at ``alpha``, each
    with the -1/+1 sigma values LOW/HIGH, set to ``code`` from the code ``start``."""
    nominal = ROOT.RooConstVar("nominal", "", 1.0)
    params, lows, highs = ROOT.RooArgList(), ROOT.RooArgList(), ROOT.RooArgList()
    keep = [nominal]
    for k in range(n_params):
        a = ROOT.RooRealVar(f"alpha_{k}", "", alpha, -5, 5)
        lo, hi = ROOT.RooConstVar(f"lo_{k}", "", LOW), ROOT.RooConstVar(f"hi_{k}", "", HIGH)
        keep += [a, lo, hi]
        params.add(a)
        lows.add(lo)
        highs.add(hi)
    pw = ROOT.PiecewiseInterpolation(f"pw_{code}_{n_params}", "", nominal, lows, highs, params)
    for a in params:
        if start is not None:
            pw.setInterpCode(a, start)
        pw.setInterpCode(a, code)
    pw._keep = keep  # the servers live as long as the function
    return pw


def _flexible(code: int, start: int) -> Any:
    a = ROOT.RooRealVar("alpha", "", 0.5, -5, 5)
    fv = ROOT.RooStats.HistFactory.FlexibleInterpVar(f"fv_{code}", "", ROOT.RooArgList(a), 1.0, [LOW], [HIGH], [start])
    fv.setInterpCode(a, code)
    fv._keep = a
    return fv


def _accepted(make: Callable[[int, int], Any], code: int) -> bool:
    """ROOT keeps a code it accepts; it keeps the previous code (or maps 3 to 2) otherwise."""
    start = 1 if code != 1 else 0
    return int(list(make(code, start).interpolationCodes())[0]) == code


def test_python_table_is_the_cpp_table(codes: Any) -> None:
    for code in CODES:
        assert bool(codes.isNormCode(code)) == (code in NORMSYS_CODES), code
        assert bool(codes.isShapeCode(code)) == (code in SHAPESYS_CODES), code
        assert bool(codes.isAdditiveShapeCode(code)) == (code in ADDITIVE_SHAPE_CODES), code
        # every shape code is stored either as values or as logarithms, never both
        stored = int(codes.storesShapeValues(code)) + int(codes.storesShapeLogs(code))
        assert stored == (1 if code in SHAPESYS_CODES else 0), code


def test_root_accepts_exactly_the_table(codes: Any, quiet: None) -> None:
    shape = [c for c in CODES if _accepted(lambda code, start: _piecewise(code, start=start), c)]
    norm = [c for c in CODES if _accepted(_flexible, c)]
    assert shape == [c for c in CODES if codes.isShapeCode(c)] == sorted(SHAPESYS_CODES)
    assert norm == [c for c in CODES if codes.isNormCode(c)] == sorted(NORMSYS_CODES)


@pytest.mark.parametrize("code", sorted(SHAPESYS_CODES))
def test_additive_codes_add_in_root(codes: Any, code: int) -> None:
    """With two equal parameters PiecewiseInterpolation gives 1 + 2 d for an additive code and
    (1 + d)^2 for a multiplicative one (d: the change made by one parameter)."""
    d = _piecewise(code).getVal() - 1.0
    two = _piecewise(code, n_params=2).getVal()
    assert abs(d) > 0.05
    expected = 1 + 2 * d if codes.isAdditiveShapeCode(code) else (1 + d) ** 2
    assert two == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("code", sorted(SHAPESYS_CODES))
def test_logarithm_codes_extrapolate_exponentially_in_root(codes: Any, code: int) -> None:
    """The codes stored as logarithms are those ROOT extrapolates exponentially outside |alpha| < 1
    (hi^alpha, lo^-alpha); the others extrapolate linearly (zero second difference in alpha);
    and RooNSBINLL picks its store columns accordingly."""
    for sign, base in ((1, HIGH), (-1, LOW)):
        values = [_piecewise(code, alpha=sign * x).getVal() for x in (1.5, 2.0, 2.5)]
        exponential = [base**x for x in (1.5, 2.0, 2.5)]
        if codes.storesShapeLogs(code):
            assert values == pytest.approx(exponential, rel=1e-12)
        else:
            assert values[0] - 2 * values[1] + values[2] == pytest.approx(0.0, abs=1e-12)
            assert values[2] != pytest.approx(exponential[2], rel=1e-3)
    column = str(ROOT.RooNSBINLL.shapeColumn(code, "g"))
    assert column == ("log:g" if codes.storesShapeLogs(code) else "g")


ROOT_SINGLE = """
namespace roonsbi_test_codes {
double rootStep(int code, double lo, double hi, double alpha)
{ return RooFit::Detail::MathFuncs::flexibleInterpSingle(code, lo, hi, 1.0, 1.0, alpha, 1.0); }
double additive(int code, double alpha, double hi, double lo)
{ double v, d; RooNSBI::MathFuncs::additiveDelta(code, alpha, hi, lo, v, d); return v; }
double poly6(double alpha, double hi, double lo)
{ double v, d; RooNSBI::MathFuncs::poly6Exp(alpha, hi, lo, std::log(hi), std::log(lo), v, d); return v; }
}
"""


@pytest.mark.parametrize("alpha", [-2.0, -1.0, -0.7, -0.2, 0.0, 0.3, 0.9, 1.0, 1.7])
def test_roonsbi_closed_forms_are_roots_codes(codes: Any, alpha: float) -> None:
    """roonsbi's alpha-only weights (codes 0, 2, 4, and 6 = 1 + code 4's delta) and the code-5
    polynomial inside |alpha| < 1 against ROOT's flexibleInterpSingle (nominal 1, boundary 1)."""
    ROOT.gInterpreter.Declare('#include "RooNSBI/MathFuncs.h"')
    if not hasattr(ROOT, "roonsbi_test_codes"):
        ROOT.gInterpreter.Declare(ROOT_SINGLE)
    ns = ROOT.roonsbi_test_codes
    for code in (0, 2, 4):
        assert ns.additive(code, alpha, HIGH, LOW) == pytest.approx(ns.rootStep(code, LOW, HIGH, alpha), abs=1e-14)
    assert 1 + ns.additive(4, alpha, HIGH, LOW) == pytest.approx(1 + ns.rootStep(6, LOW, HIGH, alpha), abs=1e-14)
    if abs(alpha) < 1:
        assert ns.poly6(alpha, HIGH, LOW) == pytest.approx(1 + ns.rootStep(5, LOW, HIGH, alpha), rel=1e-12)
    else:
        expected = HIGH**alpha if alpha > 0 else LOW ** (-alpha)
        assert 1 + ns.rootStep(5, LOW, HIGH, alpha) == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(ns.rootStep(1, LOW, HIGH, alpha))
