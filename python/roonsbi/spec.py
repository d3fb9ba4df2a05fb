r"""Plain descriptions of an NSBI channel and the one table of interpolation codes (no ROOT).

A channel is a list of :class:`Process` objects. Process :math:`J` has a nominal yield
:math:`\nu_J`, per-event density ratios :math:`r_J(x_i) = p_J(x_i)/p_\mathrm{ref}(x_i)`, a
coefficient :math:`f_J(\mu)`, normalisation systematics :class:`NormSys` (:math:`G_J(\alpha)`)
and per-event shape systematics :class:`ShapeSys` (:math:`g_{Jm}(x_i, \alpha_m)`):

.. math::

    \frac{p(x|\mu,\alpha)}{p_\mathrm{ref}(x)} = \frac{1}{\nu(\mu,\alpha)}
        \sum_J f_J(\mu)\,\nu_J\,G_J(\alpha)\,r_J(x) \prod_m g_{Jm}(x,\alpha_m).

Interpolation codes are ROOT's own numbers (``FlexibleInterpVar`` for :class:`NormSys`,
``PiecewiseInterpolation`` for :class:`ShapeSys` and histosys templates); :data:`NORMSYS_CODES`
and :data:`SHAPESYS_CODES` are the one Python table of them, and ``cpp/include/RooNSBI/Codes.h``
the one C++ table.

>>> import numpy as np
>>> from roonsbi.spec import Process, NormSys, ShapeSys
>>> p = Process("S", 60.0, np.ones(3), "mu", normsys={"lumi": NormSys(0.98, 1.02)},
...             shapesys={"jes": ShapeSys(np.full(3, 0.9), np.full(3, 1.1))})
>>> p.normsys["lumi"].code, p.shapesys["jes"].code
(4, 5)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

__all__ = [
    "ADDITIVE_SHAPE_CODES",
    "ArrayLike",
    "DEFAULT_HISTOSYS_CODE",
    "DEFAULT_NORMSYS_CODE",
    "DEFAULT_SHAPESYS_CODE",
    "NORMSYS_CODES",
    "NormSys",
    "PathLike",
    "PYHF_HISTOSYS_CODE",
    "PYHF_NORMSYS_CODES",
    "Process",
    "SHAPESYS_CODES",
    "ShapeSys",
    "as_normsys",
    "as_shapesys",
    "check_column",
    "check_normsys",
    "check_shape_code",
    "checked_formula",
    "evaluate_formula",
    "formula_parameters",
]

ArrayLike = Union[np.ndarray, Sequence[float]]
#: a file or folder name
PathLike = Union[str, "os.PathLike[str]"]

#: ``FlexibleInterpVar`` codes of normalisation systematics (code -> meaning).
NORMSYS_CODES: Mapping[int, str] = {
    0: "linear",
    1: "exponential",
    2: "parabolic inside |alpha| < 1, linear outside",
    4: "6th-order polynomial inside |alpha| < 1, exponential outside (HistFactory normsys default, pyhf code4)",
    5: "as 4",
}
#: ``PiecewiseInterpolation`` codes of per-event shapes and histosys templates (code -> meaning).
SHAPESYS_CODES: Mapping[int, str] = {
    0: "additive, piecewise linear",
    1: "multiplicative, piecewise exponential",
    2: "additive, parabolic inside |alpha| < 1, linear outside",
    4: "additive, 6th-order polynomial inside |alpha| < 1, linear outside (HistFactory histosys default, "
    "pyhf code4p)",
    5: "multiplicative, 6th-order polynomial inside |alpha| < 1, exponential outside (roonsbi's per-event default)",
    6: "multiplicative factor 1 + delta with code 4's delta",
}
#: Shape codes whose delta is added (the others multiply).
ADDITIVE_SHAPE_CODES = frozenset({0, 2, 4})
DEFAULT_NORMSYS_CODE = 4
DEFAULT_SHAPESYS_CODE = 5
DEFAULT_HISTOSYS_CODE = 4
#: The codes that pyhf's ``normsys`` (code4) and ``histosys`` (code4p) equal.
PYHF_NORMSYS_CODES = (4, 5)  # FlexibleInterpVar evaluates 4 as 5 (HistFactory stores either)
PYHF_HISTOSYS_CODE = 4


@dataclass(frozen=True)
class NormSys:
    """Normalisation systematic: yield factors at alpha = -1 and +1 (nominal 1)."""

    lo: float
    hi: float
    code: int = DEFAULT_NORMSYS_CODE


@dataclass(frozen=True)
class ShapeSys:
    """Per-event shape systematic: columns g(x_i, -1) and g(x_i, +1) (nominal 1)."""

    lo: ArrayLike
    hi: ArrayLike
    code: int = DEFAULT_SHAPESYS_CODE


@dataclass
class Process:
    """One process J of an NSBI channel.

    Args:
        name: process name (used in object names: ``r_<name>``, ``N_<name>`` ...).
        nominal_yield: nu_J, the expected number of events at f_J = 1, alpha = 0.
        ratio: r_J(x_i) = p_J(x_i)/p_ref(x_i) per event (e.g. a network output).
        coefficient: f_J of the POIs: a RooFit formula in the POI names
            (``"mu"``, ``"sqrt(mu)"``, ``"mu - sqrt(mu)"``) or a RooAbsReal.
        normsys: nuisance-parameter name -> :class:`NormSys` or ``(lo, hi)``.
        shapesys: nuisance-parameter name -> :class:`ShapeSys` or ``(lo_array, hi_array)``.
    """

    name: str
    nominal_yield: float
    ratio: ArrayLike
    coefficient: Any = "1"
    normsys: Mapping[str, NormSys | tuple[float, float]] = field(default_factory=dict)
    shapesys: Mapping[str, ShapeSys | tuple[ArrayLike, ArrayLike]] = field(default_factory=dict)


def _pair(value: Any, kind: type, where: str) -> Any:
    """``value`` as a ``kind`` (itself, or a ``(lo, hi)`` pair with the default code); TypeError naming
    ``where`` for anything else."""
    if isinstance(value, kind):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return kind(*value)
    shown = f"tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
    raise TypeError(f"{where} must be a {kind.__name__} or a pair (lo, hi), got {shown}")


def as_normsys(value: NormSys | tuple[float, float], where: str = "a normalisation systematic") -> NormSys:
    """``value`` as a :class:`NormSys` (a ``(lo, hi)`` pair gets the default code); TypeError naming
    ``where`` for anything else."""
    return _pair(value, NormSys, where)


def as_shapesys(value: ShapeSys | tuple[ArrayLike, ArrayLike], where: str = "a shape systematic") -> ShapeSys:
    """``value`` as a :class:`ShapeSys` (a ``(lo, hi)`` pair gets the default code); TypeError naming
    ``where`` for anything else."""
    return _pair(value, ShapeSys, where)


def _is_code(code: Any) -> bool:
    return isinstance(code, (int, np.integer)) and not isinstance(code, (bool, np.bool_))


def check_shape_code(kind: str, code: int, np_name: str, process: str) -> None:
    """ValueError unless ``code`` is a PiecewiseInterpolation code (per-event shapes, histosys)."""
    if not _is_code(code) or code not in SHAPESYS_CODES:
        raise ValueError(f"unknown {kind} interpolation code {code!r} for '{np_name}' of process '{process}' "
                         f"(PiecewiseInterpolation codes {tuple(SHAPESYS_CODES)})")


def check_normsys(sys: NormSys, np_name: str, process: str) -> None:
    """ValueError unless the normalisation systematic has a FlexibleInterpVar code and positive
    finite factors."""
    if not _is_code(sys.code) or sys.code not in NORMSYS_CODES:
        raise ValueError(f"unknown normalisation interpolation code {sys.code!r} for '{np_name}' of process "
                         f"'{process}' (FlexibleInterpVar codes {tuple(NORMSYS_CODES)})")
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
               for v in (sys.lo, sys.hi)):
        raise TypeError(f"normalisation systematic '{np_name}' of process '{process}' needs numbers (lo, hi), got "
                        f"lo={sys.lo!r}, hi={sys.hi!r}")
    if not (sys.lo > 0 and sys.hi > 0 and np.isfinite(sys.lo) and np.isfinite(sys.hi)):
        raise ValueError(f"normalisation systematic '{np_name}' of process '{process}' needs positive finite "
                         f"factors, got lo={sys.lo}, hi={sys.hi}")


def check_column(column: str, role: str, values: np.ndarray, strictly_positive: bool = False) -> None:
    """ValueError if a column has NaN/inf or negative (or, if asked, zero) values, naming the
    column, the number of bad entries and the first one.

    The same check, for RooFit datasets, is ``RooNSBIPdf::checkColumns`` in C++.

    >>> check_column("r_S", "ratio", np.array([1.0, -2.0]))
    Traceback (most recent call last):
    ...
    ValueError: ratio column 'r_S' has 1 of 2 entries that are NaN, infinite or negative (first: entry 1 = -2)
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return
    with np.errstate(invalid="ignore"):
        good = np.isfinite(values) & ((values > 0.0) if strictly_positive else (values >= 0.0))
    if good.all():
        return
    bad = np.flatnonzero(~good)
    what = "not positive" if strictly_positive else "negative"
    raise ValueError(f"{role} column '{column}' has {bad.size} of {values.size} entries that are NaN, infinite or "
                     f"{what} (first: entry {bad[0]} = {values[bad[0]]:g})")


