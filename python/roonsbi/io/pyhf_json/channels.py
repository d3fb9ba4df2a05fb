r"""The walk over the RooFit objects of one binned channel: its pyhf samples and parameters.

A HistFactory sample :math:`\nu_{sb} = f_s \prod_k \kappa_{sk}(\alpha_k)\,
\mathrm{PI}_{s}(\alpha)_b \prod_g \gamma_{gb}` maps factor by factor to pyhf modifiers (see
:mod:`roonsbi.io.pyhf_json`); constant factors multiply the sample data. A parametrized-NSBI
channel at a grid point :math:`\mu'_k` gives one sample per process with templates
:math:`T_{Jkb}`. The per-bin staterror width :math:`\sigma_b` is written as per-sample
uncertainties :math:`\delta_{sb}` with :math:`\sqrt{\sum_s\delta_{sb}^2}/\sum_s\nu_{sb} = \sigma_b`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ...library import load
from ...models.builders import gaussian_parts
from ...naming import alpha as alpha_name
from ...spec import PYHF_HISTOSYS_CODE, PYHF_NORMSYS_CODES, evaluate_formula
from .errors import PyhfExportError
from .expression import EXPRESSION_TYPE, python_formula
from .names import _ATTR_DATA, _ATTR_MODIFIERS, LUMI_NAME, modifier_of_alpha, pyhf_gamma_name

__all__: list[str] = []

ROOT = load()


@dataclass
class _Param:
    """One pyhf parameter (set): its modifier type and its RooFit variables."""

    name: str
    kind: str
    vars: list
    lumi: tuple[float, float] | None = None  # (auxdata, sigma)


@dataclass
class _Export:
    """What the walk over the channels collects."""

    channels: list = field(default_factory=list)
    observations: list = field(default_factory=list)
    params: dict = field(default_factory=dict)  # pyhf name -> _Param
    relation: dict = field(default_factory=dict)  # normfactor -> (formula, POI, coefficient, (f min, f max))
    pois: list = field(default_factory=list)
    initial: dict = field(default_factory=dict)  # declared starting values (see export._declared_initial)
    unused_configs: list = field(default_factory=list)  # [position, config] of imported configs without parameter
    #: how non-linear coefficients are written: "fixed" (normfactors fixed at f_J(at)), "expression"
    #: (roonsbi_expression modifiers, :mod:`.expression`) or "refuse" (recorded, refused by to_pyhf)
    mode: str = "fixed"
    at: dict = field(default_factory=dict)  # POI values of the "fixed" mode (default: declared starts)
    reparam: tuple | None = None  # (new POI, formula g(POI)) of to_pyhf(reparametrize=...)
    reparam_used: dict = field(default_factory=dict)  # new POI -> (POI variable, (g min, g max))

    @property
    def relation_or_at(self) -> bool:
        """The export is the model at fixed POIs (the "fixed" form with f_J, or explicit ``at``)."""
        return bool(self.at) or (bool(self.relation) and self.mode == "fixed")

    def add_param(self, name: str, kind: str, variables: Sequence[Any],
                  lumi: tuple[float, float] | None = None) -> None:
        """Register pyhf parameter ``name``; a second use must be the same kind on the same variables."""
        old = self.params.get(name)
        if old is None:
            self.params[name] = _Param(name, kind, list(variables), lumi)
            return
        same_kind = old.kind == kind or {old.kind, kind} == {"normsys", "histosys"}
        if not same_kind or [v.GetName() for v in old.vars] != [v.GetName() for v in variables]:
            raise PyhfExportError(f"pyhf parameter '{name}' would be both {old.kind} on "
                                  f"{[v.GetName() for v in old.vars]} and {kind} on {[v.GetName() for v in variables]}")


# -- small readers of RooFit objects -----------------------------------------------------
def _flatten(arg: Any) -> list:
    """The factors of nested ``RooProduct`` s."""
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
        raise PyhfExportError(f"parameter '{var.GetName()}' has several constraint terms "
                              f"{[c.GetName() for c in found]}")
    return found[0] if found else None


def _gauss_parts(var: Any, cons: Any) -> tuple[float, float]:
    """(global observable value, sigma) of a Gaussian constraint on ``var``."""
    parts = gaussian_parts(cons, var.GetName())
    if parts is None:
        raise PyhfExportError(f"constraint '{cons.GetName()}' of '{var.GetName()}' is not a Gaussian of it")
    return parts[0].getVal(), parts[1]


def _check_alpha(alpha: Any, constraints: Sequence[Any], what: str) -> None:
    """pyhf's normsys / histosys parameters have the constraint Gauss(0 | alpha, 1)."""
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


