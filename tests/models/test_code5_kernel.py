"""The code-5 kernel of the fast likelihood inside |alpha| < 1 (RooNSBINLL): per block of events and term,
hi = exp(log hi) and lo = exp(log lo) come from vexpNear0<D> (a polynomial of degree D = 7..11, the lowest whose
range covers every stored logarithm of the block and term) when the block's logarithms are within
|log| <= 0.34375, from vexp otherwise (large shifts such as hi = 5, lo = 0.05). References: ROOT's RooFit NLL
of the same RooNSBIPdf on the float32-rounded inputs (PiecewiseInterpolation with std::exp in double) for the
value, its central differences for the gradient, central differences of the analytic gradient for the one-pass
Hessian, math.exp and numpy's long-double exp for the exponentials.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import ROOT

from roonsbi.models.fast import fast_nll
from roonsbi.models.store import dequantized_columns
from roonsbi.models.unbinned import build_model
from roonsbi.spec import Process, ShapeSys

N = 640  # 5 blocks of 128 events
#: every alpha inside |alpha| < 1, outside, at +-1 exactly (the exponential branch) and mixed
POINTS = [
    {"mu": 1.2, "alpha_a": 0.2, "alpha_b": 0.2, "alpha_c": 0.2},
    {"mu": 0.8, "alpha_a": -0.6, "alpha_b": 0.45, "alpha_c": -0.3},
    {"mu": 1.0, "alpha_a": 1.5, "alpha_b": 1.5, "alpha_c": 1.5},
    {"mu": 0.7, "alpha_a": -1.3, "alpha_b": 1.1, "alpha_c": -1.6},
    {"mu": 1.1, "alpha_a": 1.0, "alpha_b": -1.0, "alpha_c": 1.0},
    {"mu": 1.4, "alpha_a": 0.95, "alpha_b": -1.2, "alpha_c": -0.05},
]


def _shapes(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """NP -> (g(x, -1), g(x, +1)): "a" small shifts except for events 300-339 (hi = 5, lo = 0.05: the
    vexp blocks, among small-log blocks), "b" small everywhere with the largest |log| at the edge of
    the near-0 polynomials' last range (0.34375), "c" large everywhere (log hi about 1.6, log lo about -3)."""
    z = rng.standard_normal((3, N))
    a_hi, a_lo = np.exp(0.05 * z[0]), np.exp(-0.04 * z[0])
    a_hi[300:340], a_lo[300:340] = 5.0 * np.exp(0.1 * z[1, :40]), 0.05 * np.exp(0.1 * z[2, :40])
    b_log = np.clip(0.12 * z[1], -0.3399, 0.3399)
    b_log[:3] = (0.34, -0.34, 0.3399)
    c_hi, c_lo = 5.0 * np.exp(0.05 * z[2]), 0.05 * np.exp(0.05 * z[0])
    return {"a": (a_lo, a_hi), "b": (np.exp(-0.8 * b_log), np.exp(b_log)), "c": (c_lo, c_hi)}


#: process -> (yield, coefficient, its code-5 NPs) of _model
PROCESSES = {"S": (40.0, "mu", ("a", "b")), "B": (300.0, "1", ("a", "b", "c")), "I": (20.0, "sqrt(mu)", ("c", "b"))}


def _model(rng: np.random.Generator, name: str):
    """Three processes with code-5 shapes (one NP per process with large logs) and the RooFit model of the
    same pdf on the float32-rounded columns the fast NLL reads."""
    shapes = _shapes(rng)
    def procs(columns: dict[str, np.ndarray] | None) -> list[Process]:
        out = []
        for p, (y, coef, nps) in PROCESSES.items():
            get = (lambda key, v: columns[key]) if columns else (lambda key, v: v)
            ratio = get(f"r_{p}", rng_ratio[p])
            sys = {k: ShapeSys(get(f"g_{p}_{k}_lo", shapes[k][0]), get(f"g_{p}_{k}_hi", shapes[k][1]), 5)
                   for k in nps}
            out.append(Process(p, y, ratio, coef, shapesys=sys))
        return out

    rng_ratio = {p: rng.uniform(0.1, 2.5, N) for p in PROCESSES}
    weights = rng.uniform(0.2, 0.8, N)
    model = build_model(procs(None), weights=weights, name=name, form="columns")
    f = fast_nll(model, threads=1)
    cols = dequantized_columns(f.store)
    reference = build_model(procs(cols), weights=cols["weight"], name=name + "_ref", form="columns")
    return model, f, reference


