r"""Asymptotic CLs, upper limits and discovery significance (roonsbi.infer.limits) against
independent references:

* pyhf's own ``pyhf.infer.hypotest`` (qtilde, expected set; q0) and
  ``pyhf.infer.intervals.upper_limits.upper_limit`` on a pyhf workspace (normfactor POI, normsys,
  staterror, shapesys) imported with ``roonsbi.from_pyhf``: CLs observed and the expected band
  at several mu to 1e-3, the upper limits to 1e-3 relative, p0 and Z0;
* ROOT's ``RooStats::AsymptoticCalculator`` (one-sided, qtilde) + ``HypoTestInverter`` on the
  same imported workspace: the observed upper limit and the expected band to 1e-3 relative;
* a parametrized-NSBI channel with one grid point (an ordinary binned channel), and its
  combination (``roonsbi.combine``) with the imported channel, against pyhf on the equivalent spec;
* an unbinned NSBI model of the analytic off-shell toy (exact ratios, no systematics): q_mu
  tilde and CLs against the asymptotic formulas evaluated here with scipy on the exact toy
  likelihood :math:`\mathrm{NLL}(\mu) = \nu(\mu) - \sum_i w_i \log\lambda(x_i|\mu)`, on the data
  and on the weighted-pool Asimov dataset.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import ROOT
from scipy.optimize import minimize_scalar
from scipy.stats import norm

import roonsbi
from roonsbi.binned.templates import BinnedProcess, Templates
from roonsbi.infer import (
    BANDS,
    ToyGenerator,
    asimov_dataset,
    asymptotic_cls,
    cls_scan,
    discovery_significance,
    hypotest,
    toy_cls,
    upper_limit,
)
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.parametrized import build_parametrized_model
from roonsbi.models.unbinned import build_model
from roonsbi.spec import NormSys

pyhf = pytest.importorskip("pyhf")

SPEC = {
    "channels": [{"name": "sr", "samples": [
        {"name": "signal", "data": [3.0, 6.0, 4.0],
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "background", "data": [20.0, 25.0, 15.0],
         "modifiers": [{"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}},
                       {"name": "staterror_sr", "type": "staterror", "data": [2.0, 3.0, 2.5]}]},
        {"name": "other", "data": [5.0, 4.0, 6.0],
         "modifiers": [{"name": "other_unc", "type": "shapesys", "data": [1.0, 1.5, 1.2]}]},
    ]}],
    "observations": [{"name": "sr", "data": [31.0, 38.0, 22.0]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}
MUS = (0.3, 1.0, 2.0, 3.5)


@pytest.fixture(scope="module")
def pyhf_pair():
    ws = pyhf.Workspace(copy.deepcopy(SPEC))
    pm = ws.model()
    return roonsbi.from_pyhf(copy.deepcopy(SPEC)), pm, ws.data(pm)


def _pyhf_cls(mu: float, data, pm) -> tuple[float, np.ndarray]:
    obs, expected = pyhf.infer.hypotest(mu, data, pm, test_stat="qtilde", return_expected_set=True)
    return float(obs), np.array(expected, dtype=float)


def test_cls_equals_pyhf(pyhf_pair) -> None:
    """CLs observed and the expected band -2..+2 sigma at several mu (1e-3)."""
    model, pm, data = pyhf_pair
    before = model.parameters()
    results = cls_scan(model, MUS)
    assert model.parameters() == before  # parameters restored
    for r in results:
        obs, expected = _pyhf_cls(r.mu, data, pm)
        assert r.cls == pytest.approx(obs, abs=1e-3)
        np.testing.assert_allclose(r.expected, expected, atol=1e-3)
        assert r.cls == pytest.approx(r.clsb / r.clb, rel=1e-12)
    single = hypotest(model, 1.0)
    assert single.cls == pytest.approx(results[1].cls, abs=1e-6)


def test_upper_limit_equals_pyhf(pyhf_pair) -> None:
    """Observed and expected 95% CL upper limits (1e-3 relative)."""
    model, pm, data = pyhf_pair
    obs, expected = pyhf.infer.intervals.upper_limits.upper_limit(data, pm, scan=None, level=0.05)
    ul = upper_limit(model, cl=0.95)
    assert ul.observed == pytest.approx(float(obs), rel=1e-3)
    np.testing.assert_allclose(ul.expected, np.array(expected, dtype=float), rtol=1e-3)
    assert ul.median == ul.expected[BANDS.index(0)]
    assert ul.to_dict()["expected"] == pytest.approx(list(ul.expected))
    assert np.all(np.diff(ul.expected) > 0)


def test_significance_equals_pyhf(pyhf_pair) -> None:
    """q0 discovery test: observed q0 (1e-4), p0 and Z0, and the expected p0 (Asimov at mu = 1)."""
    model, pm, data = pyhf_pair
    p0, p0_expected = pyhf.infer.hypotest(0.0, data, pm, test_stat="q0", return_expected=True)
    s = discovery_significance(model)
    assert s.q0 > 1.0
    assert s.q0 == pytest.approx(norm.isf(float(p0)) ** 2, rel=1e-4)  # pyhf's q0 = Z0^2 of its p0
    assert s.p0 == pytest.approx(float(p0), rel=1e-3)
    assert s.z0 == pytest.approx(norm.isf(float(p0)), rel=1e-3)
    assert s.expected_p0 == pytest.approx(float(p0_expected), rel=1e-3)


def test_asimov_dataset_of_a_binned_model(pyhf_pair) -> None:
    """The background-only Asimov counts are the expected background; model parameters restored."""
    model, _, _ = pyhf_pair
    before = model.parameters()
    toy = asimov_dataset(model, {"mu": 0.0})
    assert toy.data.sumEntries() == pytest.approx(20 + 25 + 15 + 5 + 4 + 6, rel=1e-9)
    assert model.parameters() == before
    # the Poisson (shapesys) auxiliary data at their expected values tau_b = (nu_b / delta_b)^2
    tau = {f"nom_gamma_other_unc_bin_{b}": (n / d) ** 2 for b, (n, d) in enumerate(zip([5, 4, 6], [1, 1.5, 1.2]))}
    for name, value in tau.items():
        assert toy.global_observables[name] == pytest.approx(value, rel=1e-9)


def _roostats_limits(model, lo: float, hi: float) -> tuple[float, list[float]]:
    """RooStats' asymptotic CLs (one-sided qtilde) inverted on a fine grid of [lo, hi] (200 points): the
    observed limit and the expected ones of the -2..+2 sigma bands."""
    ws = model.workspace
    sb = ws.obj("ModelConfig")
    poi = sb.GetParametersOfInterest().first()
    poi.setVal(1.0)
    sb.SetSnapshot(ROOT.RooArgSet(poi))
    b = sb.Clone("BModel")
    poi.setVal(0.0)
    b.SetSnapshot(ROOT.RooArgSet(poi))
    ROOT.RooStats.AsymptoticCalculator.SetPrintLevel(-1)
    calc = ROOT.RooStats.AsymptoticCalculator(ws.data("obsData"), b, sb)
    calc.SetOneSided(True)
    calc.SetQTilde(True)
    inverter = ROOT.RooStats.HypoTestInverter(calc)
    inverter.SetConfidenceLevel(0.95)
    inverter.UseCLs(True)
    inverter.SetFixedScan(200, lo, hi)
    result = inverter.GetInterval()
    return result.UpperLimit(), [result.GetExpectedUpperLimit(k) for k in (-2, -1, 0, 1, 2)]


def test_upper_limit_equals_roostats(pyhf_pair) -> None:
    """RooStats' AsymptoticCalculator + HypoTestInverter, inverted on a fine grid around roonsbi's limits:
    the observed limit and the whole expected band to 1e-3 relative."""
    model, _, _ = pyhf_pair
    ul = upper_limit(model)
    lo, hi = 0.95 * min(ul.observed, ul.expected[0]), 1.05 * max(ul.observed, ul.expected[-1])
    with roonsbi.infer.saved_parameters(model):
        observed, expected = _roostats_limits(model, lo, hi)
    assert ul.observed == pytest.approx(observed, rel=1e-3)
    np.testing.assert_allclose(ul.expected, expected, rtol=1e-3)


PCH_NOM = np.array([[12.0, 20.0, 9.0], [30.0, 28.0, 40.0]])  # signal, background
PCH_STAT = np.array([[1.0, 1.5, 0.9], [3.0, 3.5, 4.5]])
PCH_DATA = np.array([45.0, 52.0, 47.0])
PCH_SPEC = {"name": "pch", "samples": [
    {"name": "sig", "data": list(PCH_NOM[0]), "modifiers": [
        {"name": "mu", "type": "normfactor", "data": None},
        {"name": "stat_pch", "type": "staterror", "data": list(PCH_STAT[0])}]},
    {"name": "bkg", "data": list(PCH_NOM[1]), "modifiers": [
        {"name": "bnorm", "type": "normsys", "data": {"hi": 1.12, "lo": 0.9}},
        {"name": "stat_pch", "type": "staterror", "data": list(PCH_STAT[1])}]}]}


def _parametrized_channel():
    """A parametrized-NSBI channel with one grid point: a binned channel (normfactor mu, normsys
    code 4, Gaussian staterror on every bin), equal to :data:`PCH_SPEC`."""
    sumw2 = np.zeros((1, 2, 2, 3))
    sumw2[0, [0, 1], [0, 1]] = PCH_STAT ** 2
    t = Templates("mu", 1.0, {"mu": 1.0}, np.array([1.0]), np.array([[-np.inf, 1, 2, np.inf]]),
                  [BinnedProcess("sig", 1.0, "mu", {}, {}),
                   BinnedProcess("bkg", 1.0, "1", {"bnorm": NormSys(0.9, 1.12, 4)}, {})],
                  PCH_NOM[None], {}, {}, sumw2, np.ones((1, 3)), np.ones(1), 1000)
    return build_parametrized_model(t, data=PCH_DATA[None], name="pch", stat_threshold=0.0)


def _spec(channels: list, observations: list) -> dict:
    return {"channels": channels, "observations": observations, "version": "1.0.0",
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}


def test_parametrized_channel_equals_pyhf() -> None:
    """The parametrized channel against pyhf on the equivalent spec."""
    ws = pyhf.Workspace(_spec([PCH_SPEC], [{"name": "pch", "data": list(PCH_DATA)}]))
    pm = ws.model()
    for r in cls_scan(_parametrized_channel(), (0.5, 1.5)):
        obs, expected = _pyhf_cls(r.mu, ws.data(pm), pm)
        assert r.cls == pytest.approx(obs, abs=1e-3)
        np.testing.assert_allclose(r.expected, expected, atol=1e-3)


def test_combination_equals_pyhf(pyhf_pair) -> None:
    """roonsbi.combine(pyhf-imported channel, parametrized channel) against pyhf on both channels:
    CLs and its band at mu = 1 (1e-3), and pyhf's CLs at our upper limits = 0.05 (1e-4)."""
    combined = roonsbi.combine([pyhf_pair[0], _parametrized_channel()], name="limcomb2")
    spec = _spec(copy.deepcopy(SPEC["channels"]) + [PCH_SPEC],
                 copy.deepcopy(SPEC["observations"]) + [{"name": "pch", "data": list(PCH_DATA)}])
    ws = pyhf.Workspace(spec)
    pm = ws.model()
    r = hypotest(combined, 1.0)
    obs, expected = _pyhf_cls(1.0, ws.data(pm), pm)
    assert r.cls == pytest.approx(obs, abs=1e-3)
    np.testing.assert_allclose(r.expected, expected, atol=1e-3)
    ul = upper_limit(combined)  # pyhf's CLs at our limits is 0.05 (its root finding takes 40 s here)
    assert _pyhf_cls(ul.observed, ws.data(pm), pm)[0] == pytest.approx(0.05, abs=1e-4)
    for i, mu in enumerate(ul.expected):
        assert _pyhf_cls(mu, ws.data(pm), pm)[1][i] == pytest.approx(0.05, abs=1e-4)