def _poi_range_values(poi: Any, coef: Any, formula: str | None = None, n: int = 1001) -> np.ndarray:
    """f(mu) on a dense grid over the POI range: the RooFit coefficient ``coef``, or ``formula`` of the POI."""
    grid = np.linspace(poi.getMin(), poi.getMax(), n)
    if formula is not None:
        return np.array([evaluate_formula(formula, {poi.GetName(): float(v)}) for v in grid])
    start = poi.getVal()
    out = []
    try:
        for v in grid:
            poi.setVal(float(v))
            out.append(coef.getVal())
    finally:
        poi.setVal(start)
    return np.array(out)


def _proportional(coef: Any, poi: Any, formula: str) -> float | None:
    """b if the coefficient is b * g(mu) over the POI range (g = ``formula``; 201 points, 1e-10), else None."""
    f = _poi_range_values(poi, coef, n=201)
    try:
        g = _poi_range_values(poi, None, formula, n=201)
    except ValueError:
        return None
    k = int(np.argmax(np.abs(g)))
    if not np.all(np.isfinite(f)) or not np.all(np.isfinite(g)) or g[k] == 0.0:
        return None
    slope = float(f[k] / g[k])
    tol = 1e-10 * max(float(np.max(np.abs(f))), 1e-300)
    return slope if np.all(np.abs(f - slope * g) <= tol) else None


def _check_histosys_code(code: int, alpha: Any, what: str, channel: str) -> None:
    """Only PiecewiseInterpolation code 4 is pyhf's histosys (code4p)."""
    if code != PYHF_HISTOSYS_CODE:
        raise PyhfExportError(
            f"histosys '{alpha.GetName()}' of {what} (channel '{channel}') uses PiecewiseInterpolation code {code}; "
            f"a pyhf workspace implies histosys code4p = PiecewiseInterpolation code {PYHF_HISTOSYS_CODE} "
            "(HistFactory's default) and cannot carry other codes")