#: the functions a coefficient formula may use (RooFit/TFormula names), evaluated with numpy
_FORMULA_FUNCTIONS = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "pow": np.power, "abs": np.abs}


def evaluate_formula(formula: str, values: Mapping[str, float]) -> float:
    """A coefficient formula f_J (RooFit syntax: ``+ - * /``, ``^`` for powers, ``sqrt``, ``exp``,
    ``log``, ``pow``, ``abs``) at the parameter ``values``, with numpy and without ROOT; the model
    itself evaluates the same string as a ``RooFormulaVar``.

    >>> evaluate_formula("mu - sqrt(mu)", {"mu": 4.0})
    2.0
    >>> evaluate_formula("k^2", {"mu": 1.0})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: formula 'k^2' uses unknown names ['k'] (parameters ['mu'], functions [...])
    """
    expr = checked_formula(formula, values)
    names: dict[str, Any] = dict(_FORMULA_FUNCTIONS)
    names.update({k: float(v) for k, v in values.items()})
    try:
        return float(eval(expr, {"__builtins__": {}}, names))
    except (SyntaxError, TypeError, ZeroDivisionError) as err:
        raise ValueError(f"'{formula}' is not a valid formula of the parameters {sorted(values)}: {err}") from None


def formula_parameters(formula: str) -> list[str]:
    """The parameter names a coefficient formula uses (its names other than the functions).

    >>> formula_parameters("mu - sqrt(mu) + 2*k^2")
    ['k', 'mu']
    """
    return sorted(set(re.findall(r"(?<![\w.])[A-Za-z_]\w*", formula)) - set(_FORMULA_FUNCTIONS))


def checked_formula(formula: str, parameters: Iterable[str]) -> str:
    """The Python expression of a coefficient formula (``^`` -> ``**``), checked to hold only
    arithmetic, the functions of :func:`evaluate_formula` and the names ``parameters``.

    >>> checked_formula("mu^2 - sqrt(mu)", ["mu"])
    'mu**2 - sqrt(mu)'
    """
    expr = formula.replace("^", "**")
    if re.search(r"[^\w\s.+\-*/(),]", expr) or "__" in expr:
        raise ValueError(f"formula '{formula}' has characters outside arithmetic")
    parameters = sorted(parameters)
    unknown = set(re.findall(r"(?<![\w.])[A-Za-z_]\w*", expr)) - set(parameters) - set(_FORMULA_FUNCTIONS)
    if unknown:
        raise ValueError(f"formula '{formula}' uses unknown names {sorted(unknown)} (parameters {parameters}, "
                         f"functions {sorted(_FORMULA_FUNCTIONS)})")
    return expr