# -- unbinned NSBI: the exact toy likelihood ---------------------------------------------------------
def _exact_nll(toy: OffShellToy, x: np.ndarray, w: np.ndarray | None, mu: float) -> float:
    lam = toy.intensity(x, mu)
    return toy.expected(mu) - float(np.sum((1.0 if w is None else w) * np.log(lam)))


def _exact_q_tilde(toy: OffShellToy, x: np.ndarray, w: np.ndarray | None, mu: float) -> float:
    """The NLL is not convex in mu (sqrt(mu) terms): global minimum on a grid, then refined."""
    grid = np.concatenate([[0.0], np.geomspace(1e-6, 10.0, 400)])
    k = int(np.argmin([_exact_nll(toy, x, w, m) for m in grid]))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    best = minimize_scalar(lambda m: _exact_nll(toy, x, w, m), bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-9})
    mu_hat, nll_hat = (best.x, best.fun) if best.fun < _exact_nll(toy, x, w, grid[k]) else (grid[k], None)
    nll_hat = _exact_nll(toy, x, w, mu_hat) if nll_hat is None else nll_hat
    if mu_hat > mu:
        return 0.0
    return 2.0 * (_exact_nll(toy, x, w, mu) - nll_hat)


def test_unbinned_nsbi_equals_the_exact_toy_likelihood() -> None:
    r"""q_mu tilde on the data and on the Asimov dataset (the pool weighted by
    lambda(x|0)/(n p_ref(x))), and CLs = Phi(-sqrt(q)) / Phi(sqrt(q_A) - sqrt(q)) (for q <= q_A)
    from them, against the exact toy likelihood (1e-3)."""
    toy = OffShellToy()
    rng = np.random.default_rng(5)
    x = toy.generate(0.6, rng)
    model = build_model(toy.processes(x, systematics=False), pois={"mu": (1.0, 0.0, 10.0)}, name="lim", form="columns")
    x_pool = toy.sample_ref(40_000, rng)
    pool = roonsbi.build_model(toy.processes(x_pool, systematics=False), name="limpool", form="columns").data.to_numpy()
    generator = ToyGenerator(model, pool)
    w_asimov = toy.intensity(x_pool, 0.0) / (len(x_pool) * toy.p_ref(x_pool))
    results = cls_scan(model, (1.0, 2.5, 4.0), generator=generator)
    for r in results:
        q, qa = _exact_q_tilde(toy, x, None, r.mu), _exact_q_tilde(toy, x_pool, w_asimov, r.mu)
        assert r.q_mu == pytest.approx(q, abs=2e-3)
        assert r.q_mu_asimov == pytest.approx(qa, abs=2e-3)
        sq, sqa = math.sqrt(q), math.sqrt(qa)
        t = sq - sqa if sq <= sqa else (q - qa) / (2 * sqa)
        assert r.cls == pytest.approx(norm.sf(t + sqa) / norm.sf(t), abs=1e-3)
        for k, expected in zip(BANDS, r.expected):
            assert expected == pytest.approx(norm.sf(sqa - k) / norm.cdf(k), abs=1e-3)
    asimov = generator.asimov({"mu": 0.0})
    again = hypotest(model, 2.5, asimov=asimov)
    assert again.cls == pytest.approx(results[1].cls, abs=1e-6)


