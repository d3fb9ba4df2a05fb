r"""pyhf JSON import (:func:`roonsbi.io.pyhf_json.from_pyhf`) and the round trip pyhf -> RooFit -> pyhf.

Every comparison is with pyhf itself (0.7): ``Model.logpdf`` and ``pyhf.infer.mle.fit``. RooFit's
binned NLL includes the log n! terms, so for one channel NLL - truncation + logpdf = 0, where the
truncation is log P(glob in range) of the Gaussian constraints (computed independently with
``math.erfc``, :func:`support.gauss_truncation`); a RooSimultaneous of several channels adds a
constant, so there differences between points are compared.

Test workspaces: ``tests/data/pyhf`` (three from pyhf's repository, see the README there).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyhf
import pytest

from roonsbi.infer.fit import Fitter
from roonsbi.inputs.toy import OffShellToy
from roonsbi.io.pyhf_json import (
    from_pyhf,
    pyhf_parameters,
    to_pyhf,
    write_json,
)
from roonsbi.io.sources import read_source
from roonsbi.models.combined import combine
from roonsbi.models.unbinned import build_model
from support import PYHF_DATA as DATA
from support import assert_same_fit as _assert_same_fit
from support import constraint_terms as _constraints
from support import gauss_truncation as _gauss_truncation
from support import load_pyhf as _load
from support import pyhf_fit as _pyhf_fit
from support import random_point as _random_point

WORKSPACES = sorted(p.name for p in DATA.glob("*.json"))


@pytest.mark.parametrize("name", WORKSPACES)
def test_import_nll_equals_pyhf_and_round_trip_is_exact(name: str) -> None:
    """pyhf JSON -> RooFit -> pyhf JSON gives the same JSON (dict equality: up to key order);
    the RooFit NLL equals pyhf's -logpdf: exactly (1e-8) for one channel, and up to a constant
    (differences between 10 random points to 1e-8) for several."""
    spec = _load(name)
    model = from_pyhf(spec)
    out = to_pyhf(model)
    pyhf.Workspace(out, validate=True)
    assert out == spec

    ws = pyhf.Workspace(spec)
    pm = ws.model()
    data = ws.data(pm)
    rng = np.random.default_rng(5)
    params = list(model.pois) + list(model.nuisance_parameters)
    cons, globs = _constraints(model.model_config), model.global_observables
    sums = []
    for _ in range(10):
        values = _random_point(params, rng)
        sums.append(model.nll(values) - _gauss_truncation(cons, globs)
                    + float(pm.logpdf(pyhf_parameters(pm, values), data)[0]))
    if len(spec["channels"]) == 1:
        np.testing.assert_allclose(sums, 0.0, atol=1e-8)
    np.testing.assert_allclose(np.array(sums) - sums[0], 0.0, atol=1e-8)


@pytest.mark.parametrize("name", WORKSPACES)
def test_import_best_fit_equals_pyhf(name: str) -> None:
    """Minuit2 on the imported model and pyhf's fit give the same best-fit values (1e-4 relative,
    1e-4 absolute near 0) and the same minimum of -log L (1e-7, the constant taken at the
    initial point)."""
    spec = _load(name)
    model = from_pyhf(spec)
    ws = pyhf.Workspace(spec)
    pm = ws.model()
    const = model.nll() + float(pm.logpdf(pyhf_parameters(pm, {}), ws.data(pm))[0])
    ours = Fitter(model, tolerance=1e-8).fit(hesse=False)
    theirs, min_nll = _pyhf_fit(spec)
    _assert_same_fit(ours.values, theirs)
    assert ours.min_nll - const == pytest.approx(min_nll, abs=1e-7)


def test_poi_less_and_non_normfactor_pois(tmp_path: Path) -> None:
    """As pyhf: a POI-less measurement ("poi": "") and POIs that are not normfactors (a one-bin
    shapesys, a normsys) import, with the RooFit NLL equal to pyhf's -logpdf (5 random points,
    1e-8) and the same JSON back; a POI pyhf refuses is refused with pyhf's reason."""
    one_bin = {"channels": [{"name": "c", "samples": [
        {"name": "s", "data": [10.0], "modifiers": [{"name": "sys", "type": "shapesys", "data": [2.0]},
                                                    {"name": "xs", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}]},
        {"name": "b", "data": [50.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
        "observations": [{"name": "c", "data": [62.0]}],
        "measurements": [{"name": "m", "config": {"poi": "sys", "parameters": []}}], "version": "1.0.0"}
    cases = {"": None, "sys": "gamma_sys_bin_0", "xs": "alpha_xs", "mu": "mu"}
    rng = np.random.default_rng(8)
    for poi, roofit in cases.items():
        spec = json.loads(json.dumps(one_bin))
        spec["measurements"][0]["config"]["poi"] = poi
        model = from_pyhf(spec)
        assert [p.GetName() for p in model.pois] == ([roofit] if roofit else [])
        assert to_pyhf(model) == spec
        ws = pyhf.Workspace(spec)
        pm = ws.model()
        assert pm.config.poi_name == (poi or None)
        params = list(model.pois) + list(model.nuisance_parameters)
        cons, globs = _constraints(model.model_config), model.global_observables
        for _ in range(5):
            values = _random_point(params, rng)
            assert model.nll(values) - _gauss_truncation(cons, globs) == pytest.approx(
                -float(pm.logpdf(pyhf_parameters(pm, values), ws.data(pm))[0]), abs=1e-8)
    two_bins = _load("2-bin_1-channel.json")
    two_bins["measurements"][0]["config"]["poi"] = "uncorr_bkguncrt"
    with pytest.raises(ValueError, match="not a valid pyhf workspace.*multiple components"):
        from_pyhf(two_bins)


def test_imported_workspace_combines_with_an_nsbi_channel(tmp_path: Path) -> None:
    """combine([NSBI, pyhf import]): the combined NLL changes between points exactly as the sum of
    the two channels' NLLs (no shared constraint); mu is shared by name. The pyhf JSON file itself
    is also a combination source (same NLL)."""
    spec = _load("2-bin_1-channel.json")
    binned = from_pyhf(spec)
    toy = OffShellToy()
    nsbi = build_model(toy.processes(toy.generate(1.0, np.random.default_rng(3)), systematics=True))
    comb = combine([nsbi, binned])
    assert [p.GetName() for p in comb.pois] == ["mu"]
    rng = np.random.default_rng(8)
    diffs, points = [], []
    for _ in range(6):
        values = {"mu": rng.uniform(0.5, 2.0), "alpha_eff": rng.uniform(-1, 1), "alpha_lumi": rng.uniform(-1, 1),
                  "gamma_uncorr_bkguncrt_bin_0": rng.uniform(0.9, 1.1),
                  "gamma_uncorr_bkguncrt_bin_1": rng.uniform(0.9, 1.1)}
        parts = nsbi.nll({k: v for k, v in values.items() if k in ("mu", "alpha_eff", "alpha_lumi")})
        parts += binned.nll({k: v for k, v in values.items() if k not in ("alpha_eff", "alpha_lumi")})
        diffs.append(comb.nll(values) - parts)
        points.append(values)
    np.testing.assert_allclose(np.array(diffs) - diffs[0], 0.0, atol=1e-8)
    path = write_json(tmp_path / "binned.json", spec)
    from_file = combine([nsbi, read_source(path)])  # roonsbi.io.read_source: any format
    for values in points:
        assert from_file.nll(values) == pytest.approx(comb.nll(values), abs=1e-9)
