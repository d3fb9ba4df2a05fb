r"""The fast NLL of the store form of RooNSBIPdf (RooNSBINLL on a dataset of the event index) and
RooNSBIModel, whose standard createNLL() returns it, against RooFit's generic NLL of the same
RooProdPdf (value, numerical derivative of it, MIGRAD + HESSE):

.. math:: \mathrm{NLL} = \nu - \sum_i w_i \log(m_i F_i) - \sum_m \log N(\mathrm{nom}_m | \alpha_m, 1).

The models are built directly with ROOT calls: a store of float32 columns, two processes with
shape terms of the given interpolation codes, Gaussian constraints with global observables.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import ROOT

from roonsbi.library import cpp_errors
from roonsbi.naming import LOG_PREFIX, alpha, constraint, global_observable, ratio_column, shape_columns

R = ROOT.RooFit
MF = ROOT.RooFit.Detail.MathFuncs

PROCESSES = ("S", "B")
#: shape terms (process, nuisance, code) in the order they are added; "a" acts on both processes
CASES: dict[str, list[tuple[int, str, int]]] = {
    **{f"code{c}": [(0, "a", c), (1, "b", c), (1, "a", c)] for c in (0, 1, 2, 4, 5, 6)},
    "mixed": [(0, "a", 5), (0, "b", 4), (0, "c", 1), (0, "d", 0), (0, "e", 6), (0, "f", 2),
              (1, "b", 2), (1, "a", 6), (1, "c", 0), (1, "e", 5), (1, "d", 4)],
}
#: a mixed chain without the kinks of codes 0 and 1 at alpha = 0 (for the minimiser)
SMOOTH = [(0, "a", 5), (0, "b", 4), (0, "c", 6), (0, "d", 2), (1, "b", 2), (1, "a", 6), (1, "c", 5), (1, "d", 4)]
N_POOL, N_OBS = 500, 150


@dataclass
class Channel:
    """A store-form RooNSBIPdf, its constraints, the RooProdPdf and the RooNSBIModel of them (and
    every ROOT object they need kept alive)."""

    pdf: Any
    index: Any
    params: dict[str, Any]
    globs: Any
    constraints: Any
    prod: Any
    model: Any
    arrays: dict[str, np.ndarray]
    keep: list[Any] = field(default_factory=list)

    def set(self, point: dict[str, float]) -> None:
        for name, value in point.items():
            self.params[name].setVal(value)

    def extra_terms(self) -> Any:
        """RooFit's constraint terms: -log c normalised over the global observables."""
        terms = ROOT.RooArgList()
        for c in self.constraints:
            term = ROOT.RooConstraintSum(f"term_{c.GetName()}", "", ROOT.RooArgSet(c), self.globs)
            self.keep.append(term)
            terms.add(term)
        return terms


