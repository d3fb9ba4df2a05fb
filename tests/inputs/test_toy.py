r"""RooNSBIPdf against the exact likelihood of the analytic off-shell toy.

With the exact density ratios as "network outputs" the NSBI NLL must equal the exact
extended unbinned NLL up to the parameter-independent constant sum_i w_i log p_ref(x_i).
"""

from __future__ import annotations

import numpy as np
import pytest

from roonsbi.infer.fit import fit
from roonsbi.infer.scan import chi2_threshold, crossing_interval, profile_scan
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import build_model

LOG_2PI = np.log(2 * np.pi)


def test_toy_is_self_consistent(rng: np.random.Generator) -> None:
    """The toy's closed forms: basis decomposition and yields (checked by Monte Carlo)."""
    toy = OffShellToy()
    x = toy.sample_ref(400_000, rng)
    ref = toy.p_ref(x)
    for mu, a_eff, a_lumi in [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (2.3, 0.7, -1.2)]:
        lam = toy.intensity(x, mu, a_eff, a_lumi)
        assert np.all(lam >= 0)
        ratio = lam / ref
        mc, err = ratio.mean(), ratio.std() / np.sqrt(len(x))
        assert abs(mc - toy.expected(mu, a_eff, a_lumi)) < 5 * err
    # lambda = sqrt(mu) SBI + (mu - sqrt(mu)) S + (1 - sqrt(mu)) B
    mu = 1.7
    y, p = toy.basis_yields(), toy.basis_densities(x[:1000])
    f = {"SBI": np.sqrt(mu), "S": mu - np.sqrt(mu), "B": 1 - np.sqrt(mu)}
    basis = sum(f[k] * y[k] * p[k] for k in f)
    np.testing.assert_allclose(basis, toy.intensity(x[:1000], mu), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_nll_scan_equals_exact_likelihood(rng: np.random.Generator, weighted: bool) -> None:
    """NSBI NLL(mu) - exact NLL(mu) is the constant -sum_i w_i log p_ref(x_i), to 1e-8."""
    toy = OffShellToy()
    if weighted:
        x, w = toy.asimov(1.0, 5000, rng)
    else:
        x, w = toy.generate(1.0, rng), None
    model = build_model(toy.processes(x, systematics=False), weights=w, form="columns")
    const = -np.sum((np.ones(len(x)) if w is None else w) * np.log(toy.p_ref(x)))
    for mu in np.linspace(0.0, 4.0, 21):
        nsbi = model.nll({"mu": mu})
        exact = toy.exact_nll(x, w, mu) - const
        assert nsbi == pytest.approx(exact, abs=1e-8)


@pytest.mark.parametrize("alpha_eff, alpha_lumi", [(-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0),
                                                   (1.0, 1.0), (-1.0, 1.0)])
def test_systematics_exact_at_plus_minus_one_sigma(rng: np.random.Generator, alpha_eff: float,
                                                   alpha_lumi: float) -> None:
    """With the exact +-1 sigma columns and yield factors the NSBI model is exact at alpha = +-1."""
    toy = OffShellToy()
    x = toy.generate(1.0, rng)
    model = build_model(toy.processes(x, systematics=True), form="columns")
    const = -np.sum(np.log(toy.p_ref(x)))
    constraints = 0.5 * (alpha_eff**2 + alpha_lumi**2) + LOG_2PI  # two normalised N(0,1) terms
    for mu in (0.3, 1.0, 2.5):
        nsbi = model.nll({"mu": mu, "alpha_eff": alpha_eff, "alpha_lumi": alpha_lumi})
        exact = toy.exact_nll(x, None, mu, alpha_eff, alpha_lumi) - const + constraints
        assert nsbi == pytest.approx(exact, abs=1e-8)


def test_intervals_equal_exact_likelihood(rng: np.random.Generator) -> None:
    """Profile scans: t(mu) of NSBI equals the exact t(mu) (1e-6), so do the 68%/95% intervals."""
    toy = OffShellToy()
    x = toy.generate(1.0, rng)
    model = build_model(toy.processes(x, systematics=False), form="columns")
    grid = np.linspace(0.05, 3.0, 40)
    scan = profile_scan(model, "mu", grid)
    exact = np.array([toy.exact_nll(x, None, m) for m in grid])
    # the exact minimum, by golden-section search on the exact NLL
    lo, hi = 0.0, 4.0
    g = (np.sqrt(5) - 1) / 2
    for _ in range(100):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        if toy.exact_nll(x, None, a) < toy.exact_nll(x, None, b):
            hi = b
        else:
            lo = a
    mu_exact = 0.5 * (lo + hi)
    t_exact = 2 * (exact - toy.exact_nll(x, None, mu_exact))
    assert scan.best.values["mu"] == pytest.approx(mu_exact, abs=1e-4)
    np.testing.assert_allclose(scan.t, t_exact, atol=1e-6)
    for cl in (0.6827, 0.95):
        exact_interval = crossing_interval(grid, t_exact, chi2_threshold(cl), mu_exact)
        np.testing.assert_allclose(scan.interval(cl), exact_interval, atol=1e-6)


def test_fit_recovers_injected_mu_on_asimov_data(rng: np.random.Generator) -> None:
    """Expected data as weighted MC at mu = 1.5: x_k ~ p_ref and, with the ratios normalised on this
    MC (mean_k r_J = 1, as a closure-corrected network), w_k = sum_J f_J(1.5) nu_J r_J(x_k) / n.
    Then sum_k w_k = nu(1.5) and the score vanishes at mu = 1.5: the fit returns 1.5."""
    toy = OffShellToy(nu_s=200.0, nu_b=2000.0)
    x = toy.sample_ref(20_000, rng)
    processes = toy.processes(x, systematics=False)
    f = {"SBI": np.sqrt(1.5), "S": 1.5 - np.sqrt(1.5), "B": 1 - np.sqrt(1.5)}
    w = np.zeros(len(x))
    for p in processes:
        p.ratio = p.ratio / np.mean(p.ratio)
        w += f[p.name] * p.nominal_yield * p.ratio / len(x)
    result = fit(build_model(processes, weights=w, form="columns"))
    assert result.status == 0
    assert result.values["mu"] == pytest.approx(1.5, abs=1e-3 * result.errors["mu"])


def test_fit_covers_injected_mu_on_pseudo_data() -> None:
    """Pseudo-data at mu = 1.5, systematics in the model: t(1.5) < 9 (3 sigma) for every seed, and the
    HESSE error is close to the width of the profile likelihood."""
    toy = OffShellToy(nu_s=200.0, nu_b=2000.0)
    for seed in range(5):
        x = toy.generate(1.5, np.random.default_rng(seed))
        model = build_model(toy.processes(x, systematics=True), form="columns")
        scan = profile_scan(model, "mu", [1.5])
        assert scan.best.status == 0
        assert scan.t[0] < 9.0, (seed, scan.best.values)