def test_asymptotic_formulas() -> None:
    """CLs+b = 1 - Phi(sqrt(q)) and CLb = Phi(sqrt(q_A) - sqrt(q)) for q <= q_A; the median band
    CLs = 2 (1 - Phi(sqrt(q_A)))."""
    clsb, clb, cls = asymptotic_cls(1.5, 4.0)
    assert clsb == pytest.approx(norm.sf(math.sqrt(1.5)), rel=1e-12)
    assert clb == pytest.approx(norm.cdf(2.0 - math.sqrt(1.5)), rel=1e-12)
    assert cls == pytest.approx(clsb / clb, rel=1e-12)
    assert asymptotic_cls(0.0, 4.0, n_sigma=0)[2] == pytest.approx(2 * norm.sf(2.0), rel=1e-12)


def test_bad_input(pyhf_pair) -> None:
    model, _, _ = pyhf_pair
    with pytest.raises(ValueError, match="poi 'nope'"):
        hypotest(model, 1.0, poi="nope")
    with pytest.raises(ValueError, match=r"tested POI values must be finite and > 0, got -1\.0"):
        cls_scan(model, [1.0, -1.0])
    with pytest.raises(ValueError, match="cl must be"):
        upper_limit(model, cl=1.5)
    with pytest.raises(ValueError, match="does not cross"):
        upper_limit(model, bracket=(0.1, 0.2))
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(1))
    unbinned = build_model(toy.processes(x, systematics=False), name="nogen", form="columns")
    with pytest.raises(ValueError, match="generator="):
        hypotest(unbinned, 1.0)
    with pytest.raises(ValueError, match=r"tested POI values must be finite and > 0, got nan"):
        toy_cls(unbinned, [1.0, math.nan], n_toys=2, seed=1)


def test_a_combination_with_an_unbinned_channel_needs_its_asimov_dataset(pyhf_pair) -> None:
    """combine(NSBI channel, binned channel): the binned Asimov of RooStats would bin the ratio
    columns, so the combination asks for asimov= by name."""
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(3))
    unbinned = build_model(toy.processes(x, systematics=False), pois={"mu": (1.0, 0.0, 10.0)}, name="nsbich",
                           form="columns")
    combined = roonsbi.combine([unbinned, pyhf_pair[0]], name="limcomb")
    with pytest.raises(ValueError, match="asimov="):
        asimov_dataset(combined, {"mu": 0.0})
    with pytest.raises(ValueError, match="asimov="):
        hypotest(combined, 1.0)