def _gradient(nll) -> np.ndarray:
    out = np.zeros(nll.gradientParameters().size())
    nll.gradient(out)
    return out


def _check_gradient(nll, reference, point: dict[str, float], floating: list[int], names: list[str]) -> None:
    """The analytic gradient equals central differences of RooFit's NLL to 2e-6 (abs 2e-5)."""
    grad = _gradient(nll)[floating]
    for k, name in enumerate(names):
        h = 1e-5
        fd = (reference.nll(dict(point, **{name: point[name] + h}))
              - reference.nll(dict(point, **{name: point[name] - h}))) / (2 * h)
        assert grad[k] == pytest.approx(fd, rel=2e-6, abs=2e-5), (name, point)


def test_vexp_equals_exp() -> None:
    """vexp (Cody-Waite reduction + vexpSmall, the kernel's exp beyond the near-0 polynomials' ranges) is
    math.exp to 2e-16 relative on float32 inputs in [-20, 20]."""
    ROOT.gInterpreter.Declare('#include "RooNSBI/MathFuncs.h"')
    mf = ROOT.RooNSBI.MathFuncs
    xs = np.concatenate([np.linspace(-20, 20, 4001), [0.0, -0.0, 1e-30, -1e-30, 0.3466, -0.3466]])
    worst = max(abs(mf.vexp(x) / math.exp(x) - 1) for x in xs.astype(np.float32).astype(float))
    assert worst < 5e-16


_NEAR0_LOOP = """
#include "RooNSBI/MathFuncs.h"
namespace roonsbi_test_near0 {
template <int D> void eval(const float *x, std::size_t n, double *out)
{
   for (std::size_t k = 0; k < n; ++k)
      out[k] = RooNSBI::MathFuncs::vexpNear0<D>(x[k]);
}
}
"""


@pytest.mark.parametrize("degree", [7, 8, 9, 10, 11])
def test_near0_exp_within_two_ulp(degree: int) -> None:
    """vexpNear0<D> (the code-5 kernel's exp, degree chosen per block) is exp to <= 2 ulp in double on 10^6
    float32 inputs spread over its whole range (and its ends), against numpy's long-double exp (x87 80-bit,
    64-bit mantissa: its own error is ~2^-11 ulp of double)."""
    ROOT.gInterpreter.Declare(_NEAR0_LOOP)
    mf = ROOT.RooNSBI.MathFuncs
    limit = mf.ExpNear0[degree].range
    x = np.random.default_rng(degree).uniform(-limit, limit, 10**6).astype(np.float32)
    x[:4] = (limit, -limit, 0.0, np.float32(1e-30))
    out = np.empty(len(x))
    ROOT.roonsbi_test_near0.eval[degree](x, len(x), out)
    reference = np.exp(x.astype(np.longdouble))
    ulp = np.spacing(reference.astype(np.float64))
    err = np.abs((out.astype(np.longdouble) - reference) / ulp)
    assert float(err.max()) <= 2.0, (degree, float(err.max()), x[np.argmax(err)])
    assert float(err.mean()) < 0.5  # mostly correctly rounded: not a polynomial that only just passes