def _columns(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    u = rng.uniform(0.5, 1.5, N_POOL)
    measure = np.concatenate([u / u.sum(), np.ones(n - N_POOL)])
    cols = {ratio_column("S"): rng.uniform(0.2, 2.0, n), ratio_column("B"): rng.uniform(0.5, 1.5, n)}
    return cols, measure


def make_channel(rng: np.random.Generator, terms: list[tuple[int, str, int]], name: str = "c") -> Channel:
    n = N_POOL + N_OBS
    arrays, measure = _columns(rng, n)
    store = ROOT.std.make_shared["RooNSBI::EventStore"](n)
    for col, values in arrays.items():
        store.addColumn(col, values)
    store.addColumn("measure", measure)
    nuisances = sorted({t[1] for t in terms})
    params = {"mu": ROOT.RooRealVar("mu", "", 1.0, 0.0, 10.0)}
    for nuis in nuisances:
        params[alpha(nuis)] = ROOT.RooRealVar(alpha(nuis), "", 0.0, -5.0, 5.0)
    first = params[alpha(nuisances[0])]
    second = params[alpha(nuisances[1])]
    nS = ROOT.RooFormulaVar("N_S", "40*mu*exp(0.05*x[1])", ROOT.RooArgList(params["mu"], first))
    nB = ROOT.RooFormulaVar("N_B", "120*(1+0.03*x[0])", ROOT.RooArgList(second))
    index = ROOT.RooRealVar("idx", "event index", 0.0, 0.0, float(n))
    index.setBinning(ROOT.RooNSBIRowBinning(N_POOL, n))
    pdf = ROOT.RooNSBIPdf(f"nsbi_{name}", "", ROOT.RooArgList(nS, nB), index, store,
                          ROOT.std.vector["std::string"]([ratio_column(p) for p in PROCESSES]), N_POOL, "measure")
    for process, nuis, code in terms:
        lo_name, hi_name = shape_columns(PROCESSES[process], nuis)
        s = rng.uniform(0.03, 0.08)
        z = rng.standard_normal(n)
        lo, hi = np.exp(-s * z - s * s / 2), np.exp(s * z - s * s / 2)
        arrays[lo_name], arrays[hi_name] = lo, hi
        for col, values in ((lo_name, lo), (hi_name, hi)):
            if str(ROOT.RooNSBINLL.shapeColumn(code, col)) == col:
                store.addColumn(col, values)
            else:
                store.addLogColumn(LOG_PREFIX + col, values)
        with cpp_errors():
            pdf.addShapeSystematic(process, params[alpha(nuis)], lo_name, hi_name, code)
    arrays["measure"] = measure
    one = ROOT.RooConstVar("one", "", 1.0)
    globs, constraints, keep = ROOT.RooArgSet(), ROOT.RooArgList(), [store, nS, nB, one]
    for nuis in nuisances:
        a = params[alpha(nuis)]
        nom = ROOT.RooRealVar(global_observable(a.GetName()), "", 0.0, -10.0, 10.0)
        nom.setConstant(True)
        cons = ROOT.RooGaussian(constraint(a.GetName()), "", nom, a, one)
        globs.add(nom)
        constraints.add(cons)
        keep += [nom, cons]
    prod = ROOT.RooProdPdf(f"prod_{name}", "", ROOT.RooArgList(pdf, constraints))
    with cpp_errors():
        ROOT.RooNSBIModel.checkInputs(f"model_{name}", pdf, constraints)
    model = ROOT.RooNSBIModel(f"model_{name}", "", pdf, constraints)
    return Channel(pdf, index, params, globs, constraints, prod, model, arrays, keep)


def _dataset(ch: Channel, index: np.ndarray, weights: np.ndarray | None = None) -> Any:
    cols = {"idx": np.asarray(index, dtype=float)}
    if weights is None:
        return ROOT.RooDataSet.from_numpy(cols, ROOT.RooArgSet(ch.index))
    wvar = ROOT.RooRealVar("w", "", 1.0)
    ch.keep.append(wvar)
    cols["w"] = np.asarray(weights, dtype=float)
    return ROOT.RooDataSet.from_numpy(cols, ROOT.RooArgSet(ch.index, wvar), weight_name="w")


DATASETS = ("pool", "asimov", "toy", "observed", "mixed_weighted")


def make_data(ch: Channel, kind: str, rng: np.random.Generator) -> Any:
    """pool: all pool rows (contiguous, unweighted); asimov: RooStats' Asimov data (bin centres k + 0.5,
    weights m_k F_k); toy: pdf.generate (pool rows with repetition); observed: the rows beyond the pool;
    mixed_weighted: random rows of both kinds with random weights."""
    n = N_POOL + N_OBS
    if kind == "pool":
        return _dataset(ch, np.arange(N_POOL))
    if kind == "asimov":
        ch.set({"mu": 1.2})
        data = ROOT.RooStats.AsymptoticCalculator.GenerateAsimovData(ch.pdf, ROOT.RooArgSet(ch.index))
        ch.keep.append(data)
        ch.set({"mu": 1.0})
        return data
    if kind == "toy":
        ROOT.RooRandom.randomGenerator().SetSeed(7)
        data = ch.pdf.generate(ROOT.RooArgSet(ch.index), R.Extended(True))
        ch.keep.append(data)
        return data
    if kind == "observed":
        return _dataset(ch, np.arange(N_POOL, n))
    rows = rng.integers(0, n, 400)
    return _dataset(ch, rows + rng.uniform(0.0, 0.999, rows.size), rng.uniform(0.1, 0.7, rows.size))


def _points(ch: Channel, rng: np.random.Generator, k: int = 3) -> list[dict[str, float]]:
    """Parameter points away from the kinks of codes 0 and 2 (alpha = 0, +-1)."""
    pts = []
    for _ in range(k):
        point = {"mu": rng.uniform(0.4, 2.0)}
        for name in ch.params:
            if name != "mu":
                x = rng.uniform(-2.2, 2.2)
                while min(abs(x), abs(abs(x) - 1.0)) < 0.05:
                    x = rng.uniform(-2.2, 2.2)
                point[name] = x
        pts.append(point)
    return pts


def fast_nll(ch: Channel, data: Any) -> Any:
    terms = ch.extra_terms()
    with cpp_errors():
        ROOT.RooNSBINLL.checkData("fast", ch.pdf, data, terms)
    nll = ROOT.RooNSBINLL("fast", "", ch.pdf, data, terms)
    nll.setNumThreads(2)
    ch.keep.append(nll)
    return nll


def generic_nll(ch: Channel, data: Any, *cmds: Any) -> Any:
    nll = ch.prod.createNLL(data, R.GlobalObservables(ch.globs), *cmds)
    ch.keep.append(nll)
    return nll


def numerical_gradient(nll: Any, params: list[Any], h: float = 1e-4) -> np.ndarray:
    """5-point central differences of a RooFit NLL."""
    out = []
    for p in params:
        x0 = p.getVal()
        f = []
        for step in (2, 1, -1, -2):
            p.setVal(x0 + step * h)
            f.append(nll.getVal())
        p.setVal(x0)
        out.append((-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h))
    return np.array(out)


def analytic_gradient(nll: Any) -> tuple[list[Any], np.ndarray]:
    params = list(nll.gradientParameters())
    out = np.zeros(len(params))
    nll.gradient(out)
    return params, out


@pytest.mark.parametrize("kind", DATASETS)
@pytest.mark.parametrize("case", CASES)
def test_value_and_gradient_equal_roofit(rng: np.random.Generator, case: str, kind: str) -> None:
    ch = make_channel(rng, CASES[case])
    data = make_data(ch, kind, rng)
    fast, ref = fast_nll(ch, data), generic_nll(ch, data)
    contiguous = kind in ("pool", "asimov", "observed")
    assert fast.readsInPlace() == contiguous
    assert fast.numEvents() == data.numEntries()
    for point in _points(ch, rng):
        ch.set(point)
        assert fast.getVal() == pytest.approx(ref.getVal(), rel=1e-12)
        params, grad = analytic_gradient(fast)
        floating = [i for i, p in enumerate(params) if not p.isConstant()]
        assert {params[i].GetName() for i in floating} == set(ch.params)
        num = numerical_gradient(ref, [params[i] for i in floating])
        np.testing.assert_allclose(grad[floating], num, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", ("toy", "mixed_weighted"))
@pytest.mark.parametrize("case", CASES)
def test_steps_in_one_or_two_parameters_use_the_cache(rng: np.random.Generator, case: str, kind: str) -> None:
    """Values at points one or two parameters away from the last (HESSE's pattern) are steps from the
    per-event cache of G_J (ratio updates for codes 1, 5, differences for 0, 2, 4, recomputed processes
    for code 6 and mixed chains), equal to full passes and to RooFit's NLL, also across |alpha| = 1;
    the gradient there is a full pass's."""
    ch = make_channel(rng, CASES[case])
    data = make_data(ch, kind, rng)
    cached, passes, ref = fast_nll(ch, data), fast_nll(ch, data), generic_nll(ch, data)
    passes.setIncrementalLimit(0)
    assert cached.incrementalLimit() == 2
    ch.set(_points(ch, rng, 1)[0])
    names = list(ch.params)
    moves = [[(names[k % len(names)], 0.013 if k % 2 else -0.021)] for k in range(12)]
    moves[3].append((names[1], 0.017))  # two parameters at once
    moves += [[(alpha("a"), 0.99)], [(alpha("a"), 1.02)], [(alpha("b"), -1.01)], [(alpha("b"), -0.98)],
              [(alpha("a"), -1.5), (alpha("b"), 0.3)]]
    absolute = len(moves) - 5
    for k, move in enumerate(moves):
        for name, x in move:
            ch.params[name].setVal(x if k >= absolute else ch.params[name].getVal() + x)
        assert cached.getVal() == pytest.approx(passes.getVal(), rel=1e-12)
        assert cached.getVal() == pytest.approx(ref.getVal(), rel=1e-12)
    # the first value is a full pass (it fills the cache), every other one a step
    assert cached.numPasses() == 1 and cached.numIncrementalEvaluations() == len(moves) - 1
    assert passes.numIncrementalEvaluations() == 0
    params, grad = analytic_gradient(cached)
    floating = [i for i, p in enumerate(params) if not p.isConstant()]
    np.testing.assert_allclose(grad[floating], numerical_gradient(ref, [params[i] for i in floating]),
                               rtol=1e-6, atol=1e-5)


def test_value_equals_numpy_master_formula(rng: np.random.Generator) -> None:
    """An independent check of the constant -sum w log m and of the weights: the master formula in numpy
    (ROOT's flexibleInterpSingle per event on the float32 inputs) for a weighted dataset of pool and
    observed rows."""
    ch = make_channel(rng, CASES["code5"][:2])
    data = make_data(ch, "mixed_weighted", rng)
    nll = fast_nll(ch, data)
    point = {"mu": 1.3, alpha("a"): 0.4, alpha("b"): -1.6}
    ch.set(point)
    arrays = data.to_numpy()
    rows = np.floor(arrays["idx"]).astype(int)
    w = arrays["w"]
    f32 = lambda x: x.astype(np.float32).astype(np.float64)
    c = ch.arrays

    def g(process: str, nuis: str) -> np.ndarray:
        lo, hi = (np.exp(f32(np.log(c[col][rows]))) for col in shape_columns(process, nuis))
        return np.array([1 + MF.flexibleInterpSingle(5, a, b, 1, 1, point[alpha(nuis)], 1.0) for a, b in zip(lo, hi)])

    nS = 40 * point["mu"] * math.exp(0.05 * point[alpha("a")])
    nB = 120 * (1 + 0.03 * point[alpha("b")])
    F = nS * f32(c["r_S"][rows]) * g("S", "a") + nB * f32(c["r_B"][rows]) * g("B", "b")
    m = f32(c["measure"][rows])
    # RooGaussian(nom | alpha, 1) normalised over nom in [-10, 10]: the full Gaussian to < 1e-20
    gauss = sum(0.5 * point[alpha(x)] ** 2 + 0.5 * math.log(2 * math.pi) for x in "ab")
    expect = nS + nB - np.sum(w * np.log(m * F)) + gauss
    assert nll.getVal() == pytest.approx(expect, rel=1e-11)
    assert nll.measureConstant() == pytest.approx(-np.sum(w * np.log(m)), rel=1e-12)


@pytest.mark.parametrize("kind", ("pool", "toy", "mixed_weighted"))
def test_model_createnll_is_fast_and_equals_prodpdf(rng: np.random.Generator, kind: str) -> None:
    ch = make_channel(rng, CASES["mixed"])
    data = make_data(ch, kind, rng)
    nll = ch.model.createNLL(data, R.GlobalObservables(ch.globs))
    ref = generic_nll(ch, data)
    assert nll.ClassName() == "RooNSBINLL"
    assert nll.defaultErrorLevel() == 0.5
    for point in _points(ch, rng, 2):
        ch.set(point)
        assert nll.getVal() == pytest.approx(ref.getVal(), rel=1e-12)


def test_standard_commands_stay_fast(rng: np.random.Generator) -> None:
    """The commands RooStats and fitTo pass (and those without effect) keep the fast NLL, with RooFit's value."""
    ch = make_channel(rng, CASES["code4"])
    data = make_data(ch, "toy", rng)
    params = ROOT.RooArgSet(*ch.params.values())
    cmds = [R.Extended(True), R.CloneData(False), R.Constrain(params), R.Verbose(False), R.Optimize(0),
            R.EvalBackend("cpu"), R.NumCPU(1), R.ConditionalObservables(ROOT.RooArgSet()),
            R.GlobalObservablesSource("data"), R.IntegrateBins(-1.0), R.Offset(False)]
    nll = ch.model.createNLL(data, R.GlobalObservables(ch.globs), *cmds)
    assert nll.ClassName() == "RooNSBINLL" and nll.numThreads() == 1
    ref = generic_nll(ch, data, *cmds)
    ch.set(_points(ch, rng, 1)[0])
    assert nll.getVal() == pytest.approx(ref.getVal(), rel=1e-12)
    assert ch.model.fastNLLUnsupportedReason(data, ROOT.RooLinkedList()) == ""


@pytest.mark.parametrize("cmd", ["range", "sumcoef", "split", "bin_offset", "not_extended", "tag_and_set",
                                 "conditional", "eval_error_wall", "modular_and_numcpu"])
def test_unsupported_commands_fall_back(rng: np.random.Generator, cmd: str) -> None:
    ch = make_channel(rng, CASES["code5"])
    ch.index.setRange("x", 0.0, float(N_POOL))
    data = make_data(ch, "pool", rng)
    args = {
        "range": [R.Range("x")],
        "sumcoef": [R.SumCoefRange("x")],
        "split": [R.SplitRange(True)],
        "bin_offset": [R.Offset("bin")],
        "not_extended": [R.Extended(False)],
        "tag_and_set": [R.GlobalObservablesTag("glob")],
        "conditional": [R.ConditionalObservables(ROOT.RooArgSet(ch.index))],
        "eval_error_wall": [R.EvalErrorWall(False)],
        "modular_and_numcpu": [R.ModularL(False), R.NumCPU(2)],
    }[cmd]
    glob = [R.GlobalObservables(ch.globs)]
    lst = ROOT.RooLinkedList()
    for a in glob + args:
        lst.Add(a)
    assert ch.model.fastNLLUnsupportedReason(data, lst) != ""
    nll = ch.model.createNLL(data, *glob, *args)
    assert not nll or nll.ClassName() != "RooNSBINLL"  # RooFit refuses some (nullptr)
    if cmd == "range":
        ref = ch.prod.createNLL(data, *glob, *args)
        assert nll.getVal() == pytest.approx(ref.getVal(), rel=1e-12)


def test_data_without_index_falls_back(rng: np.random.Generator) -> None:
    """Column-form data (no event index) or a dataset with another observable of the model: generic NLL."""
    ch = make_channel(rng, CASES["code5"])
    other = ROOT.RooRealVar("x", "", 0.0, 0.0, 1.0)
    data = ROOT.RooDataSet.from_numpy({"x": rng.uniform(0, 1, 10)}, ROOT.RooArgSet(other))
    reason = ch.model.fastNLLUnsupportedReason(data, ROOT.RooLinkedList())
    assert "has no event index 'idx'" in reason
    nom = ch.globs.find(global_observable(alpha("a")))
    both = ROOT.RooDataSet.from_numpy({"idx": np.arange(10.0), nom.GetName(): np.zeros(10)},
                                      ROOT.RooArgSet(ch.index, nom))
    reason = ch.model.fastNLLUnsupportedReason(both, ROOT.RooLinkedList())
    assert nom.GetName() in reason and "besides the event index" in reason
    nll = ch.model.createNLL(both, R.GlobalObservables(ch.globs))
    assert nll.ClassName() != "RooNSBINLL"


def test_global_observables_from_data_and_model(rng: np.random.Generator) -> None:
    """Global observables stored in the dataset take its values (GlobalObservablesSource("data"), also
    without GlobalObservables(...)); GlobalObservablesSource("model") and data without them read the
    model's current nom_alpha values, as RooFit's NLL does; setData() takes a new dataset's values."""
    ch = make_channel(rng, CASES["code1"])
    data = make_data(ch, "toy", rng)
    noms = [ch.globs.find(global_observable(alpha(x))) for x in "ab"]
    noms[0].setVal(0.7)
    noms[1].setVal(-0.4)
    with_globs = data.Clone("with_globs")
    with_globs.setGlobalObservables(ch.globs)
    noms[0].setVal(0.0)
    noms[1].setVal(0.0)
    ch.set(_points(ch, rng, 1)[0])
    choices = ([R.GlobalObservables(ch.globs)], [], [R.GlobalObservables(ch.globs), R.GlobalObservablesSource("model")])
    for cmds in choices:
        for d in (data, with_globs):
            nll = ch.model.createNLL(d, *cmds)
            ref = ch.prod.createNLL(d, *cmds)
            assert nll.ClassName() == "RooNSBINLL"
            assert nll.getVal() == pytest.approx(ref.getVal(), rel=1e-12)
            params, ref_params = ROOT.RooArgSet(), ROOT.RooArgSet()
            nll.getParameters(ROOT.nullptr, params)
            ref.getParameters(ROOT.nullptr, ref_params)
            # RooFit also lists the model's nom_alpha (constant) when it reads the dataset's values instead;
            # RooNSBINLL lists neither those nor its copies of the dataset's values
            from_data = d is with_globs and len(cmds) < 2
            expect = {p.GetName() for p in ref_params} - ({n.GetName() for n in noms} if from_data else set())
            assert {p.GetName() for p in params} == expect
    # the model's global observables are read live
    nll = ch.model.createNLL(data, R.GlobalObservables(ch.globs))
    ref = generic_nll(ch, data)
    noms[0].setVal(0.3)
    assert nll.getVal() == pytest.approx(ref.getVal(), rel=1e-12)
    noms[0].setVal(0.0)
    # a reused NLL (RooStats' toys): setData takes the events and the global observables of the new data
    nll = ch.model.createNLL(with_globs, R.GlobalObservables(ch.globs))
    toy = make_data(ch, "pool", rng)
    noms[1].setVal(1.1)
    toy.setGlobalObservables(ch.globs)
    noms[1].setVal(0.0)
    assert nll.setData(toy, False)
    ref = ch.prod.createNLL(toy, R.GlobalObservables(ch.globs))
    assert nll.readsInPlace() and nll.numEvents() == toy.numEntries()
    assert nll.getVal() == pytest.approx(ref.getVal(), rel=1e-12)


def test_offset_and_weight_squared_follow_roofit(rng: np.random.Generator) -> None:
    """Offset(true): getVal() is the value, and with RooAbsReal::hideOffset() false (inside RooMinimizer)
    the value minus the first one; applyWeightSquared (fitTo's SumW2Error) gives RooFit's w^2 NLL."""
    ch = make_channel(rng, CASES["code6"])
    data = make_data(ch, "mixed_weighted", rng)
    pts = _points(ch, rng, 2)
    ch.set(pts[0])
    nll = ch.model.createNLL(data, R.GlobalObservables(ch.globs), R.Offset(True))
    ref = generic_nll(ch, data, R.Offset(True))
    assert nll.ClassName() == "RooNSBINLL" and nll.isOffsetting()
    first = nll.getVal()
    assert first == pytest.approx(ref.getVal(), rel=1e-12)
    assert nll.offset() == pytest.approx(first, rel=1e-15)
    ROOT.RooAbsReal.setHideOffset(False)
    try:
        ch.set(pts[1])
        shifted = nll.getVal()
    finally:
        ROOT.RooAbsReal.setHideOffset(True)
    assert shifted == pytest.approx(ref.getVal() - first, rel=1e-9, abs=1e-9)
    assert nll.getVal() == pytest.approx(ref.getVal(), rel=1e-12)  # the offset hidden again
    fast2, ref2 = ch.model.createNLL(data, R.GlobalObservables(ch.globs)), generic_nll(ch, data)
    fast2.applyWeightSquared(True)
    ref2.applyWeightSquared(True)
    ch.set(pts[0])  # RooFit's NLL takes the change on the next parameter change
    assert fast2.getVal() == pytest.approx(ref2.getVal(), rel=1e-12)
    params, grad = analytic_gradient(fast2)
    floating = [i for i, p in enumerate(params) if not p.isConstant()]
    np.testing.assert_allclose(grad[floating], numerical_gradient(ref2, [params[i] for i in floating]),
                               rtol=1e-6, atol=1e-5)


def _minimize(nll: Any) -> Any:
    m = ROOT.RooMinimizer(nll)
    m.setPrintLevel(-1)
    m.setStrategy(1)
    m.setEps(1e-4)
    assert m.migrad() == 0
    assert m.hesse() == 0
    return m.save()


def test_migrad_hesse_equal_roofit(rng: np.random.Generator) -> None:
    """RooMinimizer's MIGRAD + HESSE on RooNSBIModel.createNLL and on the RooProdPdf's generic NLL:
    the same minimum and errors (a chain of the codes without kinks: Minuit needs a smooth NLL)."""
    ch = make_channel(rng, SMOOTH)
    ch.set({"mu": 1.4, alpha("a"): 0.3, alpha("b"): -0.5, alpha("c"): 0.8, alpha("d"): -1.3})
    data = ROOT.RooStats.AsymptoticCalculator.GenerateAsimovData(ch.pdf, ROOT.RooArgSet(ch.index))
    toy = make_data(ch, "toy", rng)
    for d in (data, toy):
        start = dict.fromkeys(ch.params, 0.0) | {"mu": 1.0}
        results = []
        for nll in (ch.model.createNLL(d, R.GlobalObservables(ch.globs)), generic_nll(ch, d)):
            ch.set(start)
            for p in ch.params.values():
                p.setError(0.0)
            results.append(_minimize(nll))
        fast, ref = results
        assert fast.minNll() == pytest.approx(ref.minNll(), rel=1e-9)
        for p in ref.floatParsFinal():
            q = fast.floatParsFinal().find(p.GetName())
            assert q.getVal() == pytest.approx(p.getVal(), abs=1e-4)
            assert q.getError() == pytest.approx(p.getError(), rel=1e-4)


def test_fitto_uses_the_fast_nll(rng: np.random.Generator, capfd: pytest.CaptureFixture[str]) -> None:
    """fitTo() builds its NLL with createNLL(): RooNSBINLL (RooNSBIModel says so), with the result of the
    RooProdPdf's fit, also with SumW2Error(true) (applyWeightSquared) on weighted data."""
    ch = make_channel(rng, CASES["code2"])
    data = make_data(ch, "mixed_weighted", rng)
    msg = ROOT.RooMsgService.instance()
    kill = msg.globalKillBelow()
    msg.setGlobalKillBelow(R.INFO)  # RooNSBIModel says which NLL it builds
    results, said = [], []
    try:
        for pdf in (ch.model, ch.prod):
            ch.set(dict.fromkeys(ch.params, 0.0) | {"mu": 1.0})
            for p in ch.params.values():
                p.setError(0.0)
            results.append(pdf.fitTo(data, R.GlobalObservables(ch.globs), R.Save(), R.PrintLevel(-1),
                                     R.SumW2Error(True), R.Strategy(1)))
            ROOT.gSystem.ProcessEvents()
            said.append(capfd.readouterr().out)
    finally:
        msg.setGlobalKillBelow(kill)
    assert "RooNSBIModel::createNLL(model_c): fast likelihood RooNSBINLL" in said[0]
    fast, ref = results
    assert fast.status() == 0 and ref.status() == 0
    for p in ref.floatParsFinal():
        q = fast.floatParsFinal().find(p.GetName())
        assert q.getVal() == pytest.approx(p.getVal(), abs=1e-4)
        assert q.getError() == pytest.approx(p.getError(), rel=1e-4)


def test_roostats_profile_likelihood(rng: np.random.Generator) -> None:
    """RooStats' profile-likelihood test statistic (createNLL with Constrain, CloneData, GlobalObservables,
    ConditionalObservables, its own minimisations) is the same on the model and on the RooProdPdf."""
    ch = make_channel(rng, CASES["code5"])
    data = make_data(ch, "toy", rng)
    poi = ROOT.RooArgSet(ch.params["mu"])
    values = []
    for pdf in (ch.model, ch.prod):
        ch.set(dict.fromkeys(ch.params, 0.0) | {"mu": 1.0})
        ts = ROOT.RooStats.ProfileLikelihoodTestStat(pdf)
        ts.SetGlobalObservables(ch.globs)
        ts.SetOneSided(False)
        ts.SetPrintLevel(0)
        ch.params["mu"].setVal(1.5)
        snapshot = poi.snapshot()
        values.append(ts.Evaluate(data, snapshot))
        ch.keep += [ts, snapshot]
    assert values[0] == pytest.approx(values[1], abs=1e-4)


def test_model_is_a_prodpdf(rng: np.random.Generator, tmp_path) -> None:
    """Values, constraints and a RooSimultaneous channel as the RooProdPdf; workspace import and a
    ROOT file keep the class."""
    ch = make_channel(rng, CASES["code4"])
    data = make_data(ch, "toy", rng)
    obs = ROOT.RooArgSet(ch.index)
    ch.set(_points(ch, rng, 1)[0])
    ch.index.setVal(17.0)
    assert ch.model.getVal(obs) == pytest.approx(ch.prod.getVal(obs), rel=1e-14)
    assert ch.model.expectedEvents(obs) == pytest.approx(ch.prod.expectedEvents(obs), rel=1e-14)
    found = [[c.GetName() for c in pdf.getAllConstraints(obs, ROOT.RooArgSet(*ch.params.values()), True)]
             for pdf in (ch.model, ch.prod)]
    assert sorted(found[0]) == sorted(found[1]) == sorted(c.GetName() for c in ch.constraints)

    # a channel of a RooSimultaneous (RooFit's generic NLL of the combination)
    cat = ROOT.RooCategory("channel", "")
    cat.defineType("nsbi")
    x = ROOT.RooRealVar("x", "", 0.0, -5.0, 5.0)
    gauss = ROOT.RooGaussian("g", "", x, ch.params[alpha("a")], ROOT.RooFit.RooConst(1.0))
    ext = ROOT.RooExtendPdf("ext", "", gauss, ROOT.RooFit.RooConst(50.0))
    cat.defineType("other")
    other = ROOT.RooDataSet.from_numpy({"x": rng.normal(0.2, 1.0, 50)}, ROOT.RooArgSet(x))
    combined = ROOT.RooDataSet("combined", "", ROOT.RooArgSet(ch.index, x), R.Index(cat),
                               R.Import("nsbi", data), R.Import("other", other))
    nlls = []
    for pdf in (ch.model, ch.prod):
        sim = ROOT.RooSimultaneous(f"sim_{pdf.GetName()}", "", cat)
        sim.addPdf(pdf, "nsbi")
        sim.addPdf(ext, "other")
        nll = sim.createNLL(combined, R.GlobalObservables(ch.globs))
        ch.keep += [sim, nll]
        nlls.append(nll.getVal())
    assert nlls[0] == pytest.approx(nlls[1], rel=1e-12)
    ch.keep += [cat, x, gauss, ext, other, combined]

    ws = ROOT.RooWorkspace("w")
    ws.Import(ch.model)
    imported = ws.pdf(ch.model.GetName())
    assert imported.ClassName() == "RooNSBIModel"
    nll = imported.createNLL(data, R.GlobalObservables(ch.globs))
    ref = generic_nll(ch, data)
    assert nll.ClassName() == "RooNSBINLL"
    assert nll.getVal() == pytest.approx(ref.getVal(), rel=1e-12)
    path = str(tmp_path / "ws.root")
    ws.writeToFile(path)
    f = ROOT.TFile.Open(path)
    read = f.Get("w").pdf(ch.model.GetName())
    assert read.ClassName() == "RooNSBIModel"
    assert [p.GetName() for p in read.pdfList()] == [p.GetName() for p in ch.model.pdfList()]
    f.Close()


def test_bad_inputs_are_named(rng: np.random.Generator) -> None:
    ch = make_channel(rng, CASES["code5"])
    n = N_POOL + N_OBS
    wide = ROOT.RooRealVar("idx", "", 0.0, 0.0, 2.0 * n)  # same name: a dataset with rows outside the store
    outside = ROOT.RooDataSet.from_numpy({"idx": np.array([3.0, n + 2.5])}, ROOT.RooArgSet(wide))
    message = re.escape(f"entry 1 has idx = {n + 2.5}, not a row of the event store")
    with pytest.raises(ValueError, match=message), cpp_errors():
        ROOT.RooNSBINLL.checkData("nll", ch.pdf, outside)
    with pytest.raises(ValueError, match=r"entry 1 has idx"), cpp_errors():
        ch.model.createNLL(outside, R.GlobalObservables(ch.globs))
    wvar = ROOT.RooRealVar("w", "", 1.0)
    nan_weights = ROOT.RooDataSet("nan_weights", "", ROOT.RooArgSet(ch.index, wvar), R.WeightVar(wvar))
    for row, w in ((1.0, 1.0), (2.0, math.nan), (3.0, 1.0)):
        ch.index.setVal(row)
        nan_weights.add(ROOT.RooArgSet(ch.index), w)
    with pytest.raises(ValueError, match=r"non-finite weight at entry 1"), cpp_errors():
        ROOT.RooNSBINLL.checkData("nll", ch.pdf, nan_weights)
    other = ROOT.RooRealVar("x", "", 0.0, 0.0, 1.0)
    no_index = ROOT.RooDataSet.from_numpy({"x": np.zeros(3)}, ROOT.RooArgSet(other))
    with pytest.raises(ValueError, match=r"pdf 'nsbi_c' with dataset .* has no variable 'idx'"), cpp_errors():
        ROOT.RooNSBINLL.checkData("nll", ch.pdf, no_index)
    r = ROOT.RooRealVar(ratio_column("S"), "", 1.0)
    column_pdf = ROOT.RooNSBIPdf("col", "", ROOT.RooArgList(ch.pdf.yields()[0]), ROOT.RooArgList(r))
    with pytest.raises(ValueError, match=r"pdf 'col' is a column-form RooNSBIPdf"), cpp_errors():
        ROOT.RooNSBINLL.checkData("nll", column_pdf, no_index)
    with pytest.raises(ValueError, match=r"RooNSBIModel 'm': pdf 'col' is a column-form"), cpp_errors():
        ROOT.RooNSBIModel.checkInputs("m", column_pdf, ROOT.RooArgList())
    with pytest.raises(ValueError, match=r"constraint 'nsbi_c' is an NSBI pdf"), cpp_errors():
        ROOT.RooNSBIModel.checkInputs("m", ch.pdf, ROOT.RooArgList(ch.pdf))
    # an NLL on a store cannot take a dataset
    store_nll = ROOT.RooNSBINLL("s", "", ch.pdf, ch.pdf.store())
    assert not store_nll.setData(no_index, False)
