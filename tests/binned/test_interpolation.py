"""roonsbi.binned.interpolation (numpy, the nuisance-aware observable's per-event factors) against
ROOT's own RooFit::Detail::MathFuncs::flexibleInterpSingle, every code, inside, on and beyond |alpha| = 1."""

from __future__ import annotations

import numpy as np
import pytest

from roonsbi.binned.interpolation import NORMSYS_AS_SHAPE, term_factor

ALPHAS = (-3.2, -1.0, -0.999, -0.6, -0.1, 0.0, 0.2, 0.7, 1.0, 1.5, 4.0)


@pytest.mark.parametrize("code", (0, 1, 2, 4, 5, 6))
def test_term_factor_is_roots_interpolation(code: int) -> None:
    import ROOT

    rng = np.random.default_rng(code)
    lo, hi = rng.uniform(0.6, 1.3, 40), rng.uniform(0.8, 1.5, 40)
    single = ROOT.RooFit.Detail.MathFuncs.flexibleInterpSingle
    for a in ALPHAS:
        # ROOT's running factor starting at 1: 1 + flexibleInterpSingle(code, lo, hi, 1, 1, a, 1)
        expected = np.array([1.0 + single(code, float(lv), float(hv), 1.0, 1.0, a, 1.0) for lv, hv in zip(lo, hi)])
        np.testing.assert_allclose(term_factor(code, lo, hi, a), expected, rtol=1e-13, atol=1e-14, err_msg=str(a))


def test_normsys_codes_map_to_flexible_interp_var() -> None:
    import ROOT

    alpha = ROOT.RooRealVar("a", "a", 0.0, -5.0, 5.0)
    for norm_code, shape_code in NORMSYS_AS_SHAPE.items():
        fiv = ROOT.RooStats.HistFactory.FlexibleInterpVar("f", "f", ROOT.RooArgList(alpha), 1.0, [0.9], [1.15],
                                                          [norm_code])
        for a in ALPHAS:
            alpha.setVal(a)
            assert float(term_factor(shape_code, 0.9, 1.15, a)) == pytest.approx(fiv.getVal(), rel=1e-13), (norm_code,
                                                                                                           a)
