r"""Per-event interpolation of shape and normalisation factors in numpy (no ROOT), for the
nuisance-aware optimal observable (:mod:`roonsbi.binned.observable`).

The same maths as ROOT's ``RooFit::Detail::MathFuncs::flexibleInterpSingle`` around a nominal of 1
with boundary 1, as roonsbi's C++ writes it (``cpp/include/RooNSBI/MathFuncs.h``:
``additiveWeights``, ``poly6Weights``), for arrays of events: one term's factor

* additive codes 0, 2, 4: :math:`1 + H(\alpha)(g_+ - 1) + L(\alpha)(1 - g_-)`, code 6:
  the same factor (multiplicative, code 4's delta);
* code 1: :math:`g_+^\alpha` (:math:`\alpha \ge 0`), :math:`g_-^{-\alpha}` otherwise;
* code 5: the 6th-order polynomial inside :math:`|\alpha| < 1`, code 1 outside.

Normalisation systematics use ``FlexibleInterpVar``'s codes, whose code 4 is this code 5
(:data:`NORMSYS_AS_SHAPE`). ``tests/binned/test_interpolation.py`` checks every code against ROOT.

>>> import numpy as np
>>> float(term_factor(5, np.array([0.9]), np.array([1.2]), 1.0)[0])
1.2
"""

from __future__ import annotations

import numpy as np

__all__ = ["NORMSYS_AS_SHAPE", "term_factor"]

#: FlexibleInterpVar code -> the PiecewiseInterpolation code with the same maths
NORMSYS_AS_SHAPE = {0: 0, 1: 1, 2: 2, 4: 5, 5: 5}


def _additive_weights(code: int, x: float) -> tuple[float, float]:
    """H, L of the additive codes 0, 2, 4 (and code 6's delta) at alpha = x."""
    if code == 0:
        return (x, 0.0) if x > 0 else (0.0, x)
    if code == 2:
        if x > 1:
            return 1 + 1.5 * (x - 1), -0.5 * (x - 1)
        if x < -1:
            return -0.5 * (x + 1), -1 + 1.5 * (x + 1)
        return 0.5 * (x + x * x), 0.5 * (x - x * x)
    if x >= 1:
        return x, 0.0
    if x <= -1:
        return 0.0, x
    b = x * x * (15 + x * x * (-10 + 3 * x * x)) / 16
    return 0.5 * x + b, 0.5 * x - b


def _poly6(x: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Code 5 inside |alpha| < 1: K + hi (P0 + P1 log hi + P2 log^2 hi) + lo (Q0 + Q1 log lo + Q2 log^2 lo)."""
    x2, x3 = x * x, x * x * x
    x4, x5, x6 = x2 * x2, x2 * x3, x3 * x3
    w_a0 = 15 / 8 * x - 5 / 4 * x3 + 3 / 8 * x5
    w_s0 = 3 * x2 - 3 * x4 + x6
    w_s1 = -7 / 8 * x + 5 / 4 * x3 - 3 / 8 * x5
    w_a1 = -9 / 8 * x2 + 7 / 4 * x4 - 5 / 8 * x6
    w_s2 = 1 / 8 * x2 - 1 / 4 * x4 + 1 / 8 * x6
    w_a2 = 1 / 8 * x - 1 / 4 * x3 + 1 / 8 * x5
    lh, ll = np.log(hi), np.log(lo)
    return ((1 - x2) ** 3 + hi * (0.5 * (w_a0 + w_s0) + lh * (0.5 * (w_s1 + w_a1) + lh * 0.5 * (w_s2 + w_a2)))
            + lo * (0.5 * (w_s0 - w_a0) + ll * (0.5 * (w_a1 - w_s1) + ll * 0.5 * (w_s2 - w_a2))))


def term_factor(code: int, lo: np.ndarray | float, hi: np.ndarray | float, alpha: float) -> np.ndarray:
    """The factor of one term (around 1) per event: 1 + delta for the additive codes 0, 2, 4 and for
    code 6, the interpolated factor for the exponential codes 1 and 5."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if code in (0, 2, 4, 6):
        h, low = _additive_weights(4 if code == 6 else code, alpha)
        return 1.0 + h * (hi - 1.0) + low * (1.0 - lo)
    if code == 1 or (code == 5 and abs(alpha) >= 1):
        return np.power(hi, alpha) if alpha >= 0 else np.power(lo, -alpha)
    if code == 5:
        return _poly6(alpha, lo, hi)
    raise ValueError(f"unknown interpolation code {code}")
