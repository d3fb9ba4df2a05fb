r"""The pyhf recipe for a non-linear POI dependence (:func:`roonsbi.io.pyhf_json.pyhf_profile_scan`):
pyhf alone against roonsbi's profile scan of the same parametrized channel."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest

from roonsbi.infer.fit import Fitter
from roonsbi.infer.scan import profile_scan
from roonsbi.inputs.toy import COEFFICIENTS
from roonsbi.io.pyhf_json import (
    poi_relation,
    pyhf_profile_scan,
    roofit_names,
    to_pyhf,
)
from support import offshell_pnsbi as _offshell_pnsbi


@pytest.mark.parametrize("basis", ["linear S", "off-shell"])
def test_parametrized_profile_scan_reproduced_in_pyhf(pnsbi, basis: str) -> None:
    """The documented recipe (pyhf only: normfactors fixed at f_J(mu), the rest fitted) gives
    roonsbi's profile scan of the channel at mu' = 1.6: t(mu) to 1e-6, mu-hat and the
    conditional nuisance parameters to 1e-4; also when no coefficient is linear (the off-shell
    basis S: mu - sqrt(mu), SBI: sqrt(mu), B: 1 - sqrt(mu), negative above mu = 1)."""
    if basis == "off-shell":
        pnsbi = _offshell_pnsbi()
    pnsbi.set_mu_prime(1.6)
    spec = to_pyhf(pnsbi, nonlinear="fixed")  # the model at mu = 1: POI-less, the f_J fixed normfactors
    relation = poi_relation(pnsbi)
    if basis == "off-shell":
        assert relation["normfactors"] == {f"f_{p}_offshell": c for p, c in COEFFICIENTS.items()}
        assert relation["pyhf_poi"] == ""  # no pyhf parameter means mu: the measurement is POI-less
    values = np.linspace(0.6, 2.4, 7)
    theirs = pyhf_profile_scan(spec, relation, values, poi_bounds=(0.0, 10.0))
    fitter = Fitter(pnsbi, tolerance=1e-8)
    ours = profile_scan(pnsbi, "mu", values, fitter=fitter)
    np.testing.assert_allclose(theirs.t, ours.t, atol=1e-6)
    assert theirs.best_value == pytest.approx(ours.best.values["mu"], rel=1e-4)
    names = roofit_names(pyhf.Workspace(spec).model())
    k = 4
    cond = fitter.fit({"mu": values[k]}, hesse=False).values
    fitted = dict(zip(names, theirs.fits[k]))
    for name, value in cond.items():
        if name != "mu":
            assert fitted[name] == pytest.approx(value, rel=1e-4, abs=1e-4), name
    pnsbi.set_mu_prime(1.0)
