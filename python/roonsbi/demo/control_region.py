r"""The demo's control region: a HistFactory channel of feature x0 in a background-dominated sample.

:func:`control_region_spec` describes it in the format of :mod:`roonsbi.io.histfactory_build`
(inline histograms) and :func:`histfactory_workspace` builds it (HistFactory, in a subprocess);
:func:`roonsbi.plot.channel_yields` reads its yields per bin and sample back.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..inputs.toy import OffShellToy
from ..io.histfactory_build import build_histfactory_workspace
from ..models.workspace import read_workspace

__all__ = ["CHANNEL", "CR_EDGES", "CR_TILT", "CR_XSEC", "CR_YIELDS", "control_region_data", "control_region_spec",
           "histfactory_workspace"]

CHANNEL = "cr"
CR_EDGES = np.linspace(-3.5, 0.0, 15)
CR_YIELDS = {"bkg_cr": 10000.0, "sig_cr": 50.0}  # expected events at mu = 1, alpha = 0
CR_XSEC = 0.01  # CR-only background normalisation uncertainty
CR_TILT = 0.02  # CR-only background shape uncertainty (linear tilt across the bins)

#: the HistFactory measurement: POI mu, no luminosity uncertainty (the shared ``lumi`` is an OverallSys)
_MEASUREMENT = {"name": "meas", "lumi": 1.0, "lumi_rel_err": 0.1, "bin_low": 0, "bin_high": 1, "pois": ["mu"],
                "constant": ["Lumi"], "values": {}, "constraints": []}


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in np.ravel(z)])


def _contents(nu: float, mean: float, sigma: float, t: float) -> np.ndarray:
    r"""Bin contents of nu * phi(x; mean, sigma) e^{t x} in :data:`CR_EDGES`:
    nu * e^{t m + t^2 s^2 / 2} * P_bin(N(m + t s^2, s))."""
    shifted = mean + t * sigma**2
    return nu * math.exp(t * mean + 0.5 * (t * sigma) ** 2) * np.diff(_normal_cdf((CR_EDGES - shifted) / sigma))


def _sample(name: str, nom: np.ndarray, lo: np.ndarray, hi: np.ndarray, toy: OffShellToy) -> dict[str, Any]:
    """One sample: NormFactor mu (signal), OverallSys and shape-only HistoSys (inline histograms)."""
    total = nom.sum()
    modifiers: list[list[Any]] = [["NormFactor", "mu", 1.0, 0.0, 10.0]] if name == "sig_cr" else []
    overallsys = [["OverallSys", "lumi", 1.0 / toy.lumi_kappa, toy.lumi_kappa],
                  ["OverallSys", "eff", lo.sum() / total, hi.sum() / total]]
    histosys = [["HistoSys", "eff", {"contents": (lo * total / lo.sum()).tolist()},
                 {"contents": (hi * total / hi.sum()).tolist()}]]
    if name == "bkg_cr":
        tilt = CR_TILT * np.linspace(-1.0, 1.0, nom.size)
        down, up = nom * (1 - tilt), nom * (1 + tilt)
        histosys.append(["HistoSys", "cr_model", {"contents": (down * total / down.sum()).tolist()},
                         {"contents": (up * total / up.sum()).tolist()}])
        overallsys.append(["OverallSys", "cr_bkg_xsec", 1.0 - CR_XSEC, 1.0 + CR_XSEC])
    return {"name": name, "histo": {"contents": nom.tolist()}, "normalize_by_theory": False,
            "modifiers": modifiers + overallsys + histosys}


def control_region_spec(toy: OffShellToy, mu_true: float, rng: np.random.Generator) -> dict[str, Any]:
    r"""Histograms of feature x0 in [-3.5, 0] (14 bins) of a background-dominated control region:
    the toy's background shape in x0 (10000 events over all x0, ~6200 in the region) and a signal
    contamination (50 events over all x0 at mu = 1, ~1 in the region; no interference) scaled by
    ``mu``; data drawn from the expectation at ``mu_true``.

    Systematics: ``lumi`` (yields times kappa^alpha: OverallSys (1/kappa, kappa)) and ``eff`` (the
    toy's efficiency slope e^{alpha k x0}: bin contents of the tilted Gaussian, split into an
    OverallSys and a shape-only HistoSys) shared with the NSBI channel, and CR-only ``cr_bkg_xsec``
    (1% OverallSys) and ``cr_model`` (a +-2% linear tilt across the bins, HistoSys) on the background.

    Returns:
        the spec of :func:`roonsbi.io.histfactory_build.build_histfactory_workspace`.
    """
    k = toy.eff_slope
    shapes = {"bkg_cr": (toy.mean_b[0], toy.sigma_b[0]), "sig_cr": (toy.mean_s[0], toy.sigma_s[0])}
    samples, expected = [], np.zeros(len(CR_EDGES) - 1)
    for name, (mean, sigma) in shapes.items():
        nom, lo, hi = (_contents(CR_YIELDS[name], mean, sigma, t) for t in (0.0, -k, k))
        samples.append(_sample(name, nom, lo, hi, toy))
        expected += nom * (mu_true if name == "sig_cr" else 1.0)
    channel = {"name": CHANNEL, "input_file": "", "histo_path": "", "edges": CR_EDGES.tolist(),
               "data": {"contents": rng.poisson(expected).astype(float).tolist()}, "stat_config": None,
               "samples": samples}
    return {"measurement": dict(_MEASUREMENT), "channels": [channel]}


def control_region_data(spec: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """The bin edges and the observed counts of the control region of ``spec``."""
    channel = spec["channels"][0]
    return channel["edges"], channel["data"]["contents"]


def histfactory_workspace(spec: Mapping[str, Any], path: Path, overwrite: bool = False) -> Any:
    """Build the HistFactory workspace ``combined`` of ``spec`` in a subprocess, write it to
    ``path`` (an existing file only with ``overwrite``) and return it."""
    build_histfactory_workspace(spec, path, what="the control region", overwrite=overwrite)
    ws, _ = read_workspace(path, "combined")
    return ws
