r"""Per-event ratio columns: evaluate networks on events (:class:`ColumnSpec`, :func:`iter_columns`,
:func:`evaluate_columns`) and build processes from columns (:func:`processes_from_columns`); their
files are :mod:`roonsbi.inputs.column_files` (:func:`~roonsbi.inputs.column_files.write_columns`,
:func:`~roonsbi.inputs.column_files.read_columns`).

The columns follow the naming of :mod:`roonsbi.model`:

* ``r_<proc>``: the density ratio :math:`r_J(x_i) = p_J(x_i)/p_\mathrm{ref}(x_i)`;
* ``g_<proc>_<np>_lo`` / ``g_<proc>_<np>_hi``: the shape ratios
  :math:`g_{Jm}(x_i, \mp 1) = p_J(x_i|\alpha_m = \mp1)/p_J(x_i|0)`;
* ``<column>_std``: the spread (sample standard deviation) of an ensemble's members;
* ``weight``: the event weight :math:`w_i`, when one is read.

The one-call path from files to a model (:func:`~roonsbi.inputs.column_files.write_columns` and
:func:`~roonsbi.inputs.column_files.read_columns` from :mod:`roonsbi.inputs.column_files`)::

    spec = ColumnSpec({"r_S": RatioModel("S.onnx", output="score"),
                       "r_B": RatioModel(["B_0.onnx", "B_1.onnx"], output="log_ratio")})
    write_columns("columns.root", iter_columns("ref_*.root", spec, tree="events", weight="w"))
    cols = read_columns("columns.root")
    model = build_model(processes_from_columns(cols, yields={"S": 60.0, "B": 600.0},
                                               coefficients={"S": "mu", "B": "1"}),
                        weights=cols.get("weight"))

:func:`iter_columns` streams chunk by chunk, so the memory used is bounded by the chunk
size when the chunks go straight to ``write_columns``; :func:`evaluate_columns`
returns all columns at once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, Union

import numpy as np

from ..naming import (
    SPREAD_SUFFIX,
    WEIGHT_NAME,
    parse_shape_column,
    process_of_ratio,
    ratio_column,
    shape_columns,
)
from ..spec import PathLike
from .column_files import _float_dtype
from .events import MissingFeatureError, Source, iter_events
from .networks import RatioEvaluator, RatioModel, SessionCache, combine_members

__all__ = ["ColumnSpec", "evaluate_columns", "iter_columns", "processes_from_columns"]

ModelLike = Union[RatioModel, PathLike, Sequence[PathLike]]

_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WEIGHT_KEY = "@weight"  # internal name of the weight expression (cannot clash with a feature)
_ENTRY_KEYS = {"models", "output", "features", "output_name", "output_index", "scale"}


def _as_model(value: ModelLike) -> RatioModel:
    return value if isinstance(value, RatioModel) else RatioModel(value)


class ColumnSpec(Mapping[str, RatioModel]):
    """Which networks give which column: an ordered, read-only mapping column -> RatioModel.

    Args:
        columns: column name -> :class:`~roonsbi.networks.RatioModel` (or an ONNX path, or a
            list of paths: an ensemble with ``output="ratio"``).

    Column names must be identifiers, must not end in ``_std`` (reserved for ensemble
    spreads) and must not be ``weight``. Columns named ``g_...`` are shape ratios and must be
    strictly positive; all other columns must be non-negative.

    Example::

        spec = ColumnSpec.from_processes(
            ratios={"S": RatioModel("S.onnx", output="score")},
            shapes={"S": {"jes": (RatioModel("S_jes_dn.onnx"), RatioModel("S_jes_up.onnx"))}})
        list(spec)  # ['r_S', 'g_S_jes_lo', 'g_S_jes_hi']
    """

    def __init__(self, columns: Mapping[str, ModelLike] | None = None) -> None:
        self._columns: dict[str, RatioModel] = {}
        for name, model in (columns or {}).items():
            self._add(name, model)

    def _add(self, name: str, model: ModelLike) -> None:
        if not isinstance(name, str) or not _COLUMN_NAME.fullmatch(name):
            raise ValueError(f"column name {name!r} is not an identifier (letters, digits, underscores)")
        if name.endswith(SPREAD_SUFFIX):
            raise ValueError(f"column name {name!r} ends in '{SPREAD_SUFFIX}', reserved for ensemble spreads")
        if name == WEIGHT_NAME:
            raise ValueError(f"'{WEIGHT_NAME}' is reserved for the event weights")
        if name in self._columns:
            raise ValueError(f"column {name!r} is defined twice")
        self._columns[name] = _as_model(model)

    @classmethod
    def from_processes(
        cls,
        ratios: Mapping[str, ModelLike],
        shapes: Mapping[str, Mapping[str, tuple[ModelLike, ModelLike]]] | None = None,
    ) -> ColumnSpec:
        """Spec with ``r_<proc>`` for each ratio model and ``g_<proc>_<np>_lo/_hi`` for each shape pair."""
        spec = cls()
        for proc, model in ratios.items():
            spec._add(ratio_column(proc), model)
        for proc, systematics in (shapes or {}).items():
            for nuisance, pair in systematics.items():
                if len(pair) != 2:
                    raise ValueError(f"shape '{nuisance}' of '{proc}' needs (lo, hi) models, got {pair!r}")
                lo, hi = shape_columns(proc, nuisance)
                spec._add(lo, pair[0])
                spec._add(hi, pair[1])
        return spec

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base_dir: PathLike | None = None,
                  defaults: Mapping[str, Any] | None = None) -> ColumnSpec:
        """Spec from a configuration mapping (TOML/JSON).

        Each value is a path, a list of paths, or a table with the keys ``models`` (path or
        list), ``output``, ``features``, ``output_name``, ``output_index``, ``scale``.
        ``defaults`` (the ``[networks]`` section of ``roonsbi evaluate``) gives the same keys but
        ``models`` for every column; a column's own keys win. Relative paths are taken from
        ``base_dir``.

        >>> spec = ColumnSpec.from_dict({"r_S": "S.onnx", "r_B": {"models": "B.onnx", "output": "ratio"}},
        ...                             defaults={"output": "score", "features": ["x0", "x1"]})
        >>> [(c, m.output, m.features) for c, m in spec.items()]
        [('r_S', 'score', ('x0', 'x1')), ('r_B', 'ratio', ('x0', 'x1'))]
        """
        base = Path(base_dir) if base_dir is not None else None
        defaults = dict(defaults or {})
        unknown = sorted(set(defaults) - (_ENTRY_KEYS - {"models"}))
        if unknown:
            raise ValueError(f"unknown network default(s) {unknown}; allowed: {sorted(_ENTRY_KEYS - {'models'})}")
        spec = cls()
        for name, entry in config.items():
            spec._add(name, _model_of_entry(name, entry, base, defaults))
        return spec

    def __getitem__(self, name: str) -> RatioModel:
        return self._columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        body = ", ".join(f"{k!r}: {v!r}" for k, v in self._columns.items())
        return f"ColumnSpec({{{body}}})"


def _model_of_entry(name: str, entry: Any, base: Path | None, defaults: Mapping[str, Any] | None = None) -> RatioModel:
    """The RatioModel of one configuration entry (a path, a list of paths or a table) over the
    ``defaults``; relative paths are taken from ``base``."""
    if isinstance(entry, (str, list)):
        entry = {"models": entry}
    if not isinstance(entry, Mapping):
        raise ValueError(f"column {name!r}: expected a path, a list of paths or a table, got {entry!r}")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise ValueError(f"column {name!r}: unknown key(s) {unknown}; allowed: {sorted(_ENTRY_KEYS)}")
    entry = {**(defaults or {}), **entry}
    if "models" not in entry:
        raise ValueError(f"column {name!r}: 'models' (ONNX file or list of files) is missing")
    models = entry["models"]
    models = [models] if isinstance(models, str) else list(models)

    def path(p: Any) -> Path:
        p = Path(p)
        return base / p if base is not None and not p.is_absolute() else p

    return RatioModel(
        [path(m) for m in models],
        output=entry.get("output", "ratio"),
        features=entry.get("features"),
        output_name=entry.get("output_name"),
        output_index=entry.get("output_index"),
        scale=entry.get("scale", 1.0),
    )


def _feature_map(features: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    if features is None:
        return {}
    if isinstance(features, str):
        raise TypeError("features must be a mapping name -> branch/expression or a sequence of branch names")
    if isinstance(features, Mapping):
        return {str(k): str(v) for k, v in features.items()}
    return {str(f): str(f) for f in features}


def _check_members(column: str, evaluator: RatioEvaluator, outputs: list[np.ndarray], r: np.ndarray,
                   chunk: Any) -> None:
    """Raise ValueError naming column, network and first event if a ratio is NaN/inf/negative."""
    if np.all((r >= 0) & (r < np.inf)):  # NaN fails both comparisons
        return
    bad = ~((r >= 0) & (r < np.inf))
    i = int(np.argmax(bad.any(axis=0)))
    k = int(np.argmax(bad[:, i]))
    net = evaluator.networks[k]
    members = f" (member {k + 1} of {len(evaluator.networks)})" if len(evaluator.networks) > 1 else ""
    feats = ", ".join(f"{f}={float(chunk.data[f][i]):.6g}" for f in net.features)
    n_bad = int(bad[k].sum())
    raise ValueError(
        f"column '{column}': network {net.path}{members} gave the ratio {r[k, i]:.6g} "
        f"(output '{net.output_name}' = {float(outputs[k][i]):.6g}, convention '{evaluator.model.output}') "
        f"at {chunk.where(i)} with features {feats}; ratios must be finite and non-negative "
        f"({n_bad} such events in this chunk of {r.shape[1]})"
    )


def _check_positive(column: str, values: np.ndarray, chunk: Any) -> None:
    if np.all(values > 0):
        return
    i = int(np.argmax(~(values > 0)))
    raise ValueError(
        f"shape column '{column}' is {values[i]:.6g} at {chunk.where(i)}; shape ratios must be strictly "
        f"positive (all ensemble members gave 0)"
    )


def iter_columns(
    source: Source,
    spec: ColumnSpec | Mapping[str, ModelLike],
    *,
    tree: str | None = None,
    features: Mapping[str, str] | Sequence[str] | None = None,
    cut: str | None = None,
    weight: str | None = None,
    keep: Sequence[str] = (),
    chunk_size: int = 100_000,
    spread: bool = True,
    dtype: Any = np.float32,
    progress: bool | None = None,
    threads: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    r"""Evaluate the networks of ``spec`` on the events of ``source``, one chunk at a time.

    Per chunk of events, each network of each column is run once on one contiguous
    feature matrix (shared by the networks with the same inputs), its outputs converted to
    ratios (:meth:`RatioModel.to_ratio`), checked (finite, non-negative; shape columns
    strictly positive) and averaged over the ensemble.

    Args:
        source: ROOT file(s) (globs, ``"file.root:tree"``) or a mapping name -> array.
        spec: column name -> RatioModel (see :class:`ColumnSpec`).
        tree: the TTree/RNTuple name (default: the only one of each file).
        features: feature name -> branch or expression (see :mod:`roonsbi.events`), or a
            list of branch names. Features the networks need that are not in it are read
            from the branches of the same name.
        cut: selection expression on branches.
        weight: branch or expression of the event weight, written as column ``weight``.
        keep: features or branches copied to the output columns (e.g. for diagnostics).
        chunk_size: entries per chunk; bounds the memory for events and network outputs.
        spread: add ``<column>_std`` (sample std over members) for ensembles.
        dtype: float32 (default) or float64 for the returned columns.
        progress: tqdm progress bar over the entries (None: only on a terminal).
        threads: onnxruntime intra-op threads (None: its default).

    Yields:
        dict column -> array for each chunk (one empty chunk if nothing was selected).

    Raises:
        MissingFeatureError (KeyError): a feature a network needs is not in the files,
            naming the feature, the networks that need it and the available branches.
        ValueError: network inputs that do not match (naming the file, its declared inputs
            and the given features), output shape mismatch, NaN/inf/negative ratios
            (naming the column, network and first bad event).
    """
    if not isinstance(spec, ColumnSpec):
        spec = ColumnSpec(spec)
    if not len(spec):
        raise ValueError("the column spec is empty")
    dtype = _float_dtype(dtype)
    cache = SessionCache(threads)
    evaluators = {col: RatioEvaluator.load(model, cache) for col, model in spec.items()}
    keep = [keep] if isinstance(keep, str) else list(keep)
    needed_by = _needed_by(evaluators)
    names = _output_names(evaluators, spread, keep, weight)
    chunks = iter_events(
        source, _expressions(needed_by, _feature_map(features), keep, weight), tree=tree, cut=cut,
        chunk_size=chunk_size, progress=progress, desc="roonsbi evaluate",
        needed_by={f: ", ".join(v) for f, v in needed_by.items()},
    )
    produced = False
    for chunk in chunks:
        produced = True
        yield _chunk_columns(chunk, evaluators, keep, weight, spread, dtype)
    if not produced:
        yield {name: np.zeros(0, dtype=dtype) for name in names}


def _needed_by(evaluators: Mapping[str, RatioEvaluator]) -> dict[str, list[str]]:
    """feature -> the networks (``"file.onnx (column)"``) that read it, in first-seen order."""
    needed_by: dict[str, list[str]] = {}
    for col, ev in evaluators.items():
        for net in ev.networks:
            for f in net.features:
                label = f"{net.path.name} ({col})"
                users = needed_by.setdefault(f, [])
                if label not in users:
                    users.append(label)
    return needed_by


def _expressions(needed_by: Mapping[str, Any], given: Mapping[str, str], keep: Sequence[str],
                 weight: str | None) -> dict[str, str]:
    """Feature/kept column -> its branch or expression (default: the branch of that name), and the weight."""
    expressions = {f: given.get(f, f) for f in needed_by}
    for name in keep:
        expressions.setdefault(name, given.get(name, name))
    if weight is not None:
        expressions[_WEIGHT_KEY] = weight
    return expressions


def _output_names(evaluators: Mapping[str, RatioEvaluator], spread: bool, keep: Sequence[str],
                  weight: str | None) -> list[str]:
    """The columns produced, in order: each column (and its spread), the kept columns, the weight."""
    names = []
    for col, ev in evaluators.items():
        names.append(col)
        if spread and ev.model.n_members > 1:
            names.append(col + SPREAD_SUFFIX)
    clash = sorted(set(names) & set(keep))
    if clash or (weight is not None and WEIGHT_NAME in keep):
        raise ValueError(f"kept columns {clash or [WEIGHT_NAME]} clash with evaluated columns")
    return names + list(keep) + ([WEIGHT_NAME] if weight is not None else [])


def _chunk_columns(chunk: Any, evaluators: Mapping[str, RatioEvaluator], keep: Sequence[str],
                   weight: str | None, spread: bool, dtype: np.dtype) -> dict[str, np.ndarray]:
    """The columns of one chunk: ensemble mean (and spread) of each column's ratios, checked."""
    out: dict[str, np.ndarray] = {}
    feed_cache: dict = {}
    for col, ev in evaluators.items():
        outputs = ev.outputs(chunk.data, feed_cache)
        r = np.stack([ev.model.to_ratio(y) for y in outputs])
        _check_members(col, ev, outputs, r, chunk)
        mean, std = combine_members(r)
        if col.startswith("g_"):
            _check_positive(col, mean, chunk)
        out[col] = mean.astype(dtype)
        if spread and std is not None:
            out[col + SPREAD_SUFFIX] = std.astype(dtype)
    for name in keep:
        out[name] = np.asarray(chunk.data[name], dtype=dtype)
    if weight is not None:
        out[WEIGHT_NAME] = np.asarray(chunk.data[_WEIGHT_KEY], dtype=dtype)
    return out


