r"""Density-ratio networks in ONNX: output conventions, ensembles and input checks.

A :class:`RatioModel` describes how to turn one or several ONNX networks (an
ensemble) into the per-event density ratio of one column,
:math:`r(x) = p_J(x)/p_\mathrm{ref}(x)` or a shape ratio
:math:`g(x) = p_J(x|\pm1)/p_J(x|0)`. With network output :math:`y_k(x)` of ensemble
member :math:`k = 1..K` and a constant factor :math:`c` (``scale``):

* ``output="ratio"``:      :math:`r_k = c\,y_k` (the network predicts the ratio);
* ``output="log_ratio"``:  :math:`r_k = c\,e^{y_k}` (the network predicts its logarithm);
* ``output="score"``:      :math:`r_k = c\,s_k/(1-s_k)` for a classifier score
  :math:`s_k = y_k \in [0, 1)` trained with label 1 for the process sample and
  label 0 for the reference sample at equal total class weights, whose optimum is
  :math:`s = p_J/(p_J + p_\mathrm{ref})`. If the classes had total weights
  :math:`W_J \ne W_\mathrm{ref}`, use ``scale`` :math:`= W_\mathrm{ref}/W_J`.

The ensemble average is taken on the ratios, :math:`r = \frac1K\sum_k r_k`, and its spread
is the sample standard deviation :math:`\sigma_r = \big[\frac{1}{K-1}\sum_k (r_k - r)^2\big]^{1/2}`
(stored as the column ``<column>_std`` by :func:`roonsbi.columns.evaluate_columns`; the
standard error of the mean is :math:`\sigma_r/\sqrt K`).

Inputs. A network takes either

* one matrix input of shape ``[N, d]``: the names of its ``d`` features, in order, come from
  ``RatioModel(features=...)`` or from the ONNX metadata property ``feature_names``
  (comma-separated or a JSON list; write it with :func:`set_feature_names`). When both are
  given they must agree, order included;
* or one input per feature, of shape ``[N]`` or ``[N, 1]``: the input names are the feature
  names.

Both layouts accept float32 or float64 inputs; the batch dimension must be dynamic.

Classifiers exported by skl2onnx work as exported: their first output, the predicted label
(integers), is skipped for the first float output, the class probabilities, a ``[N, k]`` tensor or
(skl2onnx's default ``zipmap=True``) a sequence of maps class -> probability, read in the order of
the sorted classes (slower than ``zipmap=False``: one Python dict per event). With
``output="score"`` a two-class output gives :math:`s` = the probability of class 1 (the process
sample), so :math:`r = s/(1-s)` (only for a classifier: a network with a label output or a ZipMap;
another two-column output needs ``output_index``); with more classes choose the column with
``output_index``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..atomic import atomic_path, refuse_existing
from ..optional import optional_module
from ..spec import PathLike

__all__ = [
    "FEATURE_METADATA_KEYS",
    "OUTPUT_CONVENTIONS",
    "Network",
    "RatioEvaluator",
    "RatioModel",
    "SessionCache",
    "combine_members",
    "set_feature_names",
]


#: The supported network output conventions.
OUTPUT_CONVENTIONS = ("ratio", "log_ratio", "score")

#: ONNX metadata keys read for the feature names of a matrix input (first found wins).
FEATURE_METADATA_KEYS = ("feature_names", "features", "input_features")

_ONNX_FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}


def _import_onnxruntime() -> Any:
    return optional_module("onnxruntime", "evaluating ONNX networks")


def _ort_errors(ort: Any) -> tuple[type[BaseException], ...]:
    """The exception classes onnxruntime raises for files it cannot load or run (they derive from
    Exception directly, not from RuntimeError)."""
    state = ort.capi.onnxruntime_pybind11_state
    names = ("Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError", "RuntimeException",
             "InvalidProtobuf", "ModelLoaded", "NotImplemented", "InvalidGraph", "EPFail")
    return tuple(getattr(state, n) for n in names if hasattr(state, n)) + (RuntimeError,)


@dataclass(frozen=True)
class RatioModel:
    r"""One column's networks: ONNX file(s), output convention and feature names.

    Args:
        paths: one ONNX file or several (an ensemble, averaged on the ratio scale).
        output: ``"ratio"`` (:math:`r = c\,y`), ``"log_ratio"`` (:math:`r = c\,e^y`) or
            ``"score"`` (:math:`r = c\,s/(1-s)`); see the module documentation.
        features: names of the network's input features, in the order the network
            expects them (matrix input). Checked against the ONNX metadata
            ``feature_names`` when the file has it; required when it has not.
            For networks with one input per feature, the input names (any order).
        output_name: name of the ONNX output to use (default: the first float output,
            so the class probabilities of a skl2onnx classifier, not its label output).
        output_index: column of a ``[N, k]`` output to use (e.g. 1 for the
            probability of class 1 of a two-class classifier); not needed for
            ``[N]`` or ``[N, 1]`` outputs, nor with ``output="score"`` for the probabilities of a
            two-class classifier (a network with a label output, or a ZipMap): column 1, the process class.
        scale: constant factor :math:`c` applied to every member's ratio.

    Example::

        RatioModel(["nets/S_0.onnx", "nets/S_1.onnx"], output="score",
                   features=["m4l", "pt4l", "eta4l"])
    """

    paths: tuple[Path, ...]
    output: str = "ratio"
    features: tuple[str, ...] | None = None
    output_name: str | None = None
    output_index: int | None = None
    scale: float = 1.0

    def __init__(
        self,
        paths: PathLike | Sequence[PathLike],
        output: str = "ratio",
        features: Sequence[str] | None = None,
        output_name: str | None = None,
        output_index: int | None = None,
        scale: float = 1.0,
    ) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        paths = tuple(Path(p) for p in paths)
        if not paths:
            raise ValueError("RatioModel needs at least one ONNX file")
        if output not in OUTPUT_CONVENTIONS:
            raise ValueError(f"unknown network output convention {output!r}; use one of {OUTPUT_CONVENTIONS}")
        if features is not None:
            if isinstance(features, str):
                raise TypeError(f"features must be a sequence of names, got the string {features!r}")
            features = tuple(str(f) for f in features)
            if len(set(features)) != len(features):
                raise ValueError(f"duplicated feature names in {list(features)}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be positive and finite, got {scale}")
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "output_name", output_name)
        object.__setattr__(self, "output_index", None if output_index is None else int(output_index))
        object.__setattr__(self, "scale", float(scale))

    @property
    def n_members(self) -> int:
        """Number of networks in the ensemble."""
        return len(self.paths)

    def to_ratio(self, y: np.ndarray) -> np.ndarray:
        """Convert raw network outputs ``y`` to ratios (float64), following :attr:`output`."""
        y = np.asarray(y, dtype=np.float64)
        if self.output == "ratio":
            r = y.copy()
        elif self.output == "log_ratio":
            r = np.exp(y)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                r = y / (1.0 - y)
        if self.scale != 1.0:
            r *= self.scale
        return r


def set_feature_names(path: PathLike, names: Sequence[str], output: PathLike | None = None,
                      overwrite: bool = False) -> Path:
    """Store the ordered feature names of a network in its ONNX metadata (``feature_names``).

    Needs the ``onnx`` package. Writes ``output``, or without it updates ``path`` in place (what the
    call asks for); an existing ``output`` other than ``path`` is replaced only with ``overwrite``.
    The file is written atomically (:mod:`roonsbi.atomic`): a failed write leaves it as it was.
    """
    onnx = optional_module("onnx", "set_feature_names (writing ONNX metadata)")
    out = Path(output) if output is not None else Path(path)
    in_place = output is None or (out.exists() and out.resolve() == Path(path).resolve())
    refuse_existing(out, overwrite or in_place)
    model = onnx.load(str(path))
    _store_feature_names(onnx, model, names)
    with atomic_path(out, overwrite or in_place) as tmp:
        onnx.save(model, str(tmp))
    return out


def _store_feature_names(onnx: Any, model: Any, names: Sequence[str]) -> None:
    """Set the ``feature_names`` metadata of the ONNX ``model`` (in memory) to ``names``."""
    props = {p.key: p.value for p in model.metadata_props}
    props["feature_names"] = ",".join(names)
    onnx.helper.set_model_props(model, props)


def _parse_feature_list(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        return [str(v) for v in json.loads(text)]
    return [t.strip() for t in text.split(",") if t.strip()]


def _fmt_inputs(inputs: Iterable[Any]) -> str:
    return ", ".join(f"'{i.name}' {list(i.shape)} {i.type}" for i in inputs)


@dataclass
class Network:
    """One loaded ONNX network with its resolved input layout (used by :class:`RatioEvaluator`).

    Attributes:
        path: the ONNX file.
        features: the event features the network reads, in input order.
        layout: ``"matrix"`` (one ``[N, d]`` input) or ``"columns"`` (one input per feature).
    """

    path: Path
    session: Any
    features: list[str]
    layout: str
    input_names: list[str]
    input_dtypes: list[Any]
    input_ranks: list[int]
    output_name: str
    output_index: int | None
    zipmap: bool = False
    classifier_score: bool = False  #: a classifier's probabilities read as a score: 2 columns -> column 1

    def feeds(self, data: Mapping[str, np.ndarray], cache: dict) -> dict[str, np.ndarray]:
        """ONNX feeds for one chunk; the feature matrix is built once per chunk and layout."""
        if self.layout == "matrix":
            dtype = self.input_dtypes[0]
            key: tuple[Any, ...] = ("matrix", tuple(self.features), dtype)
            x = cache.get(key)
            if x is None:
                n = len(data[self.features[0]])
                x = np.empty((n, len(self.features)), dtype=dtype)
                for j, name in enumerate(self.features):
                    x[:, j] = data[name]
                cache[key] = x
            return {self.input_names[0]: x}
        feeds = {}
        for name, feature, dtype, rank in zip(self.input_names, self.features, self.input_dtypes, self.input_ranks):
            key = ("column", feature, dtype)
            col = cache.get(key)
            if col is None:
                col = np.ascontiguousarray(data[feature], dtype=dtype)
                cache[key] = col
            feeds[name] = col if rank == 1 else col.reshape(-1, 1)
        return feeds

    def run(self, data: Mapping[str, np.ndarray], cache: dict) -> np.ndarray:
        """Raw network output, one value per event (shape ``(n,)``)."""
        key = ("output", id(self.session), self.output_name, tuple(self.features))
        y = cache.get(key)
        if y is None:
            y = self.session.run([self.output_name], self.feeds(data, cache))[0]
            if self.zipmap:  # a list of {class: probability}: columns in the order of the sorted classes
                classes = sorted(y[0]) if len(y) else []
                y = np.array([[row[c] for c in classes] for row in y], dtype=np.float64).reshape(len(y), len(classes))
            cache[key] = y
        n = len(data[self.features[0]]) if self.features else 0
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 2 and self.output_index is None and self.classifier_score:
            y = y[:, 1]  # a two-class classifier's probabilities: the process class (label 1) is the score
        if y.ndim == 2 and self.output_index is not None:
            if not 0 <= self.output_index < y.shape[1]:
                raise ValueError(
                    f"network {self.path}: output '{self.output_name}' has shape {y.shape}, "
                    f"output_index {self.output_index} is out of range"
                )
            y = y[:, self.output_index]
        elif y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.shape != (n,):
            hint = " (choose a column with RatioModel(output_index=...))" if y.ndim == 2 else ""
            raise ValueError(
                f"network {self.path}: output '{self.output_name}' has shape {tuple(y.shape)} for {n} events; "
                f"expected ({n},) or ({n}, 1){hint}"
            )
        return y


_SHARED_ARENA: bool | None = None


def _shared_arena(ort: Any) -> bool:
    """Register one CPU arena allocator in onnxruntime's environment (once per process).

    Sessions that opt in (``session.use_env_allocators``) then share it. Without it every
    session keeps its own arena, sized for its largest batch: with K networks the memory is
    K times the working set of one network on one chunk; shared, it is about one (the
    networks run one after the other). Sessions that do not opt in are not affected.
    """
    global _SHARED_ARENA
    if _SHARED_ARENA is None:
        errors: tuple[type[BaseException], ...] = (AttributeError, TypeError, *_ort_errors(ort))
        try:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))
            _SHARED_ARENA = True
        except errors:  # pragma: no cover - older onnxruntime: one arena per session
            _SHARED_ARENA = False
    return _SHARED_ARENA


class SessionCache:
    """ONNX Runtime sessions (CPU provider), loaded once per file and shared between columns.

    All sessions share one CPU memory arena (see :func:`_shared_arena`), so the memory for
    the network activations is that of one network on one chunk, whatever the number of
    networks; the intra-op threads do not spin between runs.

    Args:
        threads: intra-op threads of each session (None or 0: onnxruntime's default,
            one per physical core).
    """

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                    or threads < 0):
            raise ValueError(f"threads (--threads) must be a whole number >= 0 of onnxruntime threads per network "
                             f"(0: one per physical core), got {threads!r}")
        self.threads = threads
        self._sessions: dict[Path, Any] = {}

    def session(self, path: Path) -> Any:
        path = Path(path)
        key = path.resolve()
        if key not in self._sessions:
            if not path.is_file():
                raise FileNotFoundError(f"ONNX network {path} does not exist")
            ort = _import_onnxruntime()
            options = ort.SessionOptions()
            options.intra_op_num_threads = int(self.threads or 0)
            options.log_severity_level = 3
            if _shared_arena(ort):
                options.add_session_config_entry("session.use_env_allocators", "1")
            # no busy-waiting of the intra-op threads between runs: it buys nothing for batches of
            # thousands of events and, on a machine with more busy threads than cores (CI, batch
            # nodes), made 100 runs of 20k events ~10x slower than without
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                self._sessions[key] = ort.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
            except _ort_errors(ort) as err:
                raise ValueError(f"onnxruntime cannot load {path}: {err}") from err
        return self._sessions[key]

    def network(self, path: Path, model: RatioModel) -> Network:
        """Load ``path`` and resolve its inputs against ``model.features`` and the metadata."""
        session = self.session(path)
        inputs = list(session.get_inputs())
        meta = session.get_modelmeta().custom_metadata_map
        declared = next((_parse_feature_list(meta[key]) for key in FEATURE_METADATA_KEYS if key in meta), None)
        dtypes = _input_dtypes(path, inputs)
        ranks = [len(inp.shape) for inp in inputs]
        if len(inputs) == 1 and ranks[0] == 2:
            names, layout = _matrix_features(path, inputs[0], model.features, declared), "matrix"
        elif all(r == 1 or (r == 2 and inp.shape[1] == 1) for r, inp in zip(ranks, inputs)):
            names, layout = _column_features(path, inputs, model.features, declared), "columns"
        else:
            raise ValueError(
                f"network {path}: unsupported inputs {_fmt_inputs(inputs)}; expected one [N, d] matrix "
                f"or one [N] / [N, 1] input per feature"
            )
        output_name, zipmap = _output_name(path, list(session.get_outputs()), model.output_name)
        return Network(
            path=Path(path),
            session=session,
            features=list(names),
            layout=layout,
            input_names=[i.name for i in inputs],
            input_dtypes=dtypes,
            input_ranks=ranks,
            output_name=output_name,
            output_index=model.output_index,
            zipmap=zipmap,
            classifier_score=model.output == "score" and (zipmap or _has_label_output(session.get_outputs())),
        )


def _input_dtypes(path: Path, inputs: Sequence[Any]) -> list[Any]:
    """numpy dtypes of the (float or double) inputs; the batch dimension must be dynamic."""
    dtypes = []
    for inp in inputs:
        if inp.type not in _ONNX_FLOAT_TYPES:
            raise ValueError(
                f"network {path}: input '{inp.name}' has type {inp.type}; only float and double "
                f"inputs are supported (inputs: {_fmt_inputs(inputs)})"
            )
        dtypes.append(_ONNX_FLOAT_TYPES[inp.type])
        if inp.shape and isinstance(inp.shape[0], int) and inp.shape[0] != -1:
            raise ValueError(
                f"network {path}: input '{inp.name}' has a fixed batch size {inp.shape[0]} "
                f"(shape {list(inp.shape)}); export it with a dynamic first axis"
            )
    return dtypes


def _matrix_features(path: Path, inp: Any, given: Sequence[str] | None, declared: list[str] | None) -> list[str]:
    """Feature names of a ``[N, d]`` input: the RatioModel's or the metadata's (which must agree)."""
    width = inp.shape[1] if isinstance(inp.shape[1], int) else None
    if given is not None and declared is not None and list(given) != declared:
        raise ValueError(
            f"network {path}: its metadata declares the input features {declared} "
            f"but the RatioModel gives {list(given)} (order matters)"
        )
    names = list(given) if given is not None else declared
    if names is None:
        if width != 1:
            raise ValueError(
                f"network {path} has one input '{inp.name}' of shape {list(inp.shape)} and no "
                f"feature names in its metadata; give them with RatioModel(features=[...]) or "
                f"store them with roonsbi.networks.set_feature_names"
            )
        names = [inp.name]
    if width is not None and width != len(names):
        raise ValueError(
            f"network {path}: input '{inp.name}' has {width} features (shape {list(inp.shape)}) "
            f"but {len(names)} feature names were given: {names}"
        )
    return names


def _column_features(path: Path, inputs: Sequence[Any], given: Sequence[str] | None,
                     declared: list[str] | None) -> list[str]:
    """Feature names of one input per feature: the input names (any given names must be the same set)."""
    names = [inp.name for inp in inputs]
    for label, other in (("the RatioModel gives", given), ("its metadata declares", declared)):
        if other is not None and sorted(other) != sorted(names):
            raise ValueError(
                f"network {path} has one input per feature, named {names}, but {label} the "
                f"features {list(other)}"
            )
    return names


def _is_zipmap(output: Any) -> bool:
    """A ZipMap output (skl2onnx's default for classifiers): a sequence of maps class -> probability."""
    return str(output.type).startswith("seq(map(") and ("tensor(float)" in output.type or
                                                          "tensor(double)" in output.type)


def _has_label_output(outputs: Sequence[Any]) -> bool:
    """An integer or string output: a classifier's predicted label (skl2onnx's ``output_label``)."""
    return any(o.type in ("tensor(int64)", "tensor(int32)", "tensor(string)") for o in outputs)


def _output_name(path: Path, outputs: Sequence[Any], wanted: str | None) -> tuple[str, bool]:
    """The output used and whether it is a ZipMap: ``wanted``, or the first float output.

    A scikit-learn classifier exported by skl2onnx has the outputs ``output_label`` (the predicted
    class, integers) then ``output_probability`` (the class probabilities, a tensor [N, k] or, with
    ZipMap, a sequence of maps): without ``output_name`` the probabilities are taken, never the label."""
    out_names = [o.name for o in outputs]
    floats = [o for o in outputs if o.type in _ONNX_FLOAT_TYPES or _is_zipmap(o)]
    if wanted is None:
        if not floats:
            raise ValueError(f"network {path} has no float output (outputs: "
                             f"{', '.join(f'{o.name} {o.type}' for o in outputs)}); roonsbi needs the ratio, its "
                             "logarithm or a classifier's probabilities")
        wanted = floats[0].name
    if wanted not in out_names:
        raise ValueError(f"network {path} has no output '{wanted}' (outputs: {out_names})")
    out = outputs[out_names.index(wanted)]
    if out not in floats:
        hint = (f"; the class probabilities are '{floats[0].name}' (output_name = \"{floats[0].name}\", or leave "
                "output_name out)" if floats else "")
        raise ValueError(f"network {path}: output '{wanted}' is {out.type}, not a float tensor (a classifier's "
                         f"predicted label?){hint}")
    return wanted, _is_zipmap(out)


@dataclass
class RatioEvaluator:
    """A :class:`RatioModel` with its networks loaded: ratios of all members per chunk."""

    model: RatioModel
    networks: list[Network] = field(default_factory=list)

    @classmethod
    def load(cls, model: RatioModel, cache: SessionCache | None = None) -> RatioEvaluator:
        cache = cache or SessionCache()
        return cls(model, [cache.network(p, model) for p in model.paths])

    @property
    def features(self) -> list[str]:
        """The event features needed by any member, in first-seen order."""
        seen: dict[str, None] = {}
        for net in self.networks:
            seen.update(dict.fromkeys(net.features))
        return list(seen)

    def outputs(self, data: Mapping[str, np.ndarray], cache: dict | None = None) -> list[np.ndarray]:
        """Raw outputs :math:`y_k` of the members."""
        cache = {} if cache is None else cache
        return [net.run(data, cache) for net in self.networks]

    def member_ratios(self, data: Mapping[str, np.ndarray], cache: dict | None = None) -> np.ndarray:
        """Ratios :math:`r_k` of the members, float64 array of shape ``(K, n)``."""
        return np.stack([self.model.to_ratio(y) for y in self.outputs(data, cache)])

    def __call__(self, data: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Ensemble mean ratio and spread (None for a single network) for in-memory features."""
        r = self.member_ratios(data)
        return combine_members(r)


def combine_members(r: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    r"""Mean :math:`\frac1K\sum_k r_k` and sample standard deviation (ddof=1) over axis 0."""
    if r.shape[0] == 1:
        return r[0], None
    return r.mean(axis=0), r.std(axis=0, ddof=1)
