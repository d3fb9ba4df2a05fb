"""Export: the binned channels of a roonsbi model or HistFactory workspace as a pyhf workspace.

:func:`to_pyhf` walks the channels (:mod:`.channels`), then writes the measurement: its POI and
one parameter configuration per parameter that differs from pyhf's defaults (or that an
imported workspace listed). A non-linear coefficient f_J(mu) becomes a fixed normfactor at
f_J(mu_0) with bounds [f_min - s, f_max + s], s = max(1, f_max - f_min), over the POI range;
:func:`poi_relation` returns the relations f_J(mu).
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
from ...naming import MODELCONFIG_NAME, SIM_NAME
from .channels import _counts, _Export, _histfactory_channel, _observable, _Param, _pnsbi_channel
from .errors import PyhfExportError, _pyhf_invalid
from .names import _ATTR_KEYS, _ATTR_MEASUREMENT, _ATTR_ORDER, _DEFAULTS, VERSION

__all__ = ["PyhfExportError", "poi_relation", "to_pyhf", "write_json"]

ROOT = load()
_RELATION_ORDER = 1 << 30  # fixed normfactors f_J(mu) come last
_NEW_ORDER = 1 << 29  # parameters an imported workspace did not list: before them


# -- the measurement's parameter configurations ------------------------------------------
def _relation_config(ex: _Export, name: str) -> dict:
    """f_J(mu): fixed at f_J of the POI's initial value, bounds covering f_J over the POI range."""
    _, poi_var, coef, (fmin, fmax) = ex.relation[name]
    span = max(1.0, fmax - fmin)
    start = poi_var.getVal()
    poi_var.setVal(ex.initial.get(poi_var.GetName(), start))
    init = coef.getVal()
    poi_var.setVal(start)
    return {"name": name, "inits": [init], "bounds": [[fmin - span, fmax + span]], "fixed": True}


def _settings(ex: _Export, p: _Param) -> tuple[list, list, list]:
    """(inits, bounds, constant flags) of the RooFit variables of ``p``."""
    inits = [ex.initial.get(v.GetName(), v.getVal()) for v in p.vars]
    bounds = [[v.getMin(), v.getMax()] for v in p.vars]
    return inits, bounds, [v.isConstant() for v in p.vars]


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
        if p.name in ex.relation:
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


def _collect(source: Any, channels: Iterable[str] | None, mu_prime: float | None) -> tuple[_Export, Any, str]:
    """(the walked channels and parameters, ModelConfig, imported measurement name or "")."""
    with _at_mu_prime(source, mu_prime):
        ex = _Export()
        ws, mc, chans = _workspace_of(source)
        ex.pois = list(mc.GetParametersOfInterest()) if mc else []
        snapshot = mc.GetSnapshot() if mc else None
        if snapshot:
            ex.initial = {v.GetName(): v.getVal() for v in snapshot}
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
    """The measurement's POI: a POI that is a parameter, else the first f_J normfactor, else the first normfactor."""
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


# -- public ------------------------------------------------------------------------------
def to_pyhf(source: Any, channels: Iterable[str] | None = None, mu_prime: float | None = None,
            measurement: str | None = None, validate: bool = True) -> dict:
    """pyhf workspace (a dict of schema 1.0.0) of the binned channels of ``source``.

    Args:
        source: a :class:`~roonsbi.models.parametrized.ParametrizedModel`, a
            :class:`~roonsbi.models.combined.CombinedModel` or other WorkspaceModel, or a RooWorkspace
            with a ModelConfig (e.g. HistFactory's ``combined``).
        channels: names of the channels to export (default all; an unbinned channel is an error).
        mu_prime: grid point of a ParametrizedModel (default its current mu').
        measurement: measurement name (default: the imported one, else ``"measurement"``).
        validate: check the result with pyhf's schema and build its model.

    Raises:
        PyhfExportError (a ValueError): a construct pyhf cannot express exactly (see
        :mod:`roonsbi.io.pyhf_json`).
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
        raise PyhfExportError(f"normfactors depend on several POIs {sorted(pois | ({poi} if poi else set()))}")
    return {"poi": poi, "normfactors": {k: v[0] for k, v in ex.relation.items()}, "pyhf_poi": _measurement_poi(ex)}


def _validate(spec: Mapping) -> None:
    """pyhf's schema validation and model build of an exported workspace."""
    import pyhf

    try:
        ws = pyhf.Workspace(spec, validate=True)
        ws.model()
    except _pyhf_invalid() as err:
        raise PyhfExportError(f"the exported JSON is not a valid pyhf workspace: {err}") from None


def write_json(path: str | os.PathLike, spec: Mapping, overwrite: bool = False) -> Path:
    """Write ``spec`` (a workspace or patchset) as JSON; an existing file needs ``overwrite``.
    The write is atomic (:mod:`roonsbi.atomic`)."""
    return write_text(path, json.dumps(spec, indent=2, sort_keys=True) + "\n", overwrite)
