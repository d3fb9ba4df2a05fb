r"""pyhf JSON (schema 1.0.0): export of binned channels, patchsets over the mu' grid, import.

**Export** (:func:`to_pyhf`): every binned channel of a roonsbi model becomes a pyhf channel:

* parametrized-NSBI channels (:class:`~roonsbi.parametrized.ParametrizedModel`, or a
  ``RooNSBIParamHistPdf`` in a combination) at one grid point :math:`\mu'_k`: one sample per
  process with the templates :math:`T_{Jkb}` of that grid point;
* HistFactory channels (``RooRealSumPdf`` of ``RooProduct`` samples, as made by ROOT's
  HistFactory or :func:`from_pyhf`).

RooFit objects map to pyhf modifiers exactly as HistFactory's XML maps to pyhf
(``pyhf xml2json``), and only where the maths is identical:

==============================================  ==========================================
RooFit                                          pyhf
==============================================  ==========================================
``FlexibleInterpVar`` code 4 or 5 (alpha_X)     ``normsys`` X (pyhf default ``code4``)
``PiecewiseInterpolation`` code 4 (alpha_X)     ``histosys`` X (pyhf default ``code4p``)
``ParamHistFunc`` gamma_stat_<c>_bin_b with     ``staterror`` staterror_<c>:
Gaussian constraints of width sigma_b           sqrt(sum_s delta_sb^2) / sum_s nu_sb = sigma_b
``ParamHistFunc`` with Poisson constraints      ``shapesys`` X, delta_b = nu_b / sqrt(tau_b)
(tau_b) on gamma_X_bin_b
``ParamHistFunc`` without constraints           ``shapefactor`` X
``Lumi`` with a Gaussian constraint             ``lumi`` (auxdata, sigmas in the measurement)
a free ``RooRealVar`` factor                    ``normfactor`` (its range as bounds)
a constant factor (``RooConstVar``, f_J = c)    multiplies the sample data
a fixed ``Lumi`` beside a nuisance parameter    multiplies the sample data (pyhf's name "lumi"
``alpha_lumi`` (pyhf name "lumi" as well)       is then the normsys / histosys)
==============================================  ==========================================

Everything else is refused with a ValueError naming the object: other interpolation codes
(a pyhf workspace has no place for interpolation codes, so only pyhf's defaults, which are
HistFactory's defaults, are exact), staterror with a Poisson constraint (ROOT 6.40's
``StatErrorConfig`` default; pyhf's staterror is Gaussian), Gaussian-constrained shapesys,
constrained normalisation factors other than ``Lumi``, unbinned ``RooNSBIPdf`` channels,
mu' between grid points, and unknown classes. HistFactory's positive-definite clamp of a
process's interpolated histosys content has no pyhf counterpart; it only acts where the pyhf
yield would be negative (where pyhf's likelihood is undefined).

**Staterror of parametrized NSBI.** The MC uncertainty of a parametrized channel is one relative
width sigma_b per bin (from the per-process-pair sums of squared weights, which pyhf cannot
hold); it is written as per-sample uncertainties proportional to the sample contents,
:math:`\delta_{sb} = \sigma_b\,\nu_{sb}\,\sum_s\nu_{sb}/\sqrt{\sum_s\nu_{sb}^2}`, for which pyhf's
:math:`\sqrt{\sum_s\delta_{sb}^2}/\sum_s\nu_{sb}` is exactly sigma_b. Bins whose gamma is constant
(below the threshold) get delta = 0, which pyhf fixes.

**Non-linear POI dependence.** pyhf has only linear normalisation factors. A process whose
coefficient is the POI itself gets the normfactor named like the POI; a constant coefficient
scales the sample data; any other coefficient f_J(mu) (``sqrt(mu)``, ``mu - sqrt(mu)``) becomes
a normfactor of its own, named like the RooFit coefficient (``f_<process>_<channel>``), fixed
(``"fixed": true``) at f_J of the POI's initial value, with bounds covering f_J over the POI range.
The relation f_J(mu) cannot be stored in a pyhf workspace (the schema allows no extra keys);
:func:`poi_relation` returns it (``{"poi": "mu", "normfactors": {"f_S_pnsbi": "mu - sqrt(mu)"},
...}``) and :func:`to_patchset` stores it in the patchset metadata. **Recipe** (what
:func:`pyhf_profile_scan` does, with pyhf only): for each mu, set the f normfactors to f_J(mu)
(``init_pars``), keep them fixed (``fixed_params``) and fit the other parameters with
``pyhf.infer.mle.fit``; -2 log L(mu) minus its minimum over mu is the profile-likelihood ratio
t(mu) of the roonsbi channel. The measurement's POI is then the first such normfactor (the
schema needs one), which is meaningless for pyhf's own hypothesis tests.

**Patchsets** (:func:`to_patchset`): the parametrized channel over its whole mu' grid, one JSON
patch per grid point replacing the sample, modifier and observation data of that point in the
workspace of the first grid point.

**Import** (:func:`from_pyhf`): a pyhf workspace becomes a RooFit model with HistFactory's
structure and names (``RooRealSumPdf`` ``<c>_model`` of ``RooProduct`` samples,
``FlexibleInterpVar`` code 4, ``PiecewiseInterpolation`` code 4, ``ParamHistFunc`` gammas,
``alpha_X`` / ``nom_alpha_X`` / ``alpha_XConstraint``, ``gamma_stat_<c>_bin_b``, ``Lumi``),
``simPdf`` over ``channelCat``, the dataset ``obsData`` and a ``ModelConfig`` (one measurement:
its POI, parameter settings and, as the snapshot, the initial values), usable by
:func:`roonsbi.combine.combine`. The global observables of staterror, shapesys and lumi have
unbounded ranges, so their constraint terms are exactly pyhf's normalised Normal and
(continuous) Poisson densities; ``nom_alpha_X`` has HistFactory's range [-10, 10] (so that
nuisance parameters shared with HistFactory or roonsbi channels combine), which normalises
``alpha_XConstraint`` by P(|N(alpha, 1)| <= 10), a factor 1 - 3e-7 at |alpha| = 5 and 1 to
double precision for |alpha| < 2.5. RooFit's binned NLL includes the log n! terms, so for one
channel the RooFit NLL equals pyhf's ``-logpdf`` up to these truncation terms (a RooSimultaneous
of several channels adds a parameter-independent constant). Exporting an imported
workspace gives back the same JSON (the modifier order and the keys of the measurement's
parameter configurations are kept as string attributes of the RooFit objects), for one
measurement and observations listed in the order of the channels. Refused on import (pyhf
accepts them, HistFactory cannot hold them): a staterror shared by several channels; channel
names that are not identifiers.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..library import load
from ..models.builders import gaussian_parts, real_var
from ..models.combined import CombinedModel, channels_of
from ..models.workspace import WorkspaceModel
from ..naming import CATEGORY_NAME, DATA_NAME, MODELCONFIG_NAME, SIM_NAME, WEIGHT_NAME
from ..spec import PYHF_HISTOSYS_CODE, PYHF_NORMSYS_CODES, evaluate_formula

ROOT = load()

VERSION = "1.0.0"
#: Interpolation codes pyhf workspaces imply: normsys code4 = FlexibleInterpVar 4,
#: histosys code4p = PiecewiseInterpolation 4 (HistFactory's defaults).
NORMSYS_CODE = PYHF_NORMSYS_CODES[0]  # the code an imported normsys gets
NORMSYS_CODES = PYHF_NORMSYS_CODES
HISTOSYS_CODE = PYHF_HISTOSYS_CODE
LUMI_NAME = "Lumi"  # RooFit name of pyhf's "lumi"
#: Range of the global observables nom_alpha_X of imported workspaces: HistFactory's (and
#: roonsbi's), so that nuisance parameters shared with other channels combine.
ALPHA_GLOBAL_RANGE = (-10.0, 10.0)
_ATTR_MODIFIERS = "pyhf:modifiers"
_ATTR_KEYS = "pyhf:keys"
_ATTR_ORDER = "pyhf:order"
_ATTR_MEASUREMENT = "pyhf:measurement"
_ATTR_DATA = "pyhf:data"

#: pyhf's default parameter settings per modifier type (pyhf.modifiers.*.required_parset).
_DEFAULTS = {
    "normfactor": {"inits": 1.0, "bounds": (0.0, 10.0)},
    "shapefactor": {"inits": 1.0, "bounds": (0.0, 10.0)},
    "normsys": {"inits": 0.0, "bounds": (-5.0, 5.0)},
    "histosys": {"inits": 0.0, "bounds": (-5.0, 5.0)},
    "staterror": {"inits": 1.0, "bounds": (1e-10, 10.0)},
    "shapesys": {"inits": 1.0, "bounds": (1e-10, 10.0)},
    "lumi": {},
}


class PyhfExportError(ValueError):
    """A construct that pyhf JSON cannot express exactly."""


# ---------------------------------------------------------------------------------------
# Export: the walk over RooFit objects
# ---------------------------------------------------------------------------------------
@dataclass
class _Param:
    """One pyhf parameter (set): its modifier type and its RooFit variables."""

    name: str
    kind: str
    vars: list
    lumi: tuple[float, float] | None = None  # (auxdata, sigma)


@dataclass
class _Export:
    channels: list = field(default_factory=list)
    observations: list = field(default_factory=list)
    params: dict = field(default_factory=dict)  # pyhf name -> _Param
    relation: dict = field(default_factory=dict)  # normfactor -> (formula, coefficient RooAbsReal)
    pois: list = field(default_factory=list)
    initial: dict = field(default_factory=dict)  # initial parameter values (ModelConfig snapshot)
    unused_configs: list = field(default_factory=list)  # [position, config] of imported configs without parameter

    def add_param(self, name: str, kind: str, variables: Sequence[Any], lumi: tuple[float, float] | None = None) -> None:
        old = self.params.get(name)
        if old is None:
            self.params[name] = _Param(name, kind, list(variables), lumi)
            return
        same_kind = old.kind == kind or {old.kind, kind} == {"normsys", "histosys"}
        if not same_kind or [v.GetName() for v in old.vars] != [v.GetName() for v in variables]:
            raise PyhfExportError(f"pyhf parameter '{name}' would be both {old.kind} on "
                                  f"{[v.GetName() for v in old.vars]} and {kind} on {[v.GetName() for v in variables]}")


def _flatten(arg: Any) -> list:
    if isinstance(arg, ROOT.RooProduct):
        out = []
        for c in arg.components():
            out += _flatten(c)
        return out
    return [arg]


def _hist_contents(func: Any, n_bins: int) -> np.ndarray:
    if not isinstance(func, ROOT.RooHistFunc):
        raise PyhfExportError(f"'{func.GetName()}' ({func.ClassName()}) is not a RooHistFunc histogram")
    dh = func.dataHist()
    if dh.numEntries() != n_bins:
        raise PyhfExportError(f"histogram '{func.GetName()}' has {dh.numEntries()} bins, the channel {n_bins}")
    return np.array([dh.weight(b) for b in range(n_bins)], dtype=float)


def _hist_errors(func: Any, n_bins: int) -> np.ndarray:
    dh = func.dataHist()
    return np.sqrt(np.array([dh.weightSquared(b) for b in range(n_bins)], dtype=float))


def _constraint_of(var: Any, constraints: Sequence[Any]) -> Any:
    found = [c for c in constraints if c.dependsOn(var)]
    if len(found) > 1:
        raise PyhfExportError(f"parameter '{var.GetName()}' has several constraint terms {[c.GetName() for c in found]}")
    return found[0] if found else None


def _gauss_parts(var: Any, cons: Any) -> tuple[float, float]:
    """(global observable value, sigma) of a Gaussian constraint on ``var``."""
    parts = gaussian_parts(cons, var.GetName())
    if parts is None:
        raise PyhfExportError(f"constraint '{cons.GetName()}' of '{var.GetName()}' is not a Gaussian of it")
    return parts[0].getVal(), parts[1]


def _np_name(alpha: Any) -> str:
    name = alpha.GetName()
    return name[len("alpha_"):] if name.startswith("alpha_") else name


def _check_alpha(alpha: Any, constraints: Sequence[Any], what: str) -> None:
    cons = _constraint_of(alpha, constraints)
    if cons is None or not isinstance(cons, ROOT.RooGaussian):
        raise PyhfExportError(f"{what} parameter '{alpha.GetName()}' needs a Gaussian constraint (pyhf's Gauss(0, 1)), "
                              f"has {cons.ClassName() if cons else 'none'}")
    glob, sigma = _gauss_parts(alpha, cons)
    if glob != 0.0 or sigma != 1.0:
        raise PyhfExportError(f"constraint of '{alpha.GetName()}' is Gauss({glob}, {sigma}); pyhf's {what} needs "
                              "Gauss(0, 1)")


def _formula_of(coef: Any) -> str:
    if isinstance(coef, ROOT.RooFormulaVar):
        return str(coef.expression())
    raise PyhfExportError(f"coefficient '{coef.GetName()}' ({coef.ClassName()}) is not a RooFormulaVar: its "
                          "dependence on the POIs cannot be recorded")


def _poi_range_values(poi: Any, coef: Any) -> np.ndarray:
    """f(mu) on a dense grid over the POI range (for the bounds of the fixed normfactor)."""
    start = poi.getVal()
    lo, hi = poi.getMin(), poi.getMax()
    out = []
    try:
        for v in np.linspace(lo, hi, 1001):
            poi.setVal(float(v))
            out.append(coef.getVal())
    finally:
        poi.setVal(start)
    return np.array(out)


class _SampleBuilder:
    """Collects the modifiers and the data factor of one sample."""

    def __init__(self, ex: _Export, channel: str, sample: str, constraints: Sequence[Any], pois: Sequence[Any]):
        self.ex, self.channel, self.sample = ex, channel, sample
        self.constraints, self.pois = constraints, pois
        self.modifiers: list[dict] = []
        self.scale = 1.0

    def factor(self, f: Any) -> None:
        """A multiplicative scale factor (normfactor, lumi, normsys, constant, coefficient)."""
        if isinstance(f, ROOT.RooConstVar):
            self.scale *= f.getVal()
        elif isinstance(f, ROOT.RooRealVar):
            self.variable(f)
        elif isinstance(f, ROOT.RooStats.HistFactory.FlexibleInterpVar):
            self.normsys(f)
        elif isinstance(f, ROOT.RooFormulaVar):
            self.coefficient(f)
        else:
            raise PyhfExportError(f"sample '{self.sample}' of channel '{self.channel}': factor '{f.GetName()}' "
                                  f"({f.ClassName()}) has no pyhf counterpart")

    def variable(self, var: Any) -> None:
        if var.GetName() == LUMI_NAME and var.isConstant() and self._lumi_taken():
            # HistFactory's fixed Lumi beside a systematic alpha_lumi, whose pyhf name is also
            # "lumi": the fixed Lumi is the constant factor it is (its constraint is constant)
            self.scale *= var.getVal()
            return
        cons = _constraint_of(var, self.constraints)
        if cons is None:
            self.ex.add_param(var.GetName(), "normfactor", [var])
            self.modifiers.append({"name": var.GetName(), "type": "normfactor", "data": None})
            return
        if var.GetName() != LUMI_NAME or not isinstance(cons, ROOT.RooGaussian):
            raise PyhfExportError(f"normalisation factor '{var.GetName()}' of sample '{self.sample}' has the "
                                  f"constraint '{cons.GetName()}' ({cons.ClassName()}); pyhf constrains only the "
                                  f"luminosity ('{LUMI_NAME}', Gaussian)")
        aux, sigma = _gauss_parts(var, cons)
        self.ex.add_param("lumi", "lumi", [var], (aux, sigma))
        self.modifiers.append({"name": "lumi", "type": "lumi", "data": None})

    def _lumi_taken(self) -> bool:
        """A constrained nuisance parameter alpha_lumi (pyhf name "lumi") is in the channel."""
        return any(v.GetName() == "alpha_lumi" for c in self.constraints for v in c.getVariables())

    def normsys(self, fiv: Any) -> None:
        if fiv.globalBoundary() != 1.0:
            raise PyhfExportError(f"FlexibleInterpVar '{fiv.GetName()}' has boundary {fiv.globalBoundary()}; pyhf "
                                  "code4 uses 1")
        self.scale *= fiv.nominal()
        codes, low, high = list(fiv.interpolationCodes()), list(fiv.low()), list(fiv.high())
        for i, alpha in enumerate(fiv.variables()):
            if codes[i] not in NORMSYS_CODES:
                raise PyhfExportError(
                    f"normsys '{alpha.GetName()}' of sample '{self.sample}' (channel '{self.channel}') uses "
                    f"FlexibleInterpVar code {codes[i]}; a pyhf workspace implies normsys code4 = FlexibleInterpVar "
                    f"code 4 or 5 (the same function; HistFactory's default) and cannot carry other codes")
            _check_alpha(alpha, self.constraints, "normsys")
            name = _np_name(alpha)
            self.ex.add_param(name, "normsys", [alpha])
            self.modifiers.append({"name": name, "type": "normsys",
                                   "data": {"hi": float(high[i]) / fiv.nominal(), "lo": float(low[i]) / fiv.nominal()}})

    def coefficient(self, coef: Any) -> None:
        """f_J(POIs): the POI itself -> normfactor of the POI; constant -> data scale; else a fixed
        normfactor named like the coefficient with the relation recorded."""
        pois = [p for p in self.pois if coef.dependsOn(p)]
        others = [v.GetName() for v in coef.getParameters(ROOT.RooArgSet())
                  if not v.isConstant() and not any(v.GetName() == p.GetName() for p in self.pois)]
        if others:
            raise PyhfExportError(f"coefficient '{coef.GetName()}' = {_formula_of(coef)} of sample '{self.sample}' "
                                  f"depends on the parameters {others}, which are not POIs: pyhf cannot express it")
        if not pois:
            self.scale *= coef.getVal()
            return
        if len(pois) > 1:
            raise PyhfExportError(f"coefficient '{coef.GetName()}' depends on several POIs {[p.GetName() for p in pois]}")
        formula = _formula_of(coef).replace(" ", "")
        poi = pois[0]
        if formula == poi.GetName():
            self.variable(poi)
            return
        name = coef.GetName()
        values = _poi_range_values(poi, coef)
        if not np.all(np.isfinite(values)):
            raise PyhfExportError(f"coefficient '{name}' = {_formula_of(coef)} is not finite over the range of "
                                  f"'{poi.GetName()}'")
        self.ex.relation[name] = (_formula_of(coef), poi, coef, (float(values.min()), float(values.max())))
        self.ex.add_param(name, "normfactor", [coef])
        self.modifiers.append({"name": name, "type": "normfactor", "data": None})

    def data(self, nominal: np.ndarray) -> list:
        return [float(v) for v in nominal * self.scale]


def _gamma_kind(phf: Any, constraints: Sequence[Any], channel: str) -> tuple[str, str, list]:
    """(pyhf name, kind, constraints per gamma) of a ParamHistFunc."""
    gammas = list(phf.paramList())
    names = [g.GetName() for g in gammas]
    stems = {re.sub(r"_bin_\d+$", "", n) for n in names}
    if len(stems) != 1 or not all(re.search(r"_bin_\d+$", n) for n in names):
        raise PyhfExportError(f"ParamHistFunc '{phf.GetName()}': gammas {names} are not named <name>_bin_<b>")
    stem = stems.pop()
    stem = stem[len("gamma_"):] if stem.startswith("gamma_") else stem
    cons = [_constraint_of(g, constraints) for g in gammas]
    classes = {c.ClassName() for c in cons if c is not None}
    is_stat = stem.startswith("stat_") or phf.GetName().startswith("mc_stat_")
    if is_stat:
        if classes - {"RooGaussian"}:
            raise PyhfExportError(
                f"staterror '{phf.GetName()}' of channel '{channel}' has {sorted(classes)} constraints; pyhf's staterror "
                "is Gaussian (HistFactory: Channel.SetStatErrorConfig(threshold, 'Gaussian'); ROOT 6.40's default is "
                "Poisson)")
        return "staterror_" + stem[len("stat_"):] if stem.startswith("stat_") else stem, "staterror", cons
    if not classes:
        return stem, "shapefactor", cons
    if classes != {"RooPoisson"}:
        raise PyhfExportError(f"shape systematic '{phf.GetName()}' of channel '{channel}' has {sorted(classes)} "
                              "constraints; pyhf's shapesys is Poisson (HistFactory ShapeSys ConstraintType Poisson)")
    return stem, "shapesys", cons


def _check_gamma_binning(phf: Any, obs: Any, n_bins: int) -> None:
    if phf.paramList().getSize() != n_bins:
        raise PyhfExportError(f"ParamHistFunc '{phf.GetName()}' has {phf.paramList().getSize()} gammas for {n_bins} bins")
    dvars = [v.GetName() for v in phf.dataVars()]
    if dvars != [obs.GetName()]:
        raise PyhfExportError(f"ParamHistFunc '{phf.GetName()}' depends on {dvars}, not on the channel observable")


def _counts(data: Any, obs: Any) -> np.ndarray:
    """Sum of weights per bin of ``obs`` (its binning) in a RooDataHist or (weighted) RooDataSet."""
    binning = obs.getBinning()
    counts = np.zeros(binning.numBins())
    for i in range(data.numEntries()):
        row = data.get(i)
        x = row.getRealValue(obs.GetName())
        counts[binning.binNumber(x)] += data.weight()
    return counts


def _observable(bare: Any, observables: Any) -> Any:
    obs = [o for o in observables if isinstance(o, ROOT.RooRealVar) and bare.dependsOn(o)]
    if len(obs) != 1:
        raise PyhfExportError(f"pdf '{bare.GetName()}' depends on {len(obs)} observables "
                              f"{[o.GetName() for o in obs]}; pyhf channels are one-dimensional")
    return obs[0]


def _histfactory_channel(ex: _Export, name: str, bare: Any, constraints: Sequence[Any], obs: Any, pois: Sequence[Any]) -> list:
    n_bins = obs.getBinning().numBins()
    samples = []
    for func, coef in zip(bare.funcList(), bare.coefList()):
        m = re.match(rf"^(.+)_{re.escape(name)}_shapes$", func.GetName())
        sample = m.group(1) if m else func.GetName()
        sb = _SampleBuilder(ex, name, sample, constraints, pois)
        nominal = None
        histosys, gamma_funcs = [], []
        for f in _flatten(func) + _flatten(coef):
            if isinstance(f, ROOT.RooHistFunc):
                if nominal is not None:
                    raise PyhfExportError(f"sample '{sample}' of channel '{name}' has two nominal histograms")
                nominal, nominal_func = _hist_contents(f, n_bins), f
            elif isinstance(f, ROOT.PiecewiseInterpolation):
                if nominal is not None:
                    raise PyhfExportError(f"sample '{sample}' of channel '{name}' has two nominal histograms")
                nominal_func = f.nominalHist()
                nominal = _hist_contents(nominal_func, n_bins)
                codes = list(f.interpolationCodes())
                for i, (alpha, lo, hi) in enumerate(zip(f.paramList(), f.lowList(), f.highList())):
                    if codes[i] != HISTOSYS_CODE:
                        raise PyhfExportError(
                            f"histosys '{alpha.GetName()}' of sample '{sample}' (channel '{name}') uses "
                            f"PiecewiseInterpolation code {codes[i]}; a pyhf workspace implies histosys code4p = "
                            f"PiecewiseInterpolation code {HISTOSYS_CODE} (HistFactory's default) and cannot carry "
                            "other codes")
                    _check_alpha(alpha, constraints, "histosys")
                    histosys.append((alpha, _hist_contents(lo, n_bins), _hist_contents(hi, n_bins)))
            elif isinstance(f, ROOT.ParamHistFunc):
                _check_gamma_binning(f, obs, n_bins)
                gamma_funcs.append(f)
            elif isinstance(f, ROOT.RooBinWidthFunction):
                continue  # HistFactory's bin-width bookkeeping: the histograms hold the bin contents
            else:
                sb.factor(f)
        if nominal is None:
            raise PyhfExportError(f"sample '{sample}' of channel '{name}' has no nominal histogram (RooHistFunc)")
        modifiers = list(sb.modifiers)
        for alpha, lo, hi in histosys:
            np_name = _np_name(alpha)
            ex.add_param(np_name, "histosys", [alpha])
            modifiers.append({"name": np_name, "type": "histosys",
                              "data": {"hi_data": sb.data(hi), "lo_data": sb.data(lo)}})
        for phf in gamma_funcs:
            pname, kind, cons = _gamma_kind(phf, constraints, name)
            gammas = list(phf.paramList())
            ex.add_param(pname, kind, gammas)
            entry = {"name": pname, "type": kind, "data": None}
            if kind == "shapesys":
                nom = nominal * sb.scale
                delta = []
                for g, c, n in zip(gammas, cons, nom):
                    if c is None:
                        if not g.isConstant():
                            raise PyhfExportError(f"shapesys gamma '{g.GetName()}' has no constraint but floats")
                        delta.append(0.0)
                        continue
                    tau = _poisson_tau(g, c)
                    stored = c.getStringAttribute(_ATTR_DATA)
                    d = float(stored) if stored else n / math.sqrt(tau)
                    if not math.isclose((n / d) ** 2, tau, rel_tol=1e-12):
                        d = n / math.sqrt(tau)
                    delta.append(d)
                entry["data"] = delta
            elif kind == "staterror":
                entry["data"] = ("staterror", gammas, cons, nominal_func)  # filled per channel below
            modifiers.append(entry)
        order = func.getStringAttribute(_ATTR_MODIFIERS)
        if order:
            keys = [tuple(k) for k in json.loads(order)]
            modifiers.sort(key=lambda m: keys.index((m["name"], m["type"])) if (m["name"], m["type"]) in keys else len(keys))
        samples.append({"name": sample, "data": sb.data(nominal), "modifiers": modifiers, "_scale": sb.scale})
    _fill_staterror(samples, name)
    for s in samples:
        del s["_scale"]
    return samples


def _poisson_tau(gamma: Any, cons: Any) -> float:
    """tau of HistFactory's shapesys constraint Poisson(tau | gamma tau)."""
    mean = cons.getMean()
    if not isinstance(mean, ROOT.RooProduct):
        raise PyhfExportError(f"constraint '{cons.GetName()}' is not HistFactory's Poisson(tau | gamma * tau)")
    consts = [c for c in mean.components() if c.GetName() != gamma.GetName()]
    if len(consts) != 1 or consts[0].dependsOn(gamma) or not cons.getX().isConstant():
        raise PyhfExportError(f"constraint '{cons.GetName()}' is not HistFactory's Poisson(tau | gamma * tau)")
    tau = consts[0].getVal()
    if not math.isclose(cons.getX().getVal(), tau, rel_tol=1e-12):
        raise PyhfExportError(f"constraint '{cons.GetName()}': global observable {cons.getX().getVal()} != tau {tau}")
    return tau


