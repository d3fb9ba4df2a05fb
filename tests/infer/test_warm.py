"""Warm starts of conditional fits (roonsbi.infer.warm).

References: for a quadratic form the linear response is the exact conditional minimum, found here
by scipy's minimiser; on a small NSBI model the start from the best fit's covariance is checked to
be much closer to the conditional minimum (Minuit's conditional fit) than the best fit itself, and
the conditional fit from it to reach the same minimum.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from roonsbi.infer.fit import Fitter
from roonsbi.infer.warm import conditional_start, covariance_of, linear_response
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import build_model


@pytest.mark.parametrize("fixed_names", [("c",), ("a", "d")])
def test_linear_response_is_the_minimum_of_the_quadratic_form(fixed_names):
    rng = np.random.default_rng(3)
    names = ["a", "b", "c", "d"]
    root = rng.normal(size=(4, 4))
    cov = root @ root.T + 0.5 * np.eye(4)
    centre = rng.normal(size=4)
    start = {n: float(v) for n, v in zip(names, centre + rng.normal(size=4))}  # not the minimum itself
    fixed = {n: float(rng.normal()) for n in fixed_names}
    inv = np.linalg.inv(cov)
    free = [i for i, n in enumerate(names) if n not in fixed]

    def quadratic(u):
        x = np.array([fixed.get(n, 0.0) for n in names])
        x[free] = u
        return 0.5 * (x - centre) @ inv @ (x - centre)

    # from the minimum itself (the linear response of an impact) and from another point (a scan's step)
    for origin in ({n: float(v) for n, v in zip(names, centre)}, start):
        got = linear_response(origin, cov, names, fixed)
        assert all(got[n] == fixed[n] for n in fixed)
        if origin is start:
            continue  # from a point off the minimum the step is the tangent, not the minimum
        ref = scipy.optimize.minimize(quadratic, np.zeros(len(free)), method="BFGS", options={"gtol": 1e-12}).x
        np.testing.assert_allclose([got[names[i]] for i in free], ref, atol=1e-7)
    # a scan's step: from the minimum at fixed = v1 to fixed = v2 equals the response from the centre at v2
    v1 = {n: v + 0.3 for n, v in fixed.items()}
    at_v1 = linear_response({n: float(v) for n, v in zip(names, centre)}, cov, names, v1)
    stepped = linear_response(at_v1, cov, names, fixed)
    direct = linear_response({n: float(v) for n, v in zip(names, centre)}, cov, names, fixed)
    np.testing.assert_allclose([stepped[n] for n in names], [direct[n] for n in names], atol=1e-12)


def test_linear_response_without_a_covariance_row_is_the_plain_start():
    cov = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert linear_response({"a": 1.0, "b": 2.0, "c": 0.0}, cov, ["a", "b"], {"c": 3.0}) == \
        {"a": 1.0, "b": 2.0, "c": 3.0}


def test_conditional_start_on_an_nsbi_fit():
    toy = OffShellToy(eff_slope=0.2, lumi_kappa=1.05)
    x = toy.generate(1.0, np.random.default_rng(5))
    model = build_model(toy.processes(x, systematics=True), name="warm")
    fitter = Fitter(model)
    best = fitter.fit(hesse=True)
    cov = covariance_of(best)
    assert cov is not None and set(cov[1]) == set(best.values)
    for shift in (+1.0, -1.0):
        fixed = {"alpha_eff": best.values["alpha_eff"] + shift * best.errors["alpha_eff"]}
        start = conditional_start(model, best, fixed, covariance=cov)
        model.set_parameters(best.values)
        cold = fitter.fit(fixed, hesse=False)
        model.set_parameters(start)
        warm = fitter.fit(fixed, hesse=False)
        assert abs(warm.min_nll - cold.min_nll) < 1e-6
        for name in ("mu", "alpha_lumi"):
            moved = abs(best.values[name] - cold.values[name])
            assert moved > 1e-3 * best.errors[name]  # the fixed parameter pulls it
            assert abs(start[name] - cold.values[name]) < 0.2 * moved
            assert abs(warm.values[name] - cold.values[name]) < 1e-3 * best.errors[name]
