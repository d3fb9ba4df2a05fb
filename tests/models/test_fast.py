"""The fast likelihood (RooNSBINLL on a float32 EventStore) against RooFit's NLL of RooNSBIPdf."""

from __future__ import annotations

import ctypes
import math
from pathlib import Path

import numpy as np
import pytest
import ROOT

from roonsbi.infer.fit import fit
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.fast import fast_nll
from roonsbi.models.store import dequantized_columns, make_store, open_store
from roonsbi.models.unbinned import build_model
from roonsbi.spec import Process, ShapeSys

MF = ROOT.RooFit.Detail.MathFuncs
NPS = ("jes", "eff", "pdf")  # with "lumi": the nuisance parameters of _processes


# interpolation codes (eff, jes, pdf) per process: mixed orders of additive and multiplicative terms
CODE_SETS = {
    "code4": {"SBI": (4, 4, 4), "S": (4, 4, 4), "B": (4, 4, 4)},
    "mixed145": {"SBI": (5, 4, 1), "S": (4, 1, 4), "B": (4, 5, 5)},
    "mixed0125": {"SBI": (5, 0, 1), "S": (2, 1, 2), "B": (1, 2, 0)},
    "additive024": {"SBI": (0, 2, 4), "S": (2, 4, 0), "B": (4, 0, 2)},
    "mixed1456": {"SBI": (6, 4, 1), "S": (4, 6, 5), "B": (6, 5, 6)},
}


def _processes(rng: np.random.Generator, n: int, codes: dict[str, tuple[int, int, int]] | None = None) -> list[Process]:
    """Pseudo-data of the off-shell toy at mu = 1 (about 1.1 n events) with the toy's basis with its exact
    eff/lumi systematics, plus random per-event shape systematics "jes"/"pdf" with E[g] = 1.
    Shape codes: ``codes[process] = (eff, jes, pdf)`` (terms in that order), or by default
    eff 5 and jes/pdf 1 or 5 at random."""
    toy = OffShellToy(nu_s=0.1 * n, nu_b=n)  # about 1.1 n events
    procs = toy.processes(toy.generate(1.0, rng), systematics=True)
    for p in procs:
        chosen = codes[p.name] if codes else (5, int(rng.choice([1, 5])), int(rng.choice([1, 5])))
        eff = p.shapesys["eff"]
        p.shapesys = {"eff": ShapeSys(eff.lo, eff.hi, chosen[0])}
        for np_name, code in zip(("jes", "pdf"), chosen[1:]):
            z = rng.standard_normal(len(p.ratio))
            s = rng.uniform(0.01, 0.04)
            p.shapesys[np_name] = ShapeSys(np.exp(-s * z - s * s / 2), np.exp(s * z - s * s / 2), code)
    return procs


def _float32_model(processes: list[Process], weights: np.ndarray | None, name: str):
    """The model on exactly the values the fast NLL sees (float32 ratios, float32 logs of shapes)."""
    model = build_model(processes, weights=weights, name=name, form="columns")
    f = fast_nll(model)
    cols = dequantized_columns(f.store)
    ref_procs = [
        Process(p.name, p.nominal_yield, cols[f"r_{p.name}"], p.coefficient, p.normsys,
                {k: ShapeSys(cols[f"g_{p.name}_{k}_lo"], cols[f"g_{p.name}_{k}_hi"], v.code)
                 for k, v in p.shapesys.items()})
        for p in processes
    ]
    ref = build_model(ref_procs, weights=cols.get("weight"), name=name + "_ref", form="columns")
    return model, f, ref


def _points(rng: np.random.Generator, k: int) -> list[dict[str, float]]:
    """alpha = 0, then k points with every alpha inside |alpha| < 1 and k anywhere in (-2.5, 2.5)."""
    pts = [{"mu": 1.0, **{f"alpha_{n}": 0.0 for n in NPS + ("lumi",)}}]
    for width in (1.0, 2.5):
        for _ in range(k):
            alphas = {f"alpha_{n}": rng.uniform(-width, width) for n in NPS + ("lumi",)}
            pts.append({"mu": rng.uniform(0.1, 3.0), **alphas})
    return pts


