"""The coverage map (benchmarks/coverage_map.py over :func:`roonsbi.infer.coverage` and
:func:`roonsbi.infer.neyman_construction`) at a small number of toys, and the toys of a combination
(:class:`roonsbi.infer.toys.PdfToyGenerator`, RooFit's generator) against their analytic distribution.

* At the true mu = 1 the asymptotic and the Neyman 68%/95% intervals of unbinned NSBI with
  systematics cover at rates compatible with 68%/95% (wide tolerance: 3 binomial standard
  deviations of 30 toys), and the belt's critical values have the chi2_1 probabilities 68%/95%
  (Wilks: the model is asymptotic at ~500 events; scipy's chi2).
* Toys of NSBI + a binned control region at alpha_lumi = +1, alpha_bkg_norm = -1 (where every
  interpolation code gives the hi/lo factors exactly): the control region's counts have the
  Poisson mean 0.95 * 1.02 * 800 + 13 mu, and the global observables are N(alpha, 1) around
  the toy's nuisance parameters (4 standard deviations of the mean over the toys); a toy depends
  on its seed only.
The map itself (more toys, four true mu, the combination) is in benchmarks/RESULTS.md."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2

from roonsbi.infer import chi2_threshold
from roonsbi.infer.toys import PdfToyGenerator, toy_generator

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "coverage_map.py"


def _script():
    spec = importlib.util.spec_from_file_location("coverage_map", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cov():
    return _script()


def test_coverage_of_nsbi_with_systematics_at_mu_1(cov) -> None:
    model = cov.build("nsbi", 3000)
    point = cov.coverage_point(model, "nsbi", 1.0, 30, 30, seed=3)
    for cl, tol in ((0.6827, 3 * 0.085), (0.95, 3 * 0.04)):
        a, ea, n, en = point.row(cl)
        assert ea == pytest.approx(math.sqrt(cl * (1 - cl) / 30))
        assert en == pytest.approx(math.sqrt(cl * (1 - cl) * (2 / 30)))
        assert abs(a - cl) < tol, (cl, a)
        assert abs(n - cl) < tol * math.sqrt(2), (cl, n)
        # the Neyman interval's edge, the belt's cl quantile: its chi2_1 probability is cl (Wilks) up to
        # the quantile's binomial error sqrt(cl (1 - cl) / n_belt)
        assert abs(chi2.cdf(point.neyman[cl].threshold, 1) - cl) < tol, point.neyman[cl].threshold
        assert point.asymptotic[cl].threshold == chi2_threshold(cl)
    assert "| nsbi | 1 | 30 | 30 | " in cov.table([point])


def test_toys_of_a_combination_follow_the_model(cov) -> None:
    model = cov.build("combined", 1000)
    generator = toy_generator(model)
    assert isinstance(generator, PdfToyGenerator)
    mu, values = 1.5, {"mu": 1.5, "alpha_eff": 0.0, "alpha_lumi": 1.0, "alpha_bkg_norm": -1.0}
    cat = model.pdf.indexCat().GetName()
    counts, globs = [], []
    for k in range(40):
        toy = generator.generate(values, np.random.default_rng(k))
        counts.append(toy.data.sumEntries(f"{cat}=={cat}::cr"))
        globs.append([toy.global_observables[f"nom_{a}"] for a in ("alpha_eff", "alpha_lumi", "alpha_bkg_norm")])
    expected = 0.95 * 1.02 * 800.0 + 13.0 * mu
    assert abs(np.mean(counts) - expected) < 4 * math.sqrt(expected / len(counts)), np.mean(counts)
    globs_mean = np.mean(globs, axis=0)
    np.testing.assert_array_less(np.abs(globs_mean - [0.0, 1.0, -1.0]), 4 / math.sqrt(len(globs)))
    first, again = (generator.generate(values, np.random.default_rng(3)) for _ in range(2))
    assert first.global_observables == again.global_observables
    assert first.data.numEntries() == again.data.numEntries() and first.data.sumEntries() == again.data.sumEntries()
    assert model.parameters() == values  # generation leaves the model at the toy's parameters
