r"""Independent numpy reference of the NSBI extended NLL (DESIGN.md 1.1 and 1.2).

Written from the formulas, not from the package or ROOT's sources:

.. math::

    \mathrm{NLL}(\mu,\alpha) = \nu(\mu,\alpha)
        - \sum_i w_i \log\Big(\sum_J f_J(\mu)\,\nu_J\,G_J(\alpha)\,r_J(x_i)\,g_J(x_i,\alpha)\Big)
        + \sum_m \Big[\tfrac12\alpha_m^2 + \tfrac12\log 2\pi\Big],
    \qquad \nu = \sum_J f_J(\mu)\,\nu_J\,G_J(\alpha).

Every interpolation I(a; lo, hi) is around a nominal value of 1 with I(0) = 1,
I(-1) = lo, I(+1) = hi and the switch between the inner and the outer form at |a| = 1.

Per-event shape factor g_J (ROOT ``PiecewiseInterpolation`` codes): start from g = 1 and
for each nuisance parameter in order

* additive codes (0, 2, 4):        g <- g + (I(a) - 1)
* multiplicative codes (1, 5, 6):  g <- g * I(a)

with I from :func:`interpolate` (code 6 multiplies by the code-4 interpolant of lo/1, hi/1).

Normalisation factor G_J (HistFactory ``FlexibleInterpVar`` codes): the same accumulation
from 1 with code 0 = additive linear, 1 = multiplicative exponential, 2 = additive
parabolic/linear, 4 = multiplicative 6th-order polynomial/exponential (the shape code 5
interpolant; 5 is accepted as an alias of 4). ``FlexibleInterpVar``'s clipping of a
non-positive total is not modelled.

The 6th-order polynomials p(a) = 1 + sum_{k=1}^{6} c_k a^k are obtained by solving the
6x6 linear system that matches p, p' and p'' at a = +1 and a = -1 to the outer pieces
(see :func:`poly6_coefficients`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

#: Codes of per-event shape systematics (ROOT PiecewiseInterpolation).
SHAPE_CODES: tuple[int, ...] = (0, 1, 2, 4, 5, 6)
#: Codes of normalisation systematics (ROOT FlexibleInterpVar).
NORM_CODES: tuple[int, ...] = (0, 1, 2, 4)

ADDITIVE_SHAPE_CODES = frozenset({0, 2, 4})
MULTIPLICATIVE_SHAPE_CODES = frozenset({1, 5, 6})
ADDITIVE_NORM_CODES = frozenset({0, 2})
MULTIPLICATIVE_NORM_CODES = frozenset({1, 4, 5})

LOG_2PI = math.log(2.0 * math.pi)

Array = np.ndarray


# -- 6th-order polynomial interpolation --------------------------------------------------
def _poly6_matrix() -> Array:
    r"""Matrix M of the matching conditions for the monomials a^1 ... a^6.

    Rows: p(+1), p'(+1), p''(+1), p(-1), p'(-1), p''(-1); column k-1 holds the
    contribution of a^k: (+-1)^k, k (+-1)^{k-1}, k (k-1) (+-1)^{k-2}.
    """
    m = np.zeros((6, 6))
    for k in range(1, 7):
        for row, s in ((0, 1.0), (3, -1.0)):
            m[row, k - 1] = s**k
            m[row + 1, k - 1] = k * s ** (k - 1)
            m[row + 2, k - 1] = k * (k - 1) * s ** (k - 2) if k >= 2 else 0.0
    return m


_POLY6_MATRIX = _poly6_matrix()


def poly6_coefficients(targets: Array) -> Array:
    r"""Coefficients c_1..c_6 of p(a) = 1 + \sum_k c_k a^k.

    Args:
        targets: shape (6, n): required p(+1), p'(+1), p''(+1), p(-1), p'(-1), p''(-1)
            per event.

    Returns:
        shape (6, n), solving M c = targets - (1, 0, 0, 1, 0, 0) (the constant term 1
        enters the two value conditions only).
    """
    rhs = np.array(targets, dtype=np.float64, copy=True)
    rhs[0] -= 1.0
    rhs[3] -= 1.0
    return np.linalg.solve(_POLY6_MATRIX, rhs)


def poly6_eval(coefficients: Array, a: float) -> Array:
    r"""p(a) = 1 + \sum_{k=1}^{6} c_k a^k (Horner), per event."""
    acc = np.zeros(coefficients.shape[1:])
    for k in range(5, -1, -1):
        acc = (acc + coefficients[k]) * a
    return 1.0 + acc


# -- single interpolants I(a; lo, hi) around nominal 1 -------------------------------------
def interp_linear(lo: Array, hi: Array, a: float) -> Array:
    r"""Code 0: I = 1 + a (hi - 1) for a >= 0, 1 + a (1 - lo) for a < 0."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return 1.0 + a * (hi - 1.0) if a >= 0 else 1.0 + a * (1.0 - lo)


