r"""Nuisance-aware parametrized NSBI (``build_templates(..., nuisances=...)``) against unbinned NSBI on
the off-shell toy with the eff (normsys + shape) and lumi (normsys) systematics, "exact templates"
(one sample for both models, its ratio and shape columns normalised on it, additive shape code 4, so
that the binned model is the bin integral of the unbinned one) and Asimov data: at 100 bins t(mu') of
the nuisance-aware observable is within 1% of the unbinned t(mu'), where the nominal observable
is more than 1% low (its loss is what the option removes). Full numbers:
``benchmarks/parametrized_nuisances.py`` (benchmarks/RESULTS.md)."""

from __future__ import annotations

import numpy as np
import pytest

from roonsbi.binned import BinnedProcess, Quantiles, build_templates
from roonsbi.infer import conditional_nuisances, parametrized_scan
from roonsbi.inputs.toy import COEFFICIENTS, OffShellToy
from roonsbi.models.parametrized import build_parametrized_model
from roonsbi.models.unbinned import build_model
from roonsbi.naming import WEIGHT_NAME, ratio_column, shape_columns
from roonsbi.spec import Process, ShapeSys

GRID = np.array([0.15, 0.5, 2.0])
N_MC, BINS = 40_000, 100


def test_nuisance_aware_observable_recovers_the_unbinned_t() -> None:
    toy = OffShellToy()
    x = toy.sample_ref(N_MC, np.random.default_rng(5))
    cols = toy.template_columns(x)
    norms = {p.name: p.normsys for p in toy.processes(x[:1])}
    procs, binned = [], []
    for name, y in toy.basis_yields().items():
        r = cols[ratio_column(name)] = cols[ratio_column(name)] / cols[ratio_column(name)].mean()
        lo_c, hi_c = shape_columns(name, "eff")
        cols[lo_c], cols[hi_c] = (cols[c] * r.mean() / (r * cols[c]).mean() for c in (lo_c, hi_c))
        procs.append(Process(name, y, r, COEFFICIENTS[name], normsys=norms[name],
                             shapesys={"eff": ShapeSys(cols[lo_c], cols[hi_c], code=4)}))
        binned.append(BinnedProcess(name, y, COEFFICIENTS[name], norms[name], {"eff": 4}))
    cols[WEIGHT_NAME] = np.full(N_MC, 1.0 / N_MC)
    sbi = procs[0]
    assert sbi.name == "SBI"  # f_SBI(1) = 1, f_S(1) = f_B(1) = 0: the Asimov weights at mu = 1
    unbinned = build_model(procs, weights=sbi.nominal_yield * np.asarray(sbi.ratio) / N_MC, form="columns",
                           name="u_asimov")
    t_unbinned = parametrized_scan(unbinned, "mu", GRID).t
    profile = conditional_nuisances(unbinned, "mu", GRID)
    assert np.all(np.abs(list(profile.free.values())) < 1e-4)  # exact Asimov: the free fit at alpha = 0
    assert abs(profile.poi_hat - 1.0) < 1e-4
    assert profile.conditional["lumi"][0] < -0.5  # the conditional fit at low mu pulls lumi

    def t_binned(**kw) -> np.ndarray:
        t = build_templates(cols, binned, GRID, Quantiles(BINS), progress=False, **kw)
        model = build_parametrized_model(t, data="asimov", asimov_values=1.0, staterror=False, name=f"p{len(kw)}")
        return parametrized_scan(model).t

    nominal = t_binned() / t_unbinned
    aware = t_binned(**profile.template_arguments()) / t_unbinned
    assert np.all(t_unbinned > 1.0)
    print("t_binned / t_unbinned: nominal", nominal, "nuisance-aware", aware)
    np.testing.assert_allclose(aware, 1.0, atol=0.01)
    assert nominal.min() < 0.99  # the nominal observable's loss at low mu
    assert np.all(aware >= nominal - 1e-3)


def test_nuisance_values_are_checked() -> None:
    toy = OffShellToy()
    cols = toy.template_columns(toy.sample_ref(500, np.random.default_rng(1)))
    procs = [BinnedProcess(n, y, COEFFICIENTS[n], histosys={"eff": 4}) for n, y in toy.basis_yields().items()]
    with pytest.raises(ValueError, match="'jes' is no normsys or histosys"):
        build_templates(cols, procs, GRID, Quantiles(4), nuisances={"jes": 0.0}, progress=False)
    with pytest.raises(ValueError, match="one value per grid point"):
        build_templates(cols, procs, GRID, Quantiles(4), nuisances={"eff": [0.0, np.nan, 0.0]}, progress=False)
    with pytest.raises(ValueError, match="needs nuisances="):
        build_templates(cols, procs, GRID, Quantiles(4), nuisance_reference={"eff": 0.0}, progress=False)
    with pytest.raises(ValueError, match="plain histogram"):
        build_templates(cols, procs, GRID, Quantiles(4), observable="x0", nuisances={"eff": 0.0}, progress=False)
