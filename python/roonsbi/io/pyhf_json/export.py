"""Export: the binned channels of a roonsbi model or HistFactory workspace as a pyhf workspace.

:func:`to_pyhf` walks the channels (:mod:`.channels`), then writes the measurement: its POI and
one parameter configuration per parameter that differs from pyhf's defaults (or that an
imported workspace listed), with the declared starting values as ``inits``. A non-linear
coefficient f_J(mu) is refused, or (``nonlinear=``) becomes a ``roonsbi_expression`` modifier or,
in the model at fixed POIs, a fixed normfactor at f_J(mu) with bounds [f_min - s, f_max + s],
s = max(1, f_max - f_min), over the POI range; :func:`poi_relation` returns the relations f_J(mu).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ...atomic import write_text
from ...library import load
from ...models.combined import channels_of
from ...models.workspace import WorkspaceModel
from ...naming import INITIAL_ATTR, MODELCONFIG_NAME, SIM_NAME
from ...spec import evaluate_formula
from .channels import _counts, _Export, _histfactory_channel, _observable, _Param, _pnsbi_channel, _proportional
from .errors import PyhfExportError, _pyhf_invalid
from .expression import load_pyhf_model
from .names import _ATTR_KEYS, _ATTR_MEASUREMENT, _ATTR_ORDER, _DEFAULTS, VERSION

__all__ = ["PyhfExportError", "poi_relation", "to_pyhf", "write_json"]

ROOT = load()
_RELATION_ORDER = 1 << 30  # fixed normfactors f_J(mu) come last
_NEW_ORDER = 1 << 29  # parameters an imported workspace did not list: before them
_MODES = ("refuse", "expression", "fixed")  # to_pyhf(nonlinear=...)
_NOMINAL_SNAPSHOT = "NominalParamValues"  # HistFactory's (hist2workspace) snapshot of the nominal values


# -- the measurement's parameter configurations ------------------------------------------
def _initial(ex: _Export, var: Any, kind: str) -> float:
    """The declared starting value of a parameter, never the current (e.g. fitted) one: the
    ModelConfig snapshot (or HistFactory's ``NominalParamValues``), else the value it was built
    with (:data:`~roonsbi.naming.INITIAL_ATTR`), else pyhf's default for its modifier type."""
    name = var.GetName()
    if name in ex.initial:
        return float(ex.initial[name])
    built = var.getStringAttribute(INITIAL_ATTR)
    if built:
        return float(built)
    default = _DEFAULTS.get(kind, {}).get("inits")
    return float(default) if default is not None else float(var.getVal())


def _poi_value(ex: _Export, poi_var: Any) -> float:
    """The POI value of the "fixed" form: ``at``, else the POI's declared starting value."""
    return float(ex.at.get(poi_var.GetName(), _initial(ex, poi_var, "normfactor")))


def _relation_config(ex: _Export, name: str) -> dict:
    """f_J(mu): fixed at f_J(mu) of the "fixed" form, bounds covering f_J over the POI range."""
    _, poi_var, coef, (fmin, fmax) = ex.relation[name]
    span = max(1.0, fmax - fmin)
    start = poi_var.getVal()
    poi_var.setVal(_poi_value(ex, poi_var))
    init = coef.getVal()
    poi_var.setVal(start)
    return {"name": name, "inits": [init], "bounds": [[fmin - span, fmax + span]], "fixed": True}


def _reparam_config(ex: _Export, name: str) -> dict:
    """The new POI kappa = g(mu): starting value g(mu_0), bounds g over the POI range."""
    poi_var, (gmin, gmax) = ex.reparam_used[name]
    assert ex.reparam is not None
    init = evaluate_formula(ex.reparam[1], {poi_var.GetName(): _initial(ex, poi_var, "normfactor")})
    return {"name": name, "inits": [init], "bounds": [[gmin, gmax]]}


def _settings(ex: _Export, p: _Param) -> tuple[list, list, list]:
    """(inits, bounds, constant flags) of the RooFit variables of ``p``; a POI of the "fixed" form
    (``at``) is fixed at its value there."""
    inits = [_initial(ex, v, p.kind) for v in p.vars]
    bounds = [[v.getMin(), v.getMax()] for v in p.vars]
    const = [v.isConstant() for v in p.vars]
    if p.name in ex.at and ex.relation_or_at:
        inits, const = [float(ex.at[p.name])], [True]
        bounds = [[min(bounds[0][0], inits[0]), max(bounds[0][1], inits[0])]]
    return inits, bounds, const


def _default_config(ex: _Export, p: _Param) -> dict:
    """The keys that differ from pyhf's defaults (lumi: all of them); ``fixed`` if all are constant."""
    full: dict[str, Any] = {"name": p.name}
    inits, bounds, const = _settings(ex, p)
    default = _DEFAULTS[p.kind]
    if p.kind == "lumi":
        assert p.lumi is not None
        full.update(auxdata=[p.lumi[0]], sigmas=[p.lumi[1]], bounds=bounds, inits=inits)
    else:
        if any(i != default["inits"] for i in inits):
            full["inits"] = inits
        if any(tuple(b) != default["bounds"] for b in bounds):
            full["bounds"] = bounds
    # staterror / shapesys: bins without an uncertainty are fixed by pyhf anyway; the others must all float
    if all(const):
        full["fixed"] = True
    elif any(const) and p.kind not in ("staterror", "shapesys"):
        raise PyhfExportError(f"pyhf parameter '{p.name}': some of {[v.GetName() for v in p.vars]} are constant; "
                              "pyhf fixes a parameter set as a whole")
    return full


def _imported_config(ex: _Export, p: _Param, wanted: list[str]) -> dict:
    """Exactly the keys of an imported workspace's configuration (``wanted``), in its order."""
    inits, bounds, const = _settings(ex, p)
    full_all: dict[str, Any] = {"name": p.name, "inits": inits, "bounds": bounds}
    if p.kind == "lumi":
        assert p.lumi is not None
        full_all.update(auxdata=[p.lumi[0]], sigmas=[p.lumi[1]])
    if all(const):
        full_all["fixed"] = True
    if "fixed" in wanted and "fixed" not in full_all:
        full_all["fixed"] = False
    return {"name": p.name, **{k: full_all[k] for k in wanted if k in full_all}}


def _param_configs(ex: _Export, poi: str | None) -> list:
    """The measurement's parameter configurations, in the imported order where there was one."""
    configs = []
    for p in ex.params.values():
        if p.name in ex.relation and ex.mode == "fixed":
            configs.append((_RELATION_ORDER, _relation_config(ex, p.name)))
            continue
        first = p.vars[0]
        keys = first.getStringAttribute(_ATTR_KEYS)
        full = _default_config(ex, p)  # checks the constant flags of imported parameters too
        if keys:
            full = _imported_config(ex, p, json.loads(keys))
        if len(full) == 1 and (keys or p.name != poi):
            continue
        order = first.getStringAttribute(_ATTR_ORDER)
        configs.append((int(order) if order else _NEW_ORDER, full))
    configs += [(int(pos), c) for pos, c in ex.unused_configs]
    configs += [(_NEW_ORDER, _reparam_config(ex, n)) for n in ex.reparam_used]
    configs.sort(key=lambda c: c[0])
    return [c for _, c in configs]


# -- the walk over the channels ----------------------------------------------------------
@contextlib.contextmanager
def _at_mu_prime(source: Any, mu_prime: float | None) -> Iterator[None]:
    """A ParametrizedModel moved to ``mu_prime`` for the export and back afterwards."""
    from ...models.parametrized import ParametrizedModel

    if not isinstance(source, ParametrizedModel) or mu_prime is None:
        yield
        return
    restore = source.mu_prime.getVal()
    source.set_mu_prime(mu_prime)
    try:
        yield
    finally:
        source.set_mu_prime(restore)


def _workspace_of(source: Any) -> tuple[Any, Any, list]:
    """(RooWorkspace, ModelConfig, channels in the order of the category's indices) of ``source``."""
    if isinstance(source, WorkspaceModel):
        ws, mc = source.workspace, source.model_config
        chans = channels_of(source.workspace) if isinstance(source.model, ROOT.RooSimultaneous) else channels_of(source)
    else:
        ws, mc = source, source.obj(MODELCONFIG_NAME)
        chans = channels_of(source)
    if isinstance(mc.GetPdf(), ROOT.RooSimultaneous):
        cat = mc.GetPdf().indexCat()
        chans.sort(key=lambda c: cat.lookupIndex(c.name))
    return ws, mc, chans


def _selected(chans: list, channels: Iterable[str] | None) -> list:
    if channels is None:
        return chans
    wanted = list(channels)
    unknown = set(wanted) - {c.name for c in chans}
    if unknown:
        raise KeyError(f"no channels {sorted(unknown)} (channels: {[c.name for c in chans]})")
    return [c for c in chans if c.name in wanted]


def _export_channel(ex: _Export, ch: Any, source: Any, mu_prime: float | None) -> None:
    """Append the pyhf channel and observation of one roonsbi/HistFactory channel to ``ex``."""
    from ...models.parametrized import ParametrizedModel

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
        samples = _pnsbi_channel(ex, ch.name, pdf, constraints, obs, ex.pois)
    elif isinstance(pdf, ROOT.RooRealSumPdf):
        obs = _observable(pdf, ch.observables)
        samples = _histfactory_channel(ex, ch.name, pdf, constraints, obs, ex.pois)
    elif isinstance(pdf, ROOT.RooNSBIPdf):
        raise PyhfExportError(f"channel '{ch.name}' is an unbinned NSBI channel (RooNSBIPdf): pyhf JSON holds "
                              "binned channels only (export a parametrized NSBI channel instead)")
    else:
        raise PyhfExportError(f"channel '{ch.name}': pdf '{pdf.GetName()}' ({pdf.ClassName()}) has no pyhf "
                              "counterpart (binned HistFactory or parametrized NSBI channels only)")
    ex.channels.append({"name": ch.name, "samples": samples})
    ex.observations.append({"name": ch.name, "data": [float(v) for v in _counts(ch.data, obs)]})


def _collect(source: Any, channels: Iterable[str] | None, mu_prime: float | None, mode: str = "fixed",
             at: Mapping[str, float] | None = None, reparametrize: tuple[str, str] | None = None
             ) -> tuple[_Export, Any, str]:
    """(the walked channels and parameters, ModelConfig, imported measurement name or "")."""
    with _at_mu_prime(source, mu_prime):
        ex = _Export(mode=mode, at={k: float(v) for k, v in (at or {}).items()}, reparam=reparametrize)
        ws, mc, chans = _workspace_of(source)
        ex.pois = list(mc.GetParametersOfInterest()) if mc else []
        for snapshot in (ws.getSnapshot(_NOMINAL_SNAPSHOT), mc.GetSnapshot() if mc else None):
            if snapshot:
                ex.initial.update({v.GetName(): v.getVal() for v in snapshot})
        unknown = set(ex.at) - {p.GetName() for p in ex.pois}
        if unknown:
            raise PyhfExportError(f"at: {sorted(unknown)} are not POIs of the model ({[p.GetName() for p in ex.pois]})")
        for ch in _selected(chans, channels):
            _export_channel(ex, ch, source, mu_prime)
        if not ex.channels:
            raise PyhfExportError("no channel to export")
        sim = ws.pdf(SIM_NAME)
        meas_name = sim.getStringAttribute(_ATTR_MEASUREMENT) if sim else None
        if sim and sim.getStringAttribute(_ATTR_KEYS):
            ex.unused_configs = json.loads(sim.getStringAttribute(_ATTR_KEYS))
        return ex, mc, meas_name or ""


def _measurement_poi(ex: _Export) -> str:
    """The measurement's POI: the new POI of a reparametrisation, else a POI that is a free pyhf
    parameter, else ``""`` (pyhf's POI-less measurement: a model at fixed POIs, or channels the
    POIs do not enter), never a parameter that means something else."""
    if ex.reparam_used:
        if any(p.GetName() in ex.params for p in ex.pois):
            raise PyhfExportError(f"reparametrize={ex.reparam}: some coefficients are linear in the POI itself, "
                                  "others in the new POI; one pyhf POI cannot be both")
        return next(iter(ex.reparam_used))
    if ex.relation_or_at:
        return ""
    for poi in ex.pois:  # the pyhf parameter whose one RooFit variable is the POI (mu, alpha_X, a gamma)
        for p in ex.params.values():
            if [v.GetName() for v in p.vars] == [poi.GetName()]:
                return p.name
    return ""


def _reparametrisations(ex: _Export) -> list[str]:
    """The non-linear f_J that all other f_J are proportional to (each a reparametrisation kappa = f_J(mu)
    that makes every coefficient linear in kappa)."""
    out = []
    for formula, _, _, _ in ex.relation.values():
        if all(_proportional(coef, p, formula) is not None for _, p, coef, _ in ex.relation.values()) and \
                not any(p.GetName() in ex.params for p in ex.pois):
            out.append(formula)
    return list(dict.fromkeys(out))


def _refuse_nonlinear(ex: _Export) -> None:
    """The plain export of non-linear f_J(mu): a PyhfExportError naming them and the exact routes."""
    coefs = {name: rel[0] for name, rel in ex.relation.items()}
    poi = next(iter(ex.relation.values()))[1].GetName()
    reparam = _reparametrisations(ex)
    hint = (f" All coefficients are proportional to {reparam[0]}: reparametrize=('kappa', '{reparam[0]}') exports "
            f"them exactly as normfactors of the new POI kappa = {reparam[0]}." if reparam else
            " No reparametrisation makes them linear (they are not all proportional to one function of the POI).")
    raise PyhfExportError(
        f"the coefficients {coefs} are not linear in the POI '{poi}': a plain pyhf workspace cannot hold them "
        "(pyhf normfactors scale linearly; its schema has no parameter expressions), and fixing them would give a "
        "workspace whose POI means something else. Exact routes: (a) to_pyhf(..., nonlinear='expression'), read "
        "with roonsbi.io.pyhf_json.load_pyhf_model(path) (pyhf's custom-modifier mechanism evaluates f_J(mu)); "
        f"(b) to_patchset(..., mu=[...]): one patch per value of '{poi}' with the f_J fixed, which `pyhf patchset "
        "apply` + `pyhf fit --value` turn into -2 log L(mu), hence t(mu)." + hint)


# -- public ------------------------------------------------------------------------------
def to_pyhf(source: Any, channels: Iterable[str] | None = None, mu_prime: float | None = None,
            measurement: str | None = None, validate: bool = True, *, nonlinear: str = "refuse",
            at: Mapping[str, float] | None = None, reparametrize: tuple[str, str] | None = None) -> dict:
    """pyhf workspace (a dict of schema 1.0.0) of the binned channels of ``source``.

    Args:
        source: a :class:`~roonsbi.models.parametrized.ParametrizedModel`, a
            :class:`~roonsbi.models.combined.CombinedModel` or other WorkspaceModel, or a RooWorkspace
            with a ModelConfig (e.g. HistFactory's ``combined``).
        channels: names of the channels to export (default all; an unbinned channel is an error).
        mu_prime: grid point of a ParametrizedModel (default its current mu').
        measurement: measurement name (default: the imported one, else ``"measurement"``).
        validate: check the result with pyhf's schema and build its model (``"expression"``:
            with :func:`~roonsbi.io.pyhf_json.load_pyhf_model`).
        nonlinear: what becomes of coefficients f_J(mu) that are not proportional to a POI:
            ``"refuse"`` (default: a PyhfExportError naming them and the routes below);
            ``"expression"`` (route (a): ``roonsbi_expression`` modifiers that pyhf evaluates,
            read with :func:`~roonsbi.io.pyhf_json.load_pyhf_model`; not valid for pyhf's schema,
            so plain ``pyhf fit`` refuses the file instead of fitting another model); ``"fixed"``
            (the model at the POI values ``at``: every f_J a fixed normfactor f_J(at), the POIs
            fixed too, POI-less measurement ``""``; the patches of route (b), :func:`to_patchset`).
        at: POI values of the ``"fixed"`` form (default: the POIs' declared starting values);
            given, the POIs are fixed there even in a linear model.
        reparametrize: ``(new POI, g(POI))``, e.g. ``("kappa", "sqrt(mu)")``: coefficients
            proportional to g become normfactors of the new POI kappa = g(mu) (exact where every
            coefficient is b_J g(mu); the refusal says when this is so).

    Initial values (``inits``) are the declared starting values of the parameters (ModelConfig
    snapshot, else the values the model was built with), never the values of the last fit.

    Raises:
        PyhfExportError (a ValueError): a construct pyhf cannot express exactly (see
        :mod:`roonsbi.io.pyhf_json`).
    """
    if nonlinear not in _MODES:
        raise ValueError(f"nonlinear must be one of {_MODES}, got {nonlinear!r}")
    ex, _, meas_name = _collect(source, channels, mu_prime, nonlinear, at, reparametrize)
    if ex.relation and nonlinear == "refuse":
        _refuse_nonlinear(ex)
    if ex.relation and nonlinear == "fixed" and not ex.at:  # every POI at its declared start
        ex.at = {p.GetName(): _initial(ex, p, "normfactor") for p in ex.pois}
    poi = _measurement_poi(ex)
    spec = {
        "channels": ex.channels,
        "observations": ex.observations,
        "measurements": [{"name": measurement or meas_name or "measurement",
                          "config": {"poi": poi, "parameters": _param_configs(ex, poi)}}],
        "version": VERSION,
    }
    if validate:
        _validate(spec, expression=bool(ex.relation) and nonlinear == "expression")
    return spec


def poi_relation(source: Any, channels: Iterable[str] | None = None, mu_prime: float | None = None) -> dict:
    """How the exported normfactors depend on the POI: ``{"poi": name, "normfactors":
    {normfactor: formula}, "pyhf_poi": the measurement's POI}``; ``normfactors`` is empty when
    every POI dependence is linear (the POI is then a normfactor itself)."""
    ex, _, _ = _collect(source, channels, mu_prime)
    ex.at = {}
    pois = {rel[1].GetName() for rel in ex.relation.values()}
    poi = pois.pop() if len(pois) == 1 else (ex.pois[0].GetName() if ex.pois else None)
    if pois:
        raise PyhfExportError(f"normfactors depend on several POIs {sorted(pois | ({poi} if poi else set()))}")
    return {"poi": poi, "normfactors": {k: v[0] for k, v in ex.relation.items()}, "pyhf_poi": _measurement_poi(ex)}


def _validate(spec: Mapping, expression: bool = False) -> None:
    """pyhf's schema validation and model build of an exported workspace (``expression``: pyhf's
    model build with the expression modifiers, :func:`~roonsbi.io.pyhf_json.load_pyhf_model`)."""
    import pyhf

    try:
        if expression:
            load_pyhf_model(spec)
            return
        ws = pyhf.Workspace(spec, validate=True)
        ws.model()
    except _pyhf_invalid() as err:
        raise PyhfExportError(f"the exported JSON is not a valid pyhf workspace: {err}") from None


def write_json(path: str | os.PathLike, spec: Mapping, overwrite: bool = False) -> Path:
    """Write ``spec`` (a workspace or patchset) as JSON; an existing file needs ``overwrite``.
    The write is atomic (:mod:`roonsbi.atomic`)."""
    return write_text(path, json.dumps(spec, indent=2, sort_keys=True) + "\n", overwrite)