def interp_exponential(lo: Array, hi: Array, a: float) -> Array:
    r"""Code 1: I = hi^a for a >= 0, lo^{-a} for a < 0."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return np.power(hi, a) if a >= 0 else np.power(lo, -a)


def interp_parabolic(lo: Array, hi: Array, a: float) -> Array:
    r"""Code 2: parabola through (-1, lo), (0, 1), (1, hi), linear beyond |a| = 1.

    Inside: I = 1 + A a^2 + B a with A = (hi + lo)/2 - 1, B = (hi - lo)/2.
    Outside: tangent at the boundary, I = hi + (2A + B)(a - 1) for a > 1 and
    I = lo + (B - 2A)(a + 1) for a < -1.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    quad = 0.5 * (hi + lo) - 1.0
    lin = 0.5 * (hi - lo)
    if a > 1:
        return hi + (2.0 * quad + lin) * (a - 1.0)
    if a < -1:
        return lo + (lin - 2.0 * quad) * (a + 1.0)
    return 1.0 + quad * a * a + lin * a


def interp_poly_linear(lo: Array, hi: Array, a: float) -> Array:
    r"""Code 4 (shape): 6th-order polynomial inside |a| < 1, piecewise linear outside.

    Outside: I = 1 + a (hi - 1) (a >= 1), 1 + a (1 - lo) (a <= -1). Inside: p(a) with
    p(+1) = hi, p'(+1) = hi - 1, p''(+1) = 0, p(-1) = lo, p'(-1) = 1 - lo, p''(-1) = 0.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if abs(a) >= 1:
        return interp_linear(lo, hi, a)
    zero = np.zeros_like(lo)
    targets = np.stack([hi, hi - 1.0, zero, lo, 1.0 - lo, zero])
    return poly6_eval(poly6_coefficients(targets), a)


def interp_poly_exponential(lo: Array, hi: Array, a: float) -> Array:
    r"""Code 5 (shape) = code 4 (normsys): 6th-order polynomial inside, exponential outside.

    Outside: I = hi^a (a >= 1), lo^{-a} (a <= -1). Inside: p(a) with
    p(+1) = hi, p'(+1) = hi ln hi, p''(+1) = hi ln^2 hi,
    p(-1) = lo, p'(-1) = -lo ln lo, p''(-1) = lo ln^2 lo.
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if abs(a) >= 1:
        return interp_exponential(lo, hi, a)
    lh, ll = np.log(hi), np.log(lo)
    targets = np.stack([hi, hi * lh, hi * lh * lh, lo, -lo * ll, lo * ll * ll])
    return poly6_eval(poly6_coefficients(targets), a)


_SHAPE_INTERPOLANTS: dict[int, Callable[[Array, Array, float], Array]] = {
    0: interp_linear,
    1: interp_exponential,
    2: interp_parabolic,
    4: interp_poly_linear,
    5: interp_poly_exponential,
    6: interp_poly_linear,  # multiplicative use of the code-4 interpolant (of lo/1, hi/1)
}

_NORM_INTERPOLANTS: dict[int, Callable[[Array, Array, float], Array]] = {
    0: interp_linear,
    1: interp_exponential,
    2: interp_parabolic,
    4: interp_poly_exponential,
    5: interp_poly_exponential,
}


def interpolate(code: int, lo: Array, hi: Array, a: float, kind: str = "shape") -> Array:
    """I(a; lo, hi) of a shape ("shape") or normalisation ("norm") interpolation code."""
    table = _SHAPE_INTERPOLANTS if kind == "shape" else _NORM_INTERPOLANTS
    if code not in table:
        raise ValueError(f"unknown {kind} interpolation code {code}")
    return table[code](lo, hi, a)


# -- accumulation over nuisance parameters ----------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One nuisance parameter acting on a quantity: code, values at a = -1 / +1, value of a."""

    code: int
    lo: Array | float
    hi: Array | float
    a: float


def shape_factor(terms: Sequence[Term], n: int | None = None) -> Array:
    r"""g(x_i, alpha): start at 1; additive codes add I - 1, multiplicative codes multiply by I."""
    g: Array = np.ones(n) if n is not None else np.asarray(1.0)
    for t in terms:
        value = interpolate(t.code, t.lo, t.hi, t.a, "shape")
        if t.code in ADDITIVE_SHAPE_CODES:
            g = g + (value - 1.0)
        elif t.code in MULTIPLICATIVE_SHAPE_CODES:
            g = g * value
        else:
            raise ValueError(f"unknown shape interpolation code {t.code}")
    return g