def test_near0_degree_is_the_lowest_that_covers_the_block() -> None:
    """vexpNear0Degree: the lowest degree whose range covers every |value| of both columns, 0 (vexp)
    beyond the last range, for NaN and for inf."""
    ROOT.gInterpreter.Declare('#include "RooNSBI/MathFuncs.h"')
    mf = ROOT.RooNSBI.MathFuncs
    ranges = {d: mf.ExpNear0[d].range for d in (7, 8, 9, 10, 11)}
    assert list(ranges.values()) == sorted(ranges.values())
    small = np.full(130, 0.01, dtype=np.float32)

    def degree(a: np.ndarray, b: np.ndarray) -> int:
        return int(mf.vexpNear0Degree(a.astype(np.float32), b.astype(np.float32), len(a)))

    assert degree(small, small) == 7
    for d, r in ranges.items():
        above = float(np.nextafter(np.float32(r), np.float32(1)))
        for value, expected in ((r, d), (-r, d), (above, d + 1 if d < 11 else 0), (-above, d + 1 if d < 11 else 0)):
            a = small.copy()
            a[77] = value
            assert degree(a, small) == expected, (d, value)
            assert degree(small, a) == expected, (d, value)  # either column
    for bad in (np.nan, np.inf, -np.inf, 5.0):
        a = small.copy()
        a[129] = bad
        assert degree(a, small) == 0, bad


@pytest.mark.parametrize("threads", [1, 2])
def test_value_gradient_and_hessian_with_small_and_large_logs(rng: np.random.Generator, threads: int) -> None:
    """Value to 1e-10 of RooFit's NLL, gradient to its central differences (2e-6), Hessian to central
    differences of the analytic gradient (1e-6 of sqrt(H_aa H_bb)), at every point of POINTS."""
    model, f, reference = _model(rng, f"c5k{threads}")
    f.nll.setNumThreads(threads)
    params = list(f.nll.gradientParameters())
    floating = [k for k, p in enumerate(params) if not p.isConstant()]  # not the global observables
    names = [params[k].GetName() for k in floating]
    assert sorted(names) == sorted(POINTS[0])
    for point in POINTS:
        model.set_parameters(point)
        assert f.getVal() == pytest.approx(reference.nll(point), rel=1e-10), point
        _check_gradient(f.nll, reference, point, floating, names)
        n = len(params)
        hess = np.zeros(n * n)
        f.nll.hessian(hess)
        hess = hess.reshape(n, n)[np.ix_(floating, floating)]
        h = 1e-4
        diff = np.zeros((len(floating), len(floating)))
        for k, a in enumerate(floating):
            x0 = params[a].getVal()
            grads = {}
            # at alpha = +-1 (the exponential branch) one-sided on that branch's side: the third derivative of
            # code 5 jumps there, so a central difference would be off by O(h)
            s = np.sign(x0) if names[k].startswith("alpha_") and abs(x0) == 1.0 else 0.0
            for step in ((0, 1, 2) if s else (-1, 1)):
                params[a].setVal(x0 + (s or 1) * step * h)
                grads[step] = _gradient(f.nll)[floating]
            params[a].setVal(x0)
            if s:
                diff[:, k] = s * (-3 * grads[0] + 4 * grads[1] - grads[2]) / (2 * h)
            else:
                diff[:, k] = (grads[1] - grads[-1]) / (2 * h)
        diff = 0.5 * (diff + diff.T)
        scale = np.sqrt(np.outer(np.abs(np.diag(diff)), np.abs(np.diag(diff))))
        assert np.max(np.abs(hess - diff) / scale) < 1e-6, point


def test_value_only_steps_with_large_logs(rng: np.random.Generator) -> None:
    """The cached value-only steps (one alpha changed: G_J scaled by I(new)/I(old), passStep) read the same
    code-5 factors as the full pass: equal to RooFit's NLL along a path of single-parameter changes."""
    model, f, reference = _model(rng, "c5step")
    f.nll.setGradientWithValue(False)
    f.nll.setIncrementalLimit(1)
    point = dict(POINTS[0])
    model.set_parameters(point)
    f.getVal()
    for name, value in (("alpha_a", 0.7), ("alpha_c", -0.4), ("alpha_b", 1.2), ("alpha_c", 0.999),
                        ("alpha_a", -1.0), ("alpha_b", -0.3)):
        point[name] = value
        model.set_parameters(point)
        assert f.getVal() == pytest.approx(reference.nll(point), rel=1e-10), (name, value)


