r"""Combine channels into one RooSimultaneous with one dataset and a ModelConfig.

Channels are NSBI channels (:class:`~roonsbi.model.NSBIModel`), parametrized-NSBI channels
(:class:`~roonsbi.parametrized.ParametrizedModel`, at their current mu'), binned
workspaces with a ModelConfig (e.g. HistFactory's ``combined`` workspace, whose
RooSimultaneous is split into its channels), ROOT files holding such a workspace, and
HistFactory XML configurations (:func:`from_histfactory_xml`). The combination itself is
the C++ ``RooNSBI::Combination`` (``RooNSBI/Combination.h``), also usable from a plain
ROOT session (``macros/combine_fit_scan.C``). As in HistFactory:

* parameters are correlated by name (after the optional ``rename`` map, e.g.
  ``{"mu_sig": "mu"}``); a parameter defined twice with different ranges is an error, except
  a POI: its ranges are harmonised to their union (with a :class:`POIRangeWarning` saying so;
  e.g. ROOT's HistFactory tutorial has [0, 3], an NSBI channel [0, 10]) or to ``poi_range``;
* each channel pdf is its bare pdf times the constraint terms of its parameters, and a
  constraint on a parameter that an earlier channel already constrains is shared (one
  object, counted once in the likelihood) if it is the same function; a different
  constraint on the same parameter, or of the same name, is an error;
* the combined pdf is ``simPdf`` (RooSimultaneous over ``channelCat``), the data ``obsData``
  and the ModelConfig ``ModelConfig``.

The NLL of the combination is the sum of the channels' NLLs with each constraint counted
once (RooFit adds the parameter-independent sum_c N_c log(number of channels)).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ..checks import check_file
from ..library import cpp_errors, load
from ..naming import DATA_NAME, MODELCONFIG_NAME, SIM_NAME
from .workspace import WorkspaceModel, read_workspace

ROOT = load()
ROOT.gInterpreter.Declare('#include "RooNSBI/Combination.h"')

__all__ = ["Channel", "CombinedModel", "POIRangeWarning", "channels_of", "combine", "read_roofit_file",
           "source_format"]


class POIRangeWarning(UserWarning):
    """:func:`combine` changed the range of a POI that differs between channels (to their union)."""


@dataclass
class Channel:
    """One channel: its pdf (with constraint terms), data and ModelConfig sets."""

    name: str
    pdf: Any
    data: Any
    pois: Any
    nuisance_parameters: Any
    observables: Any
    global_observables: Any
    owner: Any = None  # keeps split datasets alive


def _cpp(call: Any, *args: Any) -> Any:
    """Call C++; its std::invalid_argument becomes a ValueError with the same message."""
    with cpp_errors():
        return call(*args)


def _add(combination: Any, source: Any, name: str | None, model_config: str, data: str) -> list:
    """Add ``source`` to the C++ combination; returns Python objects to keep alive."""
    if isinstance(source, Channel):
        _cpp(combination.addChannel, source.name, source.pdf, source.data, source.pois, source.nuisance_parameters,
             source.observables, source.global_observables)
        return [source]
    if isinstance(source, (str, os.PathLike)):
        return _add(combination, read_roofit_file(source), name, model_config, data)
    if isinstance(source, WorkspaceModel) and not isinstance(source.model, ROOT.RooSimultaneous):
        # the model's own data (e.g. a parametrized channel's data at its current mu')
        _cpp(combination.addChannel, name or source.name, source.model, source.data, source.pois,
             source.nuisance_parameters, source.model_config.GetObservables(), source.global_observables)
        combination.addParamData(source.workspace)  # the per-mu' data of a parametrized channel
        return [source]
    ws = source.workspace if isinstance(source, WorkspaceModel) else source
    if not isinstance(ws, ROOT.RooWorkspace):
        raise TypeError(f"cannot combine a {type(source).__name__}: pass roonsbi models, RooWorkspaces, Channels, "
                        "ROOT files or HistFactory XML files")
    _cpp(combination.addWorkspace, ws, name or "", model_config, data)
    return [source]


def source_format(path: str | os.PathLike) -> str:
    """The format of a model file by its suffix and, for JSON, its keys: ``"xml"`` (HistFactory XML),
    ``"pyhf"`` (a JSON object with channels, observations and measurements), ``"hs3"`` (other JSON)
    or ``"root"``."""
    path = Path(path)
    if path.suffix == ".xml":
        return "xml"
    if path.suffix != ".json":
        return "root"
    check_file(path, "model file")
    try:
        with open(path) as f:
            spec = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"model file {path} is not valid JSON ({err}): truncated or damaged?") from None
    if isinstance(spec, dict) and {"channels", "observations", "measurements"} <= spec.keys():
        return "pyhf"
    return "hs3"


def read_roofit_file(path: str | os.PathLike) -> Any:
    """The workspace of a file in one of RooFit's own formats: a ROOT file with one workspace, or
    HS3 JSON (``.json``). pyhf JSON and HistFactory XML are read by :func:`roonsbi.io.read_source`
    (this layer does not know those formats); passing one here is an error saying so."""
    path = Path(path)
    kind = source_format(path)
    if kind == "xml":
        raise ValueError(f"{path} is HistFactory XML: read it with roonsbi.io.read_source(path) (or "
                         "roonsbi.io.from_histfactory_xml) and pass the workspace")
    if kind == "pyhf":
        raise ValueError(f"{path} is a pyhf workspace: read it with roonsbi.from_pyhf(path) (or "
                         "roonsbi.io.read_source) and pass the model")
    if kind == "hs3":  # RooNSBI::importJSON: also the per-mu' data of parametrized channels
        ws = ROOT.RooWorkspace(path.stem, str(path))
        try:
            with cpp_errors():
                imported = ROOT.RooNSBI.importJSON(ws, str(path))
        except (ROOT.std.exception, TypeError) as err:  # RooJSONFactoryWSTool throws std::runtime_error
            what = getattr(err, "what", None)
            text = what() if callable(what) else str(err)
            raise ValueError(f"RooJSONFactoryWSTool could not import the HS3 JSON file {path}: "
                             f"{text.decode() if isinstance(text, bytes) else text}") from None
        if not imported:
            raise ValueError(f"RooJSONFactoryWSTool could not import the HS3 JSON file {path}")
        return ws
    return read_workspace(path)[0]


def channels_of(source: Any, name: str | None = None, model_config: str = MODELCONFIG_NAME,
                data: str = DATA_NAME) -> list[Channel]:
    """The channels of a roonsbi model, or of a RooWorkspace with a ModelConfig (a
    RooSimultaneous is split into one channel per index state, named by the state)."""
    combination = ROOT.RooNSBI.Combination()
    keep = _add(combination, source, name, model_config, data)
    return [Channel(str(c.label), c.pdf, c.data, c.pois, c.nuisanceParameters, c.observables, c.globalObservables,
                    owner=(combination, keep)) for c in combination.channels()]


@dataclass
class CombinedModel(WorkspaceModel):
    """The combination: ``simPdf``, ``obsData`` and ``ModelConfig`` in :attr:`workspace`;
    ``notes``: what :func:`combine` changed (POI ranges harmonised)."""

    notes: list[str] = field(default_factory=list)

    @property
    def pdf(self) -> Any:
        return self._owned(self.workspace.pdf(SIM_NAME))

    @property
    def data(self) -> Any:
        return self._owned(self.workspace.data(DATA_NAME))

    def total_yield(self) -> float:
        """Sum of the channels' expected numbers of events at the current parameters."""
        obs = self.model_config.GetObservables()
        cat = self.pdf.indexCat()
        return sum(self.pdf.getPdf(str(state.first)).expectedEvents(obs) for state in cat)

    def create_nll(self, data: Any = None, *, backend: str = "cpu") -> Any:
        """The extended NLL of ``simPdf`` with all constraint terms (no offset) on ``data``
        (None: ``obsData``)."""
        return self._extended_nll(self.data if data is None else data, backend)


