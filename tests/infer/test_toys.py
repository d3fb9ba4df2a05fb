"""Toys by resampling a reference pool: distribution against the exact toy, and coverage."""

from __future__ import annotations

import numpy as np
import pytest

from roonsbi.demo.run import demo_toy
from roonsbi.infer.fit import Fitter
from roonsbi.infer.scan import chi2_threshold
from roonsbi.infer.toys import ToyGenerator, set_global_observables
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import build_model


def _pool(toy: OffShellToy, n: int, rng: np.random.Generator) -> tuple[object, dict[str, np.ndarray], np.ndarray]:
    x = toy.sample_ref(n, rng)
    model = build_model(toy.processes(x, systematics=True), name="pool", form="columns")
    columns = model.data.to_numpy()
    return model, columns, x


def test_toys_follow_the_model(rng: np.random.Generator) -> None:
    """Mean count = nu(theta), and the events follow p(x|theta): the toy mean of the column r_S
    equals its exact expectation mean_ref(r_S lambda/p_ref)/mean_ref(lambda/p_ref) (4 sigma)."""
    toy = OffShellToy()
    model, columns, x = _pool(toy, 200_000, rng)
    gen = ToyGenerator(model, columns)
    values = {"mu": 2.0, "alpha_eff": 0.5, "alpha_lumi": -0.3}
    counts, picked = [], []
    for _ in range(200):
        t = gen.generate(values, rng)
        counts.append(t.data.numEntries())
        picked.append(t.data.to_numpy()["r_S"])
    nu = toy.expected(2.0, 0.5, -0.3)
    assert np.mean(counts) == pytest.approx(nu, abs=4 * np.sqrt(nu / len(counts)))
    r_s = toy.ratios(x)["S"]
    lam = toy.intensity(x, 2.0, 0.5, -0.3)
    ref = toy.p_ref(x)
    exact = np.mean(r_s * lam / ref) / np.mean(lam / ref)
    all_r = np.concatenate(picked)
    assert np.mean(all_r) == pytest.approx(exact, abs=4 * np.std(all_r) / np.sqrt(len(all_r)) + 3e-3)


@pytest.mark.slow
def test_asymptotic_68_interval_covers(rng: np.random.Generator) -> None:
    """300 toys of the demo model at mu = 1 with systematics (global observables drawn): the
    asymptotic 68% CL interval {mu: t(mu) < 1} contains the true mu in 68.27% of the toys within
    3 binomial sigma."""
    toy = demo_toy()
    model, columns, _ = _pool(toy, 100_000, rng)
    gen = ToyGenerator(model, columns)
    truth = {"mu": 1.0, "alpha_eff": 0.0, "alpha_lumi": 0.0}
    threshold = chi2_threshold(0.6827)
    n_toys, covered = 300, 0
    for _ in range(n_toys):
        t = gen.generate(truth, rng)
        previous = set_global_observables(model, t.global_observables)
        model.set_parameters(truth)
        fitter = Fitter(model, data=t.data)
        free = fitter.fit(hesse=False)
        model.set_parameters(free.values)
        fixed = fitter.fit({"mu": 1.0}, hesse=False)
        covered += 2 * (fixed.min_nll - free.min_nll) < threshold
        set_global_observables(model, previous)
    frac = covered / n_toys
    print(f"coverage of the 68% interval: {frac:.3f} ({covered}/{n_toys} toys)")
    sigma = np.sqrt(0.6827 * (1 - 0.6827) / n_toys)
    assert abs(frac - 0.6827) < 3 * sigma, frac


def test_asimov_weights_and_fit(rng: np.random.Generator) -> None:
    """Asimov dataset on a pool x_k ~ p_ref (u_k = 1): the weights equal the toy's exact
    lambda(x_k|theta) / (n p_ref(x_k)) (numpy, 1e-10), also at alpha_eff = 1 (where the NSBI model
    is exact), the global observables equal the nuisance parameters, and the fit on it returns
    theta (up to the pool's MC fluctuation, 0.1 sigma)."""
    toy = OffShellToy()
    model, columns, x = _pool(toy, 100_000, rng)
    gen = ToyGenerator(model, columns)
    for values in ({"mu": 0.7, "alpha_eff": 1.0, "alpha_lumi": -1.0}, {"mu": 0.7, "alpha_eff": 0.0, "alpha_lumi": 0.0}):
        asimov = gen.asimov(values)
        w = asimov.data.to_numpy()["weight"]
        exact = toy.intensity(x, values["mu"], values["alpha_eff"], values["alpha_lumi"]) / (len(x) * toy.p_ref(x))
        np.testing.assert_allclose(w, exact, rtol=1e-10)
        assert asimov.global_observables == {"nom_alpha_eff": values["alpha_eff"],
                                             "nom_alpha_lumi": values["alpha_lumi"]}
    previous = set_global_observables(model, asimov.global_observables)
    model.set_parameters({"mu": 1.0, "alpha_eff": 0.5, "alpha_lumi": 0.5})
    best = Fitter(model, data=asimov.data).fit(hesse=True)
    set_global_observables(model, previous)
    for name, value in values.items():
        assert best.values[name] == pytest.approx(value, abs=0.1 * best.errors[name]), name
