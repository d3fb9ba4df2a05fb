"""Every scan, impact and toy loop leaves the model as it found it when it stops on an exception.

An exception is injected in the middle of each loop (``Fitter.fit`` raises on its n-th call,
after moving the parameters and fixing them, as a fit interrupted half-way would; or the toy
generator fails after setting the toy's parameters), with a ``RuntimeError`` and with a
``KeyboardInterrupt``. The reference is an independent record of the model taken before the
call: the value and constant flag of every variable of the workspace that is not an observable
(POIs, nuisance parameters, global observables, mu'), read directly from RooFit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from roonsbi.binned.templates import Quantiles, build_templates
from roonsbi.infer.fit import Fitter
from roonsbi.infer.impacts import impacts
from roonsbi.infer.scan import parametrized_scan, profile_scan, profile_scan_2d
from roonsbi.infer.toys import ToyGenerator, neyman_construction, t_statistic
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.parametrized import build_parametrized_model
from roonsbi.models.unbinned import build_model
from support import GRID, events, processes

ERRORS = [RuntimeError, KeyboardInterrupt]


@pytest.fixture(scope="module")
def unbinned() -> Any:
    toy = OffShellToy(eff_slope=0.2, lumi_kappa=1.05)
    x = toy.generate(1.0, np.random.default_rng(5))[:400]
    return build_model(toy.processes(x, systematics=True), name="state", form="columns")


@pytest.fixture(scope="module")
def parametrized() -> Any:
    rng = np.random.default_rng(7)
    t = build_templates(events(3000, rng), processes(), GRID, Quantiles(6), progress=False)
    return build_parametrized_model(t, data=rng.poisson(t.expected(1.2)).astype(float), staterror=False,
                                    name="state_param")


def _prepare(model: Any) -> None:
    """A start away from the defaults: POI and nuisance parameters moved, global observables
    shifted, and (parametrized) mu' at the second grid point."""
    model.parameter("mu").setVal(1.4)
    for k, p in enumerate(model.nuisance_parameters):
        p.setVal(0.1 * (k + 1))
    for g in model.global_observables:
        g.setVal(0.05)
    if hasattr(model, "set_mu_prime"):
        model.set_mu_prime(GRID[1])


def _record(model: Any) -> dict[str, tuple[float, bool]]:
    """Name -> (value, constant) of every non-observable variable of the workspace."""
    observables = {v.GetName() for v in model.model_config.GetObservables()}
    return {v.GetName(): (v.getVal(), bool(v.isConstant())) for v in model.workspace.allVars()
            if v.GetName() not in observables}


