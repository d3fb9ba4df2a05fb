"""Conditional fits seeded with the Hessian of the global fit (``Fitter.fit(seed_hessian=True)``,
``RooNSBINLL::setSeedHessian``): the same mu-hat-hat as unseeded fits and as RooFit's own minimisation
of the standard createNLL, the same impacts and scan, and the fallback where the seed is not acceptable."""

from __future__ import annotations

import numpy as np
import pytest
import ROOT

from roonsbi.infer.fit import Fitter
from roonsbi.infer.impacts import impacts
from roonsbi.infer.scan import profile_scan
from roonsbi.models.unbinned import build_model
from roonsbi.spec import NormSys, Process, ShapeSys

TOLERANCE = 1e-7  # EDM < 1e-10: minima within ~1e-5 errors of the true one


def _model(name: str, n: int = 800, seed: int = 3):
    """Weighted events of S (coefficient mu) and B (2 - sqrt(mu)), the expected data at mu = 1 with
    Poisson-like noise; shape codes 5 and 4, a normsys on S: parameters mu, n, a, b."""
    rng = np.random.default_rng(seed)
    r_s, r_b = rng.uniform(0.1, 1.9, n), rng.uniform(0.5, 1.5, n)  # E_ref[r] = 1
    nu_s, nu_b = 40.0, 300.0

    def shape(code: int) -> ShapeSys:
        z = rng.standard_normal(n)
        return ShapeSys(np.exp(-0.05 * z), np.exp(0.05 * z), code)

    procs = [Process("S", nu_s, r_s, "mu", normsys={"n": NormSys(0.92, 1.1)}, shapesys={"a": shape(5), "b": shape(4)}),
             Process("B", nu_b, r_b, "2 - sqrt(mu)", shapesys={"a": shape(5), "b": shape(4)})]
    weights = (nu_s * r_s + nu_b * r_b) / n * rng.gamma(20.0, 1 / 20.0, n)
    return build_model(procs, weights=weights, name=name, form="columns", pois={"mu": (1.0, 0.0, 4.0)})


def _roofit_mu(model, fixed: dict[str, float], start: dict[str, float]) -> float:
    """mu-hat-hat from RooFit's standard createNLL minimised by RooMinimizer (Minuit2, numerical
    derivatives, strategy 2, offset): the independent reference."""
    nll = model.create_nll()
    model.set_parameters(start)
    for name, value in fixed.items():
        model.parameter(name).setVal(value)
        model.parameter(name).setConstant(True)
    try:
        minimizer = ROOT.RooMinimizer(nll)
        minimizer.setPrintLevel(-1)
        minimizer.setStrategy(2)
        minimizer.setOffsetting(True)
        minimizer.setEps(1e-6)
        assert minimizer.minimize("Minuit2", "Migrad") == 0
        return float(model.parameter("mu").getVal())
    finally:
        for name in fixed:
            model.parameter(name).setConstant(False)


def test_seeded_equals_unseeded_and_roofit() -> None:
    model = _model("seedfit")
    fitter = Fitter(model, fast=True, tolerance=TOLERANCE)
    assert fitter.seed_hessian is None
    best = fitter.fit(hesse=True)
    assert best.status == 0 and fitter.seed_hessian is not None
    # the kept Hessian is HESSE's: its inverse is Minuit's covariance (all parameters float here)
    order = [p.GetName() for p in fitter.nll.gradientParameters()]
    names = [p.GetName() for p in best.roofit_result.floatParsFinal()]
    index = [order.index(n) for n in names]
    hess = fitter.seed_hessian.reshape(len(order), len(order))[np.ix_(index, index)]
    cov = np.array([[best.roofit_result.covarianceMatrix()(i, j) for j in range(len(names))]
                    for i in range(len(names))])
    assert np.allclose(np.linalg.inv(hess), cov, rtol=2e-3, atol=1e-6 * np.max(np.abs(cov)))
    err = best.errors["mu"]
    for fixed in ({"mu": 1.7}, {"alpha_a": best.values["alpha_a"] + best.errors["alpha_a"]},
                  {"alpha_n": best.values["alpha_n"] - best.errors["alpha_n"]}):
        model.set_parameters(best.values)
        hessians = fitter.nll.numHessianPasses()
        plain = fitter.fit(fixed, hesse=False)
        plain_hessians = fitter.nll.numHessianPasses() - hessians
        assert not fitter.seeded and plain.status == 0
        model.set_parameters(best.values)
        hessians = fitter.nll.numHessianPasses()
        seeded = fitter.fit(fixed, hesse=False, seed_hessian=True)
        assert fitter.seeded and seeded.status == 0, fixed
        assert fitter.nll.numHessianPasses() - hessians < plain_hessians  # the seed replaces the start's pass
        assert not fitter.nll.hasSeedHessian()
        reference = _roofit_mu(model, fixed, best.values)
        for name in ("mu", *fixed):
            assert seeded.values[name] == pytest.approx(plain.values[name], abs=1e-4 * best.errors[name]), name
        if "mu" not in fixed:
            assert seeded.values["mu"] == pytest.approx(reference, abs=1e-4 * err), fixed
            assert plain.values["mu"] == pytest.approx(reference, abs=1e-4 * err), fixed
        assert seeded.min_nll == pytest.approx(plain.min_nll, abs=1e-8)