# -- float code 5 (RooNSBINLL::setFloatCode5, fast_nll(float_code5=True)) ----------------------------------------
_FLOAT_LOOP = """
#include "RooNSBI/MathFuncs.h"
namespace roonsbi_test_f5 {
void eval(double alpha, const float *lh, const float *ll, std::size_t n, double *g, double *dg)
{
   const auto w = RooNSBI::MathFuncs::poly6WeightsF(RooNSBI::MathFuncs::poly6Weights(alpha));
   for (std::size_t k = 0; k < n; ++k) {
      float delta, deriv;
      RooNSBI::MathFuncs::poly6DeltaEvalF(w, lh[k], ll[k], delta, deriv);
      g[k] = 1.0 + double(delta);
      dg[k] = deriv;
   }
}
}
"""
#: float's unit roundoff; the float factor's bound is ULPS_VALUE (derivative ULPS_DERIV) units of it times
#: |log hi| + |log lo| (measured worst over 5.8 million points: 3.5 and 5.9)
U = 2.0**-24
ULPS_VALUE, ULPS_DERIV = 4.0, 8.0


def test_float_factor_within_a_few_ulp_of_its_logarithms() -> None:
    """poly6DeltaEvalF (code 5 inside |alpha| < 1 in float, as its deviation from 1) against ROOT's polynomial
    from tests/reference.py (the matching conditions solved per event, float64, its derivative analytic in
    alpha): |g - g_ref| <= 4 u (|log hi| + |log lo|) and the same with 8 u for dg/dalpha, over the whole range
    |log| <= 0.34375 of vexpm1Near0f and alphas across (-1, 1); near alpha = 0 the error vanishes with g - 1."""
    from reference import poly6_coefficients, poly6_eval

    ROOT.gInterpreter.Declare(_FLOAT_LOOP)
    rng = np.random.default_rng(5)
    limit = 0.34375
    n = 20000
    worst = 0.0
    for a in (-0.999, -0.6, -0.2, -0.01, 0.0, 0.01, 0.2, 0.45, 0.8, 0.999):
        lh = rng.uniform(-limit, limit, n).astype(np.float32)
        ll = rng.uniform(-limit, limit, n).astype(np.float32)
        lh[:2], ll[:2] = (limit, -limit), (-limit, limit)
        g, dg = np.empty(n), np.empty(n)
        ROOT.roonsbi_test_f5.eval(a, lh, ll, n, g, dg)
        h, lo = lh.astype(float), ll.astype(float)
        hi, low = np.exp(h), np.exp(lo)
        c = poly6_coefficients(np.stack([hi, hi * h, hi * h * h, low, -low * lo, low * lo * lo]))
        scale = U * (np.abs(h) + np.abs(lo))
        err = np.abs(g - poly6_eval(c, a)) / scale
        err_d = np.abs(dg - sum(k * c[k - 1] * a ** (k - 1) for k in range(1, 7))) / scale
        assert err.max() <= ULPS_VALUE, (a, err.max())
        assert err_d.max() <= ULPS_DERIV, (a, err_d.max())
        worst = max(worst, float(err.max()))
    assert worst > 0.5  # float arithmetic indeed (the double kernel is ~1e-8 of this scale)


