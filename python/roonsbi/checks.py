r"""Plain-Python checks of the inputs of the model builders, run before any RooFit object is made (no ROOT).

Every error names the argument, the object, the first bad entry and what to do:

* :func:`check_pois`: ``pois = {name: (start, lo, hi)}`` with finite numbers, :math:`lo < hi` and
  :math:`lo \le start \le hi` (Minuit2 crashes on an inverted range; RooFit clamps a start outside it);
* :func:`check_name`: names are RooFit names (letters, digits, ``_``; not starting with a digit),
  since RooFormula reads other characters as operators;
* :func:`check_unique`: no two objects of a model get the same name (user names against the names
  roonsbi generates from :mod:`roonsbi.naming`, and generated names against each other);
  :func:`unbinned_names` and :func:`parametrized_names` list the names of a model;
* :func:`as_column` and :func:`check_weights`: per-event arrays are 1-D numbers of one length,
  weights have a positive total :math:`\sum_i w_i > 0`;
* :func:`check_processes`, :func:`check_number` and :func:`check_alpha_range`: a sequence of
  :class:`~roonsbi.spec.Process`, finite numbers (not booleans, arrays or strings), a range
  :math:`lo < 0 < hi` of the nuisance parameters;
* :func:`check_density`: every event has :math:`r_J(x_i) > 0` for some process J (else
  :math:`\log F_i = -\infty` at every parameter point);
* :func:`check_file`: a file to read exists and is a regular file (a FIFO would block the reader);
* :func:`check_formula_names`: a coefficient formula names only POIs and functions (ROOT's TFormula
  reads other names as its constants: ``k`` is Boltzmann's constant, ``e``, ``c``, ``g``, ``h``, ...).

>>> check_pois({"mu": (1.0, 10.0, 0.0)})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: pois['mu'] = (1.0, 10.0, 0.0) has min 10 >= max 0: give (start, min, max) with min < max, ...
"""

from __future__ import annotations

import math
import numbers
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from . import naming
from .spec import ArrayLike, Process

__all__ = [
    "as_column",
    "check_alpha_range",
    "check_density",
    "check_file",
    "check_formula_names",
    "check_name",
    "check_number",
    "check_processes",
    "check_pois",
    "check_unique",
    "check_weights",
    "parametrized_names",
    "unbinned_names",
]

_ROOFIT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_pois(pois: Any, argument: str = "pois") -> dict[str, tuple[float, float, float]]:
    """``pois`` as {name: (start, lo, hi)} of floats; TypeError for a non-mapping, a non-triple or
    non-numbers, ValueError for NaN/inf, lo >= hi or a start outside [lo, hi]."""
    if not isinstance(pois, Mapping):
        raise TypeError(f"{argument} must be a mapping name -> (start, min, max), got {type(pois).__name__}")
    out = {}
    for poi, value in pois.items():
        check_name("POI", poi, argument)
        where = f"{argument}[{poi!r}] = {value!r}"
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
            raise TypeError(f"{where} must be a triple (start, min, max) of numbers, e.g. (1.0, 0.0, 10.0)")
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
            raise TypeError(f"{where} must hold numbers (start, min, max), e.g. (1.0, 0.0, 10.0)")
        start, lo, hi = (float(v) for v in value)
        if not all(math.isfinite(v) for v in (start, lo, hi)):
            raise ValueError(f"{where} has a NaN or infinite entry: give finite (start, min, max)")
        if not lo < hi:
            raise ValueError(f"{where} has min {lo:g} >= max {hi:g}: give (start, min, max) with min < max, "
                             f"e.g. ({start}, {min(lo, hi)}, {max(lo, hi)})")
        if not lo <= start <= hi:
            raise ValueError(f"{where} has the start {start:g} outside [{lo:g}, {hi:g}]: choose a start inside "
                             "the range or widen it")
        out[poi] = (start, lo, hi)
    return out