# -- one sample's multiplicative factors -------------------------------------------------
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
        """A free RooRealVar (normfactor) or the Gaussian-constrained ``Lumi`` (lumi)."""
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
        return any(v.GetName() == alpha_name("lumi") for c in self.constraints for v in c.getVariables())

    def normsys(self, fiv: Any) -> None:
        """FlexibleInterpVar kappa(alpha) = nominal * prod_k kappa_k: nominal scales the data, each
        alpha_k a normsys with (lo, hi) relative to the nominal."""
        if fiv.globalBoundary() != 1.0:
            raise PyhfExportError(f"FlexibleInterpVar '{fiv.GetName()}' has boundary {fiv.globalBoundary()}; pyhf "
                                  "code4 uses 1")
        self.scale *= fiv.nominal()
        codes, low, high = list(fiv.interpolationCodes()), list(fiv.low()), list(fiv.high())
        for i, alpha in enumerate(fiv.variables()):
            if codes[i] not in PYHF_NORMSYS_CODES:
                raise PyhfExportError(
                    f"normsys '{alpha.GetName()}' of sample '{self.sample}' (channel '{self.channel}') uses "
                    f"FlexibleInterpVar code {codes[i]}; a pyhf workspace implies normsys code4 = FlexibleInterpVar "
                    f"code 4 or 5 (the same function; HistFactory's default) and cannot carry other codes")
            _check_alpha(alpha, self.constraints, "normsys")
            name = modifier_of_alpha(alpha.GetName())
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
            raise PyhfExportError(f"coefficient '{coef.GetName()}' depends on several POIs "
                                  f"{[p.GetName() for p in pois]}")
        poi = pois[0]
        slope = _proportional(coef, poi, poi.GetName())
        if slope is not None:  # f_J = b mu: the POI's normfactor, b scales the data
            self.scale *= slope
            self.variable(poi)
            return
        if self.ex.reparam is not None:
            new_poi, g = self.ex.reparam
            slope = _proportional(coef, poi, g)
            if slope is not None:  # f_J = b g(mu): normfactor of the new POI kappa = g(mu)
                values = _poi_range_values(poi, None, g)
                self.ex.reparam_used[new_poi] = (poi, (float(values.min()), float(values.max())))
                self.scale *= slope
                self.modifiers.append({"name": new_poi, "type": "normfactor", "data": None})
                return
            raise PyhfExportError(f"coefficient '{coef.GetName()}' = {_formula_of(coef)} of sample '{self.sample}' "
                                  f"is not proportional to {g}: the reparametrisation {new_poi} = {g} does not make "
                                  "it linear")
        self._nonlinear(coef, poi)

    def _nonlinear(self, coef: Any, poi: Any) -> None:
        """A fixed normfactor named like the coefficient, bounded by f over the POI range; the relation recorded."""
        name = coef.GetName()
        values = _poi_range_values(poi, coef)
        if not np.all(np.isfinite(values)):
            raise PyhfExportError(f"coefficient '{name}' = {_formula_of(coef)} is not finite over the range of "
                                  f"'{poi.GetName()}'")
        self.ex.relation[name] = (_formula_of(coef), poi, coef, (float(values.min()), float(values.max())))
        if self.ex.mode == "expression":  # pyhf evaluates f_J(mu) itself (:mod:`.expression`)
            self.ex.add_param(poi.GetName(), "normfactor", [poi])
            self.modifiers.append({"name": name, "type": EXPRESSION_TYPE,
                                   "data": {"expr": python_formula(_formula_of(coef))}})
            return
        self.ex.add_param(name, "normfactor", [coef])
        self.modifiers.append({"name": name, "type": "normfactor", "data": None})

    def data(self, nominal: np.ndarray) -> list:
        """Bin contents times the constant factors of the sample."""
        return [float(v) for v in nominal * self.scale]


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
    """The one observable of a channel pdf (pyhf channels are one-dimensional)."""
    obs = [o for o in observables if isinstance(o, ROOT.RooRealVar) and bare.dependsOn(o)]
    if len(obs) != 1:
        raise PyhfExportError(f"pdf '{bare.GetName()}' depends on {len(obs)} observables "
                              f"{[o.GetName() for o in obs]}; pyhf channels are one-dimensional")
    return obs[0]


# -- HistFactory channels ----------------------------------------------------------------
def _gamma_kind(phf: Any, constraints: Sequence[Any], channel: str) -> tuple[str, str, list]:
    """(pyhf name, kind, constraints per gamma) of a ParamHistFunc: Gaussian staterror
    (``gamma_stat_*`` / ``mc_stat_*``), unconstrained shapefactor or Poisson shapesys."""
    gammas = list(phf.paramList())
    names = [g.GetName() for g in gammas]
    stems = {re.sub(r"_bin_\d+$", "", n) for n in names}
    if len(stems) != 1 or not all(re.search(r"_bin_\d+$", n) for n in names):
        raise PyhfExportError(f"ParamHistFunc '{phf.GetName()}': gammas {names} are not named <name>_bin_<b>")
    pname, stat_named = pyhf_gamma_name(stems.pop())
    cons = [_constraint_of(g, constraints) for g in gammas]
    classes = {c.ClassName() for c in cons if c is not None}
    if stat_named or phf.GetName().startswith("mc_stat_"):
        if classes - {"RooGaussian"}:
            raise PyhfExportError(
                f"staterror '{phf.GetName()}' of channel '{channel}' has {sorted(classes)} constraints; pyhf's "
                "staterror is Gaussian (HistFactory: Channel.SetStatErrorConfig(threshold, 'Gaussian'); ROOT 6.40's "
                "default is Poisson)")
        return pname, "staterror", cons
    if not classes:
        return pname, "shapefactor", cons
    if classes != {"RooPoisson"}:
        raise PyhfExportError(f"shape systematic '{phf.GetName()}' of channel '{channel}' has {sorted(classes)} "
                              "constraints; pyhf's shapesys is Poisson (HistFactory ShapeSys ConstraintType Poisson)")
    return pname, "shapesys", cons


def _check_gamma_binning(phf: Any, obs: Any, n_bins: int) -> None:
    if phf.paramList().getSize() != n_bins:
        raise PyhfExportError(f"ParamHistFunc '{phf.GetName()}' has {phf.paramList().getSize()} gammas for "
                              f"{n_bins} bins")
    dvars = [v.GetName() for v in phf.dataVars()]
    if dvars != [obs.GetName()]:
        raise PyhfExportError(f"ParamHistFunc '{phf.GetName()}' depends on {dvars}, not on the channel observable")


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


