r"""The NSBI NLL of :func:`roonsbi.models.unbinned.build_model` against an independent numpy reference,
and the interpolation conventions against ROOT's own HistFactory classes.

* NLL: for every shape code (0, 1, 2, 4, 5, 6), with the normsys codes (0, 1, 2, 4) cycling
  over the normalisation systematics, weighted and unweighted events, both evaluation
  backends ("cpu": vectorised ``doEval``; "legacy": scalar ``evaluate``):

  .. math:: \mathrm{NLL} = \nu - \sum_i w_i \log F_i + \sum_m [\alpha_m^2/2 + \log(2\pi)/2]

  equals :func:`reference.nll` to 1e-9 relative.
* Normalisation factors G(alpha) = N_J / (f_J nu_J) of a built model equal
  ``RooStats::HistFactory::FlexibleInterpVar`` (and the reference) to 1e-12 relative.
* Per-event shape factors g(x_i, alpha) = p(x_i)/p_ref(x_i) of a one-process model with
  r = 1 equal ``PiecewiseInterpolation`` (and the reference) to 1e-12 relative, on the
  scalar path (``getVal``) and the vectorised path (``RooFit::Evaluator``).

Coefficients that use a subset of the POIs (e.g. the default ``"1"``) are covered by
``tests/test_backends.py``.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping

import numpy as np
import pytest
import ROOT

import reference as ref
from roonsbi.models.unbinned import NSBIModel, build_model
from roonsbi.spec import NormSys, Process, ShapeSys

REL_NLL = 1e-9
REL_INTERP = 1e-12

#: Values of alpha that exercise the inner polynomials, the boundaries and the extrapolations.
ALPHA_GRID: tuple[float, ...] = (
    -3.0, -2.5, -1.7, -1.0 - 1e-9, -1.0, -1.0 + 1e-9, -0.77, -0.4, -0.05, 0.0,
    0.05, 0.3, 0.64, 0.95, 1.0 - 1e-9, 1.0, 1.0 + 1e-9, 1.3, 2.2, 3.0,
)  # fmt: skip


# -- helpers ------------------------------------------------------------------------------------
def _real_var(name: str, value: float = 0.0) -> Any:
    return ROOT.RooRealVar(name, name, value, -10.0, 10.0)


def _span(values: np.ndarray) -> Any:
    return ROOT.std.span["const double"](values, values.size)


def _evaluate_batch(model: NSBIModel, columns: Mapping[str, np.ndarray]) -> Callable[[], np.ndarray]:
    """A function returning the pdf values per event on RooFit's vectorised path (doEval)."""
    arrays = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in columns.items()}
    evaluator = ROOT.RooFit.Evaluator(model.pdf)
    for name, values in arrays.items():
        evaluator.setInput(name, _span(values), False)

    def run() -> np.ndarray:
        _keep = arrays  # the evaluator reads the numpy buffers
        out = evaluator.run()
        return np.array([out[i] for i in range(out.size())])

    return run


def _evaluate_scalar(model: NSBIModel, columns: Mapping[str, np.ndarray], i: int) -> float:
    """The pdf value of event i on the scalar path: set the column RooRealVars, call getVal()."""
    for name, values in columns.items():
        model.workspace.var(name).setVal(float(values[i]))
    return model.pdf.getVal()