def _proportional_staterror(sigma: float, contents: np.ndarray) -> np.ndarray:
    r"""Per-sample uncertainties of one bin proportional to the contents nu_s such that pyhf's
    width :math:`\sqrt{\sum_s\delta_s^2}/\sum_s\nu_s` is ``sigma``:
    :math:`\delta_s = \sigma\,\nu_s\,\sum\nu/\sqrt{\sum\nu^2}`."""
    return sigma * contents * contents.sum() / math.sqrt(np.sum(contents ** 2))


def _fill_staterror(samples: list, channel: str) -> None:
    """Per-sample staterror data reproducing each bin's Gaussian width exactly in pyhf's formula."""
    groups: dict[str, list] = {}
    for s in samples:
        for m in s["modifiers"]:
            if m["type"] == "staterror":
                groups.setdefault(m["name"], []).append((s, m))
    for name, members in groups.items():
        _, gammas, cons, _ = members[0][1]["data"]
        nom = np.array([s["data"] for s, _ in members])  # (S, B)
        # per-sample uncertainties stored with the nominal histograms (from_pyhf), scaled like the data
        stored = np.array([_hist_errors(m["data"][3], nom.shape[1]) * s["_scale"] for s, m in members])
        total = nom.sum(axis=0)
        delta = np.zeros_like(nom)
        for b, (g, c) in enumerate(zip(gammas, cons)):
            if c is None or g.isConstant():
                if c is None and not g.isConstant():
                    raise PyhfExportError(f"staterror gamma '{g.GetName()}' of channel '{channel}' has no constraint "
                                          "but floats")
                continue  # delta = 0: pyhf fixes the gamma
            glob, sigma = _gauss_parts(g, c)
            if glob != 1.0:
                raise PyhfExportError(f"staterror constraint '{c.GetName()}' has global observable {glob}, pyhf 1")
            if math.isclose(math.sqrt(np.sum(stored[:, b] ** 2)) / total[b], sigma, rel_tol=1e-12):
                delta[:, b] = stored[:, b]  # the per-sample uncertainties stored with the histograms
            else:
                delta[:, b] = _proportional_staterror(sigma, nom[:, b])
        for (s, m), d in zip(members, delta):
            m["data"] = [float(v) for v in d]


