"""The fast likelihood (RooNSBINLL on a float32 EventStore) against RooFit's NLL of RooNSBIPdf."""

from __future__ import annotations

import ctypes
import math
from pathlib import Path

import numpy as np
import pytest
import ROOT

from roonsbi.fast import dequantized_columns, fast_nll, make_store, open_store
from roonsbi.inference import fit
from roonsbi.model import Process, ShapeSys, build_model
from roonsbi.toy import OffShellToy

MF = ROOT.RooFit.Detail.MathFuncs
NPS = ("jes", "eff", "pdf")  # with "lumi": the nuisance parameters of _processes


def _processes(rng: np.random.Generator, n: int) -> list[Process]:
    """Pseudo-data of the off-shell toy at mu = 1 (about 1.1 n events) with the toy's basis with its exact eff/lumi systematics (codes 4 and 5), plus random
    per-event shape systematics "jes"/"pdf" with E[g] = 1 and codes 1 or 5."""
    toy = OffShellToy(nu_s=0.1 * n, nu_b=n)  # about 1.1 n events
    procs = toy.processes(toy.generate(1.0, rng), systematics=True)
    for p in procs:
        for np_name in ("jes", "pdf"):
            z = rng.standard_normal(len(p.ratio))
            s = rng.uniform(0.01, 0.04)
            code = int(rng.choice([1, 5]))
            p.shapesys = {**p.shapesys, np_name: ShapeSys(np.exp(-s * z - s * s / 2), np.exp(s * z - s * s / 2), code)}
    return procs


def _float32_model(processes: list[Process], weights: np.ndarray | None, name: str):
    """The model on exactly the values the fast NLL sees (float32 ratios, float32 logs of shapes)."""
    model = build_model(processes, weights=weights, name=name)
    f = fast_nll(model)
    cols = dequantized_columns(f.store)
    ref_procs = [
        Process(p.name, p.nominal_yield, cols[f"r_{p.name}"], p.coefficient, p.normsys,
                {k: ShapeSys(cols[f"g_{p.name}_{k}_lo"], cols[f"g_{p.name}_{k}_hi"], v.code)
                 for k, v in p.shapesys.items()})
        for p in processes
    ]
    ref = build_model(ref_procs, weights=cols.get("weight"), name=name + "_ref")
    return model, f, ref


def _points(rng: np.random.Generator, k: int) -> list[dict[str, float]]:
    pts = [{"mu": 1.0, **{f"alpha_{n}": 0.0 for n in NPS + ("lumi",)}}]
    for _ in range(k):
        pts.append({"mu": rng.uniform(0.1, 3.0), **{f"alpha_{n}": rng.uniform(-2.5, 2.5) for n in NPS + ("lumi",)}})
    return pts


@pytest.mark.parametrize("weighted", [False, True])
def test_value_equals_roofit_nll(rng: np.random.Generator, weighted: bool) -> None:
    procs = _processes(rng, 1500)
    w = rng.uniform(0.05, 0.3, len(procs[0].ratio)) if weighted else None
    model, f, ref = _float32_model(procs, w, "v")
    for values in _points(rng, 20):
        model.set_parameters(values)
        assert f.getVal() == pytest.approx(ref.nll(values), rel=1e-10)


def test_gradient_equals_finite_differences(rng: np.random.Generator) -> None:
    model, f, ref = _float32_model(_processes(rng, 800), None, "g")
    for values in _points(rng, 6)[1:]:  # not alpha = 0, where code 1 has a kink
        model.set_parameters(values)
        grad = f.gradient()
        for name, x in values.items():
            h = 1e-5
            up, dn = dict(values, **{name: x + h}), dict(values, **{name: x - h})
            fd = (ref.nll(up) - ref.nll(dn)) / (2 * h)
            assert grad[name] == pytest.approx(fd, rel=2e-6, abs=2e-5), (name, values)


def test_cache_after_many_parameter_changes(rng: np.random.Generator) -> None:
    """The value/gradient cache follows every parameter change: compare with a fresh NLL each time,
    and a gradient at the point whose value was just computed costs no extra pass."""
    model, f, _ = _float32_model(_processes(rng, 700), None, "c")
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


def test_threads_and_mapped_store_give_the_same_value(rng: np.random.Generator, tmp_path: Path) -> None:
    model, f, _ = _float32_model(_processes(rng, 5000), None, "t")
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


def test_unsupported_codes_and_missing_columns_are_named(rng: np.random.Generator) -> None:
    n = 50
    procs = [Process("B", 100.0, np.ones(n), "1", shapesys={"jes": ShapeSys(np.full(n, 0.9), np.full(n, 1.1), 0)})]
    model = build_model(procs, name="bad")
    with pytest.raises(ValueError, match="code 0"):
        fast_nll(model)
    ok = build_model([Process("B", 100.0, np.ones(n), "1")], name="ok")
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