def check_name(kind: str, name: Any, argument: str) -> None:
    """TypeError unless ``name`` is a string, ValueError unless it is a valid RooFit name."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name {name!r} in {argument} must be a string, got {type(name).__name__}")
    if not _ROOFIT_NAME.match(name):
        bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c == "_"))), name[:1])
        raise ValueError(f"{kind} name {name!r} in {argument} is not a valid RooFit name (first bad character "
                         f"{bad!r}): use ASCII letters, digits and '_' only, not starting with a digit "
                         "(RooFormula reads other characters as operators)")


def check_unique(objects: Iterable[tuple[str, str]]) -> None:
    """ValueError naming both objects if two of ``(name, description)`` have the same name."""
    seen: dict[str, str] = {}
    for name, what in objects:
        if name in seen:
            raise ValueError(f"name collision: {seen[name]} and {what} would both be named '{name}'; rename the "
                             "POI, process, nuisance parameter or channel (roonsbi never merges two objects)")
        seen[name] = what


def _fixed_names(channel: str, templates: Sequence[str]) -> list[tuple[str, str]]:
    out = [(n, f"roonsbi's reserved name '{n}'") for n in naming.RESERVED_NAMES]
    return out + [(t.format(name=channel), f"the object '{t.format(name=channel)}' of channel '{channel}'")
                  for t in templates]


def _user_names(pois: Iterable[str], processes: Sequence[Any], channel: str) -> list[tuple[str, str]]:
    """POIs and the parameters alpha_X of the nuisance parameters X, with their constraint terms."""
    check_name("channel", channel, "name")
    out = [(poi, f"POI '{poi}' (pois)") for poi in pois]
    nps: dict[str, str] = {}
    for j, p in enumerate(processes):
        check_name("process", p.name, f"processes[{j}]")
        for kind, systematics in _systematics(p):
            for np_name in systematics:
                check_name("nuisance-parameter", np_name, f"processes[{j}].{kind}")
                nps.setdefault(np_name, f"processes[{j}].{kind}")
    for np_name, where in sorted(nps.items()):
        alpha = naming.alpha(np_name)
        for gen, what in ((alpha, "parameter"), (naming.global_observable(alpha), "global observable"),
                          (naming.constraint(alpha), "constraint"), (naming.constraint_width(alpha), "width")):
            out.append((gen, f"the {what} '{gen}' of nuisance parameter '{np_name}' ({where})"))
    return out


def _systematics(p: Any) -> list[tuple[str, Iterable[str]]]:
    if isinstance(p, Process):
        return [("normsys", p.normsys), ("shapesys", p.shapesys)]
    return [("normsys", p.normsys_factors()), ("histosys", p.histosys_codes())]


def unbinned_names(pois: Iterable[str], processes: Sequence[Process], channel: str) -> list[tuple[str, str]]:
    """(name, description) of every object and column :func:`~roonsbi.models.unbinned.build_model` makes."""
    out = _user_names(pois, processes, channel)
    out += _fixed_names(channel, (naming.WORKSPACE_NAME, naming.PDF_NAME, naming.MODEL_NAME, naming.EVENT_INDEX_NAME))
    for j, p in enumerate(processes):
        of = f"of process '{p.name}' (processes[{j}])"
        out += [(naming.ratio_column(p.name), f"the ratio column '{naming.ratio_column(p.name)}' {of}"),
                (naming.nominal_yield_name(p.name), f"the nominal yield '{naming.nominal_yield_name(p.name)}' {of}"),
                (naming.yield_name(p.name), f"the yield '{naming.yield_name(p.name)}' {of}")]
        if isinstance(p.coefficient, (str, numbers.Real)):
            out.append((naming.coefficient_name(p.name), f"the coefficient '{naming.coefficient_name(p.name)}' {of}"))
        if p.normsys:
            out.append((naming.normsys_name(p.name), f"the normsys factor '{naming.normsys_name(p.name)}' {of}"))
        for np_name in p.shapesys:
            for col in naming.shape_columns(p.name, np_name):
                out.append((col, f"the shape column '{col}' of nuisance parameter '{np_name}' {of}"))
            norm = naming.shape_norm_name(p.name, np_name)
            out.append((norm, f"the shape normalisation '{norm}' of nuisance parameter '{np_name}' {of}"))
        if p.shapesys:
            out.append((naming.expected_yield_name(p.name),
                        f"the expected yield '{naming.expected_yield_name(p.name)}' {of}"))
    if any(p.shapesys for p in processes):
        shift = naming.nu_shift_name(channel)
        out.append((shift, f"the object '{shift}' of channel '{channel}'"))
    return out


def parametrized_names(pois: Iterable[str], processes: Sequence[Any], channel: str, poi: str,
                       num_bins: int) -> list[tuple[str, str]]:
    """(name, description) of every object :func:`~roonsbi.models.parametrized.build_parametrized_model` makes
    (``processes``: the templates' BinnedProcess list)."""
    out = _user_names(pois, processes, channel)
    out += _fixed_names(channel, (naming.WORKSPACE_NAME, naming.PARAM_PDF_NAME, naming.MODEL_NAME,
                                  naming.OBSERVABLE_NAME, naming.PARAM_DATA_NAME))
    out.append((naming.MU_PRIME_NAME.format(poi=poi), f"the scan parameter '{naming.MU_PRIME_NAME.format(poi=poi)}'"))
    for j, p in enumerate(processes):
        of = f"of process '{p.name}' (templates.processes[{j}])"
        for gen in (naming.coefficient_name(p.name, channel), naming.normsys_name(p.name, channel),
                    naming.scale_name(p.name, channel)):
            out.append((gen, f"the object '{gen}' {of}"))
    for b in range(num_bins):
        gamma = naming.GAMMA_NAME.format(name=channel, b=b)
        for gen in (gamma, naming.global_observable(gamma), naming.gamma_width(gamma), naming.gamma_constraint(gamma)):
            out.append((gen, f"the staterror object '{gen}' of bin {b}"))
    return out


def as_column(column: str, role: str, values: ArrayLike, n_events: int | None = None, *,
              keep_float32: bool = False) -> np.ndarray:
    """``values`` as a 1-D float64 array (float32 arrays stay float32 with ``keep_float32``: no copy for
    a float32 event store); TypeError for strings/objects/booleans/complex, ValueError for another shape
    or a length other than ``n_events``. (Values are checked by :func:`roonsbi.spec.check_column`.)"""
    try:
        arr = np.asarray(values)
    except ValueError as err:  # ragged nested sequences
        raise ValueError(f"{role} column '{column}' is not a 1-D array of numbers ({err})") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{role} column '{column}' has dtype {arr.dtype} (first entry {arr.ravel()[:1].tolist()}): "
                        "give a 1-D array of real numbers, one per event")
    if arr.ndim != 1:
        raise ValueError(f"{role} column '{column}' must be 1-D, got shape {arr.shape}: give one value per event")
    if n_events is not None and arr.size != n_events:
        raise ValueError(f"{role} column '{column}' has {arr.size} entries but the other columns have {n_events}")
    if keep_float32 and arr.dtype == np.float32:
        return arr
    return arr.astype(np.float64, copy=False)