def _pnsbi_channel(ex: _Export, name: str, pdf: Any, constraints: Sequence[Any], obs: Any, pois: Sequence[Any]) -> list:
    t = pdf.templates()
    grid = np.array(list(t.grid))
    mu_prime = pdf.muPrime().getVal()
    k = int(np.argmin(np.abs(grid - mu_prime)))
    if not math.isclose(grid[k], mu_prime, rel_tol=1e-12, abs_tol=1e-12):
        raise PyhfExportError(
            f"mu' = {mu_prime:g} of channel '{name}' is between the grid points {list(grid)}: the vertical interpolation "
            "of histosys templates is not a pyhf construct; export a grid point (mu_prime=...)")
    J, B = t.nProcesses, t.nBins
    nominal = np.array(list(t.nominal)).reshape(grid.size, J, B)[k]
    low = np.array(list(t.shapeLow)).reshape(-1, grid.size, B) if t.shapeLow.size() else np.zeros((0, grid.size, B))
    high = np.array(list(t.shapeHigh)).reshape(-1, grid.size, B) if t.shapeHigh.size() else np.zeros((0, grid.size, B))
    shape_params = list(pdf.shapeParams())
    samples = []
    for j, s in enumerate(pdf.scales()):
        m = re.match(rf"^s_(.+)_{re.escape(name)}$", s.GetName())
        sample = m.group(1) if m else s.GetName()
        sb = _SampleBuilder(ex, name, sample, constraints, pois)
        for f in _flatten(s):
            sb.factor(f)
        modifiers = list(sb.modifiers)
        for term in range(low.shape[0]):
            if t.shapeProcess[term] != j:
                continue
            alpha = shape_params[t.shapeParamIndex[term]]
            if t.shapeCode[term] != HISTOSYS_CODE:
                raise PyhfExportError(
                    f"histosys '{alpha.GetName()}' of process '{sample}' (channel '{name}') uses PiecewiseInterpolation "
                    f"code {t.shapeCode[term]}; a pyhf workspace implies histosys code4p = PiecewiseInterpolation code "
                    f"{HISTOSYS_CODE} and cannot carry other codes")
            _check_alpha(alpha, constraints, "histosys")
            np_name = _np_name(alpha)
            ex.add_param(np_name, "histosys", [alpha])
            modifiers.append({"name": np_name, "type": "histosys",
                              "data": {"hi_data": sb.data(high[term, k]), "lo_data": sb.data(low[term, k])}})
        samples.append({"name": sample, "data": sb.data(nominal[j]), "modifiers": modifiers})
    gammas = list(pdf.gammas())
    if gammas:
        stat = f"staterror_{name}"
        cons = [_constraint_of(g, constraints) for g in gammas]
        if any(c is not None and not isinstance(c, ROOT.RooGaussian) for c in cons):
            raise PyhfExportError(f"staterror of channel '{name}' is not Gaussian")
        ex.add_param(stat, "staterror", gammas)
        nom = np.array([s["data"] for s in samples])
        delta = np.zeros_like(nom)
        for b, (g, c) in enumerate(zip(gammas, cons)):
            if c is None or g.isConstant():
                continue
            glob, sigma = _gauss_parts(g, c)
            if glob != 1.0:
                raise PyhfExportError(f"staterror constraint '{c.GetName()}' has global observable {glob}, pyhf 1")
            delta[:, b] = _proportional_staterror(sigma, nom[:, b])
        for s, d in zip(samples, delta):
            s["modifiers"].append({"name": stat, "type": "staterror", "data": [float(v) for v in d]})
    return samples


