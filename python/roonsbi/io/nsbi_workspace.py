r"""Workspaces of nsbi-common-utils (nsbi-lhc-toolkit), the JAX NSBI toolkit: JSON + per-event ``.npy``.

The toolkit (``nsbi_common_utils.workspace_builder.WorkspaceBuilder``, fitted by
``nsbi_common_utils.models.sbi_parametric_model``) writes a "pyhf-like" workspace:

* ``channels``: each with ``"type": "binned"`` or ``"type": "unbinned"`` and ``samples``;
  an unbinned channel names the per-event weights of its (Asimov) data, ``"weights": "w.npy"``;
* a sample: ``name``, ``data`` (bin contents; for an unbinned channel ``[nu_J]``, the total
  yield), for an unbinned channel ``"ratios": "r_J.npy"`` (per-event r_J(x_i) = p_J/p_ref), and
  ``modifiers``:

  - ``normfactor`` X: the factor X;
  - ``vandermonde`` X with ``"coeff": [c_0, ..., c_n]`` (default ``[1, 0]``): the polynomial
    ``numpy.polyval(coeff, X)`` = c_0 X^n + ... + c_n;
  - ``normplusshape`` X: ``data.hi_data`` / ``lo_data`` the +-1 sigma ratios (binned: per bin,
    varied/nominal; unbinned: ``[yield ratio]``) and, unbinned, ``hi_ratio`` / ``lo_ratio`` the
    per-event shape ratios g_J(x_i, +-1) (``.npy``);
* ``observations`` (binned channels, by name, else by position as the toolkit reads them) and
  ``measurements`` (``config.poi``, ``config.parameters`` with ``inits`` / ``bounds``).

The toolkit's likelihood, which this reader reproduces (every +-1 sigma factor interpolated by
HistFactory's multiplicative 6th-order polynomial inside |alpha| <= 1 and exponential outside,
the product over nuisance parameters):

.. math::

    -\log L = \sum_{b} (\nu_b - n_b \log\nu_b)
      + \nu_U - \sum_i w_i \log\Big(\sum_J f_J\,\nu_J\,G_J(\alpha)\,r_J(x_i)\,g_J(x_i,\alpha)\Big)
      + C(\alpha), \qquad \nu_U = \sum_J f_J\,\nu_J\,G_J(\alpha)

with f_J the product of the sample's normfactors and vandermonde polynomials. In roonsbi:
binned channels become HistFactory-style channels (``RooRealSumPdf`` of
``PiecewiseInterpolation`` code 5 = that multiplicative interpolation per bin, coefficients as
``RooFormulaVar``), unbinned channels NSBI channels (:func:`roonsbi.build_model`: normsys code 4
= the same interpolation of the yield, per-event shapes code 5), all combined with
:func:`roonsbi.combine` (so they combine with any other source). Nuisance parameter X becomes
HistFactory's ``alpha_X`` (constraint ``alpha_XConstraint``, global observable ``nom_alpha_X``).

**Constraint convention.** The toolkit adds :math:`C(\alpha) = \sum_m \alpha_m^2` to its NLL; with
``errordef: "LIKELIHOOD"`` its NLL is -log L, so its constraint is a Gaussian of width
:math:`1/\sqrt2`, twice HistFactory's :math:`\sum_m \alpha_m^2/2`. ``constraints="histfactory"``
(the default) gives every alpha_X the unit Gaussian of HistFactory, pyhf and roonsbi;
``constraints="toolkit"`` reproduces the toolkit's NLL: width :math:`1/\sqrt2` when the
measurement's ``errordef`` is ``"LIKELIHOOD"`` (or absent), width 1 otherwise (its -2 log L mode,
where :math:`\sum\alpha^2` is HistFactory's convention).

As in the toolkit, modifiers whose parameter the measurement does not list are not fitted: a
normfactor or vandermonde factor is then 1, a normplusshape stays at its nominal. Relative
``.npy`` paths are read from ``base_dir`` (default: the folder of the JSON file; for a dict the
current directory, as ``numpy.load`` in the toolkit).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..library import load
from ..models.builders import ALPHA_GLOBAL_RANGE, coefficient_formula, real_var, with_constraints
from ..models.combined import Channel, CombinedModel, combine
from ..models.unbinned import build_model
from ..naming import alpha, constraint, constraint_width, global_observable
from ..spec import NormSys, Process, ShapeSys
from .pyhf_json.read import _hist_func

__all__ = ["CONSTRAINTS", "from_nsbi_workspace", "to_nsbi_workspace"]

ROOT = load()

#: constraint conventions of :func:`from_nsbi_workspace`
CONSTRAINTS = ("histfactory", "toolkit")
_TYPES = ("normfactor", "vandermonde", "normplusshape")
#: default bounds of a parameter the measurement gives none (normfactor as pyhf)
_BOUNDS = {"normfactor": (0.0, 10.0), "vandermonde": (-10.0, 10.0), "normplusshape": (-5.0, 5.0)}
_INITS = {"normfactor": 1.0, "vandermonde": 1.0, "normplusshape": 0.0}
_SHAPE_CODE = 5  # PiecewiseInterpolation / per-event: multiplicative 6th-order polynomial, exponential outside
_NORM_CODE = 4  # FlexibleInterpVar: the same function of the yield ratio


@dataclass
class _Param:
    name: str
    kind: str
    init: float
    bounds: tuple[float, float]
    fixed: bool


@dataclass
class _Reader:
    """The workspace being read: its parameters and the files it references."""

    spec: dict
    where: str  # the JSON file (or "workspace") for messages
    base: Path
    params: dict[str, _Param] = field(default_factory=dict)

    def npy(self, path: Any, what: str, length: int | None = None) -> np.ndarray:
        """The 1-D float array of ``path`` (a ``.npy`` file), checked: finite, positive where
        required by the caller, ``length`` entries."""
        if not isinstance(path, str):
            raise ValueError(f"{self.where}: {what} must name a .npy file, got {path!r}")
        file = Path(path) if os.path.isabs(path) else self.base / path
        try:
            arr = np.load(file, allow_pickle=False)
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.where}: {what} names '{path}', which does not exist "
                                    f"(looked for {file}; relative paths are read from base_dir={self.base})") from None
        except (ValueError, OSError) as err:
            raise ValueError(f"{self.where}: {what} '{file}' is not a numpy .npy array: {err}") from None
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"{self.where}: {what} '{file}' has dtype {arr.dtype}, not real numbers: write the "
                             "array as float (one value per event)")
        arr = np.asarray(arr, dtype=float).reshape(-1) if np.ndim(arr) <= 1 else None
        if arr is None:
            raise ValueError(f"{self.where}: {what} '{file}' must be a 1-D array (one entry per event)")
        if length is not None and arr.size != length:
            raise ValueError(f"{self.where}: {what} '{file}' has {arr.size} entries, expected {length} (one per event "
                             "of the channel's weights)")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{self.where}: {what} '{file}' has NaN or infinite entries (first at index "
                             f"{int(np.flatnonzero(~np.isfinite(arr))[0])})")
        return arr

    def modifiers(self, channel: str, sample: Mapping) -> list[dict]:
        """The sample's modifiers whose parameter the measurement lists (the others are not fitted)."""
        out = []
        for m in sample.get("modifiers", []):
            if m.get("type") not in _TYPES:
                raise ValueError(f"{self.where}: modifier '{m.get('name')}' of sample '{sample.get('name')}' in "
                                 f"channel '{channel}' has type {m.get('type')!r}; nsbi-common-utils workspaces use "
                                 f"{_TYPES}")
            if m["name"] in self.params:
                kind = self.params[m["name"]].kind
                if kind != m["type"]:
                    raise ValueError(f"{self.where}: parameter '{m['name']}' is both a {kind} and a {m['type']}")
                out.append(m)
        return out

    def coefficient(self, mods: Sequence[Mapping]) -> str:
        """f_J: the product of the normfactors and vandermonde polynomials (a RooFit formula)."""
        terms = []
        for m in mods:
            if m["type"] == "normfactor":
                terms.append(m["name"])
            elif m["type"] == "vandermonde":
                coeff = m.get("coeff", [1, 0])
                if not isinstance(coeff, list) or not coeff or not all(
                        isinstance(c, (int, float)) and not isinstance(c, bool) and np.isfinite(c) for c in coeff):
                    raise ValueError(f"{self.where}: vandermonde modifier '{m['name']}' has coeff {coeff!r}: give a "
                                     "non-empty list of finite numbers [c_0, ..., c_n] (the polynomial's coefficients)")
                coeff = [float(c) for c in coeff]
                n = len(coeff) - 1
                poly = " + ".join(f"({c!r})*{m['name']}^{n - k}" if n - k else f"({c!r})" for k, c in enumerate(coeff))
                terms.append(f"({poly})")
        return " * ".join(terms) if terms else "1"


