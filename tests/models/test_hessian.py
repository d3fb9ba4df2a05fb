"""The exact one-pass Hessian of the fast likelihood (``RooNSBINLL::hessian``) against independent references.

* central finite differences of the analytic gradient (itself tested against the RooFit NLL in
  ``test_fast.py``), to 1e-6 relative, for every shape code 0, 1, 2, 4, 5, 6 alone and in mixed
  chains (additive terms after multiplicative ones: several groups per process), inside and outside
  |alpha| < 1, normsys and a non-linear POI coefficient, with and without constraint terms, weighted
  events, on an EventStore (column form) and on the pdf's own store with a RooFit dataset (store form);
* second differences of the numpy reference NLL of ``tests/reference.py`` (written from the formulas);
* RooFit's HESSE errors of RooFit's own NLL of the same pdf (RooMinimizer, numerical second derivatives).
"""

from __future__ import annotations

import numpy as np
import pytest
import ROOT

import reference as ref
from roonsbi.infer.fit import fit
from roonsbi.models.fast import fast_nll
from roonsbi.models.unbinned import build_model
from roonsbi.spec import NormSys, Process, ShapeSys

#: process -> (nominal yield, coefficient, its f_J for the reference)
PROCESSES = {"S": (40.0, "mu", lambda p: p["mu"]), "B": (200.0, "2 - sqrt(mu)", lambda p: 2 - np.sqrt(p["mu"])),
             "C": (30.0, "1", lambda p: 1.0)}
#: process -> its normsys (lo, hi, code)
NORMSYS = {"S": {"a": (0.9, 1.15, 4)}, "B": {"c": (0.95, 1.08, 1)}, "C": {}}
#: shape chains (process -> NP -> code, in the order applied): one code everywhere, or mixed chains
#: with additive terms after multiplicative ones (two or three groups per process)
CHAINS = {
    **{f"code{c}": {p: {"a": c, "b": c, "c": c} for p in PROCESSES} for c in (0, 1, 2, 4, 5, 6)},
    "mixed": {"S": {"b": 0, "a": 5, "d": 4}, "B": {"a": 1, "c": 4, "d": 6, "b": 2},
              "C": {"b": 2, "c": 6, "a": 5, "d": 0}},
}
#: points away from the kinks of codes 0, 1 (alpha = 0) and 2, 4, 5 (|alpha| = 1)
POINTS = [
    {"mu": 1.3, "alpha_a": 0.4, "alpha_b": -0.7, "alpha_c": 0.25, "alpha_d": -0.55},
    {"mu": 0.6, "alpha_a": -1.6, "alpha_b": 1.4, "alpha_c": -0.3, "alpha_d": 2.1},
]