def check_weights(weights: ArrayLike, n_events: int, argument: str = "weights") -> np.ndarray:
    r"""``weights`` as float64 of shape (n_events,), finite, with a positive total :math:`\sum_i w_i > 0`
    (single negative MC weights are allowed)."""
    try:
        w = np.asarray(weights)
    except ValueError as err:
        raise ValueError(f"{argument} are not a 1-D array of numbers ({err})") from None
    if w.dtype.kind not in "iuf":
        raise TypeError(f"{argument} have dtype {w.dtype}: give a 1-D array of real numbers, one per event")
    if w.shape != (n_events,):
        raise ValueError(f"{argument} have shape {w.shape} but the columns have {n_events} entries")
    w = w.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise ValueError(f"{argument} have {bad.size} NaN or infinite entries (first: entry {bad[0]} = {w[bad[0]]})")
    total = float(w.sum())
    if not total > 0:
        raise ValueError(f"{argument} sum to {total:g} (<= 0): the data need a positive total weight; check the "
                         "sign convention of the weights, or pass weights=None for unweighted events")
    return w


def check_processes(processes: Any, argument: str = "processes") -> list[Process]:
    """``processes`` as a list of :class:`~roonsbi.spec.Process`; TypeError naming the argument (and the
    first entry that is not a Process) otherwise."""
    if isinstance(processes, (str, bytes, Mapping, Process)) or not isinstance(processes, Sequence):
        raise TypeError(f"{argument} must be a sequence of Process objects (e.g. [Process(...), ...]), got "
                        f"{type(processes).__name__}")
    for j, p in enumerate(processes):
        if not isinstance(p, Process):
            raise TypeError(f"{argument}[{j}] must be a roonsbi.Process, got {type(p).__name__}")
        for kind in ("normsys", "shapesys"):
            if not isinstance(getattr(p, kind), Mapping):
                raise TypeError(f"{kind} of process '{p.name}' ({argument}[{j}]) must be a mapping nuisance-parameter "
                                f"name -> systematic, got {type(getattr(p, kind)).__name__}")
    return list(processes)