def _parameters(spec: Mapping, where: str, measurement: str | None) -> tuple[str | None, dict[str, _Param], Any]:
    """(POI, the measurement's parameters by name, errordef) of the chosen measurement."""
    measurements = spec.get("measurements") or []
    names = [m.get("name") for m in measurements]
    chosen = next((m for m in measurements if measurement is None or m.get("name") == measurement), None)
    if chosen is None:
        raise ValueError(f"{where}: no measurement {measurement!r} (measurements: {names})")
    config = chosen.get("config", {})
    kinds = {m["name"]: m["type"] for ch in spec.get("channels", []) for s in ch.get("samples", [])
             for m in s.get("modifiers", []) if m.get("type") in _TYPES}
    params = {}
    for p in config.get("parameters", []):
        name = p["name"]
        if name not in kinds:
            continue  # the toolkit fits only parameters some modifier uses
        kind = kinds[name]
        bounds = tuple(float(v) for v in (p.get("bounds") or [_BOUNDS[kind]])[0])
        init = float((p.get("inits") or [_INITS[kind]])[0])
        params[name] = _Param(name, kind, init, (bounds[0], bounds[1]), bool(p.get("fixed", False)))
    poi = config.get("poi") or None
    if poi is not None and poi not in params:
        raise ValueError(f"{where}: the POI '{poi}' of measurement '{chosen.get('name')}' is not a fitted parameter "
                         f"(fitted: {sorted(params)})")
    return poi, params, config.get("errordef")


