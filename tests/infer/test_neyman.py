"""Neyman construction with toys against the asymptotic (Wilks) interval at large counts."""

from __future__ import annotations

import numpy as np
import pytest

from roonsbi.infer.scan import chi2_threshold, profile_scan
from roonsbi.infer.toys import ToyGenerator, neyman_construction
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import build_model


@pytest.mark.slow
def test_neyman_belt_reproduces_the_asymptotic_interval(rng: np.random.Generator) -> None:
    """Large counts (about 5000 events): the toy critical values are chi2 quantiles (1.0 for 68%)
    within toy error, and the Neyman interval equals the asymptotic one within that error."""
    toy = OffShellToy(nu_s=500.0, nu_b=5000.0)
    x_obs = toy.generate(1.0, rng)
    pool_x = toy.sample_ref(200_000, rng)
    observed = build_model(toy.processes(x_obs, systematics=False), name="obs",
                           pool=toy.processes(pool_x, systematics=False))  # store form: toys from its pool
    grid = np.linspace(0.6, 1.5, 7)
    result = neyman_construction(observed, ToyGenerator(observed), "mu", grid, n_toys=120, rng=rng)
    threshold = chi2_threshold(0.6827)
    for c, err in zip(result.critical, result.critical_error):
        assert abs(c - threshold) < 3 * err + 0.05, (result.critical, result.critical_error)
    asymptotic = profile_scan(observed, "mu", grid).interval(0.6827)
    print(f"critical values {np.round(result.critical, 3)} +- {np.round(result.critical_error, 3)}; "
          f"Neyman interval {np.round(result.interval(), 4)}, asymptotic {np.round(asymptotic, 4)}")
    width = asymptotic[1] - asymptotic[0]
    assert result.interval() == pytest.approx(asymptotic, abs=0.15 * width)