@pytest.mark.parametrize("codes", [None, *CODE_SETS])
@pytest.mark.parametrize("weighted", [False, True])
def test_value_equals_roofit_nll(rng: np.random.Generator, weighted: bool, codes: str | None) -> None:
    """RooNSBIPdf's RooFit NLL on the float32-rounded inputs (PiecewiseInterpolation's accumulation
    of additive and multiplicative codes in order) is the reference."""
    procs = _processes(rng, 1500, CODE_SETS.get(codes))
    w = rng.uniform(0.05, 0.3, len(procs[0].ratio)) if weighted else None
    model, f, ref = _float32_model(procs, w, "v")
    if codes:  # additive columns are stored as values, multiplicative ones as logarithms
        names = [str(c) for c in f.store.columnNames()]
        for p in procs:
            for k, sys in p.shapesys.items():
                expected = f"g_{p.name}_{k}_hi" if sys.code in (0, 2, 4, 6) else f"log:g_{p.name}_{k}_hi"
                assert expected in names
    value_only = fast_nll(model, store=f.store)  # the pass without the gradient part
    value_only.nll.setGradientWithValue(False)
    for values in _points(rng, 10):
        model.set_parameters(values)
        expected = ref.nll(values)
        assert f.getVal() == pytest.approx(expected, rel=1e-10)
        assert value_only.getVal() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("codes", [None, *CODE_SETS])
def test_gradient_equals_finite_differences(rng: np.random.Generator, codes: str | None) -> None:
    model, f, ref = _float32_model(_processes(rng, 800, CODE_SETS.get(codes)), None, "g")
    for values in _points(rng, 3)[1:]:  # not alpha = 0, where codes 0, 1 have a kink
        model.set_parameters(values)
        grad = f.gradient()
        for name, x in values.items():
            h = 1e-5
            up, dn = dict(values, **{name: x + h}), dict(values, **{name: x - h})
            fd = (ref.nll(up) - ref.nll(dn)) / (2 * h)
            assert grad[name] == pytest.approx(fd, rel=2e-6, abs=2e-5), (name, values)


@pytest.mark.parametrize("codes", [None, "mixed145"])
def test_cache_after_many_parameter_changes(rng: np.random.Generator, codes: str | None) -> None:
    """The value/gradient cache follows every parameter change: compare with a fresh NLL each time,
    and a gradient at the point whose value was just computed costs no extra pass."""
    model, f, _ = _float32_model(_processes(rng, 700, CODE_SETS.get(codes)), None, "c")
    names = ["mu"] + [f"alpha_{n}" for n in NPS + ("lumi",)]
    for _ in range(40):
        name = str(rng.choice(names))
        model.parameter(name).setVal(rng.uniform(0.2, 2.0) if name == "mu" else rng.uniform(-2, 2))
        value = f.getVal()
        passes = f.nll.numPasses()
        f.gradient()
        assert f.nll.numPasses() == passes
        fresh = fast_nll(model, store=f.store)
        assert value == fresh.getVal()


@pytest.mark.parametrize("codes", [None, "mixed145"])
def test_threads_and_mapped_store_give_the_same_value(rng: np.random.Generator, tmp_path: Path,
                                                      codes: str | None) -> None:
    model, f, _ = _float32_model(_processes(rng, 5000, CODE_SETS.get(codes)), None, "t")
    model.set_parameters({"mu": 1.3, "alpha_jes": 0.4, "alpha_eff": -1.7})
    f.nll.setNumThreads(1)
    one = f.getVal()
    path = tmp_path / "events.roonsbi"
    f.store.write(str(path))
    mapped = fast_nll(model, store=open_store(path), threads=2)
    assert mapped.store.isMapped()
    assert mapped.getVal() == pytest.approx(one, rel=1e-12)