def evaluate_columns(
    source: Source,
    spec: ColumnSpec | Mapping[str, ModelLike],
    **kwargs: Any,
) -> dict[str, np.ndarray]:
    """All columns at once (the arguments are those of :func:`iter_columns`).

    Returns:
        dict column -> array with one entry per selected event: the ``spec`` columns,
        ``<column>_std`` for ensembles (``spread=True``), the ``keep`` columns and ``weight``.
    """
    parts: dict[str, list[np.ndarray]] = {}
    for out in iter_columns(source, spec, **kwargs):
        for name, values in out.items():
            parts.setdefault(name, []).append(values)
    return {name: v[0] if len(v) == 1 else np.concatenate(v) for name, v in parts.items()}


# -- processes ----------------------------------------------------------------------------

def _shapes_by_process(columns: Mapping[str, np.ndarray],
                       procs: Sequence[str]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """process -> nuisance -> {"lo"/"hi": column} of the shape columns ``g_<proc>_<np>_lo/_hi``.

    Raises:
        ValueError: ratio or shape columns (spreads excluded) of no process of ``procs``.
    """
    base = [c for c in columns if not (c.endswith(SPREAD_SUFFIX) and c[: -len(SPREAD_SUFFIX)] in columns)]
    shapes: dict[str, dict[str, dict[str, np.ndarray]]] = {p: {} for p in procs}
    orphans = []
    for c in base:
        process = process_of_ratio(c)
        if process is not None:
            if process not in procs:
                orphans.append(c)
        elif c.startswith("g_") and c.endswith(("_lo", "_hi")):
            parsed = parse_shape_column(c, list(procs))  # the longest process name wins: g_S_x_jes_lo is S_x's
            if parsed is None:
                orphans.append(c)
                continue
            owner, nuisance, side = parsed
            shapes[owner].setdefault(nuisance, {})[side] = columns[c]
    if orphans:
        raise ValueError(
            f"columns {orphans} belong to no process of yields {list(procs)}; add the processes or drop the columns"
        )
    return shapes


def processes_from_columns(
    columns: Mapping[str, np.ndarray],
    yields: Mapping[str, float],
    coefficients: Mapping[str, Any] | None = None,
    normsys: Mapping[str, Mapping[str, Any]] | None = None,
    shape_code: int | Mapping[str, int] = 5,
) -> list:
    """:class:`roonsbi.model.Process` objects from columns named as :mod:`roonsbi.model` does.

    For each process ``J`` of ``yields`` (in that order): the ratio ``r_J``, and a
    :class:`~roonsbi.model.ShapeSys` for each pair ``g_J_<np>_lo`` / ``g_J_<np>_hi``.

    Args:
        columns: e.g. :func:`~roonsbi.inputs.column_files.read_columns` or :func:`evaluate_columns` output.
        yields: process -> nominal yield nu_J.
        coefficients: process -> f_J(POIs) (formula string or RooAbsReal; default ``"1"``).
        normsys: process -> {np: NormSys or (lo, hi)}.
        shape_code: PiecewiseInterpolation code of the shapes, one for all or per np name.

    Raises:
        KeyError: a process without ``r_<proc>`` column.
        ValueError: a shape column without its partner, or ratio/shape columns of a process
            not in ``yields`` (drop them from ``columns`` to build a subset).
    """
    from ..spec import Process, ShapeSys

    coefficients = dict(coefficients or {})
    normsys = dict(normsys or {})
    procs = list(yields)
    unknown = sorted(set(coefficients) - set(procs)) + sorted(set(normsys) - set(procs))
    if unknown:
        raise ValueError(f"coefficients/normsys given for processes {unknown} that have no yield")
    shapes = _shapes_by_process(columns, procs)
    out = []
    for p in procs:
        col = ratio_column(p)
        if col not in columns:
            raise MissingFeatureError(f"no ratio column '{col}' for process '{p}' (columns: {list(columns)})")
        shapesys = {}
        for nuisance, pair in shapes[p].items():
            if set(pair) != {"lo", "hi"}:
                have = shape_columns(p, nuisance)[0 if "lo" in pair else 1]
                raise ValueError(f"shape column '{have}' has no partner ('_lo' and '_hi' are both needed)")
            code = shape_code[nuisance] if isinstance(shape_code, Mapping) else shape_code
            shapesys[nuisance] = ShapeSys(pair["lo"], pair["hi"], int(code))
        out.append(Process(p, float(yields[p]), columns[col], coefficients.get(p, "1"),
                           normsys=dict(normsys.get(p, {})), shapesys=shapesys))
    return out