@dataclass
class _SampleParts:
    """The RooFit pieces of one HistFactory sample."""

    builder: _SampleBuilder
    nominal: np.ndarray | None = None
    nominal_func: Any = None
    histosys: list = field(default_factory=list)  # (alpha, lo contents, hi contents)
    gamma_funcs: list = field(default_factory=list)  # ParamHistFuncs


def _sample_name(func: Any, channel: str) -> str:
    """HistFactory's ``<sample>_<channel>_shapes`` -> ``<sample>``."""
    m = re.match(rf"^(.+)_{re.escape(channel)}_shapes$", func.GetName())
    return m.group(1) if m else func.GetName()


def _add_nominal(parts: _SampleParts, nominal_func: Any, n_bins: int) -> None:
    sb = parts.builder
    if parts.nominal is not None:
        raise PyhfExportError(f"sample '{sb.sample}' of channel '{sb.channel}' has two nominal histograms")
    parts.nominal, parts.nominal_func = _hist_contents(nominal_func, n_bins), nominal_func


def _add_histosys(parts: _SampleParts, pi: Any, constraints: Sequence[Any], n_bins: int) -> None:
    """A PiecewiseInterpolation: its nominal histogram and one histosys per parameter."""
    sb = parts.builder
    _add_nominal(parts, pi.nominalHist(), n_bins)
    codes = list(pi.interpolationCodes())
    for i, (alpha, lo, hi) in enumerate(zip(pi.paramList(), pi.lowList(), pi.highList())):
        _check_histosys_code(codes[i], alpha, f"sample '{sb.sample}'", sb.channel)
        _check_alpha(alpha, constraints, "histosys")
        parts.histosys.append((alpha, _hist_contents(lo, n_bins), _hist_contents(hi, n_bins)))


def _sample_parts(sb: _SampleBuilder, func: Any, coef: Any, constraints: Sequence[Any], obs: Any) -> _SampleParts:
    """Sort the factors of a sample's function and coefficient into histograms, gammas and scale factors."""
    n_bins = obs.getBinning().numBins()
    parts = _SampleParts(sb)
    for f in _flatten(func) + _flatten(coef):
        if isinstance(f, ROOT.RooHistFunc):
            _add_nominal(parts, f, n_bins)
        elif isinstance(f, ROOT.PiecewiseInterpolation):
            _add_histosys(parts, f, constraints, n_bins)
        elif isinstance(f, ROOT.ParamHistFunc):
            _check_gamma_binning(f, obs, n_bins)
            parts.gamma_funcs.append(f)
        elif isinstance(f, ROOT.RooBinWidthFunction):
            continue  # HistFactory's bin-width bookkeeping: the histograms hold the bin contents
        else:
            sb.factor(f)
    return parts


def _nominal_of(parts: _SampleParts) -> np.ndarray:
    """The nominal bin contents of a sample (a sample without one is refused)."""
    if parts.nominal is None:
        sb = parts.builder
        raise PyhfExportError(f"sample '{sb.sample}' of channel '{sb.channel}' has no nominal histogram (RooHistFunc)")
    return parts.nominal


def _shapesys_data(gammas: Sequence[Any], cons: Sequence[Any], nominal: np.ndarray) -> list[float]:
    r"""pyhf's shapesys uncertainties :math:`\delta_b = \nu_b/\sqrt{\tau_b}` (the number stored on
    import where it gives the same tau), 0 for fixed gammas without a constraint."""
    delta = []
    for g, c, n in zip(gammas, cons, nominal):
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
    return delta


def _gamma_modifier(ex: _Export, phf: Any, constraints: Sequence[Any], parts: _SampleParts,
                    nominal: np.ndarray) -> dict:
    """The modifier of a ParamHistFunc (staterror data are filled per channel, :func:`_fill_staterror`)."""
    pname, kind, cons = _gamma_kind(phf, constraints, parts.builder.channel)
    gammas = list(phf.paramList())
    ex.add_param(pname, kind, gammas)
    entry: dict[str, Any] = {"name": pname, "type": kind, "data": None}
    if kind == "shapesys":
        entry["data"] = _shapesys_data(gammas, cons, nominal * parts.builder.scale)
    elif kind == "staterror":
        entry["data"] = ("staterror", gammas, cons, parts.nominal_func)  # filled per channel below
    return entry