def test_fast_fit_matches_roofit_fit(rng: np.random.Generator) -> None:
    model, _, ref = _float32_model(_processes(rng, 3000), None, "fit")
    fast = fit(model, fast=True)
    slow = fit(ref)
    assert fast.status == 0 and slow.status == 0
    for name in slow.values:
        assert fast.values[name] == pytest.approx(slow.values[name], abs=2e-3 * slow.errors[name])
        assert fast.errors[name] == pytest.approx(slow.errors[name], rel=1e-2)


def test_missing_columns_are_named(rng: np.random.Generator) -> None:
    n = 50
    # a code-4 term needs the values, not the logarithms
    procs4 = [Process("B", 100.0, np.ones(n), "1", shapesys={"jes": ShapeSys(np.full(n, 0.9), np.full(n, 1.1), 4)})]
    model4 = build_model(procs4, name="bad4", form="columns")
    logs_only = make_store({"r_B": np.ones(n)}, {"g_B_jes_lo": np.full(n, 0.9), "g_B_jes_hi": np.full(n, 1.1)})
    with pytest.raises(ValueError, match="no column 'g_B_jes_lo'"):
        fast_nll(model4, store=logs_only)
    ok = build_model([Process("B", 100.0, np.ones(n), "1")], name="ok", form="columns")
    with pytest.raises(ValueError, match="r_B"):
        fast_nll(ok, store=make_store({"r_X": np.ones(n)}))


def test_kernels_match_root() -> None:
    """vexp equals std::exp and poly6Exp equals ROOT's code 5 (value) and its derivative."""
    ROOT.gInterpreter.Declare('#include "RooNSBI/MathFuncs.h"')
    for x in (-700.0, -3.3, -0.2, 0.0, 1e-9, 0.34, 2.0, 80.0, 700.0):
        assert ROOT.RooNSBI.MathFuncs.vexp(x) == pytest.approx(math.exp(x), rel=3e-16)
    value, deriv = ctypes.c_double(0.0), ctypes.c_double(0.0)
    for lo, hi in ((0.8, 1.3), (1.1, 0.95), (0.5, 2.0)):
        for a in np.linspace(-0.99, 0.99, 23):
            ROOT.RooNSBI.MathFuncs.poly6Exp(a, hi, lo, math.log(hi), math.log(lo), value, deriv)
            root = 1.0 + MF.flexibleInterpSingle(5, lo, hi, 1.0, 1.0, a, 1.0)
            assert value.value == pytest.approx(root, rel=1e-14)
            h = 1e-6
            fd = (MF.flexibleInterpSingle(5, lo, hi, 1.0, 1.0, a + h, 1.0)
                  - MF.flexibleInterpSingle(5, lo, hi, 1.0, 1.0, a - h, 1.0)) / (2 * h)
            assert deriv.value == pytest.approx(fd, rel=1e-8, abs=1e-9)


@pytest.mark.parametrize("code", [0, 2, 4, 6])
def test_additive_weights_match_root(code: int) -> None:
    """additiveDelta (alpha-only weights) equals ROOT's flexibleInterpSingle for the additive
    codes and code 6 (whose delta at a running factor of 1 is code 4's) inside and outside
    |alpha| < 1, and its derivative the finite difference of ROOT's."""
    ROOT.gInterpreter.Declare('#include "RooNSBI/MathFuncs.h"')
    value, deriv = ctypes.c_double(0.0), ctypes.c_double(0.0)
    alphas = np.concatenate([np.linspace(-3.0, 3.0, 61), [-1.0, 1.0, 1 - 1e-12, -1 + 1e-12, 0.0]])
    for lo, hi in ((0.8, 1.3), (1.1, 0.95), (0.5, 2.0), (1.0, 1.2)):
        for a in alphas:
            ROOT.RooNSBI.MathFuncs.additiveDelta(code, a, hi, lo, value, deriv)
            root = MF.flexibleInterpSingle(code, lo, hi, 1.0, 1.0, a, 1.0)
            assert value.value == pytest.approx(root, rel=1e-13, abs=1e-15), (code, lo, hi, a)
            if min(abs(a - k) for k in (-1.0, 0.0, 1.0)) < 1e-3:
                continue  # kinks of codes 0 and 2
            h = 1e-6
            fd = (MF.flexibleInterpSingle(code, lo, hi, 1.0, 1.0, a + h, 1.0)
                  - MF.flexibleInterpSingle(code, lo, hi, 1.0, 1.0, a - h, 1.0)) / (2 * h)
            assert deriv.value == pytest.approx(fd, rel=1e-7, abs=1e-9), (code, lo, hi, a)