def _width(constraints: str, errordef: Any) -> float:
    if constraints not in CONSTRAINTS:
        raise ValueError(f"constraints must be one of {CONSTRAINTS}, got {constraints!r}")
    if constraints == "toolkit" and errordef in (None, "LIKELIHOOD"):
        return 1.0 / math.sqrt(2.0)
    return 1.0


def _set_widths(ws: Any, names: Sequence[str], width: float) -> None:
    """Width of the Gaussian constraints alpha_XConstraint (the toolkit's convention)."""
    for n in names:
        sigma = ws.obj(constraint_width(alpha(n)))
        sigma.changeVal(width)
        ws.pdf(constraint(alpha(n))).setValueDirty()


def _unbinned(r: _Reader, ch: Mapping, width: float, form: str) -> Any:
    """An unbinned channel as an NSBI channel (:func:`roonsbi.build_model`)."""
    name = ch["name"]
    if "weights" not in ch:
        raise ValueError(f"{r.where}: unbinned channel '{name}' has no 'weights' (the .npy of its events' weights)")
    weights = r.npy(ch["weights"], f"channel '{name}' weights")
    processes, used = [], set()
    for s in ch["samples"]:
        what = f"sample '{s['name']}' of channel '{name}'"
        if "ratios" not in s:
            raise ValueError(f"{r.where}: {what} has no 'ratios' (the .npy of its per-event ratios r_J)")
        mods = r.modifiers(name, s)
        normsys, shapesys = {}, {}
        for m in mods:
            if m["type"] != "normplusshape":
                continue
            d, at = m.get("data") or {}, f"{what}, modifier '{m['name']}'"
            missing = [k for k in ("hi_data", "lo_data", "hi_ratio", "lo_ratio") if k not in d]
            if missing:
                raise ValueError(f"{r.where}: {at} (normplusshape, unbinned) lacks {missing}")
            normsys[m["name"]] = NormSys(float(np.sum(_numbers(d["lo_data"], f"{r.where}: {at} lo_data"))),
                                         float(np.sum(_numbers(d["hi_data"], f"{r.where}: {at} hi_data"))), _NORM_CODE)
            shapesys[m["name"]] = ShapeSys(r.npy(d["lo_ratio"], f"{at} lo_ratio", weights.size),
                                           r.npy(d["hi_ratio"], f"{at} hi_ratio", weights.size), _SHAPE_CODE)
        used |= {m["name"] for m in mods if m["type"] != "normplusshape"}
        ratios = r.npy(s["ratios"], f"{what} ratios", weights.size)
        processes.append(Process(s["name"], float(np.sum(_numbers(s.get("data"), f"{r.where}: {what} data"))), ratios,
                                 r.coefficient(mods), normsys, shapesys))
    pois = {p: (r.params[p].init, *r.params[p].bounds) for p in sorted(used)}
    model = build_model(processes, pois or None, weights=weights, name=name, form=form)
    nps = sorted({n for p in processes for n in p.normsys})
    for n in nps:
        _set_range(model.workspace.var(alpha(n)), r.params[n])
    for p in pois:
        model.workspace.var(p).setConstant(r.params[p].fixed)
    _set_widths(model.workspace, nps, width)
    return model


