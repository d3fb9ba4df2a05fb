"""Import: a pyhf workspace as a RooFit model with HistFactory's structure and names.

Per channel c: ``RooRealSumPdf`` ``<c>_model`` of samples ``RooProduct(shapes) * RooProduct(scale
factors)`` times the constraint terms (``model_<c>``); ``simPdf`` over ``channelCat``, ``obsData``
(one weighted entry per bin) and a ``ModelConfig`` (the measurement's POI, the free parameters as
nuisance parameters and pyhf's inits as the snapshot). Constraint terms: ``alpha_XConstraint`` =
Gauss(nom_alpha_X | alpha_X, 1) with nom_alpha_X in [-10, 10]; staterror Gauss(1 | gamma_b, sigma_b)
with :math:`\\sigma_b = \\sqrt{\\sum_s\\delta_{sb}^2}/\\sum_s\\nu_{sb}`; shapesys Poisson(tau_b | gamma_b tau_b)
with :math:`\\tau_b = (\\nu_b/\\delta_b)^2`; lumi Gauss(auxdata | Lumi, sigma).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ...checks import check_file
from ...library import load
from ...models.builders import gaussian_constraint, real_var
from ...models.combined import CombinedModel
from ...naming import (
    CATEGORY_NAME,
    DATA_NAME,
    MODEL_NAME,
    MODELCONFIG_NAME,
    SIM_NAME,
    WEIGHT_NAME,
    alpha,
    gamma_constraint,
    gamma_width,
    global_observable,
)
from ...spec import PYHF_HISTOSYS_CODE, PYHF_NORMSYS_CODES
from .errors import _patch_invalid, _pyhf_invalid
from .names import (
    _ATTR_DATA,
    _ATTR_KEYS,
    _ATTR_MEASUREMENT,
    _ATTR_MODIFIERS,
    _ATTR_ORDER,
    _DEFAULTS,
    LUMI_NAME,
    gamma_names,
    gamma_stem,
)

__all__ = ["PyhfModel", "from_pyhf"]

ROOT = load()

NORMSYS_CODE = PYHF_NORMSYS_CODES[0]  # the FlexibleInterpVar code an imported normsys gets


@dataclass
class PyhfModel(CombinedModel):
    """A pyhf workspace in RooFit (see :func:`from_pyhf`): ``simPdf``, ``obsData``, ``ModelConfig``."""


def _validated(spec: Mapping, measurement: str | None, patches: Sequence[Mapping]) -> Any:
    """The pyhf Workspace of ``spec`` with ``patches`` applied, checked by pyhf (schema and model)."""
    import jsonpatch
    import pyhf

    try:
        ws_py = pyhf.Workspace(dict(spec), validate=True)
        for p in patches:
            ws_py = pyhf.Workspace(jsonpatch.apply_patch(dict(ws_py), p), validate=True)
        ws_py.model(measurement_name=measurement)  # pyhf's own checks of the model
    except _pyhf_invalid() + _patch_invalid() as err:
        raise ValueError(f"not a valid pyhf workspace: {err}") from None
    _check_numbers(ws_py)
    return ws_py


def _check_numbers(spec: Mapping) -> None:
    """What pyhf's schema lets through: observations of another length than their channel's bins, negative
    or non-finite counts, non-finite sample contents, parameter bounds with min >= max and inits outside the
    bounds (ValueError naming the channel, sample or parameter and the first bad entry)."""
    bins = {c["name"]: len(c["samples"][0]["data"]) for c in spec["channels"]}
    for c in spec["channels"]:
        for s in c["samples"]:
            bad = [i for i, v in enumerate(s["data"]) if not math.isfinite(v)]
            if bad:
                raise ValueError(f"not a valid pyhf workspace: sample '{s['name']}' of channel '{c['name']}' has the "
                                 f"non-finite content {s['data'][bad[0]]} in bin {bad[0]}")
    for obs in spec["observations"]:
        data, name = obs["data"], obs["name"]
        if name in bins and len(data) != bins[name]:
            raise ValueError(f"not a valid pyhf workspace: observations of channel '{name}' have {len(data)} bins, "
                             f"its samples {bins[name]}")
        bad = [i for i, v in enumerate(data) if not (math.isfinite(v) and v >= 0)]
        if bad:
            raise ValueError(f"not a valid pyhf workspace: observations of channel '{name}' have the count "
                             f"{data[bad[0]]} in bin {bad[0]} (counts are finite and >= 0)")
    for meas in spec["measurements"]:
        for par in meas["config"].get("parameters", []):
            bounds = par.get("bounds", [])
            for k, (lo, hi) in enumerate(bounds):
                if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                    raise ValueError(f"not a valid pyhf workspace: parameter '{par['name']}' of measurement "
                                     f"'{meas['name']}' has the bounds [{lo}, {hi}] (give finite min < max)")
                inits = par.get("inits", [])
                if k < len(inits) and not lo <= inits[k] <= hi:
                    raise ValueError(f"not a valid pyhf workspace: parameter '{par['name']}' of measurement "
                                     f"'{meas['name']}' starts at {inits[k]}, outside its bounds [{lo}, {hi}]")


def from_pyhf(spec_or_path: Mapping | str | os.PathLike, measurement: str | None = None, name: str = "pyhf",
              patches: Sequence[Mapping] = ()) -> PyhfModel:
    """Build a RooFit model (HistFactory structure, see :mod:`roonsbi.io.pyhf_json`) from a pyhf workspace.

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
    if isinstance(spec_or_path, (str, os.PathLike)):
        path = check_file(spec_or_path, "pyhf workspace file")
        try:
            spec = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"pyhf workspace file {path} is not valid JSON ({err}): truncated or damaged?") from None
    else:
        spec = spec_or_path
    ws_py = _validated(spec, measurement, patches)
    spec = json.loads(json.dumps(dict(ws_py)))
    meas = ws_py.get_measurement(measurement_name=measurement)
    config = meas["config"]
    param_cfg = {p["name"]: p for p in config.get("parameters", [])}
    param_order = {p["name"]: i for i, p in enumerate(config.get("parameters", []))}
    return _Builder(spec, meas, param_cfg, param_order, name).build()


