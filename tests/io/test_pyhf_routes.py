r"""What other people's tools get from roonsbi's pyhf JSON, run as their users would.

* Interference basis (the off-shell toy: S: mu - sqrt(mu), SBI: sqrt(mu), B: 1 - sqrt(mu)) at
  mu' = 1.6: the plain export refuses; route (a) (``nonlinear="expression"``, pyhf's own model
  with :func:`~roonsbi.io.pyhf_json.load_pyhf_model`) reproduces RooFit's mu-hat and t(mu);
  route (b) (the patchset over mu) through the pyhf command line (``pyhf patchset apply`` +
  ``pyhf fit --value`` in subprocesses) reproduces t(mu) at two points, all to 1e-3.
* A linear-POI channel (S: mu, B: 1): ``pyhf fit`` / ``pyhf cls`` on the command line and
  cabinetry's ``fit.fit``, ``fit.limit`` and pre-fit yields (``model_utils.prediction``) give
  RooFit's (roonsbi's) mu-hat, its error, CLs, the 95% CLs limit and the model's pre-fit yields;
  also after a RooFit fit (the export's ``inits`` are the declared starting values, not the fit's).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from roonsbi.infer.fit import Fitter
from roonsbi.infer.limits import hypotest, upper_limit
from roonsbi.infer.scan import profile_scan
from roonsbi.io.pyhf_json import (
    PyhfExportError,
    load_pyhf_model,
    pyhf_expression_scan,
    to_patchset,
    to_pyhf,
    write_json,
)
from support import PYHF_GRID, BinnedProcess, NormSys, events
from support import offshell_pnsbi as _offshell_pnsbi

PYHF = str(Path(sys.executable).with_name("pyhf"))


def _cli(*args: str) -> str:
    proc = subprocess.run([PYHF, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_interference_basis_routes_a_and_b(tmp_path: Path) -> None:
    model = _offshell_pnsbi()
    model.set_mu_prime(1.6)
    with pytest.raises(PyhfExportError, match=r"f_S_offshell.*mu - sqrt\(mu\).*not linear.*nonlinear='expression'.*"
                                              r"to_patchset.*No reparametrisation"):
        to_pyhf(model)
    values = np.array([0.5, 0.9, 1.5, 2.2])
    fitter = Fitter(model, tolerance=1e-8)
    ours = profile_scan(model, "mu", values, fitter=fitter)
    # route (a): pyhf's model of the JSON file, read with the one-line loader
    path = write_json(tmp_path / "expression.json", to_pyhf(model, nonlinear="expression"))
    pyhf_model, _ = load_pyhf_model(path)
    assert pyhf_model.config.poi_name == "mu"
    route_a = pyhf_expression_scan(json.loads(path.read_text()), values)
    assert route_a.best_value == pytest.approx(ours.best.values["mu"], abs=1e-3)
    np.testing.assert_allclose(route_a.t, ours.t, atol=1e-3)
    # route (b): the patchset over mu (with pyhf's mu-hat as a point), applied and fitted by pyhf's
    # command line (two scan points and mu-hat: each pyhf process costs seconds)
    points = [values[1], values[3], route_a.best_value]
    base, patchset = to_patchset(model, "ins0000000", mu=points)
    write_json(tmp_path / "bkg.json", base)
    write_json(tmp_path / "patchset.json", patchset)
    assert [p["metadata"]["values"] for p in patchset["patches"]] == [[v] for v in points]
    twice_nll = []
    for patch in patchset["patches"]:
        out = tmp_path / f"{patch['metadata']['name']}.json"
        _cli("patchset", "apply", str(tmp_path / "bkg.json"), str(tmp_path / "patchset.json"),
             "--name", patch["metadata"]["name"], "--output-file", str(out))
        spec = json.loads(out.read_text())
        assert spec["measurements"][0]["config"]["poi"] == ""  # the model at that mu: no free POI
        twice_nll.append(json.loads(_cli("fit", "--value", str(out)))["twice_nll"])
    t_b = np.array(twice_nll[:-1]) - twice_nll[-1]
    np.testing.assert_allclose(t_b, ours.t[[1, 3]], atol=1e-3)
    model.set_mu_prime(1.0)


def _linear_channel(signal: str = "mu", name: str = "linear") -> Any:
    """A parametrized channel linear in mu (S: ``signal``, B: 1), with normsys, histosys and staterror."""
    from roonsbi.binned.templates import Quantiles, build_templates
    from roonsbi.models.parametrized import build_parametrized_model

    procs = [BinnedProcess("S", 40.0, signal, {"lumi": NormSys(0.97, 1.03, 4)}, {"jes": 4}),
             BinnedProcess("B", 400.0, "1", {"lumi": NormSys(0.97, 1.03, 4), "xs_B": NormSys(0.93, 1.05, 4)},
                           {"jes": 4, "res": 4})]
    rng = np.random.default_rng(17)
    t = build_templates(events(6000, rng), procs, PYHF_GRID, Quantiles(6), progress=False)
    counts = rng.poisson(t.expected(0.6)).astype(float)
    return build_parametrized_model(t, data=counts, name=name)


def _prefit_yields(model: Any) -> np.ndarray:
    """The model's expected yields per bin at its declared starting values (mu = 1, alpha = 0, gamma = 1)."""
    start = model.parameters()
    model.set_parameters({p: (1.0 if p == "mu" or p.startswith("gamma") else 0.0) for p in start})
    yields = np.array(list(model.pdf.binYields()))
    model.set_parameters(start)
    return yields