def _param_configs(ex: _Export, poi: str | None) -> list:
    configs = []
    for p in ex.params.values():
        first = p.vars[0]
        if p.name in ex.relation:  # f_J(mu): fixed at f_J of the POI's initial value
            _, poi_var, coef, (fmin, fmax) = ex.relation[p.name]
            span = max(1.0, fmax - fmin)
            start = poi_var.getVal()
            poi_var.setVal(ex.initial.get(poi_var.GetName(), start))
            init = coef.getVal()
            poi_var.setVal(start)
            configs.append((1 << 30, {"name": p.name, "inits": [init],
                                      "bounds": [[fmin - span, fmax + span]], "fixed": True}))
            continue
        full: dict[str, Any] = {"name": p.name}
        inits = [ex.initial.get(v.GetName(), v.getVal()) for v in p.vars]
        bounds = [[v.getMin(), v.getMax()] for v in p.vars]
        const = [v.isConstant() for v in p.vars]
        default = _DEFAULTS[p.kind]
        if p.kind == "lumi":
            full.update(auxdata=[p.lumi[0]], sigmas=[p.lumi[1]], bounds=bounds, inits=inits)
        else:
            if any(i != default["inits"] for i in inits):
                full["inits"] = inits
            if any(tuple(b) != default["bounds"] for b in bounds):
                full["bounds"] = bounds
        if p.kind in ("staterror", "shapesys"):
            # bins without an uncertainty are fixed by pyhf anyway; the others must all float
            if all(const):
                full["fixed"] = True
        elif all(const):
            full["fixed"] = True
        elif any(const):
            raise PyhfExportError(f"pyhf parameter '{p.name}': some of {[v.GetName() for v in p.vars]} are constant; "
                                  "pyhf fixes a parameter set as a whole")
        keys = first.getStringAttribute(_ATTR_KEYS)
        if keys:
            wanted = json.loads(keys)
            full_all = {"name": p.name, "inits": inits, "bounds": bounds}
            if p.kind == "lumi":
                full_all.update(auxdata=[p.lumi[0]], sigmas=[p.lumi[1]])
            if all(const):
                full_all["fixed"] = True
            if "fixed" in wanted and "fixed" not in full_all:
                full_all["fixed"] = False
            full = {"name": p.name, **{k: full_all[k] for k in wanted if k in full_all}}
        if len(full) == 1 and (keys or p.name != poi):
            continue
        order = first.getStringAttribute(_ATTR_ORDER)
        configs.append((int(order) if order else 1 << 29, full))
    configs += [(int(pos), c) for pos, c in ex.unused_configs]
    configs.sort(key=lambda c: c[0])
    return [c for _, c in configs]