def _hist_func(name: str, obs: Any, contents: Sequence[float], errors: Sequence[float] | None = None) -> list:
    """[RooDataHist ``<name>DH``, RooHistFunc ``<name>``] of bin contents (and uncertainties)."""
    dh = ROOT.RooDataHist(f"{name}DH", "", ROOT.RooArgSet(obs))
    for b in range(len(contents)):
        dh.set(b, float(contents[b]), float(errors[b]) if errors is not None else 0.0)
    return [dh, ROOT.RooHistFunc(name, "", ROOT.RooArgSet(obs), dh)]


class _Builder:
    """Builds the RooFit objects of one pyhf workspace and measurement (keeps them alive in ``keep``)."""

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
        """(inits, bounds, fixed) of a parameter set: the measurement's, else pyhf's defaults."""
        default = _DEFAULTS[kind]
        c = self.cfg.get(pname, {})
        inits = c.get("inits", [default.get("inits", 1.0)] * n)
        bounds = c.get("bounds", [list(default.get("bounds", (0.0, 10.0)))] * n)
        if len(inits) != n or len(bounds) != n:
            raise ValueError(f"parameter '{pname}': {len(inits)} inits / {len(bounds)} bounds for {n} parameters")
        return [float(v) for v in inits], [[float(a), float(b)] for a, b in bounds], bool(c.get("fixed", False))

    def _mark(self, var: Any, pname: str) -> None:
        """Keep the keys and the position of the parameter's configuration (for the export)."""
        c = self.cfg.get(pname)
        var.setStringAttribute(_ATTR_KEYS, json.dumps([k for k in (c or {}) if k != "name"]))
        if c is not None:
            var.setStringAttribute(_ATTR_ORDER, str(self.order[pname]))

    def _vars(self, pname: str, kind: str, names: list) -> list:
        """The RooRealVars of pyhf parameter ``pname`` (made once; later uses must agree)."""
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
        """alpha_X with alpha_XConstraint = Gauss(nom_alpha_X | alpha_X, 1) (made once)."""
        if np_name in self.params:
            return self._vars(np_name, kind, [alpha(np_name)])[0]
        var = self._vars(np_name, kind, [alpha(np_name)])[0]
        var.setError(1.0)
        nom, cons, sigma = gaussian_constraint(var)
        self.globs.append(nom)
        self.keep += [sigma]
        self.constraints[np_name] = [cons]
        return var

    def lumi(self) -> Any:
        """Lumi with lumiConstraint = Gauss(auxdata | Lumi, sigma) of the measurement (made once)."""
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

    # -- gammas ----------------------------------------------------------------------
    def staterror(self, sname: str, members: list, c: str, obs: Any) -> Any:
        r"""ParamHistFunc of a staterror with Gauss(1 | gamma_b, sigma_b),
        :math:`\sigma_b = \sqrt{\sum_s\delta_{sb}^2}/\sum_s\nu_{sb}` (members: (nu_s, delta_s))."""
        if sname in self.params:
            raise ValueError(f"staterror '{sname}' is shared by several channels: not imported (its widths "
                             "are per channel in HistFactory)")
        if sname.startswith("stat_"):
            raise ValueError(f"staterror name '{sname}' would clash with HistFactory's gamma_stat_ naming")
        nom = np.sum([m[0] for m in members], axis=0)
        err = np.sqrt(np.sum([m[1] ** 2 for m in members], axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma = np.where(nom > 0, err / np.where(nom > 0, nom, 1.0), 0.0)
        gammas = self._vars(sname, "staterror", gamma_names(sname, "staterror", nom.size))
        cons_list = []
        for b, g in enumerate(gammas):
            if sigma[b] > 0:
                g.setError(float(sigma[b]))
                nom_g = self._glob(global_observable(g.GetName()), 1.0)
                sig = ROOT.RooConstVar(gamma_width(g.GetName()), "sigma", float(sigma[b]))
                cons_list.append(ROOT.RooGaussian(gamma_constraint(g.GetName()), "staterror", nom_g, g, sig))
                self.keep.append(sig)
            else:
                g.setConstant(True)  # pyhf fixes bins without uncertainty
        self.constraints[sname] = cons_list
        stem = gamma_stem(sname, "staterror")
        phf = ROOT.ParamHistFunc(f"mc_{stem}" if stem.startswith("stat_") else f"{c}_{stem}_staterror",
                                 "staterror", ROOT.RooArgList(obs), ROOT.RooArgList(*gammas))
        self.keep.append(phf)
        return phf

    def shapesys(self, c: str, sample: str, m: dict, nominal: np.ndarray, obs: Any) -> Any:
        r"""ParamHistFunc of a shapesys with Poisson(tau_b | gamma_b tau_b), :math:`\tau_b = (\nu_b/\delta_b)^2`."""
        name = m["name"]
        if name in self.params:
            raise ValueError(f"shapesys '{name}' is used by several samples: its constraint (tau from one sample) "
                             "is ambiguous; not imported")
        delta = np.array(m["data"], float)
        gammas = self._vars(name, "shapesys", gamma_names(name, "shapesys", len(delta)))
        cons = []
        for b, g in enumerate(gammas):
            if delta[b] > 0 and nominal[b] > 0:
                cons.append(self._poisson(g, float(nominal[b]), float(delta[b])))
            else:
                g.setConstant(True)  # pyhf fixes bins without uncertainty or content
        self.constraints[name] = cons
        phf = ROOT.ParamHistFunc(f"{c}_{name}_ShapeSys", "shapesys", ROOT.RooArgList(obs), ROOT.RooArgList(*gammas))
        self.keep.append(phf)
        return phf

    def _poisson(self, g: Any, nominal: float, delta: float) -> Any:
        """HistFactory's Poisson(tau | gamma tau) of one shapesys bin (tau = (nominal/delta)^2)."""
        gname = g.GetName()
        tau = (nominal / delta) ** 2
        g.setError(delta / nominal)
        tau_c = ROOT.RooConstVar(f"{gname}_tau", "tau", float(tau))
        mean = ROOT.RooProduct(f"{gname}_poisMean", "", ROOT.RooArgList(g, tau_c))
        nom = real_var(global_observable(gname), float(tau), 0.0, ROOT.RooNumber.infinity())
        nom.setConstant(True)
        self.globs.append(nom)
        p = ROOT.RooPoisson(gamma_constraint(gname), "shapesys", nom, mean)
        p.setNoRounding(True)
        p.setStringAttribute(_ATTR_DATA, repr(delta))  # the pyhf number, for the round trip
        self.keep += [tau_c, mean, p]
        return p

    def shapefactor(self, c: str, sample: str, m: dict, obs: Any) -> Any:
        """ParamHistFunc of free gammas (a shapefactor)."""
        gammas = self._vars(m["name"], "shapefactor", gamma_names(m["name"], "shapefactor", obs.getBins()))
        phf = ROOT.ParamHistFunc(f"{c}_{sample}_{m['name']}_shapeFactor", "shapefactor", ROOT.RooArgList(obs),
                                 ROOT.RooArgList(*gammas))
        self.keep.append(phf)
        return phf

    # -- samples ---------------------------------------------------------------------
    def histosys(self, c: str, sample: str, nom_func: Any, histo: list, obs: Any, used: list) -> Any:
        """PiecewiseInterpolation (code 4, positive definite) of a sample's histosys modifiers."""
        lows, highs, params = ROOT.RooArgList(), ROOT.RooArgList(), ROOT.RooArgList()
        for i, m in enumerate(histo):
            for side, key, target in (("low", "lo_data", lows), ("high", "hi_data", highs)):
                h, f = _hist_func(f"{sample}_{c}_Hist_alpha_{i}{side}", obs, m["data"][key])
                self.keep += [h, f]
                target.add(f)
            params.add(self.alpha(m["name"], "histosys"))
            used.append(m["name"])
        pi = ROOT.PiecewiseInterpolation(f"{sample}_{c}_Hist_alpha", "", nom_func, lows, highs, params)
        pi.setAllInterpCodes(PYHF_HISTOSYS_CODE)
        pi.setPositiveDefinite(True)
        self.keep.append(pi)
        return pi

    def normsys(self, c: str, sample: str, normsys: list, used: list) -> Any:
        """FlexibleInterpVar (code 4, nominal 1) of a sample's normsys modifiers."""
        params = ROOT.RooArgList()
        for m in normsys:
            params.add(self.alpha(m["name"], "normsys"))
            used.append(m["name"])
        lo = ROOT.std.vector["double"]([float(m["data"]["lo"]) for m in normsys])
        hi = ROOT.std.vector["double"]([float(m["data"]["hi"]) for m in normsys])
        codes = ROOT.std.vector["int"]([NORMSYS_CODE] * len(normsys))
        fiv = ROOT.RooStats.HistFactory.FlexibleInterpVar(f"{sample}_{c}_epsilon", "", params, 1.0, lo, hi, codes)
        self.keep.append(fiv)
        return fiv

    def _other_modifiers(self, c: str, s: dict, obs: Any, stat_funcs: dict, used: list,
                         shape_factors: Any, scale_factors: Any) -> None:
        """normfactor, lumi, staterror, shapefactor and shapesys factors of sample ``s``."""
        nominal = np.array(s["data"], float)
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
                shape_factors.add(self.shapefactor(c, s["name"], m, obs))
            elif t == "shapesys":
                shape_factors.add(self.shapesys(c, s["name"], m, nominal, obs))
                used.append(m["name"])
            elif t not in ("normsys", "histosys"):
                raise ValueError(f"modifier '{m['name']}' of type '{t}' cannot be imported")

    def sample(self, c: str, s: dict, obs: Any, stat_funcs: dict, used: list) -> tuple[Any, Any]:
        """(RooProduct of the shapes, RooProduct of the scale factors) of sample ``s``."""
        sample = s["name"]
        errors = next((m["data"] for m in s["modifiers"] if m["type"] == "staterror"), None)
        dh, nom_func = _hist_func(f"{sample}_{c}_nominal", obs, s["data"], errors)
        self.keep += [dh, nom_func]
        shape_factors, scale_factors = ROOT.RooArgList(), ROOT.RooArgList()
        histo = [m for m in s["modifiers"] if m["type"] == "histosys"]
        shape_factors.add(self.histosys(c, sample, nom_func, histo, obs, used) if histo else nom_func)
        normsys = [m for m in s["modifiers"] if m["type"] == "normsys"]
        if normsys:
            scale_factors.add(self.normsys(c, sample, normsys, used))
        self._other_modifiers(c, s, obs, stat_funcs, used, shape_factors, scale_factors)
        shapes = ROOT.RooProduct(f"{sample}_{c}_shapes", "", shape_factors)
        shapes.setStringAttribute(_ATTR_MODIFIERS, json.dumps([[m["name"], m["type"]] for m in s["modifiers"]]))
        scale = ROOT.RooProduct(f"{sample}_{c}_scaleFactors", "", scale_factors)
        self.keep += [shapes, scale]
        return shapes, scale

    # -- channels --------------------------------------------------------------------
    def staterrors(self, ch: dict, obs: Any, used: list) -> dict:
        """pyhf staterror name -> its ParamHistFunc, for the staterrors of channel ``ch``."""
        stat: dict[str, list] = {}
        for s in ch["samples"]:
            for m in s["modifiers"]:
                if m["type"] == "staterror":
                    stat.setdefault(m["name"], []).append((np.array(s["data"], float), np.array(m["data"], float)))
        funcs = {}
        for sname, members in stat.items():
            funcs[sname] = self.staterror(sname, members, ch["name"], obs)
            used.append(sname)
        return funcs

    def channel(self, ch: dict, counts: list) -> tuple[Any, Any, list]:
        """(model_<c> = RooRealSumPdf times the constraint terms, observable, constraint terms) of channel ``ch``."""
        c = ch["name"]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c):
            raise ValueError(f"channel name '{c}' is not a valid RooFit/HS3 identifier")
        n_bins = len(counts)
        obs = real_var(f"obs_x_{c}", 0.5, 0.0, float(n_bins))
        obs.setBins(n_bins)
        self.keep.append(obs)
        used: list[str] = []
        stat_funcs = self.staterrors(ch, obs, used)
        funcs, coefs = ROOT.RooArgList(), ROOT.RooArgList()
        for s in ch["samples"]:
            shapes, scale = self.sample(c, s, obs, stat_funcs, used)
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
        model = ROOT.RooProdPdf(MODEL_NAME.format(name=c), f"channel {c}", factors)
        self.keep.append(model)
        return model, obs, cons

    # -- the workspace ---------------------------------------------------------------
    def _simultaneous(self, obs_of: dict) -> tuple[Any, list]:
        """(simPdf over channelCat, the channel observables)."""
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
        return sim, obs_vars

    def _data(self, obs_of: dict, obs_vars: list) -> Any:
        """obsData: one entry per bin and channel, weighted by the observed count."""
        ws, cat = self.ws, self.ws.cat(CATEGORY_NAME)
        columns: dict[str, list] = {o.GetName(): [] for o in obs_vars}
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
        variables.add(cat)
        wvar = ROOT.RooRealVar(WEIGHT_NAME, WEIGHT_NAME, 1.0)
        variables.add(wvar)
        data = ROOT.RooDataSet.from_numpy(arrays, variables, name=DATA_NAME, title=DATA_NAME, weight_name=WEIGHT_NAME)
        if data.numEntries() != arrays[WEIGHT_NAME].size:
            raise RuntimeError(f"from_pyhf: the dataset kept {data.numEntries()} of {arrays[WEIGHT_NAME].size} bins")
        return data

    def _poi_var(self) -> str | None:
        """RooFit name of the measurement's POI, as pyhf reads it: ``""`` is no POI (pyhf's POI-less
        model); any one-parameter modifier can be the POI (a normfactor ``X`` -> ``X``, normsys /
        histosys ``X`` -> ``alpha_X``, lumi -> ``Lumi``, a one-bin shapesys / staterror /
        shapefactor -> its gamma)."""
        poi = self.meas["config"]["poi"]
        if poi == "":
            return None
        if poi not in self.params:
            raise ValueError(f"the POI '{poi}' of measurement '{self.meas['name']}' is not a parameter of the model "
                             f"(parameters: {sorted(self.params)})")
        variables = self.params[poi]
        if len(variables) != 1:
            raise ValueError(f"the POI '{poi}' of measurement '{self.meas['name']}' has {len(variables)} parameters "
                             "(one per bin); pyhf refuses multi-parameter POIs as well")
        return str(variables[0].GetName())

    def _model_config(self, obs_vars: list) -> Any:
        """ModelConfig: the measurement's POI, the free parameters, observables, global observables, pyhf's inits."""
        ws = self.ws
        mc = ROOT.RooStats.ModelConfig(MODELCONFIG_NAME, ws)
        mc.SetPdf(ws.pdf(SIM_NAME))
        poi = self._poi_var()
        mc.SetParametersOfInterest(ROOT.RooArgSet(ws.var(poi)) if poi else ROOT.RooArgSet())
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
        initial = ROOT.RooArgSet(*[ws.var(v.GetName()) for vs in self.params.values() for v in vs
                                   if ws.var(v.GetName())])
        mc.SetSnapshot(initial)  # pyhf's inits (the export writes them back)
        return mc

    def build(self) -> PyhfModel:
        """The RooWorkspace with simPdf, obsData and ModelConfig, as a :class:`PyhfModel`."""
        ws = self.ws
        obs_of = {o["name"]: o["data"] for o in self.spec["observations"]}
        sim, obs_vars = self._simultaneous(obs_of)
        ws.Import(sim, ROOT.RooFit.Silence(True), ROOT.RooFit.RecycleConflictNodes(True))
        ws.Import(self._data(obs_of, obs_vars), ROOT.RooFit.Silence(True))
        ws.Import(self._model_config(obs_vars))
        return PyhfModel(ws, ws.GetName())
