"""RooFit <-> pyhf naming: modifier names, HistFactory's parameter names, parameter vectors.

pyhf modifier -> RooFit (HistFactory's names, :mod:`roonsbi.naming`):

* normsys / histosys ``X`` -> ``alpha_X`` (global observable ``nom_alpha_X``, constraint ``alpha_XConstraint``);
* lumi -> ``Lumi``; normfactor ``X`` -> ``X``;
* staterror ``staterror_<c>`` -> gammas ``gamma_stat_<c>_bin_b``; shapesys / shapefactor ``X`` -> ``gamma_X_bin_b``.

>>> modifier_of_alpha("alpha_jes"), gamma_stem("staterror_sr", "staterror"), pyhf_gamma_name("stat_sr")
('jes', 'stat_sr', ('staterror_sr', True))
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ...naming import GAMMA_NAME, alpha, nuisance_of_alpha

__all__ = [
    "LUMI_NAME",
    "VERSION",
    "gamma_names",
    "gamma_stem",
    "modifier_of_alpha",
    "pyhf_gamma_name",
    "pyhf_parameters",
    "roofit_names",
]

VERSION = "1.0.0"  #: pyhf's workspace and patchset schema version
LUMI_NAME = "Lumi"  #: RooFit name of pyhf's "lumi"
_STAT_PREFIX = "stat_"  # HistFactory's staterror gammas: gamma_stat_<c>_bin_b
_STATERROR_PREFIX = "staterror_"  # pyhf's (xml2json) staterror names: staterror_<c>
_GAMMA_PREFIX = "gamma_"
#: String attributes of RooFit objects that keep what the round trip pyhf -> RooFit -> pyhf needs.
_ATTR_MODIFIERS = "pyhf:modifiers"  # a sample's modifier order
_ATTR_KEYS = "pyhf:keys"  # the keys of a parameter's measurement configuration
_ATTR_ORDER = "pyhf:order"  # its position in the measurement's parameter list
_ATTR_MEASUREMENT = "pyhf:measurement"  # the measurement name
_ATTR_DATA = "pyhf:data"  # a shapesys uncertainty as written in the JSON


def modifier_of_alpha(name: str) -> str:
    """pyhf name ``X`` of a normsys / histosys parameter ``alpha_X`` (``name`` itself otherwise)."""
    return nuisance_of_alpha(name)


def gamma_stem(pyhf_name: str, kind: str) -> str:
    """Stem of the gammas ``gamma_<stem>_bin_b`` of a staterror / shapesys / shapefactor:
    ``staterror_<c>`` -> ``stat_<c>``, everything else its own name."""
    if kind == "staterror" and pyhf_name.startswith(_STATERROR_PREFIX):
        return _STAT_PREFIX + pyhf_name[len(_STATERROR_PREFIX):]
    return pyhf_name


def pyhf_gamma_name(stem: str) -> tuple[str, bool]:
    """(pyhf name, is a staterror by name) of gammas ``gamma_<stem>_bin_b``: ``stat_<c>`` -> ``staterror_<c>``."""
    stem = stem[len(_GAMMA_PREFIX):] if stem.startswith(_GAMMA_PREFIX) else stem
    if stem.startswith(_STAT_PREFIX):
        return _STATERROR_PREFIX + stem[len(_STAT_PREFIX):], True
    return stem, False


def gamma_names(pyhf_name: str, kind: str, n_bins: int) -> list[str]:
    """RooFit names of the ``n_bins`` gammas of a staterror / shapesys / shapefactor ``pyhf_name``."""
    stem = gamma_stem(pyhf_name, kind)
    if stem.startswith(_STAT_PREFIX):
        return [GAMMA_NAME.format(name=stem[len(_STAT_PREFIX):], b=b) for b in range(n_bins)]
    return [f"{_GAMMA_PREFIX}{stem}_bin_{b}" for b in range(n_bins)]


def roofit_names(model: Any) -> list[str]:
    """RooFit name of each entry of a pyhf Model's parameter vector (HistFactory's names):
    normsys/histosys X -> ``alpha_X``, lumi -> ``Lumi``, normfactor -> its name, bin b of a
    staterror ``staterror_<c>`` -> ``gamma_stat_<c>_bin_b``, of a shapesys/shapefactor X ->
    ``gamma_X_bin_b``."""
    types = dict(model.config.modifiers)
    names = [""] * model.config.npars
    for name in model.config.parameters:
        sl = model.config.par_slice(name)
        kind = types[name]
        if kind in ("normsys", "histosys"):
            names[sl.start] = alpha(name)
        elif kind == "lumi":
            names[sl.start] = LUMI_NAME
        elif kind == "normfactor":
            names[sl.start] = name
        else:
            names[sl] = gamma_names(name, kind, sl.stop - sl.start)
    return names


def pyhf_parameters(model: Any, values: Mapping[str, float]) -> np.ndarray:
    """pyhf parameter vector of ``model`` (a pyhf Model) from RooFit parameter values by name
    (:func:`roofit_names`); parameters not given keep pyhf's suggested initial value."""
    pars = np.array(model.config.suggested_init(), dtype=float)
    for i, name in enumerate(roofit_names(model)):
        if name in values:
            pars[i] = values[name]
    return pars

#: pyhf's default parameter settings per modifier type (pyhf.modifiers.*.required_parset).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "normfactor": {"inits": 1.0, "bounds": (0.0, 10.0)},
    "shapefactor": {"inits": 1.0, "bounds": (0.0, 10.0)},
    "normsys": {"inits": 0.0, "bounds": (-5.0, 5.0)},
    "histosys": {"inits": 0.0, "bounds": (-5.0, 5.0)},
    "staterror": {"inits": 1.0, "bounds": (1e-10, 10.0)},
    "shapesys": {"inits": 1.0, "bounds": (1e-10, 10.0)},
    "lumi": {},
}