def _sort_modifiers(func: Any, modifiers: list[dict]) -> None:
    """The modifier order of an imported sample (kept as a string attribute)."""
    order = func.getStringAttribute(_ATTR_MODIFIERS)
    if order:
        keys = [tuple(k) for k in json.loads(order)]
        modifiers.sort(key=lambda m: keys.index((m["name"], m["type"])) if (m["name"], m["type"]) in keys
                       else len(keys))


def _histfactory_sample(ex: _Export, channel: str, func: Any, coef: Any, constraints: Sequence[Any], obs: Any,
                        pois: Sequence[Any]) -> dict:
    """One pyhf sample of a RooRealSumPdf term coef * func (with the private key ``_scale``)."""
    sb = _SampleBuilder(ex, channel, _sample_name(func, channel), constraints, pois)
    parts = _sample_parts(sb, func, coef, constraints, obs)
    nominal = _nominal_of(parts)
    modifiers = list(sb.modifiers)
    for alpha, lo, hi in parts.histosys:
        np_name = modifier_of_alpha(alpha.GetName())
        ex.add_param(np_name, "histosys", [alpha])
        modifiers.append({"name": np_name, "type": "histosys",
                          "data": {"hi_data": sb.data(hi), "lo_data": sb.data(lo)}})
    modifiers += [_gamma_modifier(ex, phf, constraints, parts, nominal) for phf in parts.gamma_funcs]
    _sort_modifiers(func, modifiers)
    return {"name": sb.sample, "data": sb.data(nominal), "modifiers": modifiers, "_scale": sb.scale}


def _histfactory_channel(ex: _Export, name: str, bare: Any, constraints: Sequence[Any], obs: Any,
                         pois: Sequence[Any]) -> list:
    """The pyhf samples of a HistFactory channel (``RooRealSumPdf`` of ``RooProduct`` samples)."""
    samples = [_histfactory_sample(ex, name, func, coef, constraints, obs, pois)
               for func, coef in zip(bare.funcList(), bare.coefList())]
    _fill_staterror(samples, name)
    for s in samples:
        del s["_scale"]
    return samples


# -- staterror ---------------------------------------------------------------------------
def _proportional_staterror(sigma: float, contents: np.ndarray) -> np.ndarray:
    r"""Per-sample uncertainties of one bin proportional to the contents nu_s such that pyhf's
    width :math:`\sqrt{\sum_s\delta_s^2}/\sum_s\nu_s` is ``sigma``:
    :math:`\delta_s = \sigma\,\nu_s\,\sum\nu/\sqrt{\sum\nu^2}`."""
    return sigma * contents * contents.sum() / math.sqrt(np.sum(contents ** 2))


def _staterror_sigma(g: Any, c: Any, channel: str) -> float | None:
    """Width sigma_b of a staterror gamma's Gauss(1 | gamma, sigma_b); None for a fixed gamma (delta = 0)."""
    if c is None or g.isConstant():
        if c is None and not g.isConstant():
            raise PyhfExportError(f"staterror gamma '{g.GetName()}' of channel '{channel}' has no constraint "
                                  "but floats")
        return None
    glob, sigma = _gauss_parts(g, c)
    if glob != 1.0:
        raise PyhfExportError(f"staterror constraint '{c.GetName()}' has global observable {glob}, pyhf 1")
    return sigma


def _staterror_deltas(members: list, channel: str) -> np.ndarray:
    """(samples, bins) uncertainties of one staterror: those stored with the histograms where
    they give sigma_b, else proportional to the contents."""
    _, gammas, cons, _ = members[0][1]["data"]
    nom = np.array([s["data"] for s, _ in members])  # (S, B)
    # per-sample uncertainties stored with the nominal histograms (from_pyhf), scaled like the data
    stored = np.array([_hist_errors(m["data"][3], nom.shape[1]) * s["_scale"] for s, m in members])
    total = nom.sum(axis=0)
    delta = np.zeros_like(nom)
    for b, (g, c) in enumerate(zip(gammas, cons)):
        sigma = _staterror_sigma(g, c, channel)
        if sigma is None:
            continue  # delta = 0: pyhf fixes the gamma
        if math.isclose(math.sqrt(np.sum(stored[:, b] ** 2)) / total[b], sigma, rel_tol=1e-12):
            delta[:, b] = stored[:, b]  # the per-sample uncertainties stored with the histograms
        else:
            delta[:, b] = _proportional_staterror(sigma, nom[:, b])
    return delta