def test_float_code5_value_gradient_and_steps(rng: np.random.Generator) -> None:
    """The fast NLL with float code 5 on the model above (small logs in float, the large-log blocks in double):
    its value differs from RooFit's NLL (it is not the double kernel) by at most the bound that the per-factor
    error gives, sum_i w_i max_J sum_{t in J} 4 u (|log hi| + |log lo|) (+ 1e-12 relative); its gradient
    equals central differences of RooFit's NLL to 2e-6; value-only cached steps equal its full passes; the
    Hessian stays the double one."""
    model, f, reference = _model(rng, "c5float")
    cols = dequantized_columns(f.store)
    weights = cols["weight"]
    per_proc = []
    for p, (_, _, nps) in PROCESSES.items():
        err = np.zeros(N)  # (the large-log blocks in double count too: a bound, not an estimate)
        for k in nps:
            lh, ll = np.log(cols[f"g_{p}_{k}_hi"]), np.log(cols[f"g_{p}_{k}_lo"])
            err += ULPS_VALUE * U * (np.abs(lh) + np.abs(ll))
        per_proc.append(err)
    bound = float(np.sum(weights * np.max(per_proc, axis=0)))
    params = list(f.nll.gradientParameters())
    floating = [k for k, p in enumerate(params) if not p.isConstant()]
    names = [params[k].GetName() for k in floating]
    inside = [pt for pt in POINTS if all(abs(v) < 1 for k, v in pt.items() if k.startswith("alpha_"))]
    assert len(inside) == 2
    for point in inside:
        model.set_parameters(point)
        exact = f.getVal()
        f.nll.setFloatCode5(True)
        value = f.getVal()
        ref = reference.nll(point)
        assert value != exact  # the float kernel ran
        assert abs(value - ref) <= bound + 1e-12 * abs(ref), (point, value - ref, bound)
        _check_gradient(f.nll, reference, point, floating, names)
        n = len(params)
        hess_float, hess_double = np.zeros(n * n), np.zeros(n * n)
        f.nll.hessian(hess_float)
        f.nll.setFloatCode5(False)
        assert f.getVal() == exact  # switching back is a new (double) pass
        f.nll.hessian(hess_double)
        assert np.array_equal(hess_float, hess_double)  # the Hessian pass is double either way
    # value-only steps from the cache read the same float factors as a full float pass
    f.nll.setFloatCode5(True)
    f.nll.setGradientWithValue(False)
    f.nll.setIncrementalLimit(1)
    point = dict(inside[0])
    model.set_parameters(point)
    f.getVal()
    stepped = f.nll.numIncrementalEvaluations()
    for name, value in (("alpha_a", 0.7), ("alpha_b", -0.3), ("alpha_c", 0.1)):
        point[name] = value
        model.set_parameters(point)
        step = f.getVal()
        f.nll.setIncrementalLimit(0)
        model.set_parameters(dict(point, mu=point["mu"] + 1e-3))
        f.getVal()
        model.set_parameters(point)
        assert step == pytest.approx(f.getVal(), rel=1e-12), name
        f.nll.setIncrementalLimit(1)
        f.getVal()
    assert f.nll.numIncrementalEvaluations() > stepped


def test_float_code5_fit_equals_the_double_fit() -> None:
    """MIGRAD + HESSE on the fast NLL with float code 5: the same minimum and errors as with double code 5
    (to 1e-5 of the errors and 1e-5 relative), on a toy of 4000 events with 3 processes x 8 code-5 shapes."""
    from roonsbi.infer.fit import Fitter

    gen = np.random.default_rng(11)
    n = 4000
    procs = []
    for p, (y, coef) in {"S": (50.0, "mu"), "B": (400.0, "1"), "I": (30.0, "sqrt(mu)")}.items():
        sys = {}
        for k in range(8):
            z = gen.standard_normal(n)
            sys[f"np{k}"] = ShapeSys(np.exp(-0.05 * z), np.exp(0.05 * z), 5)
        procs.append(Process(p, y, gen.uniform(0.2, 2.0, n), coef, shapesys=sys))
    weights = gen.uniform(0.05, 0.15, n)
    results = {}
    for single in (False, True):
        model = build_model(procs, weights=weights, name=f"c5fit{int(single)}", form="columns")
        fast = fast_nll(model, float_code5=single)
        assert fast.nll.floatCode5() is single
        results[single] = Fitter(model, nll=fast, tolerance=1e-6).fit(hesse=True)
    double, single_res = results[False], results[True]
    assert single_res.status == 0 and double.status == 0
    assert single_res.min_nll != double.min_nll  # the float kernel ran
    for name, value in double.values.items():
        assert single_res.values[name] == pytest.approx(value, abs=1e-5 * double.errors[name]), name
        assert single_res.errors[name] == pytest.approx(double.errors[name], rel=1e-5), name