def test_linear_channel_in_pyhf_cli_and_cabinetry(tmp_path: Path) -> None:
    import cabinetry

    model = _linear_channel()
    model.set_mu_prime(1.0)
    prefit = _prefit_yields(model)
    fit = Fitter(model, tolerance=1e-8).fit()  # moves the parameters: the export must not take them as inits
    spec = to_pyhf(model)
    assert spec["measurements"][0]["config"]["poi"] == "mu"
    path = write_json(tmp_path / "linear.json", spec)
    # pyhf's command line
    cli_fit = json.loads(_cli("fit", "--value", str(path)))
    assert cli_fit["mle_parameters"]["mu"][0] == pytest.approx(fit.values["mu"], abs=1e-3)
    ours_cls = hypotest(model, 1.0)
    cli_cls = json.loads(_cli("cls", "--test-poi", "1.0", str(path)))
    assert cli_cls["CLs_obs"] == pytest.approx(ours_cls.cls, abs=1e-3)
    np.testing.assert_allclose(cli_cls["CLs_exp"], ours_cls.expected, atol=1e-3)
    # cabinetry
    cab_model, data = cabinetry.model_utils.model_and_data(spec)
    prediction = cabinetry.model_utils.prediction(cab_model)
    np.testing.assert_allclose(np.sum(prediction.model_yields[0], axis=0), prefit, rtol=1e-10)
    result = cabinetry.fit.fit(cab_model, data)
    k = result.labels.index("mu")
    assert result.bestfit[k] == pytest.approx(fit.values["mu"], abs=1e-3)
    assert result.uncertainty[k] == pytest.approx(fit.errors["mu"], rel=1e-2)
    ours_limit = upper_limit(model, rtol=1e-5)
    bracket = (0.5 * ours_limit.expected.min(), 2.0 * ours_limit.expected.max())
    limit = cabinetry.fit.limit(cab_model, data, bracket=bracket, poi_tolerance=1e-4)
    assert limit.observed_limit == pytest.approx(ours_limit.observed, rel=1e-3)
    assert limit.expected_limit[2] == pytest.approx(ours_limit.median, rel=1e-3)
    model.set_mu_prime(1.0)


def test_reparametrisation_is_offered_and_exact() -> None:
    """S: 3 sqrt(mu), B: 1 is linear in kappa = sqrt(mu): the refusal says so, and the export with
    reparametrize=("kappa", "sqrt(mu)") has pyhf's kappa-hat^2 = RooFit's mu-hat (1e-3)."""
    import pyhf

    model = _linear_channel("3*sqrt(mu)", name="sqrtmu")
    model.set_mu_prime(1.0)
    with pytest.raises(PyhfExportError, match=r"proportional to 3\*sqrt\(mu\): reparametrize=\('kappa', '3\*sqrt"):
        to_pyhf(model)
    spec = to_pyhf(model, reparametrize=("kappa", "sqrt(mu)"))
    config = spec["measurements"][0]["config"]
    assert config["poi"] == "kappa"
    assert [p for p in config["parameters"] if p["name"] == "kappa"] == [
        {"name": "kappa", "inits": [1.0], "bounds": [[0.0, pytest.approx(np.sqrt(10.0))]]}]
    ws = pyhf.Workspace(spec)
    pm = ws.model()
    kappa = pyhf.infer.mle.fit(ws.data(pm), pm)[pm.config.poi_index]
    mu_hat = Fitter(model, tolerance=1e-8).fit(hesse=False).values["mu"]
    assert float(kappa) ** 2 == pytest.approx(mu_hat, abs=1e-3)
