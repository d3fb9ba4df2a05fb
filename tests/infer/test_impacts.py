r"""Pulls, impacts and 2-D profile scans against a direct scipy minimisation of the independent
numpy NLL (``tests/reference.py``) of the same NSBI model (off-shell toy with an efficiency
shape+normalisation systematic and a luminosity normalisation systematic).

Reference: the free fit and every conditional fit are done with scipy on
:func:`reference.nll` (plus a shifted global observable of the lumi constraint); the post-fit
errors come from the inverse of a finite-difference Hessian of that NLL. The package's numbers
come from Minuit2 on RooFit's NLL.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

import reference as ref
from roonsbi.infer.fit import Fitter, fit
from roonsbi.infer.impacts import gaussian_constraints_of, impacts
from roonsbi.infer.scan import profile_scan_2d
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import build_model

NOM_LUMI = 0.3  # global observable of the lumi constraint (observed value, not 0)
COEF = {"SBI": lambda p: np.sqrt(p["mu"]), "S": lambda p: p["mu"] - np.sqrt(p["mu"]),
        "B": lambda p: 1 - np.sqrt(p["mu"])}
NAMES = ("mu", "alpha_eff", "alpha_lumi")


@pytest.fixture(scope="module")
def setup():
    toy = OffShellToy(eff_slope=0.2, lumi_kappa=1.05)
    x = toy.generate(1.0, np.random.default_rng(11))
    procs = toy.processes(x, systematics=True)
    model = build_model(procs, name="imp")
    model.parameter("nom_alpha_lumi").setVal(NOM_LUMI)
    refs = [ref.RefProcess(p.nominal_yield, np.asarray(p.ratio), COEF[p.name],
                           {k: (s.lo, s.hi, s.code) for k, s in p.normsys.items()},
                           {k: (np.asarray(s.lo), np.asarray(s.hi), s.code) for k, s in p.shapesys.items()})
            for p in procs]

    def nll(v: np.ndarray) -> float:
        mu, a_eff, a_lumi = v
        base = ref.nll(refs, {"mu": mu}, {"eff": a_eff, "lumi": a_lumi})
        return base + 0.5 * ((a_lumi - NOM_LUMI) ** 2 - a_lumi**2)  # constraint centred at NOM_LUMI

    return model, nll


def _minimise(nll, fixed: dict[int, float], start: np.ndarray) -> tuple[np.ndarray, float]:
    free = [i for i in range(3) if i not in fixed]

    def f(u: np.ndarray) -> float:
        v = np.array(start, dtype=float)
        v[free] = u
        for i, val in fixed.items():
            v[i] = val
        return nll(v)

    bounds = [((0.0, 10.0), (-5.0, 5.0), (-5.0, 5.0))[i] for i in free]  # the model's ranges
    res = scipy.optimize.minimize(f, np.asarray(start)[free], method="Nelder-Mead", bounds=bounds,
                                  options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000})
    v = np.array(start, dtype=float)
    v[free] = res.x
    for i, val in fixed.items():
        v[i] = val
    return v, float(res.fun)


def _hessian(f, v: np.ndarray, h: float = 1e-4) -> np.ndarray:
    n = len(v)
    hess = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            hess[i, j] = (f(v + e_i + e_j) - f(v + e_i - e_j) - f(v - e_i + e_j) + f(v - e_i - e_j)) / (4 * h * h)
    return hess


def test_pulls_and_impacts_match_scipy(setup) -> None:
    model, nll = setup
    assert gaussian_constraints_of(model) == {"alpha_eff": (0.0, 1.0), "alpha_lumi": (NOM_LUMI, 1.0)}
    result = impacts(model, fitter=Fitter(model, tolerance=1e-6))

    best, _ = _minimise(nll, {}, np.array([1.0, 0.0, 0.0]))
    errors = np.sqrt(np.diag(np.linalg.inv(_hessian(nll, best))))
    for k, name in enumerate(NAMES):
        assert result.best.values[name] == pytest.approx(best[k], abs=2e-4), name
        # Minuit2's HESSE (numerical second derivatives in its internal, bounded coordinates) is
        # within 1% of the finite-difference Hessian of the same NLL here
        assert result.best.errors[name] == pytest.approx(errors[k], rel=1e-2), name
    pulls = {p.name: p for p in result.pulls}
    assert pulls["alpha_lumi"].pull == pytest.approx(best[2] - NOM_LUMI, abs=2e-4)
    assert pulls["alpha_eff"].pull == pytest.approx(best[1], abs=2e-4)
    assert pulls["alpha_eff"].pull_error == pytest.approx(errors[1], rel=5e-3)

    expected = {}
    for k, name in ((1, "alpha_eff"), (2, "alpha_lumi")):
        shifts = []
        err = result.best.errors[name]  # the definition: fixed at the post-fit value +- the post-fit error
        for value in (best[k] + err, best[k] - err, best[k] + 1.0, best[k] - 1.0):
            v, _ = _minimise(nll, {k: value}, best)
            shifts.append(v[0] - best[0])
        expected[name] = shifts
    by_name = {i.name: i for i in result.impacts}
    for name, (up, down, pre_up, pre_down) in expected.items():
        got = by_name[name]
        assert got.postfit_up == pytest.approx(up, abs=5e-4), name
        assert got.postfit_down == pytest.approx(down, abs=5e-4), name
        assert got.prefit_up == pytest.approx(pre_up, abs=5e-4), name
        assert got.prefit_down == pytest.approx(pre_down, abs=5e-4), name
        assert np.sign(got.postfit_up) != np.sign(got.postfit_down)
    ranked = sorted(expected, key=lambda n: max(abs(expected[n][0]), abs(expected[n][1])), reverse=True)
    assert [i.name for i in result.impacts] == ranked
    # the fit left the model's parameters where they were
    assert model.parameter("mu").getVal() == 1.0 and model.parameter("alpha_eff").getVal() == 0.0


def test_profile_scan_2d_matches_scipy_profile(setup) -> None:
    model, nll = setup
    free = fit(model)
    model.set_parameters({"mu": 1.0, "alpha_eff": 0.0, "alpha_lumi": 0.0})
    mu_hat, lumi_hat = free.values["mu"], free.values["alpha_lumi"]
    xs = mu_hat + np.array([-0.3, 0.0, 0.4])
    ys = lumi_hat + np.array([-1.0, 0.0, 0.7, 1.5])
    scan = profile_scan_2d(model, ("mu", "alpha_lumi"), xs, ys, fitter=Fitter(model, tolerance=1e-6))
    # the grid point at the free fit has t = 0 and is the grid minimum
    assert scan.t[1, 1] == pytest.approx(0.0, abs=1e-5)
    assert scan.grid_minimum()[:2] == (pytest.approx(mu_hat), pytest.approx(lumi_hat))
    assert np.all(scan.t > -1e-6)
    # contour levels: chi2 quantiles with 2 degrees of freedom, -2 log(1 - CL) (and scipy)
    for cl, level in scan.levels().items():
        assert level == pytest.approx(-2 * np.log(1 - cl), rel=1e-9)
        assert level == pytest.approx(scipy.stats.chi2.ppf(cl, 2), rel=1e-9)
    # t elsewhere: the scipy profile over alpha_eff of the reference NLL
    best, nll_min = _minimise(nll, {}, np.array([1.0, 0.0, 0.0]))
    for i, mu in enumerate(xs):
        for j, lumi in enumerate(ys):
            _, m = _minimise(nll, {0: mu, 2: lumi}, best)
            assert scan.t[i, j] == pytest.approx(2 * (m - nll_min), abs=2e-4), (mu, lumi)


def test_profile_scan_2d_errors(setup) -> None:
    model, _ = setup
    with pytest.raises(ValueError, match="two different"):
        profile_scan_2d(model, ("mu", "mu"), [1.0], [1.0])
    with pytest.raises(ValueError, match="nom_alpha_eff"):
        profile_scan_2d(model, ("mu", "nom_alpha_eff"), [1.0], [0.0])
    with pytest.raises(ValueError, match="inside its range"):
        profile_scan_2d(model, ("mu", "alpha_eff"), [-1.0, 1.0], [0.0])


def test_impacts_errors(setup) -> None:
    model, _ = setup
    model.parameter("alpha_eff").setRange(-0.1, 5.0)  # theta-hat - 1 is outside
    try:
        with pytest.raises(ValueError, match="alpha_eff.*outside its range"):
            impacts(model)
    finally:
        model.parameter("alpha_eff").setRange(-5.0, 5.0)