def test_impacts_and_scan_with_and_without_seed() -> None:
    model = _model("seedimp")
    start = model.parameters()
    seeded = impacts(model, "mu", fitter=Fitter(model, fast=True, tolerance=TOLERANCE), progress=False)
    model.set_parameters(start)
    plain = impacts(model, "mu", fitter=Fitter(model, fast=True, tolerance=TOLERANCE), progress=False,
                    seed_hessian=False)
    err = plain.best.errors["mu"]
    assert [i.name for i in seeded.impacts] == [i.name for i in plain.impacts]
    for a, b in zip(seeded.impacts, plain.impacts):
        for field in ("postfit_up", "postfit_down", "prefit_up", "prefit_down"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), abs=1e-4 * err), (a.name, field)
    model.set_parameters(start)
    values = [0.4, 1.0, 1.6, 2.2]
    scan_seeded = profile_scan(model, "mu", values, fitter=Fitter(model, fast=True, tolerance=TOLERANCE),
                               seed_hessian=True)
    model.set_parameters(start)
    scan_plain = profile_scan(model, "mu", values, fitter=Fitter(model, fast=True, tolerance=TOLERANCE))
    assert np.allclose(scan_seeded.nll, scan_plain.nll, rtol=0, atol=1e-8)


def test_fallback_where_the_seed_is_not_acceptable() -> None:
    model = _model("seedfb")
    fitter = Fitter(model, fast=True, tolerance=TOLERANCE)
    best = fitter.fit(hesse=True)
    model.set_parameters(best.values)
    reference = fitter.fit({"mu": 1.7}, hesse=False)
    n = len(fitter.nll.gradientParameters())
    order = [p.GetName() for p in fitter.nll.gradientParameters()]
    indefinite = np.eye(n)
    indefinite[0, 1] = indefinite[1, 0] = 2.0  # eigenvalues -1 and 3
    huge = 1e6 * np.eye(n)  # positive definite but far off: MIGRAD must still find the minimum
    # the Hessian of a fit with "n" constant (its row and column 0): singular once "n" floats
    fitter.fit({"alpha_n": best.values["alpha_n"]}, hesse=True)
    singular = fitter.seed_hessian
    assert singular is not None and np.all(singular.reshape(n, n)[order.index("alpha_n")] == 0)
    for matrix, used in ((singular, False), (indefinite.ravel(), False), (huge.ravel(), True)):
        fitter.seed_hessian = matrix
        model.set_parameters(best.values)
        res = fitter.fit({"mu": 1.7}, hesse=False, seed_hessian=True)
        assert fitter.seeded is used
        assert res.status == 0
        for name in ("alpha_n", "alpha_a", "alpha_b"):
            assert res.values[name] == pytest.approx(reference.values[name], abs=1e-4 * best.errors[name]), name
    # the singular seed does for a fit with "n" fixed again (its rows and columns are dropped)
    fitter.seed_hessian = singular
    model.set_parameters(best.values)
    fitter.fit({"alpha_n": best.values["alpha_n"], "mu": 1.7}, hesse=False, seed_hessian=True)
    assert fitter.seeded


def test_set_seed_hessian_in_cpp() -> None:
    """One use, the rows and columns of constant parameters 0, no pass; a matrix of another size is refused."""
    model = _model("seedcpp", n=300)
    fitter = Fitter(model, fast=True)
    nll = fitter.nll
    order = [p.GetName() for p in nll.gradientParameters()]
    n = len(order)
    assert nll.numParameters() == n
    exact = np.zeros(n * n)
    nll.hessian(exact)  # every parameter of the model floats here
    seed = np.arange(1.0, n * n + 1.0)
    model.parameter("alpha_a").setConstant(True)
    try:
        passes = nll.numPasses()
        nll.setSeedHessian(seed)
        assert nll.hasSeedHessian()
        out = np.zeros(n * n)
        nll.hessian(out)
        assert nll.numPasses() == passes and not nll.hasSeedHessian()
        floating = np.array([not p.isConstant() for p in nll.gradientParameters()])
        assert not floating[order.index("alpha_a")] and floating.sum() == 3  # mu, alpha_b, alpha_n
        keep = np.outer(floating, floating)
        assert np.array_equal(out.reshape(n, n), np.where(keep, seed.reshape(n, n), 0.0))
        nll.hessian(out)  # the next call is the exact Hessian (a pass: "alpha_a" is constant now)
        assert nll.numHessianPasses() > 0
        assert np.allclose(out.reshape(n, n), np.where(keep, exact.reshape(n, n), 0.0), rtol=1e-10, atol=0)
        nll.setSeedHessian(seed)
        nll.clearSeedHessian()
        assert not nll.hasSeedHessian()
    finally:
        model.parameter("alpha_a").setConstant(False)
    with pytest.raises(Exception, match=f"expected {n}\\^2"):
        nll.setSeedHessian(np.zeros(n))
