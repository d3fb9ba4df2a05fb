"""The Newton start of ``fit(fast=True, method="newton")`` (damped Newton on the exact Hessian, then
MIGRAD + HESSE) against MIGRAD + HESSE (seeded with the exact Hessian: the default) on the same NLL,
and the Newton iterations against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from roonsbi.infer.fit import Fitter
from roonsbi.infer.newton import newton_steps
from roonsbi.models.unbinned import build_model
from roonsbi.spec import NormSys, Process, ShapeSys


def _model(name: str, mu_data: float, n: int = 800, seed: int = 2, codes: tuple[int, int] = (5, 4)):
    """Weighted events of S (coefficient mu) and B (2 - sqrt(mu)) whose weights are the expected
    data at mu = ``mu_data``, shifted by Poisson-like noise; shape codes ``codes``, a normsys on S."""
    rng = np.random.default_rng(seed)
    r_s, r_b = rng.uniform(0.1, 1.9, n), rng.uniform(0.5, 1.5, n)  # E_ref[r] = 1
    nu_s, nu_b = 40.0, 300.0

    def shape(k: int) -> ShapeSys:
        z = rng.standard_normal(n)
        return ShapeSys(np.exp(-0.04 * z), np.exp(0.04 * z), codes[k % 2])

    procs = [Process("S", nu_s, r_s, "mu", normsys={"n": NormSys(0.92, 1.1)}, shapesys={"a": shape(0), "b": shape(1)}),
             Process("B", nu_b, r_b, "2 - sqrt(mu)", shapesys={"a": shape(2), "b": shape(3)})]
    expected = (mu_data * nu_s * r_s + (2 - np.sqrt(mu_data)) * nu_b * r_b) / n
    weights = expected * rng.gamma(20.0, 1 / 20.0, n)
    return build_model(procs, weights=weights, name=name, form="columns", pois={"mu": (1.0, 0.0, 4.0)})


@pytest.mark.parametrize("mu_data", [1.0, 0.04])
def test_newton_equals_migrad(mu_data: float) -> None:
    """mu-hat = 0.04 puts mu near its lower limit 0 (a fraction of its error away)."""
    model = _model(f"nw{int(mu_data * 100)}", mu_data)
    start = model.parameters()
    # tolerance 1e-7 (EDM < 1e-10): both minima within ~1e-5 errors of the true one
    newton = Fitter(model, fast=True, tolerance=1e-7, method="newton")
    assert newton.method == "newton"
    a = newton.fit()
    assert newton.newton is not None and newton.newton.converged
    model.set_parameters(start)
    migrad = Fitter(model, fast=True, tolerance=1e-7)  # the default: MIGRAD seeded with the exact Hessian
    assert migrad.method == "migrad" and migrad.newton is None
    b = migrad.fit()
    assert a.status == 0 and b.status == 0
    assert a.edm < 1e-10 and b.edm < 1e-10
    for name in b.values:
        assert a.values[name] == pytest.approx(b.values[name], abs=1e-4 * b.errors[name]), name
        assert a.errors[name] == pytest.approx(b.errors[name], rel=1e-3), name
    if mu_data < 0.1:
        assert 0 < a.values["mu"] < 2 * a.errors["mu"]  # within two errors of its limit


def test_conditional_fits_and_fallback() -> None:
    """A conditional fit (mu fixed) by Newton equals MIGRAD's; method="newton" without a Hessian is refused."""
    model = _model("nwc", 1.0)
    start = model.parameters()
    a = Fitter(model, fast=True, method="newton").fit({"mu": 1.7}, hesse=False)
    model.set_parameters(start)
    b = Fitter(model, fast=True, method="migrad").fit({"mu": 1.7}, hesse=False)
    assert a.min_nll == pytest.approx(b.min_nll, abs=1e-7)
    with pytest.raises(ValueError, match="needs an NLL with an exact Hessian"):
        Fitter(model, method="newton")
    with pytest.raises(ValueError, match="method must be one of"):
        Fitter(model, fast=True, method="bfgs")


def test_newton_steps_against_scipy() -> None:
    """A smooth non-quadratic function with a bound active at the minimum: the projected Newton
    iterations end where scipy's L-BFGS-B does."""
    c = np.array([1.0, -2.0, 0.5])

    def f(x: np.ndarray):
        e = np.exp(x)
        value = float(np.sum(e - c * x) + 0.5 * np.sum(np.diff(x) ** 2))
        d = np.diff(x)
        grad = e - c
        grad[:-1] -= d
        grad[1:] += d
        hess = np.diag(e) + np.diag(np.r_[1.0, 2.0 * np.ones(len(x) - 2), 1.0]) - np.eye(len(x), k=1) \
            - np.eye(len(x), k=-1)
        return value, grad, hess

    lower, upper = np.full(3, -1.0), np.full(3, 3.0)
    res = newton_steps(f, np.array([2.0, 2.0, 2.0]), lower, upper, edm_target=1e-14)
    ref = scipy.optimize.minimize(lambda x: f(x)[0], np.full(3, 2.0), jac=lambda x: f(x)[1], method="L-BFGS-B",
                                  bounds=list(zip(lower, upper)), options={"ftol": 1e-15, "gtol": 1e-12})
    assert res.converged
    assert res.x[1] == -1.0  # held at its lower limit
    assert np.allclose(res.x, ref.x, atol=1e-6)