def test_mixed_chain_matches_piecewise_interpolation() -> None:
    """One event, one process, a chain of codes 4, 5, 6, 4, 1, 0, 6, 2: the fast NLL equals
    nu - log(N g) + sum_k (alpha_k^2 + log 2 pi)/2 with g from ROOT's PiecewiseInterpolation
    (its own accumulation of additive and multiplicative terms) on the float32-rounded columns."""
    lo = [0.9, 0.8, 0.88, 1.05, 0.7, 0.93, 1.06, 0.85]
    hi = [1.2, 1.1, 1.15, 0.97, 1.25, 1.04, 0.9, 1.3]
    codes = [4, 5, 6, 4, 1, 0, 6, 2]
    names = [f"s{k}" for k in range(len(codes))]
    procs = [Process("B", 100.0, np.ones(1), "1",
                     shapesys={nm: ShapeSys(np.full(1, lo[k]), np.full(1, hi[k]), codes[k])
                               for k, nm in enumerate(names)})]
    model = build_model(procs, name="chain", form="columns")
    f = fast_nll(model)
    cols = dequantized_columns(f.store)
    alphas = [ROOT.RooRealVar(f"pi_a{k}", "", 0.0, -5, 5) for k in range(len(codes))]
    los = [ROOT.RooConstVar(f"pi_lo{k}", "", float(cols[f"g_B_{nm}_lo"][0])) for k, nm in enumerate(names)]
    his = [ROOT.RooConstVar(f"pi_hi{k}", "", float(cols[f"g_B_{nm}_hi"][0])) for k, nm in enumerate(names)]
    one = ROOT.RooConstVar("pi_one", "", 1.0)
    pi = ROOT.PiecewiseInterpolation("pi", "", one, ROOT.RooArgList(*los), ROOT.RooArgList(*his),
                                     ROOT.RooArgList(*alphas))
    for a, c in zip(alphas, codes):
        pi.setInterpCode(a, c)
    rng = np.random.default_rng(3)
    for width in (1.0, 1.0, 1.0, 2.0, 2.0, 2.0):
        vals = rng.uniform(-width, width, len(codes))
        for a, v in zip(alphas, vals):
            a.setVal(v)
        model.set_parameters({f"alpha_{nm}": v for nm, v in zip(names, vals)})
        expected = 100.0 - math.log(100.0 * pi.getVal()) + float(np.sum(vals**2 + math.log(2 * math.pi)) / 2)
        assert f.getVal() == pytest.approx(expected, rel=1e-12)


def test_store_form_model_on_a_given_store(rng: np.random.Generator) -> None:
    """A store-form model (its pdf names its columns; its RooArgLists are empty) checks and reads a store
    given to fast_nll as the column-form model of the same processes does."""
    n = 200
    lo, hi = rng.uniform(0.8, 0.95, n), rng.uniform(1.05, 1.2, n)
    procs = [Process("B", 100.0, np.ones(n), "1", shapesys={"jes": ShapeSys(lo, hi, 5)})]
    store = make_store({"r_B": np.ones(n)}, {"g_B_jes_lo": lo, "g_B_jes_hi": hi})
    store_form, columns = build_model(procs, name="given_sf"), build_model(procs, name="given_cf", form="columns")
    assert store_form.pdf.usesStore() and not columns.pdf.usesStore()
    for model in (store_form, columns):
        model.set_parameters({"alpha_jes": 0.7})
    assert fast_nll(store_form, store=store).getVal() == pytest.approx(fast_nll(columns, store=store).getVal(),
                                                                      rel=1e-12)