def _poi_ranges(channels: Sequence[Any], rename: Mapping[str, str],
                poi_range: tuple[float, float] | Mapping[str, tuple[float, float]] | None
                ) -> tuple[dict[str, list[tuple[str, Any]]], dict[str, tuple[float, float]], list[str]]:
    """For each POI (by its name in the combination): the (channel, RooRealVar) that define it,
    the range it gets, and the notes saying what changed."""
    pois: dict[str, list[tuple[str, Any]]] = {}
    for ch in channels:
        names = {p.GetName() for p in ch.pois}
        for var in ch.pdf.getVariables():
            if var.GetName() in names:
                pois.setdefault(rename.get(var.GetName(), var.GetName()), []).append((str(ch.label), var))
    if poi_range is not None and not isinstance(poi_range, Mapping):
        if len(pois) != 1:
            raise ValueError(f"poi_range=(lo, hi) needs a combination with one POI, it has {sorted(pois)}: "
                             "pass poi_range={name: (lo, hi)}")
        poi_range = {next(iter(pois)): poi_range}
    wanted = dict(poi_range or {})
    unknown = sorted(set(wanted) - set(pois))
    if unknown:
        raise ValueError(f"poi_range names '{unknown[0]}', which is not a POI of the combination (have {sorted(pois)})")
    ranges: dict[str, tuple[float, float]] = {}
    notes: list[str] = []
    for name, defs in pois.items():
        seen = sorted({(float(v.getMin()), float(v.getMax())) for _, v in defs})
        described = ", ".join(f"[{v.getMin():g}, {v.getMax():g}] in '{ch}'" for ch, v in defs)
        if name in wanted:
            lo, hi = map(float, wanted[name])
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"poi_range of '{name}' must be finite numbers lo < hi, got [{lo}, {hi}]")
            outside = [(ch, v.getVal()) for ch, v in defs if not lo <= v.getVal() <= hi]
            if outside:
                raise ValueError(f"poi_range [{lo:g}, {hi:g}] of '{name}' excludes its value {outside[0][1]:g} in "
                                 f"channel '{outside[0][0]}': set the value inside first or widen the range")
            ranges[name] = (lo, hi)
            if seen != [(lo, hi)]:
                notes.append(f"POI '{name}': range {described} set to [{lo:g}, {hi:g}] (poi_range)")
        elif len(seen) > 1:
            ranges[name] = (min(r[0] for r in seen), max(r[1] for r in seen))
            notes.append(f"POI '{name}': ranges {described} differ; using their union [{ranges[name][0]:g}, "
                         f"{ranges[name][1]:g}] (pass poi_range to choose)")
    return pois, ranges, notes