def _poi_vars(model_config: Any) -> list:
    return list(model_config.GetParametersOfInterest()) if model_config else []


def _collect(source: Any, channels: Iterable[str] | None, mu_prime: float | None) -> tuple[_Export, Any, str]:
    from ..models.parametrized import ParametrizedModel

    restore = None
    if isinstance(source, ParametrizedModel) and mu_prime is not None:
        restore = source.mu_prime.getVal()
        source.set_mu_prime(mu_prime)
    try:
        ex = _Export()
        if isinstance(source, WorkspaceModel):
            ws, mc = source.workspace, source.model_config
            chans = channels_of(source.workspace) if isinstance(source.model, ROOT.RooSimultaneous) else channels_of(source)
        else:
            ws, mc = source, source.obj(MODELCONFIG_NAME)
            chans = channels_of(source)
        if isinstance(mc.GetPdf(), ROOT.RooSimultaneous):  # channels in the order of the category's indices
            cat = mc.GetPdf().indexCat()
            chans.sort(key=lambda c: cat.lookupIndex(c.name))
        pois = _poi_vars(mc)
        ex.pois = pois
        snapshot = mc.GetSnapshot() if mc else None
        if snapshot:
            ex.initial = {v.GetName(): v.getVal() for v in snapshot}
        wanted = None if channels is None else list(channels)
        if wanted is not None:
            unknown = set(wanted) - {c.name for c in chans}
            if unknown:
                raise KeyError(f"no channels {sorted(unknown)} (channels: {[c.name for c in chans]})")
        for ch in chans:
            if wanted is not None and ch.name not in wanted:
                continue
            factors = list(ch.pdf.pdfList()) if isinstance(ch.pdf, ROOT.RooProdPdf) else [ch.pdf]
            bare = [f for f in factors if f.dependsOn(ch.observables)]
            constraints = [f for f in factors if not f.dependsOn(ch.observables)]
            if len(bare) != 1:
                raise PyhfExportError(f"channel '{ch.name}': expected one pdf of the observables, got "
                                      f"{[b.GetName() for b in bare]}")
            pdf = bare[0]
            if isinstance(pdf, ROOT.RooNSBIParamHistPdf):
                if mu_prime is not None and not isinstance(source, ParametrizedModel) \
                        and not math.isclose(pdf.muPrime().getVal(), mu_prime, rel_tol=1e-12, abs_tol=1e-12):
                    raise PyhfExportError(f"channel '{ch.name}' of a combination is at mu' = {pdf.muPrime().getVal():g} "
                                          f"(its data too); export the ParametrizedModel itself for mu' = {mu_prime:g}")
                obs = _observable(pdf, ch.observables)
                samples = _pnsbi_channel(ex, ch.name, pdf, constraints, obs, pois)
            elif isinstance(pdf, ROOT.RooRealSumPdf):
                obs = _observable(pdf, ch.observables)
                samples = _histfactory_channel(ex, ch.name, pdf, constraints, obs, pois)
            elif isinstance(pdf, ROOT.RooNSBIPdf):
                raise PyhfExportError(f"channel '{ch.name}' is an unbinned NSBI channel (RooNSBIPdf): pyhf JSON holds "
                                      "binned channels only (export a parametrized NSBI channel instead)")
            else:
                raise PyhfExportError(f"channel '{ch.name}': pdf '{pdf.GetName()}' ({pdf.ClassName()}) has no pyhf "
                                      "counterpart (binned HistFactory or parametrized NSBI channels only)")
            ex.channels.append({"name": ch.name, "samples": samples})
            ex.observations.append({"name": ch.name, "data": [float(v) for v in _counts(ch.data, obs)]})
        if not ex.channels:
            raise PyhfExportError("no channel to export")
        sim = ws.pdf(SIM_NAME)
        meas_name = sim.getStringAttribute(_ATTR_MEASUREMENT) if sim else None
        if sim and sim.getStringAttribute(_ATTR_KEYS):
            ex.unused_configs = json.loads(sim.getStringAttribute(_ATTR_KEYS))
        return ex, mc, meas_name or ""
    finally:
        if restore is not None:
            source.set_mu_prime(restore)


def _measurement_poi(ex: _Export) -> str:
    for p in ex.pois:
        if p.GetName() in ex.params:
            return p.GetName()
    if ex.relation:
        return next(iter(ex.relation))
    free = [p.name for p in ex.params.values() if p.kind == "normfactor"]
    if not free:
        raise PyhfExportError(f"none of the POIs {[p.GetName() for p in ex.pois]} is a parameter of the exported "
                              "channels, and there is no normfactor to use as the measurement's POI")
    return free[0]


def to_pyhf(source: Any, channels: Iterable[str] | None = None, mu_prime: float | None = None,
            measurement: str | None = None, validate: bool = True) -> dict:
    """pyhf workspace (a dict of schema 1.0.0) of the binned channels of ``source``.

    Args:
        source: a :class:`~roonsbi.parametrized.ParametrizedModel`, a
            :class:`~roonsbi.combine.CombinedModel` or other WorkspaceModel, or a RooWorkspace
            with a ModelConfig (e.g. HistFactory's ``combined``).
        channels: names of the channels to export (default all; an unbinned channel is an error).
        mu_prime: grid point of a ParametrizedModel (default its current mu').
        measurement: measurement name (default: the imported one, else ``"measurement"``).
        validate: check the result with pyhf's schema and build its model.

    Raises:
        PyhfExportError (a ValueError): a construct pyhf cannot express exactly (see the
        module doc).
    """
    ex, _, meas_name = _collect(source, channels, mu_prime)
    poi = _measurement_poi(ex)
    spec = {
        "channels": ex.channels,
        "observations": ex.observations,
        "measurements": [{"name": measurement or meas_name or "measurement",
                          "config": {"poi": poi, "parameters": _param_configs(ex, poi)}}],
        "version": VERSION,
    }
    if validate:
        _validate(spec)
    return spec


def poi_relation(source: Any, channels: Iterable[str] | None = None, mu_prime: float | None = None) -> dict:
    """How the exported normfactors depend on the POI: ``{"poi": name, "normfactors":
    {normfactor: formula}, "pyhf_poi": the measurement's POI}``; ``normfactors`` is empty when
    every POI dependence is linear (the POI is then a normfactor itself)."""
    ex, _, _ = _collect(source, channels, mu_prime)
    pois = {rel[1].GetName() for rel in ex.relation.values()}
    poi = pois.pop() if len(pois) == 1 else (ex.pois[0].GetName() if ex.pois else None)
    if pois:
        raise PyhfExportError(f"normfactors depend on several POIs {sorted(pois | {poi})}")
    return {"poi": poi, "normfactors": {k: v[0] for k, v in ex.relation.items()}, "pyhf_poi": _measurement_poi(ex)}


def _validate(spec: Mapping) -> None:
    import pyhf

    try:
        ws = pyhf.Workspace(spec, validate=True)
        ws.model()
    except Exception as err:
        raise PyhfExportError(f"the exported JSON is not a valid pyhf workspace: {err}") from None