def check_number(value: Any, what: str) -> float:
    """``value`` as a finite float; TypeError unless it is a real number (not a bool, an array or a string),
    ValueError if it is NaN or infinite."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {type(value).__name__} ({value!r:.60})")
    if not math.isfinite(float(value)):
        raise ValueError(f"{what} is {float(value)}: give a finite number")
    return float(value)


def check_alpha_range(alpha_range: Any, argument: str = "alpha_range") -> tuple[float, float]:
    """``alpha_range`` as (lo, hi) of finite numbers with lo < 0 < hi (nuisance parameters start at their
    nominal value 0)."""
    if isinstance(alpha_range, (str, bytes)) or not isinstance(alpha_range, Sequence) or len(alpha_range) != 2 \
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in alpha_range):
        raise TypeError(f"{argument} must be a pair (min, max) of numbers, e.g. (-5.0, 5.0), got {alpha_range!r}")
    lo, hi = (float(v) for v in alpha_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < 0.0 < hi):
        raise ValueError(f"{argument} = {tuple(alpha_range)!r} must be (min, max) with min < 0 < max, finite: the "
                         "nuisance parameters start at their nominal value 0")
    return lo, hi


def check_density(ratios: Mapping[str, np.ndarray], weights: np.ndarray | None = None) -> None:
    r"""ValueError naming the first event with :math:`r_J(x_i) = 0` for every process (and a non-zero weight):
    its density is 0 under every hypothesis, so :math:`\log F_i = -\infty` at every parameter point."""
    if not ratios:
        return
    dead = np.logical_and.reduce([np.asarray(r) == 0 for r in ratios.values()])
    if weights is not None:
        dead &= np.asarray(weights) != 0
    if dead.any():
        i = int(np.argmax(dead))
        raise ValueError(f"event {i} has r_J = 0 for every process ({', '.join(ratios)}; {int(dead.sum())} such "
                         "events): its density is 0 under every hypothesis and log F_i = -inf; remove these events, "
                         "or check the ratio columns (a network output of 0, a wrong column)")


#: names a coefficient formula may use besides the POIs (not followed by '('): none. Calls are functions.
_FORMULA_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)(?!\s*[\w(:])")


def check_formula_names(expression: str, pois: Iterable[str], process: str) -> None:
    """ValueError if the coefficient ``expression`` of ``process`` names something other than a POI or a
    function call: ROOT's TFormula would read it silently as one of its constants (``k`` = 1.38e-23,
    ``e``, ``c``, ``g``, ``h``, ``pi``, ...) or as a variable ``x``/``y``/``z``/``t``."""
    pois = list(pois)
    for name in _FORMULA_IDENTIFIER.findall(expression):
        if name not in pois:
            raise ValueError(f"coefficient '{expression}' of process '{process}' names '{name}', which is not a POI "
                             f"(POIs {pois}): ROOT's TFormula would read it as its own constant or variable; add it "
                             "to pois, or write the number")


def check_file(path: Any, what: str = "file", *, folder: bool = False) -> Path:
    """``path`` as a Path of an existing regular file (or, with ``folder``, a folder too); FileNotFoundError if
    nothing is there, ValueError naming it if it is something else (a FIFO or a device, which would block or
    never end a read, or a folder)."""
    path = Path(os.fspath(path))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    if stat.S_ISREG(mode) or (folder and stat.S_ISDIR(mode)):
        return path
    kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else \
        "a socket" if stat.S_ISSOCK(mode) else "a device"
    raise ValueError(f"{what} {path} is {kind}, not a regular file: give the path of the file itself (a pipe or a "
                     "device cannot be read as one)")