def _fail_fit_at(monkeypatch: pytest.MonkeyPatch, call: int, error: type[BaseException]) -> dict[str, int]:
    """``Fitter.fit`` raises ``error`` on its ``call``-th call, after fixing the parameters it was
    asked to fix and moving and fixing every floating one."""
    real = Fitter.fit
    calls = {"n": 0}

    def fit(self: Fitter, fixed: Any = None, *, hesse: bool = True, **options: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call:
            for name, value in (fixed or {}).items():
                self.model.parameter(name).setVal(value)
            for p in self.params:
                p.setVal(0.5 * (p.getVal() + p.getMax()))
                p.setConstant(True)
            raise error(f"injected on fit {call}")
        return real(self, fixed, hesse=hesse, **options)

    monkeypatch.setattr(Fitter, "fit", fit)
    return calls


def _check(model: Any, before: dict[str, tuple[float, bool]]) -> None:
    after = _record(model)
    assert after.keys() == before.keys()
    changed = {k: (before[k], after[k]) for k in before if after[k] != before[k]}
    assert not changed, changed


@pytest.mark.parametrize("error", ERRORS)
def test_profile_scan_restores_after_an_exception(unbinned, monkeypatch, error) -> None:
    _prepare(unbinned)
    before = _record(unbinned)
    calls = _fail_fit_at(monkeypatch, 3, error)
    with pytest.raises(error, match="injected"):
        profile_scan(unbinned, "mu", [0.5, 1.0, 1.5])
    assert calls["n"] == 3
    _check(unbinned, before)


@pytest.mark.parametrize("error", ERRORS)
def test_profile_scan_2d_restores_after_an_exception(unbinned, monkeypatch, error) -> None:
    _prepare(unbinned)
    before = _record(unbinned)
    calls = _fail_fit_at(monkeypatch, 3, error)
    with pytest.raises(error, match="injected"):
        profile_scan_2d(unbinned, ("mu", "alpha_lumi"), [0.8, 1.2], [-0.5, 0.5], progress=False)
    assert calls["n"] == 3
    _check(unbinned, before)


@pytest.mark.parametrize("error", ERRORS)
def test_parametrized_scan_restores_parameters_and_mu_prime(parametrized, monkeypatch, error) -> None:
    """The third fit is the free fit of the second grid point, at another mu'."""
    _prepare(parametrized)
    before = _record(parametrized)
    calls = _fail_fit_at(monkeypatch, 3, error)
    with pytest.raises(error, match="injected"):
        parametrized_scan(parametrized, "mu", progress=False)
    assert calls["n"] == 3
    _check(parametrized, before)


@pytest.mark.parametrize("error", ERRORS)
def test_impacts_restore_after_an_exception(unbinned, monkeypatch, error) -> None:
    _prepare(unbinned)
    before = _record(unbinned)
    calls = _fail_fit_at(monkeypatch, 3, error)
    with pytest.raises(error, match="injected"):
        impacts(unbinned)
    assert calls["n"] == 3
    _check(unbinned, before)


@pytest.mark.parametrize("error", ERRORS)
def test_t_statistic_restores_after_an_exception(unbinned, monkeypatch, error) -> None:
    _prepare(unbinned)
    before = _record(unbinned)
    _fail_fit_at(monkeypatch, 2, error)
    with pytest.raises(error, match="injected"):
        t_statistic(unbinned, "mu", 1.0, start={"mu": 0.9, "alpha_lumi": -0.2})
    _check(unbinned, before)


def _pool(model: Any) -> dict[str, np.ndarray]:
    return model.data.to_numpy()


@pytest.mark.parametrize("error", ERRORS)
def test_neyman_construction_restores_parameters_and_global_observables(unbinned, monkeypatch, error) -> None:
    """The fourth fit is the conditional fit of the first toy, whose global observables are set."""
    generator = ToyGenerator(unbinned, _pool(unbinned))
    _prepare(unbinned)
    before = _record(unbinned)
    calls = _fail_fit_at(monkeypatch, 4, error)
    with pytest.raises(error, match="injected"):
        neyman_construction(unbinned, generator, "mu", [0.8, 1.2], n_toys=3, rng=np.random.default_rng(1))
    assert calls["n"] == 4
    _check(unbinned, before)


@pytest.mark.parametrize("method", ["generate", "asimov"])
@pytest.mark.parametrize("error", ERRORS)
def test_toy_generation_restores_after_an_exception(unbinned, monkeypatch, error, method) -> None:
    """The generator fails after setting the toy's parameters."""
    generator = ToyGenerator(unbinned, _pool(unbinned))
    _prepare(unbinned)
    before = _record(unbinned)

    def fail() -> np.ndarray:
        raise error("injected in the density ratios")

    monkeypatch.setattr(generator, "density_ratios", fail)
    values = {"mu": 2.0, "alpha_eff": -0.7, "alpha_lumi": 0.4}
    with pytest.raises(error, match="injected"):
        if method == "generate":
            generator.generate(values, np.random.default_rng(2))
        else:
            generator.asimov(values)
    _check(unbinned, before)


def test_a_completed_scan_restores_values_and_flags(unbinned) -> None:
    """Without an exception the scans also end where they started (values and constant flags)."""
    _prepare(unbinned)
    unbinned.parameter("alpha_eff").setConstant(True)
    before = _record(unbinned)
    try:
        profile_scan(unbinned, "mu", [0.8, 1.2])
        _check(unbinned, before)
        impacts(unbinned, nuisance_parameters=["alpha_lumi"])
        _check(unbinned, before)
    finally:
        unbinned.parameter("alpha_eff").setConstant(False)