def write_json(path: str | os.PathLike, spec: Mapping, overwrite: bool = False) -> Path:
    """Write ``spec`` (a workspace or patchset) as JSON; an existing file needs ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------------------
# Patchset over the mu' grid
# ---------------------------------------------------------------------------------------
def _label(v: float) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", f"{v:g}".replace("-", "m").replace(".", "p"))


def to_patchset(model: Any, hepdata: str, grid: Sequence[float] | None = None, description: str | None = None,
                measurement: str | None = None) -> tuple[dict, dict]:
    """The parametrized channel over its mu' grid as (background-only workspace, patchset).

    The workspace is the channel at the first grid point; patch ``<mup>_<value>`` (values
    ``[mu']``) replaces the sample, modifier and observation data with those of its grid point
    (a JSON patch made by ``jsonpatch``, the library pyhf applies patches with). The patchset metadata hold the POI relation
    (``"poi_relation"``, see :func:`poi_relation`). ``hepdata`` is the INSPIRE id of the
    publication (``ins`` + 7 digits), required by pyhf's patchset schema.
    """
    import jsonpatch
    import pyhf

    if not re.fullmatch(r"ins[0-9]{7}", hepdata or ""):
        raise ValueError(f"hepdata must be an INSPIRE id 'ins' + 7 digits (pyhf's patchset schema), got {hepdata!r}")
    points = [float(v) for v in (model.grid if grid is None else grid)]
    specs = [to_pyhf(model, mu_prime=v, measurement=measurement) for v in points]
    base = specs[0]
    poi = model.mu_prime.GetName()
    patches = []
    for v, spec in zip(points, specs):
        ops = jsonpatch.make_patch(base, spec).patch  # jsonpatch: pyhf's own patch library
        structure = json.dumps(_skeleton(base), sort_keys=True) == json.dumps(_skeleton(spec), sort_keys=True)
        if not structure:
            raise PyhfExportError(f"the workspace at {poi} = {v:g} differs in structure from the first grid point")
        patches.append({"metadata": {"name": f"{poi}_{_label(v)}", "values": [v]}, "patch": ops})
    patchset = {
        "metadata": {
            "description": description or f"parametrized NSBI channel '{model.name}' over its {poi} grid",
            "digests": {"sha256": pyhf.utils.digest(base, "sha256")},
            "labels": [poi],
            "references": {"hepdata": hepdata},
            "poi_relation": poi_relation(model, mu_prime=points[0]),
        },
        "patches": patches,
        "version": VERSION,
    }
    try:
        ps = pyhf.PatchSet(patchset)  # pyhf's schema validation
        ps.verify(pyhf.Workspace(base))
    except Exception as err:
        raise PyhfExportError(f"the patchset is not valid for pyhf: {err}") from None
    return base, patchset


def _skeleton(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _skeleton(v) for k, v in obj.items() if k not in ("data", "inits", "bounds")}
    if isinstance(obj, list):
        return [_skeleton(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------
# The pyhf recipe for non-linear POI dependence
# ---------------------------------------------------------------------------------------
@dataclass
class PyhfScan:
    """Profile scan of a pyhf workspace with the recipe of the module doc."""

    values: np.ndarray
    nll: np.ndarray  # -log L of the conditional fits (pyhf's logpdf, auxdata included)
    best_value: float
    best_nll: float
    fits: list  # pyhf parameter vectors of the conditional fits
    best_fit: np.ndarray
    par_names: list

    @property
    def t(self) -> np.ndarray:
        return 2.0 * (self.nll - self.best_nll)


def pyhf_profile_scan(spec: Mapping, relation: Mapping, values: Iterable[float], poi_bounds: tuple[float, float] | None = None,
                      measurement: str | None = None, tolerance: float = 1e-10) -> PyhfScan:
    """Profile scan in pyhf of a workspace with normfactors f_J(mu) (the recipe of the module
    doc): at each mu the normfactors of ``relation["normfactors"]`` are fixed at f_J(mu) and
    the rest is fitted with ``pyhf.infer.mle.fit``; the best fit minimises over mu (bounded
    scalar minimisation in ``poi_bounds``, default the scan range); the POI itself, where it is
    a normfactor of linear samples, is fixed at mu too. ``tolerance``: scipy's, per fit."""
    import pyhf
    from scipy.optimize import minimize_scalar

    ws = pyhf.Workspace(dict(spec))
    model = ws.model(measurement_name=measurement)
    data = ws.data(model)
    poi = relation["poi"]
    formulas = dict(relation.get("normfactors") or {})
    if poi in model.config.parameters:  # the POI itself is a normfactor of the linear samples
        formulas[poi] = poi
    index = {n: model.config.par_slice(n).start for n in formulas}
    fixed = list(model.config.suggested_fixed())
    for i in index.values():
        fixed[i] = True

    def conditional(mu: float, init: Any = None) -> tuple[float, np.ndarray]:
        pars = np.array(model.config.suggested_init() if init is None else init, dtype=float)
        bounds = [list(b) for b in model.config.suggested_bounds()]
        for n, i in index.items():
            pars[i] = evaluate_formula(formulas[n], {poi: mu})
            bounds[i] = [min(bounds[i][0], pars[i]), max(bounds[i][1], pars[i])]
        best, twice_nll = pyhf.infer.mle.fit(data, model, init_pars=pars.tolist(), fixed_params=fixed,
                                             par_bounds=bounds, return_fitted_val=True, tolerance=tolerance)
        return float(twice_nll) / 2.0, np.asarray(best)

    values = np.asarray(list(values), dtype=float)
    fits = [conditional(v) for v in values]
    nll = np.array([f[0] for f in fits])
    lo, hi = poi_bounds or (float(values.min()), float(values.max()))
    res = minimize_scalar(lambda m: conditional(m)[0], bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-7})
    best_nll, best_fit = conditional(float(res.x))
    k = int(np.argmin(nll))
    if nll[k] < best_nll:  # the scan point is better than the scalar minimiser
        best_nll, best_fit, best_value = nll[k], fits[k][1], float(values[k])
    else:
        best_value = float(res.x)
    return PyhfScan(values, nll, best_value, best_nll, [f[1] for f in fits], best_fit, list(model.config.par_names))


def roofit_names(model: Any) -> list[str]:
    """RooFit name of each entry of a pyhf Model's parameter vector (HistFactory's names):
    normsys/histosys X -> ``alpha_X``, lumi -> ``Lumi``, normfactor -> its name, bin b of a
    staterror ``staterror_<c>`` -> ``gamma_stat_<c>_bin_b``, of a shapesys/shapefactor X ->
    ``gamma_X_bin_b``."""
    types = {n: t for n, t in model.config.modifiers}
    names = [""] * model.config.npars
    for name in model.config.parameters:
        sl = model.config.par_slice(name)
        kind = types[name]
        if kind in ("normsys", "histosys"):
            names[sl.start] = f"alpha_{name}"
        elif kind == "lumi":
            names[sl.start] = LUMI_NAME
        elif kind == "normfactor":
            names[sl.start] = name
        else:
            stem = "stat_" + name[len("staterror_"):] if kind == "staterror" and name.startswith("staterror_") else name
            for b in range(sl.stop - sl.start):
                names[sl.start + b] = f"gamma_{stem}_bin_{b}"
    return names


def pyhf_parameters(model: Any, values: Mapping[str, float]) -> np.ndarray:
    """pyhf parameter vector of ``model`` (a pyhf Model) from RooFit parameter values by name
    (:func:`roofit_names`); parameters not given keep pyhf's suggested initial value."""
    pars = np.array(model.config.suggested_init(), dtype=float)
    for i, name in enumerate(roofit_names(model)):
        if name in values:
            pars[i] = values[name]
    return pars


# ---------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------
@dataclass
class PyhfModel(CombinedModel):
    """A pyhf workspace in RooFit (see :func:`from_pyhf`): ``simPdf``, ``obsData``, ``ModelConfig``."""


def from_pyhf(spec_or_path: Mapping | str | os.PathLike, measurement: str | None = None, name: str = "pyhf",
              patches: Sequence[Mapping] = ()) -> PyhfModel:
    """Build a RooFit model (HistFactory structure, see the module doc) from a pyhf workspace.

    Args:
        spec_or_path: the workspace dict or a JSON file.
        measurement: the measurement to use (default: the first).
        name: workspace name.
        patches: JSON patches (e.g. a patchset's ``patches[i]["patch"]``) applied first.

    Raises:
        ValueError: invalid pyhf JSON (pyhf's own validation), or constructs that are not
            imported exactly: custom modifiers, a staterror or shapesys shared by several
            channels or samples, staterror names beginning with ``stat_``.
    """
    import jsonpatch
    import pyhf

    spec = json.loads(Path(spec_or_path).read_text()) if isinstance(spec_or_path, (str, os.PathLike)) else spec_or_path
    try:
        ws_py = pyhf.Workspace(dict(spec), validate=True)
        for p in patches:
            ws_py = pyhf.Workspace(jsonpatch.apply_patch(dict(ws_py), p), validate=True)
        ws_py.model(measurement_name=measurement)  # pyhf's own checks of the model
    except Exception as err:
        raise ValueError(f"not a valid pyhf workspace: {err}") from None
    spec = json.loads(json.dumps(dict(ws_py)))
    meas = ws_py.get_measurement(measurement_name=measurement)
    config = meas["config"]
    param_cfg = {p["name"]: p for p in config.get("parameters", [])}
    param_order = {p["name"]: i for i, p in enumerate(config.get("parameters", []))}
    return _Builder(spec, meas, param_cfg, param_order, name).build()


class _Builder:
    def __init__(self, spec: dict, meas: dict, cfg: dict, order: dict, name: str):
        self.spec, self.meas, self.cfg, self.order = spec, meas, cfg, order
        self.ws = ROOT.RooWorkspace(name, f"pyhf workspace {meas['name']}")
        self.keep: list = []
        self.params: dict[str, list] = {}  # pyhf name -> RooRealVars
        self.constraints: dict[str, list] = {}  # pyhf name -> constraint pdfs
        self.globs: list = []
        self.kinds: dict[str, str] = {}

    # -- parameters ------------------------------------------------------------------
    def _settings(self, pname: str, kind: str, n: int) -> tuple[list, list, bool]:
        default = _DEFAULTS[kind]
        c = self.cfg.get(pname, {})
        inits = c.get("inits", [default.get("inits", 1.0)] * n)
        bounds = c.get("bounds", [list(default.get("bounds", (0.0, 10.0)))] * n)
        if len(inits) != n or len(bounds) != n:
            raise ValueError(f"parameter '{pname}': {len(inits)} inits / {len(bounds)} bounds for {n} parameters")
        return [float(v) for v in inits], [[float(a), float(b)] for a, b in bounds], bool(c.get("fixed", False))

    def _mark(self, var: Any, pname: str) -> None:
        c = self.cfg.get(pname)
        var.setStringAttribute(_ATTR_KEYS, json.dumps([k for k in (c or {}) if k != "name"]))
        if c is not None:
            var.setStringAttribute(_ATTR_ORDER, str(self.order[pname]))

    def _vars(self, pname: str, kind: str, names: list) -> list:
        if pname in self.params:
            if self.kinds[pname] != kind and {self.kinds[pname], kind} != {"normsys", "histosys"}:
                raise ValueError(f"modifier '{pname}' is both {self.kinds[pname]} and {kind}")
            if len(self.params[pname]) != len(names):
                raise ValueError(f"modifier '{pname}' has {len(self.params[pname])} and {len(names)} bins")
            return self.params[pname]
        inits, bounds, fixed = self._settings(pname, kind, len(names))
        out = []
        for n, v, (lo, hi) in zip(names, inits, bounds):
            var = real_var(n, v, lo, hi)
            var.setConstant(fixed)
            self._mark(var, pname)
            out.append(var)
        self.params[pname] = out
        self.kinds[pname] = kind
        return out

    def _glob(self, name: str, value: float, lo: float = -math.inf, hi: float = math.inf) -> Any:
        g = real_var(name, value, lo, hi)
        g.setConstant(True)
        self.globs.append(g)
        return g

    def alpha(self, np_name: str, kind: str) -> Any:
        if np_name in self.params:
            return self._vars(np_name, kind, [f"alpha_{np_name}"])[0]
        alpha = self._vars(np_name, kind, [f"alpha_{np_name}"])[0]
        alpha.setError(1.0)
        nom = self._glob(f"nom_alpha_{np_name}", 0.0, *ALPHA_GLOBAL_RANGE)
        sigma = ROOT.RooConstVar(f"sigma_alpha_{np_name}", "1", 1.0)
        cons = ROOT.RooGaussian(f"alpha_{np_name}Constraint", f"alpha_{np_name}Constraint", alpha, nom, sigma)
        self.keep += [sigma]
        self.constraints[np_name] = [cons]
        return alpha

    def lumi(self) -> Any:
        if "lumi" in self.params:
            return self.params["lumi"][0]
        c = self.cfg.get("lumi")
        if not c or any(k not in c for k in ("inits", "bounds", "auxdata", "sigmas")):
            raise ValueError("the lumi modifier needs a measurement parameter 'lumi' with inits, bounds, auxdata "
                             "and sigmas (as pyhf)")
        var = real_var(LUMI_NAME, float(c["inits"][0]), float(c["bounds"][0][0]), float(c["bounds"][0][1]))
        var.setConstant(bool(c.get("fixed", False)))
        self._mark(var, "lumi")
        nom = self._glob("nominalLumi", float(c["auxdata"][0]))
        sigma = ROOT.RooConstVar("sigma_Lumi", "sigma_Lumi", float(c["sigmas"][0]))
        cons = ROOT.RooGaussian("lumiConstraint", "lumiConstraint", var, nom, sigma)
        self.keep += [sigma]
        self.params["lumi"], self.kinds["lumi"] = [var], "lumi"
        self.constraints["lumi"] = [cons]
        return var

    # -- channels --------------------------------------------------------------------
    def channel(self, ch: dict, counts: list) -> tuple[Any, Any, list]:
        c = ch["name"]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c):
            raise ValueError(f"channel name '{c}' is not a valid RooFit/HS3 identifier")
        n_bins = len(counts)
        obs = real_var(f"obs_x_{c}", 0.5, 0.0, float(n_bins))
        obs.setBins(n_bins)
        self.keep.append(obs)
        used: list[str] = []
        stat: dict[str, list] = {}
        for s in ch["samples"]:
            for m in s["modifiers"]:
                if m["type"] == "staterror":
                    stat.setdefault(m["name"], []).append((np.array(s["data"], float), np.array(m["data"], float)))
        stat_funcs = {}
        for sname, members in stat.items():
            if sname in self.params:
                raise ValueError(f"staterror '{sname}' is shared by several channels: not imported (its widths "
                                 "are per channel in HistFactory)")
            if sname.startswith("stat_"):
                raise ValueError(f"staterror name '{sname}' would clash with HistFactory's gamma_stat_ naming")
            stem = "stat_" + sname[len("staterror_"):] if sname.startswith("staterror_") else sname
            nom = np.sum([m[0] for m in members], axis=0)
            err = np.sqrt(np.sum([m[1] ** 2 for m in members], axis=0))
            with np.errstate(divide="ignore", invalid="ignore"):
                sigma = np.where(nom > 0, err / np.where(nom > 0, nom, 1.0), 0.0)
            gammas = self._vars(sname, "staterror", [f"gamma_{stem}_bin_{b}" for b in range(n_bins)])
            cons_list = []
            for b, g in enumerate(gammas):
                if sigma[b] > 0:
                    g.setError(float(sigma[b]))
                    nom_g = self._glob(f"nom_gamma_{stem}_bin_{b}", 1.0)
                    sig = ROOT.RooConstVar(f"gamma_{stem}_bin_{b}_sigma", "sigma", float(sigma[b]))
                    cons_list.append(ROOT.RooGaussian(f"gamma_{stem}_bin_{b}_constraint", "staterror", nom_g, g, sig))
                    self.keep.append(sig)
                else:
                    g.setConstant(True)  # pyhf fixes bins without uncertainty
            self.constraints[sname] = cons_list
            phf = ROOT.ParamHistFunc(f"mc_{stem}" if stem.startswith("stat_") else f"{c}_{stem}_staterror",
                                     "staterror", ROOT.RooArgList(obs), ROOT.RooArgList(*gammas))
            self.keep.append(phf)
            stat_funcs[sname] = phf
            used.append(sname)

        funcs, coefs = ROOT.RooArgList(), ROOT.RooArgList()
        for s in ch["samples"]:
            sample = s["name"]
            nominal = np.array(s["data"], float)
            errors = next((np.array(m["data"], float) for m in s["modifiers"] if m["type"] == "staterror"), None)
            dh = ROOT.RooDataHist(f"{sample}_{c}_nominalDH", "", ROOT.RooArgSet(obs))
            for b in range(n_bins):
                dh.set(b, float(nominal[b]), float(errors[b]) if errors is not None else 0.0)
            nom_func = ROOT.RooHistFunc(f"{sample}_{c}_nominal", "", ROOT.RooArgSet(obs), dh)
            self.keep += [dh, nom_func]
            shape_factors, scale_factors = ROOT.RooArgList(), ROOT.RooArgList()
            histo = [m for m in s["modifiers"] if m["type"] == "histosys"]
            if histo:
                lows, highs, params = ROOT.RooArgList(), ROOT.RooArgList(), ROOT.RooArgList()
                for i, m in enumerate(histo):
                    for side, key in (("low", "lo_data"), ("high", "hi_data")):
                        h = ROOT.RooDataHist(f"{sample}_{c}_Hist_alpha_{i}{side}DH", "", ROOT.RooArgSet(obs))
                        for b in range(n_bins):
                            h.set(b, float(m["data"][key][b]), 0.0)
                        f = ROOT.RooHistFunc(f"{sample}_{c}_Hist_alpha_{i}{side}", "", ROOT.RooArgSet(obs), h)
                        self.keep += [h, f]
                        (lows if side == "low" else highs).add(f)
                    params.add(self.alpha(m["name"], "histosys"))
                    used.append(m["name"])
                pi = ROOT.PiecewiseInterpolation(f"{sample}_{c}_Hist_alpha", "", nom_func, lows, highs, params)
                pi.setAllInterpCodes(HISTOSYS_CODE)
                pi.setPositiveDefinite(True)
                self.keep.append(pi)
                shape_factors.add(pi)
            else:
                shape_factors.add(nom_func)
            normsys = [m for m in s["modifiers"] if m["type"] == "normsys"]
            if normsys:
                params = ROOT.RooArgList()
                for m in normsys:
                    params.add(self.alpha(m["name"], "normsys"))
                    used.append(m["name"])
                lo = ROOT.std.vector["double"]([float(m["data"]["lo"]) for m in normsys])
                hi = ROOT.std.vector["double"]([float(m["data"]["hi"]) for m in normsys])
                codes = ROOT.std.vector["int"]([NORMSYS_CODE] * len(normsys))
                fiv = ROOT.RooStats.HistFactory.FlexibleInterpVar(f"{sample}_{c}_epsilon", "", params, 1.0, lo, hi, codes)
                self.keep.append(fiv)
                scale_factors.add(fiv)
            for m in s["modifiers"]:
                t = m["type"]
                if t == "normfactor":
                    scale_factors.add(self._vars(m["name"], "normfactor", [m["name"]])[0])
                elif t == "lumi":
                    scale_factors.add(self.lumi())
                    used.append("lumi")
                elif t == "staterror":
                    shape_factors.add(stat_funcs[m["name"]])
                elif t == "shapefactor":
                    gammas = self._vars(m["name"], "shapefactor", [f"gamma_{m['name']}_bin_{b}" for b in range(n_bins)])
                    phf = ROOT.ParamHistFunc(f"{c}_{sample}_{m['name']}_shapeFactor", "shapefactor", ROOT.RooArgList(obs),
                                             ROOT.RooArgList(*gammas))
                    self.keep.append(phf)
                    shape_factors.add(phf)
                elif t == "shapesys":
                    shape_factors.add(self.shapesys(c, sample, m, nominal, obs))
                    used.append(m["name"])
                elif t not in ("normsys", "histosys"):
                    raise ValueError(f"modifier '{m['name']}' of type '{t}' cannot be imported")
            shapes = ROOT.RooProduct(f"{sample}_{c}_shapes", "", shape_factors)
            shapes.setStringAttribute(_ATTR_MODIFIERS, json.dumps([[m["name"], m["type"]] for m in s["modifiers"]]))
            scale = ROOT.RooProduct(f"{sample}_{c}_scaleFactors", "", scale_factors)
            self.keep += [shapes, scale]
            funcs.add(shapes)
            coefs.add(scale)
        sumpdf = ROOT.RooRealSumPdf(f"{c}_model", f"channel {c}", funcs, coefs, True)
        sumpdf.setAttribute("BinnedLikelihood")
        self.keep.append(sumpdf)
        cons = []
        for pname in dict.fromkeys(used):
            cons += self.constraints.get(pname, [])
        factors = ROOT.RooArgList(sumpdf)
        for k in cons:
            factors.add(k)
        model = ROOT.RooProdPdf(f"model_{c}", f"channel {c}", factors)
        self.keep.append(model)
        return model, obs, cons

    def shapesys(self, c: str, sample: str, m: dict, nominal: np.ndarray, obs: Any) -> Any:
        name = m["name"]
        if name in self.params:
            raise ValueError(f"shapesys '{name}' is used by several samples: its constraint (tau from one sample) "
                             "is ambiguous; not imported")
        delta = np.array(m["data"], float)
        gammas = self._vars(name, "shapesys", [f"gamma_{name}_bin_{b}" for b in range(len(delta))])
        cons = []
        for b, g in enumerate(gammas):
            if delta[b] > 0 and nominal[b] > 0:
                tau = (nominal[b] / delta[b]) ** 2
                g.setError(float(delta[b] / nominal[b]))
                tau_c = ROOT.RooConstVar(f"gamma_{name}_bin_{b}_tau", "tau", float(tau))
                mean = ROOT.RooProduct(f"gamma_{name}_bin_{b}_poisMean", "", ROOT.RooArgList(g, tau_c))
                nom = real_var(f"nom_gamma_{name}_bin_{b}", float(tau), 0.0, ROOT.RooNumber.infinity())
                nom.setConstant(True)
                self.globs.append(nom)
                p = ROOT.RooPoisson(f"gamma_{name}_bin_{b}_constraint", "shapesys", nom, mean)
                p.setNoRounding(True)
                p.setStringAttribute(_ATTR_DATA, repr(float(delta[b])))  # the pyhf number, for the round trip
                self.keep += [tau_c, mean, p]
                cons.append(p)
            else:
                g.setConstant(True)  # pyhf fixes bins without uncertainty or content
        self.constraints[name] = cons
        phf = ROOT.ParamHistFunc(f"{c}_{name}_ShapeSys", "shapesys", ROOT.RooArgList(obs), ROOT.RooArgList(*gammas))
        self.keep.append(phf)
        return phf

    def build(self) -> PyhfModel:
        ws = self.ws
        obs_of = {o["name"]: o["data"] for o in self.spec["observations"]}
        cat = ROOT.RooCategory(CATEGORY_NAME, CATEGORY_NAME)
        for ch in self.spec["channels"]:
            cat.defineType(ch["name"])
        self.keep.append(cat)
        sim = ROOT.RooSimultaneous(SIM_NAME, "pyhf workspace", cat)
        obs_vars = []
        for ch in self.spec["channels"]:
            if ch["name"] not in obs_of:
                raise ValueError(f"channel '{ch['name']}' has no observation")
            model, obs, _ = self.channel(ch, obs_of[ch["name"]])
            sim.addPdf(model, ch["name"])
            obs_vars.append(obs)
        sim.setStringAttribute(_ATTR_MEASUREMENT, self.meas["name"])
        # parameter configurations of parameters the model does not have (pyhf ignores them): kept
        # verbatim with their position, so that the export gives back the same JSON
        unused = [[self.order[n], c] for n, c in self.cfg.items() if n not in self.params]
        if unused:
            sim.setStringAttribute(_ATTR_KEYS, json.dumps(unused))
        ws.Import(sim, ROOT.RooFit.Silence(True), ROOT.RooFit.RecycleConflictNodes(True))
        # data: one weighted entry per bin and channel
        columns = {o.GetName(): [] for o in obs_vars}
        index, weights = [], []
        for ch, o in zip(self.spec["channels"], obs_vars):
            counts = np.array(obs_of[ch["name"]], float)
            n = counts.size
            for other in obs_vars:
                columns[other.GetName()].append(np.arange(n) + 0.5 if other is o else np.full(n, 0.5))
            index.append(np.full(n, cat.lookupIndex(ch["name"]), dtype=np.int32))
            weights.append(counts)
        arrays = {k: np.concatenate(v) for k, v in columns.items()}
        arrays[CATEGORY_NAME] = np.concatenate(index)
        arrays[WEIGHT_NAME] = np.concatenate(weights)
        variables = ROOT.RooArgSet()
        for o in obs_vars:
            variables.add(ws.var(o.GetName()))
        variables.add(ws.cat(CATEGORY_NAME))
        wvar = ROOT.RooRealVar(WEIGHT_NAME, WEIGHT_NAME, 1.0)
        variables.add(wvar)
        data = ROOT.RooDataSet.from_numpy(arrays, variables, name=DATA_NAME, title=DATA_NAME, weight_name=WEIGHT_NAME)
        if data.numEntries() != arrays[WEIGHT_NAME].size:
            raise RuntimeError(f"from_pyhf: the dataset kept {data.numEntries()} of {arrays[WEIGHT_NAME].size} bins")
        ws.Import(data, ROOT.RooFit.Silence(True))

        mc = ROOT.RooStats.ModelConfig(MODELCONFIG_NAME, ws)
        mc.SetPdf(ws.pdf(SIM_NAME))
        poi = self.meas["config"]["poi"]
        if not ws.var(poi):
            raise ValueError(f"the POI '{poi}' is not a parameter of the model")
        mc.SetParametersOfInterest(ROOT.RooArgSet(ws.var(poi)))
        nps = ROOT.RooArgSet()
        for vs in self.params.values():
            for v in vs:
                w = ws.var(v.GetName())
                if w and v.GetName() != poi and not w.isConstant():
                    nps.add(w)
        mc.SetNuisanceParameters(nps)
        obs_set = ROOT.RooArgSet(*[ws.var(o.GetName()) for o in obs_vars])
        obs_set.add(ws.cat(CATEGORY_NAME))
        mc.SetObservables(obs_set)
        mc.SetGlobalObservables(ROOT.RooArgSet(*[ws.var(g.GetName()) for g in self.globs if ws.var(g.GetName())]))
        initial = ROOT.RooArgSet(*[ws.var(v.GetName()) for vs in self.params.values() for v in vs if ws.var(v.GetName())])
        mc.SetSnapshot(initial)  # pyhf's inits (the export writes them back)
        ws.Import(mc)
        return PyhfModel(ws, ws.GetName())