def _fill_staterror(samples: list, channel: str) -> None:
    """Per-sample staterror data reproducing each bin's Gaussian width exactly in pyhf's formula."""
    groups: dict[str, list] = {}
    for s in samples:
        for m in s["modifiers"]:
            if m["type"] == "staterror":
                groups.setdefault(m["name"], []).append((s, m))
    for members in groups.values():
        delta = _staterror_deltas(members, channel)
        for (_, m), d in zip(members, delta):
            m["data"] = [float(v) for v in d]


# -- parametrized-NSBI channels ----------------------------------------------------------
def _grid_index(pdf: Any, name: str) -> int:
    """Index k of the grid point mu'_k the RooNSBIParamHistPdf is at (between grid points: refused)."""
    grid = np.array(list(pdf.templates().grid))
    mu_prime = pdf.muPrime().getVal()
    k = int(np.argmin(np.abs(grid - mu_prime)))
    if not math.isclose(grid[k], mu_prime, rel_tol=1e-12, abs_tol=1e-12):
        raise PyhfExportError(
            f"mu' = {mu_prime:g} of channel '{name}' is between the grid points {list(grid)}: the vertical "
            "interpolation of histosys templates is not a pyhf construct; export a grid point (mu_prime=...)")
    return k


def _template_arrays(t: Any, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nominal (J, B), low and high (terms, B)) templates of grid point k."""
    n_grid, J, B = len(list(t.grid)), t.nProcesses, t.nBins
    nominal = np.array(list(t.nominal)).reshape(n_grid, J, B)[k]
    low = np.array(list(t.shapeLow)).reshape(-1, n_grid, B) if t.shapeLow.size() else np.zeros((0, n_grid, B))
    high = np.array(list(t.shapeHigh)).reshape(-1, n_grid, B) if t.shapeHigh.size() else np.zeros((0, n_grid, B))
    return nominal, low[:, k], high[:, k]


def _pnsbi_sample(ex: _Export, name: str, pdf: Any, j: int, scale: Any, k: int, constraints: Sequence[Any],
                  pois: Sequence[Any]) -> dict:
    """Process j of a parametrized channel at grid point k: its scale factors and histosys terms."""
    t = pdf.templates()
    nominal, low, high = _template_arrays(t, k)
    m = re.match(rf"^s_(.+)_{re.escape(name)}$", scale.GetName())
    sb = _SampleBuilder(ex, name, m.group(1) if m else scale.GetName(), constraints, pois)
    for f in _flatten(scale):
        sb.factor(f)
    modifiers = list(sb.modifiers)
    shape_params = list(pdf.shapeParams())
    for term in range(low.shape[0]):
        if t.shapeProcess[term] != j:
            continue
        alpha = shape_params[t.shapeParamIndex[term]]
        _check_histosys_code(t.shapeCode[term], alpha, f"process '{sb.sample}'", name)
        _check_alpha(alpha, constraints, "histosys")
        np_name = modifier_of_alpha(alpha.GetName())
        ex.add_param(np_name, "histosys", [alpha])
        modifiers.append({"name": np_name, "type": "histosys",
                          "data": {"hi_data": sb.data(high[term]), "lo_data": sb.data(low[term])}})
    return {"name": sb.sample, "data": sb.data(nominal[j]), "modifiers": modifiers}


def _pnsbi_staterror(ex: _Export, name: str, gammas: list, constraints: Sequence[Any], samples: list) -> None:
    """staterror_<channel>: the per-bin width sigma_b as uncertainties proportional to the contents."""
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


def _pnsbi_channel(ex: _Export, name: str, pdf: Any, constraints: Sequence[Any], obs: Any, pois: Sequence[Any]) -> list:
    """The pyhf samples of a RooNSBIParamHistPdf at its grid point (one per process)."""
    k = _grid_index(pdf, name)
    samples = [_pnsbi_sample(ex, name, pdf, j, s, k, constraints, pois) for j, s in enumerate(pdf.scales())]
    gammas = list(pdf.gammas())
    if gammas:
        _pnsbi_staterror(ex, name, gammas, constraints, samples)
    return samples