def _set_range(var: Any, p: _Param) -> None:
    var.setRange(*p.bounds)
    var.setVal(p.init)
    var.setConstant(p.fixed)


class _Binned:
    """The binned channels: HistFactory-style RooFit channels sharing their parameters."""

    def __init__(self, r: _Reader, width: float):
        self.r, self.width = r, width
        self.keep: list = []
        self.vars: dict[str, Any] = {}
        self.constraints: dict[str, tuple[Any, Any]] = {}  # NP -> (constraint, global observable)

    def var(self, name: str) -> Any:
        if name not in self.vars:
            p = self.r.params[name]
            v = real_var(alpha(name) if p.kind == "normplusshape" else name, p.init, *p.bounds)
            v.setConstant(p.fixed)
            self.vars[name] = v
            if p.kind == "normplusshape":
                v.setError(1.0)
                nom = real_var(global_observable(v.GetName()), 0.0, *ALPHA_GLOBAL_RANGE)
                nom.setConstant(True)
                sigma = ROOT.RooConstVar(constraint_width(v.GetName()), "width", self.width)
                cons = ROOT.RooGaussian(constraint(v.GetName()), constraint(v.GetName()), v, nom, sigma)
                self.keep += [sigma]
                self.constraints[name] = (cons, nom)
        return self.vars[name]

    def sample(self, c: str, s: Mapping, obs: Any, n: int) -> tuple[Any, Any, list[str]]:
        """(the sample's function of the observable, its coefficient, the parameters it uses)."""
        what = f"sample '{s['name']}' of channel '{c}'"
        nominal = _numbers(s.get("data"), f"{self.r.where}: {what} data")
        if nominal.shape != (n,) or not np.all(np.isfinite(nominal)):
            raise ValueError(f"{self.r.where}: {what} has data of shape {nominal.shape} (channel: {n} bins, the "
                             "length of its observation) or non-finite entries")
        keep = _hist_func(f"{s['name']}_{c}_nominal", obs, nominal.tolist())
        self.keep += keep
        func, mods = keep[1], self.r.modifiers(c, s)
        shapes = [m for m in mods if m["type"] == "normplusshape"]
        if shapes:
            lows, highs, alphas = ROOT.RooArgList(), ROOT.RooArgList(), ROOT.RooArgList()
            for m in shapes:
                d = m.get("data") or {}
                for side, key, target in (("low", "lo_data", lows), ("high", "hi_data", highs)):
                    ratio = np.asarray(d.get(key, []), dtype=float)
                    if ratio.shape != (n,) or not np.all(ratio > 0) or not np.all(nominal > 0):
                        raise ValueError(f"{self.r.where}: {what}, normplusshape '{m['name']}': {key} must be {n} "
                                         "positive ratios and the nominal positive (the interpolation is in log)")
                    h = _hist_func(f"{s['name']}_{c}_{m['name']}_{side}", obs, (ratio * nominal).tolist())
                    self.keep += h
                    target.add(h[1])
                alphas.add(self.var(m["name"]))
            func = ROOT.PiecewiseInterpolation(f"{s['name']}_{c}_shapes", "", keep[1], lows, highs, alphas)
            func.setAllInterpCodes(_SHAPE_CODE)
            self.keep.append(func)
        formula = self.r.coefficient(mods)
        used = [m["name"] for m in mods]
        if formula == "1":
            coef = ROOT.RooConstVar(f"f_{s['name']}_{c}", "1", 1.0)
        else:
            pois = {m["name"]: self.var(m["name"]) for m in mods if m["type"] != "normplusshape"}
            coef = coefficient_formula(f"f_{s['name']}_{c}", formula, pois, s["name"])
        self.keep.append(coef)
        return func, coef, used

    def channel(self, ch: Mapping, counts: Sequence[float]) -> Channel:
        c = ch["name"]
        n = len(counts)
        obs = real_var(f"obs_x_{c}", 0.5, 0.0, float(n))
        obs.setBins(n)
        funcs, coefs, used = ROOT.RooArgList(), ROOT.RooArgList(), []
        for s in ch["samples"]:
            f, k, u = self.sample(c, s, obs, n)
            funcs.add(f)
            coefs.add(k)
            used += u
        sumpdf = ROOT.RooRealSumPdf(f"{c}_model", f"channel {c}", funcs, coefs, True)
        sumpdf.setAttribute("BinnedLikelihood")
        nps = [u for u in dict.fromkeys(used) if u in self.constraints]
        model = with_constraints(sumpdf, [self.constraints[u][0] for u in nps], f"model_{c}", f"channel {c}")
        wvar = ROOT.RooRealVar("weight", "weight", 1.0)
        data = ROOT.RooDataSet.from_numpy({obs.GetName(): np.arange(n) + 0.5, "weight": np.asarray(counts, float)},
                                          ROOT.RooArgSet(obs, wvar), name=f"obsData_{c}", weight_name="weight")
        self.keep += [obs, sumpdf, model, data, wvar]
        params = [self.vars[u] for u in dict.fromkeys(used)]
        return Channel(c, model, data, ROOT.RooArgSet(*[v for v in params if not v.GetName().startswith("alpha_")]),
                       ROOT.RooArgSet(*[self.vars[u] for u in nps]), ROOT.RooArgSet(obs),
                       ROOT.RooArgSet(*[self.constraints[u][1] for u in nps]), owner=self)