def _shape_columns(
    rng: np.random.Generator, n: int, spread_lo: float, spread_hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """g(x,-1), g(x,+1): mostly lo < 1 < hi, ~20% reversed, ~10% one-sided (both above or below 1)."""
    lo = rng.uniform(1.0 - spread_lo, 1.0, n)
    hi = rng.uniform(1.0, 1.0 + spread_hi, n)
    kind = rng.uniform(size=n)
    reversed_ = kind < 0.2
    lo[reversed_], hi[reversed_] = 2.0 - lo[reversed_], 2.0 - hi[reversed_]
    one_sided = (kind >= 0.2) & (kind < 0.3)
    below = one_sided & (rng.uniform(size=n) < 0.5)
    hi[below] = rng.uniform(1.0 - spread_lo, 1.0, np.count_nonzero(below))
    above = one_sided & ~below
    lo[above] = rng.uniform(1.0, 1.0 + spread_hi, np.count_nonzero(above))
    return lo, hi


def _piecewise(
    lo: float | list[float], hi: float | list[float], params: list[Any], codes: list[int]
) -> tuple[Any, list[Any]]:
    """ROOT.PiecewiseInterpolation around a RooConstVar nominal 1 with per-parameter codes.

    Returns the object and the RooFit objects it refers to (keep them alive).
    """
    lo = [lo] if np.isscalar(lo) else list(lo)
    hi = [hi] if np.isscalar(hi) else list(hi)
    nominal = ROOT.RooConstVar("nominal", "nominal", 1.0)
    lows = [ROOT.RooConstVar(f"lo{k}", f"lo{k}", float(v)) for k, v in enumerate(lo)]
    highs = [ROOT.RooConstVar(f"hi{k}", f"hi{k}", float(v)) for k, v in enumerate(hi)]
    low_set, high_set, param_set = ROOT.RooArgList(), ROOT.RooArgList(), ROOT.RooArgList()
    for lo_var, hi_var, par in zip(lows, highs, params):
        low_set.add(lo_var)
        high_set.add(hi_var)
        param_set.add(par)
    pw = ROOT.PiecewiseInterpolation("pw", "pw", nominal, low_set, high_set, param_set)
    if len(set(codes)) == 1:
        pw.setAllInterpCodes(codes[0])
    else:
        for par, code in zip(params, codes):
            pw.setInterpCode(par, code)
    return pw, [nominal, *lows, *highs, low_set, high_set, param_set]


def _flexible(lo: list[float], hi: list[float], params: list[Any], codes: list[int]) -> tuple[Any, Any]:
    """ROOT.RooStats.HistFactory.FlexibleInterpVar with nominal 1 and per-parameter codes."""
    plist = ROOT.RooArgList()
    for par in params:
        plist.add(par)
    fiv = ROOT.RooStats.HistFactory.FlexibleInterpVar("fiv", "fiv", plist, 1.0, lo, hi, codes)
    return fiv, plist


# -- the poly6 reference is a true C2 interpolation (independent of ROOT) ------------------------
@pytest.mark.parametrize("code", [4, 5])
def test_reference_poly6_matches_outer_pieces(code: int) -> None:
    """p(0) = 1 and p, p', p'' continuous at a = +-1 (finite differences of the reference)."""
    lo = np.array([0.7, 1.3, 0.95, 0.8, 1.1])
    hi = np.array([1.4, 0.75, 1.05, 0.9, 1.2])
    f = ref.interp_poly_linear if code == 4 else ref.interp_poly_exponential
    np.testing.assert_allclose(f(lo, hi, 0.0), 1.0, rtol=0, atol=1e-15)
    h = 1e-4
    for b in (-1.0, 1.0):
        s = np.sign(b)  # one-sided differences along s, from inside (polynomial) and outside
        at = f(lo, hi, b)
        inner = [f(lo, hi, b - k * h * s) for k in (1, 2, 3)]
        outer = [f(lo, hi, b + k * h * s) for k in (1, 2, 3)]
        d_in = (3 * at - 4 * inner[0] + inner[1]) / (2 * h)
        d_out = (-3 * at + 4 * outer[0] - outer[1]) / (2 * h)
        np.testing.assert_allclose(d_in, d_out, rtol=0, atol=1e-6)
        dd_in = (2 * at - 5 * inner[0] + 4 * inner[1] - inner[2]) / h**2
        dd_out = (2 * at - 5 * outer[0] + 4 * outer[1] - outer[2]) / h**2
        np.testing.assert_allclose(dd_in, dd_out, rtol=0, atol=1e-3)
    np.testing.assert_allclose(f(lo, hi, -1.0), lo, rtol=1e-14)
    np.testing.assert_allclose(f(lo, hi, 1.0), hi, rtol=1e-14)


# -- reference against ROOT's classes -------------------------------------------------------------
@pytest.mark.parametrize("code", ref.SHAPE_CODES)
def test_reference_shape_interpolation_matches_piecewise_interpolation(code: int) -> None:
    """reference.shape_factor (one NP) == PiecewiseInterpolation, to 1e-12."""
    rng = np.random.default_rng(100 + code)
    lo, hi = _shape_columns(rng, 12, 0.4, 0.6)
    alpha = _real_var("alpha_pw")
    for i in range(lo.size):
        pw, _keep = _piecewise(lo[i], hi[i], [alpha], [code])
        for a in ALPHA_GRID:
            alpha.setVal(a)
            expected = pw.getVal()
            got = float(ref.shape_factor([ref.Term(code, lo[i], hi[i], a)]))
            assert got == pytest.approx(expected, rel=REL_INTERP), (code, lo[i], hi[i], a)


@pytest.mark.parametrize("codes", [(0, 5), (5, 0), (1, 4), (4, 1), (6, 2), (2, 6), (6, 6), (5, 6, 0)])
def test_reference_shape_accumulation_matches_piecewise_interpolation(codes: tuple[int, ...]) -> None:
    """Several NPs with different codes, applied in order: reference == PiecewiseInterpolation."""
    rng = np.random.default_rng(sum(10**k * c for k, c in enumerate(codes)))
    params = [_real_var(f"alpha_pw{k}") for k in range(len(codes))]
    for _ in range(6):
        lo = rng.uniform(0.75, 1.3, len(codes))
        hi = rng.uniform(0.8, 1.35, len(codes))
        pw, _keep = _piecewise(list(lo), list(hi), params, list(codes))
        for values in itertools.product((-2.2, -0.6, 0.35, 1.0, 1.8), repeat=len(codes)):
            for par, a in zip(params, values):
                par.setVal(a)
            got = float(ref.shape_factor([ref.Term(c, lo_, hi_, a) for c, lo_, hi_, a in zip(codes, lo, hi, values)]))
            assert got == pytest.approx(pw.getVal(), rel=REL_INTERP), (codes, lo, hi, values)


@pytest.mark.parametrize("code", ref.NORM_CODES)
def test_reference_norm_interpolation_matches_flexible_interp_var(code: int) -> None:
    """reference.norm_factor (one NP) == FlexibleInterpVar, to 1e-12."""
    alpha = _real_var("alpha_fiv")
    for lo, hi in [(0.9, 1.12), (1.1, 0.95), (0.7, 1.5), (1.02, 1.08), (0.97, 0.93)]:
        fiv, _keep = _flexible([lo], [hi], [alpha], [code])
        for a in ALPHA_GRID:
            alpha.setVal(a)
            got = ref.norm_factor([ref.Term(code, lo, hi, a)])
            assert got == pytest.approx(fiv.getVal(), rel=REL_INTERP), (code, lo, hi, a)


def test_reference_norm_accumulation_matches_flexible_interp_var() -> None:
    """Mixed normsys codes on several NPs of one FlexibleInterpVar, applied in order."""
    codes = [0, 4, 1, 2, 4, 0]
    lo = [0.9, 0.85, 1.07, 0.92, 0.97, 1.03]
    hi = [1.12, 1.2, 0.9, 1.1, 1.05, 1.09]
    params = [_real_var(f"alpha_fiv{k}") for k in range(len(codes))]
    fiv, _keep = _flexible(lo, hi, params, codes)
    rng = np.random.default_rng(7)
    for _ in range(40):
        values = rng.uniform(-2.5, 2.5, len(codes))
        for par, a in zip(params, values):
            par.setVal(a)
        got = ref.norm_factor([ref.Term(c, lo_, hi_, a) for c, lo_, hi_, a in zip(codes, lo, hi, values)])
        assert got == pytest.approx(fiv.getVal(), rel=REL_INTERP)


# -- the package against ROOT's classes and the reference -------------------------------------------
@pytest.mark.parametrize("code", [0, 1, 2, 4, 5])
def test_model_normsys_matches_flexible_interp_var(code: int) -> None:
    """G(alpha) = N_p/nu_p of a one-process, one-NP model == FlexibleInterpVar == reference.

    (Code 5 is accepted by the builder as FlexibleInterpVar's alias of code 4.)
    """
    nominal = 7.25
    alpha = _real_var("alpha_fiv")
    for lo, hi in [(0.9, 1.12), (1.1, 0.95), (0.7, 1.5), (1.02, 1.08)]:
        # coefficient "mu" at mu = 1, not the default "1" (see the module docstring)
        model = build_model([Process("p", nominal, np.ones(3), "mu", normsys={"n": NormSys(lo, hi, code)})],
                            form="columns")
        fiv, _keep = _flexible([lo], [hi], [alpha], [code])
        yield_fn = model.workspace.function("N_p")
        for a in ALPHA_GRID:
            alpha.setVal(a)
            model.set_parameters({"alpha_n": a, "mu": 1.0})
            expected = fiv.getVal()
            assert yield_fn.getVal() / nominal == pytest.approx(expected, rel=REL_INTERP), (code, lo, hi, a)
            assert model.total_yield() / nominal == pytest.approx(expected, rel=REL_INTERP)
            assert ref.norm_factor([ref.Term(code, lo, hi, a)]) == pytest.approx(expected, rel=REL_INTERP)


def test_model_normsys_mixed_codes_in_order() -> None:
    """Several normsys NPs of one process with mixed codes: G == FlexibleInterpVar in insertion order."""
    spec = {"z": (0.9, 1.12, 0), "b": (0.85, 1.2, 4), "m": (1.07, 0.9, 1), "a": (0.92, 1.1, 2)}
    nominal = 3.5
    model = build_model(
        [Process("p", nominal, np.ones(3), "mu", normsys={k: NormSys(*v) for k, v in spec.items()})], form="columns")
    params = [_real_var(f"alpha_fiv_{k}") for k in spec]
    fiv, _keep = _flexible([v[0] for v in spec.values()], [v[1] for v in spec.values()], params,
                           [v[2] for v in spec.values()])
    rng = np.random.default_rng(11)
    order_matters = False
    for _ in range(30):
        values = dict(zip(spec, rng.uniform(-2.5, 2.5, len(spec))))
        for par, a in zip(params, values.values()):
            par.setVal(a)
        model.set_parameters({f"alpha_{k}": a for k, a in values.items()})
        terms = [ref.Term(c, lo, hi, values[k]) for k, (lo, hi, c) in spec.items()]
        expected = fiv.getVal()
        assert model.workspace.function("N_p").getVal() / nominal == pytest.approx(expected, rel=REL_INTERP)
        assert ref.norm_factor(terms) == pytest.approx(expected, rel=REL_INTERP)
        order_matters |= abs(ref.norm_factor(terms[::-1]) / expected - 1) > 1e-6
    assert order_matters  # the comparison is sensitive to the order of additive/multiplicative codes


@pytest.mark.parametrize("code", ref.SHAPE_CODES)
def test_model_shape_matches_piecewise_interpolation(code: int) -> None:
    """Per-event value of a one-process RooNSBIPdf with r = 1 and one shape NP:
    p(x_i)/p_ref(x_i) = N g(x_i)/nu = g(x_i) == PiecewiseInterpolation == reference,
    on the scalar path (getVal) and the vectorised path (Evaluator, doEval)."""
    rng = np.random.default_rng(200 + code)
    n = 16
    lo, hi = _shape_columns(rng, n, 0.4, 0.6)
    ratio = np.ones(n)
    model = build_model([Process("p", 12.0, ratio, "mu", shapesys={"s": ShapeSys(lo, hi, code)})], form="columns")
    columns = {"r_p": ratio, "g_p_s_lo": lo, "g_p_s_hi": hi}
    batch = _evaluate_batch(model, columns)
    alpha = _real_var("alpha_pw")
    pws = [_piecewise(lo[i], hi[i], [alpha], [code]) for i in range(n)]
    for a in ALPHA_GRID:
        alpha.setVal(a)
        model.set_parameters({"alpha_s": a, "mu": 1.3})
        expected = np.array([pw.getVal() for pw, _ in pws])
        np.testing.assert_allclose(batch(), expected, rtol=REL_INTERP, atol=0)
        scalar = np.array([_evaluate_scalar(model, columns, i) for i in range(n)])
        np.testing.assert_allclose(scalar, expected, rtol=REL_INTERP, atol=0)
        reference = ref.shape_factor([ref.Term(code, lo, hi, a)], n)
        np.testing.assert_allclose(reference, expected, rtol=REL_INTERP, atol=0)


@pytest.mark.parametrize("codes", [(0, 5), (5, 0), (1, 4), (4, 1), (6, 2), (2, 6), (6, 6), (6, 4)])
def test_model_two_shape_nps_accumulate_in_order(codes: tuple[int, int]) -> None:
    """Two shape NPs of one process ("z" added before "a"): g == PiecewiseInterpolation with
    paramSet [alpha_z, alpha_a] and per-parameter codes (setInterpCode), == reference."""
    rng = np.random.default_rng(300 + 10 * codes[0] + codes[1])
    n = 10
    lo_z, hi_z = _shape_columns(rng, n, 0.3, 0.4)
    lo_a, hi_a = _shape_columns(rng, n, 0.3, 0.4)
    ratio = np.ones(n)
    shapes = {"z": ShapeSys(lo_z, hi_z, codes[0]), "a": ShapeSys(lo_a, hi_a, codes[1])}
    model = build_model([Process("p", 4.0, ratio, "sqrt(mu)", shapesys=shapes)], form="columns")
    columns = {"r_p": ratio, "g_p_z_lo": lo_z, "g_p_z_hi": hi_z, "g_p_a_lo": lo_a, "g_p_a_hi": hi_a}
    batch = _evaluate_batch(model, columns)
    params = [_real_var("alpha_pw_z"), _real_var("alpha_pw_a")]
    pws = [_piecewise([lo_z[i], lo_a[i]], [hi_z[i], hi_a[i]], params, list(codes)) for i in range(n)]
    order_matters = False
    for a_z, a_a in itertools.product((-2.4, -1.0, -0.45, 0.2, 0.8, 1.9), repeat=2):
        params[0].setVal(a_z)
        params[1].setVal(a_a)
        model.set_parameters({"alpha_z": a_z, "alpha_a": a_a})
        expected = np.array([pw.getVal() for pw, _ in pws])
        np.testing.assert_allclose(batch(), expected, rtol=REL_INTERP, atol=0)
        scalar = np.array([_evaluate_scalar(model, columns, i) for i in range(n)])
        np.testing.assert_allclose(scalar, expected, rtol=REL_INTERP, atol=0)
        terms = [ref.Term(codes[0], lo_z, hi_z, a_z), ref.Term(codes[1], lo_a, hi_a, a_a)]
        np.testing.assert_allclose(ref.shape_factor(terms, n), expected, rtol=REL_INTERP, atol=0)
        order_matters |= bool(np.any(np.abs(ref.shape_factor(terms[::-1], n) / expected - 1) > 1e-6))
    mixed = (codes[0] in ref.ADDITIVE_SHAPE_CODES) != (codes[1] in ref.ADDITIVE_SHAPE_CODES)
    assert order_matters == mixed  # order matters exactly when additive and multiplicative codes mix


# -- the full NLL --------------------------------------------------------------------------------
COEFFICIENTS: dict[str, tuple[str, Callable[[Mapping[str, float]], float]]] = {
    "sig": ("mu", lambda p: p["mu"]),
    "int": ("sqrt(mu)", lambda p: np.sqrt(p["mu"])),
    "bkg": ("1 - 0.5*sqrt(mu)", lambda p: 1.0 - 0.5 * np.sqrt(p["mu"])),
}
NOMINAL_YIELDS = {"sig": 140.0, "int": 60.0, "bkg": 520.0}
#: NP layout: "lumi" only normsys, "jes" only shapesys, "eff" and "pdf" both; all shared.
#: Dict order (not alphabetical) is the order of application.
NORMSYS_LAYOUT = {"sig": ("lumi", "eff"), "int": ("eff", "lumi"), "bkg": ("pdf", "lumi")}
SHAPESYS_LAYOUT = {"sig": ("pdf", "jes"), "int": ("pdf",), "bkg": ("jes", "eff")}
NORMSYS_FACTORS = [(0.9, 1.12), (0.95, 1.07), (1.05, 0.93), (0.85, 1.2), (0.97, 1.02), (1.01, 1.06)]


def _nll_setup(
    shape_code: int, weighted: bool
) -> tuple[list[Process], list[ref.RefProcess], np.ndarray | None]:
    """Three processes, four shared NPs; normsys codes cycle over (0, 1, 2, 4)."""
    rng = np.random.default_rng(1000 + 10 * shape_code + int(weighted))
    n = 700
    # additive shape codes get narrower columns so that g stays positive at |alpha| = 2.5
    spread_lo, spread_hi = (0.1, 0.1) if shape_code in ref.ADDITIVE_SHAPE_CODES else (0.3, 0.4)
    norm_codes = itertools.cycle(ref.NORM_CODES[shape_code % 4:] + ref.NORM_CODES[: shape_code % 4])
    factors = itertools.cycle(NORMSYS_FACTORS)
    processes, references = [], []
    for name, (formula, function) in COEFFICIENTS.items():
        ratio = rng.uniform(0.05, 3.0, n)
        if name == "int":
            ratio[:5] = 0.0  # zero ratios are allowed (F_i stays positive through the other processes)
        normsys = {}
        for np_name in NORMSYS_LAYOUT[name]:
            lo, hi = next(factors)
            normsys[np_name] = (lo, hi, next(norm_codes))
        shapesys = {}
        for np_name in SHAPESYS_LAYOUT[name]:
            lo, hi = _shape_columns(rng, n, spread_lo, spread_hi)
            shapesys[np_name] = (lo, hi, shape_code)
        processes.append(Process(
            name, NOMINAL_YIELDS[name], ratio, formula,
            normsys={k: NormSys(*v) for k, v in normsys.items()},
            shapesys={k: ShapeSys(*v) for k, v in shapesys.items()},
        ))  # fmt: skip
        references.append(ref.RefProcess(NOMINAL_YIELDS[name], ratio, function, normsys, shapesys))
    weights = None
    if weighted:
        weights = rng.uniform(0.2, 2.0, n)
        weights[rng.uniform(size=n) < 0.05] *= -0.25  # a few negative MC weights
    return processes, references, weights


def _parameter_points(rng: np.random.Generator, nps: list[str], n: int = 20) -> list[dict[str, float]]:
    """n random points (mu in [0.2, 3], alphas in [-2.5, 2.5]) plus the nominal point and
    alpha = +-1 exactly."""
    points = [{"mu": rng.uniform(0.2, 3.0), **{m: rng.uniform(-2.5, 2.5) for m in nps}} for _ in range(n)]
    points.append({"mu": 1.0, **dict.fromkeys(nps, 0.0)})
    points.append({"mu": 0.7, **{m: (-1.0) ** k for k, m in enumerate(nps)}})
    return points


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape_code", ref.SHAPE_CODES)
def test_nll_matches_reference(shape_code: int, weighted: bool) -> None:
    """model.nll (cpu and legacy backends) == reference.nll to 1e-9 relative at 22 points."""
    processes, references, weights = _nll_setup(shape_code, weighted)
    model = build_model(processes, weights=weights, pois={"mu": (1.0, 0.0, 10.0)}, form="columns")
    nps = ref.nuisance_names(references)
    assert sorted(p.GetName() for p in model.nuisance_parameters) == [f"alpha_{m}" for m in nps]
    assert len(nps) >= 3

    rng = np.random.default_rng(2000 + shape_code)
    points = _parameter_points(rng, nps)
    alphas = np.array([[pt[m] for m in nps] for pt in points])
    assert np.all(np.any(np.abs(alphas) < 1, axis=0)) and np.all(np.any(np.abs(alphas) > 1, axis=0))

    for point in points:
        expected = ref.nll(references, {"mu": point["mu"]}, {m: point[m] for m in nps}, weights)
        values = {"mu": point["mu"], **{f"alpha_{m}": point[m] for m in nps}}
        for backend in ("cpu", "legacy"):
            got = model.nll(values, backend=backend)
            assert got == pytest.approx(expected, rel=REL_NLL), (backend, point)