def _arrays(chain: dict[str, dict[str, int]], n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {f"r_{p}": rng.uniform(0.05, 3.0, n) for p in PROCESSES}
    for p, shapes in chain.items():  # shape systematics g(x, +-1) = exp(+-0.04 z): E[g] about 1
        for a in shapes:
            z = 0.04 * rng.standard_normal(n)
            out[f"lo_{p}_{a}"] = np.exp(-z)
            out[f"hi_{p}_{a}"] = np.exp(z)
    return out


def _processes(chain: dict[str, dict[str, int]], arrays: dict[str, np.ndarray]) -> list[Process]:
    return [Process(p, y, arrays[f"r_{p}"], coef, normsys={k: NormSys(*v) for k, v in NORMSYS[p].items()},
                    shapesys={a: ShapeSys(arrays[f"lo_{p}_{a}"], arrays[f"hi_{p}_{a}"], code)
                              for a, code in chain[p].items()})
            for p, (y, coef, _) in PROCESSES.items()]


def _stored(values: np.ndarray, code: int | None = None) -> np.ndarray:
    """What the store holds: float32 values, or exp of the float32 logarithm (codes 1, 5)."""
    if code in (1, 5):
        return np.exp(np.log(values).astype(np.float32).astype(np.float64))
    return values.astype(np.float32).astype(np.float64)


def _reference(chain: dict[str, dict[str, int]], arrays: dict[str, np.ndarray]) -> list[ref.RefProcess]:
    return [ref.RefProcess(y, _stored(arrays[f"r_{p}"]), f, normsys=NORMSYS[p],
                           shapesys={a: (_stored(arrays[f"lo_{p}_{a}"], c), _stored(arrays[f"hi_{p}_{a}"], c), c)
                                     for a, c in chain[p].items()})
            for p, (y, _, f) in PROCESSES.items()]


def _model(chain: str, form: str, weighted: bool | str, n: int = 400, seed: int = 1):
    """Unit weights, random weights, or ("asimov") the expected events at mu = 1, alpha = 0 with 20% noise."""
    rng = np.random.default_rng(seed)
    arrays = _arrays(CHAINS[chain], n, rng)
    w = rng.uniform(0.05, 0.6, n) if weighted else None
    if weighted == "asimov":
        expected = sum(y * f({"mu": 1.0}) * arrays[f"r_{p}"] / arrays[f"r_{p}"].sum()  # sums to nu
                       for p, (y, _, f) in PROCESSES.items())
        w = expected * rng.gamma(25.0, 1 / 25.0, n)
    model = build_model(_processes(CHAINS[chain], arrays), weights=w, name=f"h{chain}{form}{str(weighted)[0]}",
                        form=form)
    return model, arrays, w


def _nll(model, constraints: bool):
    """The fast NLL, with the model's constraint terms or without any extra term."""
    if constraints:
        return fast_nll(model)
    f = fast_nll(model, extra=[])
    empty = ROOT.RooArgList()
    if model.pdf.usesStore():
        bare = ROOT.RooNSBINLL("bare", "", model.pdf, model.data, empty)
    else:
        bare = ROOT.RooNSBINLL("bare", "", model.pdf, f.store, empty)
    f.extra, f.nll = [], bare
    return f


def _points(model) -> list[dict[str, float]]:
    names = {p.GetName() for p in model.nuisance_parameters}
    return [{k: v for k, v in pt.items() if k == "mu" or k in names} for pt in POINTS]


def hessian(nll) -> np.ndarray:
    n = nll.gradientParameters().size()
    out = np.zeros(n * n)
    nll.hessian(out)
    return out.reshape(n, n)


def gradient(nll) -> np.ndarray:
    out = np.zeros(nll.gradientParameters().size())
    nll.gradient(out)
    return out


def gradient_differences(nll, h: float = 1e-3) -> np.ndarray:
    """Central differences of the analytic gradient, column by column (5-point stencil: truncation
    ~h^4, noise ~1e-10 / h from the numerical yield derivatives inside the gradient)."""
    params = list(nll.gradientParameters())
    out = np.zeros((len(params), len(params)))
    for k, p in enumerate(params):
        if p.isConstant():
            continue
        x0 = p.getVal()
        g = {}
        for s in (-2, -1, 1, 2):
            p.setVal(x0 + s * h)
            g[s] = gradient(nll)
        p.setVal(x0)
        out[:, k] = (-g[2] + 8 * g[1] - 8 * g[-1] + g[-2]) / (12 * h)
    return 0.5 * (out + out.T)


def minuit_error(x: float, sigma: float, lo: float, hi: float) -> float:
    """The error Minuit reports for a parameter in [lo, hi] with the linear error sigma: Minuit works in
    internal coordinates t with x = lo + (hi - lo)(sin t + 1)/2 and reports the mean half-distance
    (|x(t + s) - x| + |x(t - s) - x|)/2 of the internal error s = sigma / (dx/dt) (Minuit2's
    MnUserTransformation::Int2extError): (1 - s^2/6) sigma for small s."""
    half = 0.5 * (hi - lo)
    t = np.arcsin((x - lo) / half - 1)
    s = sigma / (half * np.cos(t))
    ext = lambda u: lo + half * (np.sin(u) + 1)
    return float(0.5 * (abs(ext(t + s) - x) + abs(ext(t - s) - x)))


def _assert_close(actual: np.ndarray, expected: np.ndarray, rel: float) -> None:
    """|actual - expected| < rel sqrt(d_a d_b), d the diagonal's magnitudes floored at 1e-2 of the largest
    (a parameter almost unconstrained without its constraint term has a diagonal near 0, where the
    differences' noise, ~1e-7 absolute, is all there is to compare)."""
    d = np.abs(np.diag(expected))
    d = np.maximum(d, 1e-2 * d.max())
    scale = np.sqrt(np.outer(d, d))
    err = np.abs(actual - expected) / np.maximum(scale, 1e-300)
    assert np.max(err) < rel, (np.max(err), np.unravel_index(np.argmax(err), err.shape))


@pytest.mark.parametrize("chain", list(CHAINS))
def test_hessian_equals_differences_of_the_gradient(chain: str) -> None:
    """Column form (EventStore constructor), unit weights, with constraints."""
    model, _, _ = _model(chain, "columns", weighted=False)
    f = _nll(model, constraints=True)
    for point in _points(model):
        model.set_parameters(point)
        _assert_close(hessian(f.nll), gradient_differences(f.nll), 1e-6)


@pytest.mark.parametrize("constraints", [False, True])
@pytest.mark.parametrize("form", ["columns", "store"])
def test_weighted_and_store_form(form: str, constraints: bool) -> None:
    """Weighted events on both sources (the store constructor's weight column, the dataset's weights
    read in place from the pdf's store), with and without constraint terms."""
    model, _, _ = _model("mixed", form, weighted=True)
    f = _nll(model, constraints)
    if form == "store":
        assert f.nll.readsInPlace()
    for point in _points(model):
        model.set_parameters(point)
        passes = f.nll.numPasses()
        h = hessian(f.nll)
        assert f.nll.numPasses() == passes + 1  # one pass over the events
        _assert_close(h, gradient_differences(f.nll), 1e-6)


def test_constant_parameters_and_the_gradient_of_the_pass() -> None:
    """Rows and columns of constant parameters are 0, the others unchanged; the pass leaves the
    value and the gradient of its point (no further pass for them)."""
    model, _, _ = _model("mixed", "columns", weighted=True)
    f = _nll(model, constraints=True)
    model.set_parameters(POINTS[0])
    full = hessian(f.nll)
    names = [p.GetName() for p in f.nll.gradientParameters()]
    model.parameter("alpha_b").setConstant(True)
    try:
        h = hessian(f.nll)
        passes = f.nll.numPasses()
        value, grad = f.nll.getVal(), gradient(f.nll)
        assert f.nll.numPasses() == passes
    finally:
        model.parameter("alpha_b").setConstant(False)
    k = names.index("alpha_b")
    assert np.all(h[k] == 0) and np.all(h[:, k] == 0)
    keep = [i for i in range(len(names)) if i != k]
    assert np.allclose(h[np.ix_(keep, keep)], full[np.ix_(keep, keep)], rtol=1e-12, atol=0)
    fresh = fast_nll(model, store=f.store)
    assert value == pytest.approx(fresh.getVal(), rel=1e-13)
    assert np.allclose(grad[keep], gradient(fresh.nll)[keep], rtol=1e-10)


def test_hessian_equals_the_numpy_reference() -> None:
    """Second differences of the numpy reference NLL (tests/reference.py, float64 on the float32-rounded
    columns; its Gaussian constraints are those of the model)."""
    model, arrays, w = _model("mixed", "columns", weighted=True, n=300)
    f = _nll(model, constraints=True)
    procs = _reference(CHAINS["mixed"], arrays)
    params = list(f.nll.gradientParameters())
    floating = [k for k, p in enumerate(params) if not p.isConstant()]
    names = [params[k].GetName() for k in floating]

    def value(x: np.ndarray) -> float:
        point = dict(zip(names, x))
        return ref.nll(procs, {"mu": point["mu"]},
                       {k[len("alpha_"):]: v for k, v in point.items() if k.startswith("alpha_")}, w)

    for point in _points(model):
        model.set_parameters(point)
        x0 = np.array([point[n] for n in names])
        n, h = len(names), 1e-3
        expected = np.zeros((n, n))
        for a in range(n):
            for b in range(a, n):
                ea, eb = np.eye(n)[a] * h, np.eye(n)[b] * h
                expected[a, b] = expected[b, a] = (value(x0 + ea + eb) - value(x0 + ea - eb) - value(x0 - ea + eb)
                                                   + value(x0 - ea - eb)) / (4 * h * h)
        _assert_close(hessian(f.nll)[np.ix_(floating, floating)], expected, 2e-5)


def test_errors_equal_roofit_hesse() -> None:
    """At RooFit's own minimum of its NLL of the same pdf (RooMinimizer MIGRAD + HESSE through
    roonsbi.infer.fit, strategy 2), the one-pass Hessian equals second differences of RooFit's NLL
    values (1e-5), and its inverse gives RooFit's HESSE errors (as Minuit reports them for bounded
    parameters: minuit_error) and correlations to HESSE's own precision (strategy 2: it stops refining a
    second derivative once it changes by less than 2%)."""
    model, _, _ = _model("code5", "columns", weighted="asimov", n=1500, seed=4)
    best = fit(model, strategy=2)  # RooFit's NLL (offset as roonsbi.infer.fit does), MIGRAD + HESSE
    assert best.status == 0
    result = best.roofit_result
    floating = [p.GetName() for p in result.floatParsFinal()]
    f = _nll(model, constraints=True)
    names = [p.GetName() for p in f.nll.gradientParameters()]
    order = [names.index(n) for n in floating]
    mine = hessian(f.nll)[np.ix_(order, order)]

    roofit_nll = model.create_nll()
    x0 = np.array([best.values[n] for n in floating])

    def value(x: np.ndarray) -> float:
        model.set_parameters(dict(zip(floating, x)))
        return float(roofit_nll.getVal())

    n, h = len(floating), 1e-3
    expected = np.zeros((n, n))
    for a in range(n):
        for b in range(a, n):
            ea, eb = np.eye(n)[a] * h, np.eye(n)[b] * h
            expected[a, b] = expected[b, a] = (value(x0 + ea + eb) - value(x0 + ea - eb) - value(x0 - ea + eb)
                                               + value(x0 - ea - eb)) / (4 * h * h)
    _assert_close(mine, expected, 1e-5)
    cov = np.linalg.inv(mine)
    errors = np.sqrt(np.diag(cov))
    for k, name in enumerate(floating):
        var = model.parameter(name)
        expected_error = minuit_error(best.values[name], errors[k], var.getMin(), var.getMax())
        assert expected_error == pytest.approx(best.errors[name], rel=2e-3), name
        for m, other in enumerate(floating[:k]):
            assert cov[k, m] / (errors[k] * errors[m]) == pytest.approx(result.correlation(name, other), abs=1e-2)