@contextmanager
def _ranges_set(pois: Mapping[str, list[tuple[str, Any]]], ranges: Mapping[str, tuple[float, float]]) -> Iterator[None]:
    """The POIs' RooRealVars (the sources' own) with ``ranges`` inside the block, restored after it."""
    saved = [(v, v.getMin(), v.getMax()) for name in ranges for _, v in pois[name]]
    try:
        for name, (lo, hi) in ranges.items():
            for _, v in pois[name]:
                v.setRange(lo, hi)
        yield
    finally:
        for v, lo, hi in saved:
            v.setRange(lo, hi)


def combine(sources: Sequence[Any], name: str = "combined", rename: Mapping[str, str] | None = None,
            poi_range: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None) -> CombinedModel:
    """Combine channels (see the module doc) with ``RooNSBI::Combination``.

    ``sources``: roonsbi models, RooWorkspaces with a ModelConfig and ``obsData``, files
    (:func:`read_roofit_file`: ROOT files with one such workspace, HS3 JSON; other formats
    through :func:`roonsbi.io.read_source`) or :class:`Channel` objects; ``rename``: parameter name -> name in
    the combination. ``poi_range``: the range of the POI in the combination, ``(lo, hi)`` (one POI)
    or ``{name: (lo, hi)}``; a POI whose ranges differ between channels and that ``poi_range``
    does not name gets their union, with a :class:`POIRangeWarning`. What changed is in
    :attr:`CombinedModel.notes`; the sources keep their own ranges. Raises ValueError naming the
    parameter or channel on a conflict.

    >>> import roonsbi, numpy as np
    >>> def counting(poi_hi):
    ...     m = roonsbi.from_pyhf({"channels": [{"name": f"c{poi_hi}", "samples": [{"name": "s", "data": [5.0],
    ...         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}, {"name": "b", "data": [50.0],
    ...         "modifiers": []}]}], "observations": [{"name": f"c{poi_hi}", "data": [52.0]}],
    ...         "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": [{"name": "mu",
    ...         "bounds": [[0, poi_hi]]}]}}], "version": "1.0.0"}, name=f"c{poi_hi}")
    ...     return m
    >>> comb = combine([counting(3), counting(10)], poi_range=(0, 5))
    >>> comb.notes
    ["POI 'mu': range [0, 3] in 'c3', [0, 10] in 'c10' set to [0, 5] (poi_range)"]
    """
    rename = dict(rename or {})
    rename_map = ROOT.std.map["std::string", "std::string"]()
    for old, new in rename.items():
        rename_map[str(old)] = str(new)
    combination = ROOT.RooNSBI.Combination(rename_map)
    keep = [_add(combination, src, None, MODELCONFIG_NAME, DATA_NAME) for src in sources]
    pois, ranges, notes = _poi_ranges(list(combination.channels()), rename, poi_range)
    for note in notes:
        if "union" in note:
            warnings.warn(f"combine: {note}", POIRangeWarning, stacklevel=2)
    with _ranges_set(pois, ranges):
        ws = _cpp(combination.build, name)
    del keep
    ws = ws.__smartptr__().release()  # the std::unique_ptr hands the workspace to Python
    ROOT.SetOwnership(ws, True)
    return CombinedModel(ws, name, notes)