def _numbers(value: Any, what: str) -> np.ndarray:
    """``value`` (a number or a list of numbers) as a float array; ValueError naming ``what`` otherwise."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        raise ValueError(f"{what} must be a number or a non-empty list of numbers, got {value!r}")
    return np.asarray(items, dtype=float)


def _observations(r: _Reader) -> dict[str, list]:
    """Observed bin contents per binned channel: by name, else by the channel's position (the toolkit's way);
    ValueError for counts that are not finite numbers >= 0, and for channels named twice."""
    names = [ch.get("name") for ch in r.spec["channels"]]
    twice = sorted({str(n) for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{r.where}: channel names must be unique, {twice} appear more than once")
    obs = r.spec.get("observations") or []
    if obs and all("name" in o for o in obs):
        out = {o["name"]: o["data"] for o in obs}
    else:
        out = {ch["name"]: obs[i]["data"] for i, ch in enumerate(r.spec["channels"]) if i < len(obs)}
    for channel, data in out.items():
        counts = _numbers(data, f"{r.where}: the observation of channel '{channel}'")
        bad = np.flatnonzero(~(np.isfinite(counts) & (counts >= 0)))
        if bad.size:
            raise ValueError(f"{r.where}: the observation of channel '{channel}' has a count that is not a finite "
                             f"number >= 0 (bin {int(bad[0])} = {counts[bad[0]]:g}): give the observed event counts")
    return out


def from_nsbi_workspace(spec_or_path: Mapping | str | os.PathLike, measurement: str | None = None,
                        constraints: str = "histfactory", base_dir: str | os.PathLike | None = None,
                        name: str = "nsbi_workspace", form: str = "store") -> CombinedModel:
    """A roonsbi model of an nsbi-common-utils workspace (see :mod:`roonsbi.io.nsbi_workspace`).

    Args:
        spec_or_path: the workspace dict or its JSON file.
        measurement: the measurement (default: the first).
        constraints: ``"histfactory"`` (default: unit Gaussians, -log term alpha^2/2, as HistFactory,
            pyhf and roonsbi) or ``"toolkit"`` (the toolkit's sum alpha^2 in its -log L).
        base_dir: folder of relative ``.npy`` paths (default: the JSON file's folder, else the
            current directory).
        name: name of the combined workspace.
        form: form of the unbinned channels (:func:`roonsbi.build_model`: ``"store"``, float32
            columns, or ``"columns"``, double precision).

    Returns:
        a :class:`~roonsbi.models.combined.CombinedModel` of all channels (binned as HistFactory-style
        channels, unbinned as NSBI channels), which :func:`roonsbi.combine` combines further.

    Raises:
        FileNotFoundError: a referenced ``.npy`` file is missing (named with the JSON key).
        ValueError: unreadable JSON or arrays, wrong lengths, unknown channel or modifier types,
            a POI that is not a fitted parameter, missing observations.
    """
    if isinstance(spec_or_path, (str, os.PathLike)):
        path = Path(spec_or_path)
        try:
            spec = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not JSON: {err}") from None
        where, base = str(path), Path(base_dir) if base_dir is not None else path.parent
    else:
        spec, where, base = dict(spec_or_path), "workspace", Path(base_dir or ".")
    if not isinstance(spec, dict) or not isinstance(spec.get("channels"), list):
        raise ValueError(f"{where}: not an nsbi-common-utils workspace (no 'channels' list)")
    poi, params, errordef = _parameters(spec, where, measurement)
    width = _width(constraints, errordef)
    r = _Reader(spec, where, base, params)
    observed = _observations(r)
    binned = _Binned(r, width)
    sources: list[Any] = []
    for ch in spec["channels"]:
        kind = ch.get("type")
        if kind == "unbinned":
            sources.append(_unbinned(r, ch, width, form))
        elif kind == "binned":
            if ch["name"] not in observed:
                raise ValueError(f"{where}: binned channel '{ch['name']}' has no observation")
            sources.append(binned.channel(ch, observed[ch["name"]]))
        else:
            raise ValueError(f"{where}: channel '{ch.get('name')}' has type {kind!r}; nsbi-common-utils channels are "
                             "'binned' or 'unbinned'")
    model = combine(sources, name=name)
    if poi is not None:  # the measurement's POI; the other normfactors are nuisance parameters, as in the toolkit
        mc = model.model_config
        others = [p for p in mc.GetParametersOfInterest() if p.GetName() != poi]
        nps = ROOT.RooArgSet(model.nuisance_parameters)
        for p in others:
            nps.add(p)
        mc.SetParametersOfInterest(ROOT.RooArgSet(model.workspace.var(poi)))
        mc.SetNuisanceParameters(nps)
    return model


def to_nsbi_workspace(processes: Sequence[Process], path: str | os.PathLike, *, weights: Any = None,
                      pois: Mapping[str, tuple[float, float, float]] | None = None, channel: str = "SR",
                      overwrite: bool = False) -> Path:
    r"""Write the NSBI channel of ``processes`` (the input of :func:`roonsbi.build_model`, with the data's
    per-event ``weights``, default 1) as an nsbi-common-utils workspace: the JSON file ``path`` and, next
    to it, the ``.npy`` files ``<stem>.<channel>.weights.npy``, ``<stem>.<channel>.<J>.ratios.npy`` and
    ``<stem>.<channel>.<J>.<X>.hi_ratio.npy`` / ``lo_ratio.npy`` (atomic; nothing is replaced without
    ``overwrite``). One ``"unbinned"`` channel; per process its ``data`` [nu_J] and modifiers:

    * the coefficient f_J as a ``normfactor`` (f = mu) or ``vandermonde`` (a polynomial of degree <= 6 in
      one POI, of the lowest degree that reproduces the formula at 12 points; a constant is folded into
      ``data``; f = mu is written as the polynomial [1, 0] where another process has a polynomial of
      mu, since a toolkit parameter has one modifier type); a coefficient that is not such a polynomial
      (e.g. ``sqrt(mu)``) is refused, naming it: reparametrise the POI so that f_J is polynomial (e.g.
      ``k`` = sqrt(mu), f = k^2 - k);
    * per nuisance parameter X of its normsys or shapesys one ``normplusshape`` (the toolkit's only
      systematic: yield ratios ``hi_data``/``lo_data`` with normsys code 4, per-event ``hi_ratio``/
      ``lo_ratio`` with shapesys code 5; the side a process lacks is 1). Other codes are refused.

    The measurement lists the POIs (``inits``, ``bounds`` of ``pois``, default ``{"mu": (1, 0, 10)}``;
    the first is the ``poi``) and every X (init 0, bounds [-5, 5]), ``errordef: "LIKELIHOOD"``.
    **Constraint convention**: the file holds no constraint; the toolkit fitting it adds its sum X^2 (a
    Gaussian of width 1/sqrt(2)), while ``from_nsbi_workspace(path)`` (``constraints="histfactory"``)
    reads back exactly the model of ``build_model(processes, pois, weights)`` (unit Gaussians; the same
    NLL), and ``constraints="toolkit"`` the toolkit's.

    >>> import tempfile, numpy as np
    >>> from roonsbi import Process, build_model
    >>> rng = np.random.default_rng(0)
    >>> procs = [Process("S", 10.0, rng.uniform(0.5, 2, 50), "mu"), Process("B", 90.0, np.ones(50), "1")]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = to_nsbi_workspace(procs, f"{tmp}/ws.json")
    ...     back = from_nsbi_workspace(path, form="columns")
    ...     print(round(back.nll({"mu": 1.2}) - build_model(procs, form="columns").nll({"mu": 1.2}), 9))
    0.0
    """
    from ..atomic import refuse_existing, write_bytes, write_text
    from ..checks import check_processes
    from ..spec import as_normsys, as_shapesys
    from .hs3 import npy_bytes

    path = Path(path)
    processes = check_processes(processes)
    pois = dict(pois or {"mu": (1.0, 0.0, 10.0)})
    n = np.asarray(processes[0].ratio).size if processes else 0
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    if w.size != n or not np.all(np.isfinite(w)):
        raise ValueError(f"to_nsbi_workspace: weights must be {n} finite numbers (one per event), got {w.size}")
    files: dict[Path, np.ndarray] = {}

    def npy(name: str, values: Any) -> str:
        file = path.with_name(f"{path.stem}.{channel}.{name}.npy")
        files[file] = np.asarray(values, dtype=float).reshape(-1)
        return file.name

    samples: list[dict[str, Any]] = []
    nps: list[str] = []
    for p in processes:
        what = f"to_nsbi_workspace: process '{p.name}'"
        nominal, modifiers = _coefficient_modifiers(p, pois, what)
        for x in dict.fromkeys([*p.normsys, *p.shapesys]):
            norm = as_normsys(p.normsys[x], f"{what}, normsys '{x}'") if x in p.normsys else NormSys(1.0, 1.0)
            shape = (as_shapesys(p.shapesys[x], f"{what}, shapesys '{x}'") if x in p.shapesys
                     else ShapeSys(np.ones(n), np.ones(n)))
            if norm.code != _NORM_CODE or shape.code != _SHAPE_CODE:
                raise ValueError(f"{what}: '{x}' has normsys code {norm.code} / shapesys code {shape.code}; the "
                                 f"toolkit interpolates with normsys code {_NORM_CODE} and shapesys code {_SHAPE_CODE}")
            modifiers.append({"name": x, "type": "normplusshape", "data": {
                "hi_data": [float(norm.hi)], "lo_data": [float(norm.lo)],
                "hi_ratio": npy(f"{p.name}.{x}.hi_ratio", shape.hi),
                "lo_ratio": npy(f"{p.name}.{x}.lo_ratio", shape.lo)}})
            nps.append(x)
        samples.append({"name": p.name, "data": [float(p.nominal_yield) * nominal],
                        "ratios": npy(f"{p.name}.ratios", p.ratio), "modifiers": modifiers})
    polynomial = {m["name"] for s in samples for m in s["modifiers"] if m["type"] == "vandermonde"}
    for sample in samples:  # a parameter has one modifier type in the toolkit: mu as the polynomial [1, 0]
        sample["modifiers"] = [{"name": m["name"], "type": "vandermonde", "coeff": [1.0, 0.0]}
                               if m["type"] == "normfactor" and m["name"] in polynomial else m
                               for m in sample["modifiers"]]
    parameters = [{"name": k, "inits": [float(v[0])], "bounds": [[float(v[1]), float(v[2])]]} for k, v in pois.items()]
    parameters += [{"name": x, "inits": [0.0], "bounds": [[-5.0, 5.0]]} for x in dict.fromkeys(nps)]
    spec = {"channels": [{"name": channel, "type": "unbinned", "weights": npy("weights", w), "samples": samples}],
            "observations": [],
            "measurements": [{"name": "meas", "config": {"poi": next(iter(pois)), "errordef": "LIKELIHOOD",
                                                         "parameters": parameters}}],
            "version": "1.0.0"}
    for file in [*files, path]:
        refuse_existing(file, overwrite)
    for file, values in files.items():
        write_bytes(file, npy_bytes(values), overwrite)
    return write_text(path, json.dumps(spec, indent=1), overwrite)


def _coefficient_modifiers(p: Process, pois: Mapping[str, tuple[float, float, float]],
                           what: str) -> tuple[float, list[dict[str, Any]]]:
    """(a constant factor for the yield, the normfactor / vandermonde modifier of f_J) of a process."""
    from ..spec import evaluate_formula, formula_parameters

    if isinstance(p.coefficient, (int, float, np.integer, np.floating)) and not isinstance(p.coefficient, bool):
        return float(p.coefficient), []
    if not isinstance(p.coefficient, str):
        raise ValueError(f"{what}: the coefficient must be a formula string of the POIs, got "
                         f"{type(p.coefficient).__name__}")
    used = formula_parameters(p.coefficient)
    if not set(used) <= set(pois) or len(used) > 1:
        raise ValueError(f"{what}: the coefficient '{p.coefficient}' uses {used}; the toolkit's coefficients are "
                         f"polynomials of one POI (of {sorted(pois)})")
    if not used:
        return evaluate_formula(p.coefficient, {}), []
    (poi,) = used
    lo, hi = float(pois[poi][1]), float(pois[poi][2])
    fit_x = lo + (hi - lo) * (0.5 - 0.5 * np.cos(np.pi * np.arange(7) / 6))  # Chebyshev points, both ends
    check_x = lo + (hi - lo) * (np.arange(12) + 0.5) / 12
    values = np.array([evaluate_formula(p.coefficient, {poi: x}) for x in fit_x])
    expected = np.array([evaluate_formula(p.coefficient, {poi: x}) for x in check_x])
    tolerance = 1e-9 * max(1.0, float(np.max(np.abs(expected))))
    for degree in range(7):  # the lowest degree that reproduces f_J
        coeff = np.polyfit(fit_x, values, degree)
        if np.allclose(np.polyval(coeff, check_x), expected, rtol=1e-9, atol=tolerance):
            break
    else:
        raise ValueError(f"{what}: the coefficient '{p.coefficient}' is not a polynomial of degree <= 6 in '{poi}' "
                         "(the toolkit's normfactor and vandermonde modifiers are polynomials): reparametrise the POI "
                         "so that it is, e.g. k = sqrt(mu) with f = k^2 - k for mu - sqrt(mu)")
    coeff[np.abs(coeff) < 1e-12 * float(np.max(np.abs(coeff)))] = 0.0
    if coeff.size == 1:  # constant in the POI
        return float(coeff[0]), []
    if coeff.size == 2 and np.allclose(coeff, [1.0, 0.0], rtol=1e-12, atol=1e-12):
        return 1.0, [{"name": poi, "type": "normfactor", "data": None}]
    return 1.0, [{"name": poi, "type": "vandermonde", "coeff": [float(c) for c in coeff]}]