def norm_factor(terms: Sequence[Term]) -> float:
    r"""G(alpha): start at 1; codes 0, 2 add I - 1, codes 1, 4 multiply by I."""
    total = 1.0
    for t in terms:
        value = float(interpolate(t.code, t.lo, t.hi, t.a, "norm"))
        if t.code in ADDITIVE_NORM_CODES:
            total += value - 1.0
        elif t.code in MULTIPLICATIVE_NORM_CODES:
            total *= value
        else:
            raise ValueError(f"unknown normalisation interpolation code {t.code}")
    return total


# -- the NLL -------------------------------------------------------------------------------
@dataclass
class RefProcess:
    """Process J of the reference: f_J as a python function of the POIs, nu_J, r_J, systematics.

    ``normsys``: NP name -> (lo, hi, code); ``shapesys``: NP name -> (lo array, hi array, code),
    applied in the order of the mapping.
    """

    nominal_yield: float
    ratio: Array
    coefficient: Callable[[Mapping[str, float]], float]
    normsys: Mapping[str, tuple[float, float, int]] = field(default_factory=dict)
    shapesys: Mapping[str, tuple[Array, Array, int]] = field(default_factory=dict)

    def yield_(self, pois: Mapping[str, float], alphas: Mapping[str, float]) -> float:
        r"""N_J = f_J(mu) nu_J G_J(alpha)."""
        g = norm_factor([Term(c, lo, hi, alphas[name]) for name, (lo, hi, c) in self.normsys.items()])
        return self.coefficient(pois) * self.nominal_yield * g

    def shape(self, alphas: Mapping[str, float]) -> Array:
        r"""g_J(x_i, alpha) per event."""
        terms = [Term(c, lo, hi, alphas[name]) for name, (lo, hi, c) in self.shapesys.items()]
        return shape_factor(terms, len(self.ratio))


def nuisance_names(processes: Sequence[RefProcess]) -> list[str]:
    """All nuisance parameters of the processes (each gets one Gaussian constraint)."""
    return sorted({n for p in processes for n in list(p.normsys) + list(p.shapesys)})


def shape_expectation(process: RefProcess, name: str, measure: Array, a: float) -> float:
    r"""c_Jm(a) = sum_k m_k r_J(x_k) g_Jm(x_k, a) / sum_k m_k r_J(x_k) of the shape term ``name`` of
    a process whose events are the reference pool with measure ``measure`` (the term alone)."""
    lo, hi, code = process.shapesys[name]
    g = shape_factor([Term(code, lo, hi, a)], len(process.ratio))
    w = np.asarray(measure, float) * np.asarray(process.ratio, float)
    return float(math.fsum(w * g) / math.fsum(w))


def nll(
    processes: Sequence[RefProcess],
    pois: Mapping[str, float],
    alphas: Mapping[str, float],
    weights: Array | None = None,
    reference: tuple[Sequence[RefProcess], Array] | None = None,
) -> float:
    r"""NLL = nu - sum_i w_i log F_i + sum_m [alpha_m^2/2 + log(2 pi)/2].

    F_i = sum_J N_J r_J(x_i) g_J(x_i), nu = sum_J N_J, N_J = f_J nu_J G_J; w_i = 1 if
    ``weights`` is None. Raises ValueError if some F_i <= 0 or nu <= 0 (log undefined).
    With ``reference`` = (the processes on a reference pool, its measure m_k) the shapes are
    renormalised: F_i uses N_J / prod_m c_Jm(alpha_m) (:func:`shape_expectation`), nu does not.
    """
    n = len(processes[0].ratio)
    f = np.zeros(n)
    nu = 0.0
    for j, p in enumerate(processes):
        y = p.yield_(pois, alphas)
        nu += y
        if reference is not None:
            for name in p.shapesys:
                y /= shape_expectation(reference[0][j], name, reference[1], alphas[name])
        f += y * np.asarray(p.ratio, float) * p.shape(alphas)
    if not nu > 0 or not np.all(f > 0):
        raise ValueError(f"reference NLL undefined: nu = {nu}, min F_i = {f.min()}")
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    constraint = math.fsum(0.5 * alphas[m] ** 2 + 0.5 * LOG_2PI for m in nuisance_names(processes))
    return nu - math.fsum(w * np.log(f)) + constraint
