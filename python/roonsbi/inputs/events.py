r"""Read event features from ROOT files (TTree or RNTuple) or in-memory arrays, in chunks.

Features are named and defined by a branch name or an expression of branches::

    {"m4l": "m4l", "log_pt": "log(pt4l)", "dphi": "abs(phi1 - phi2)"}

Expressions use Python syntax on numpy arrays with the functions of :data:`FUNCTIONS`
(``log``, ``exp``, ``sqrt``, ``abs``, ``where``, ``minimum`` ...); ``and``/``or``/``not``
and chained comparisons (``0 < x < 1``) work element-wise. A cut is such an expression
giving one boolean per event. Expressions and cuts are evaluated by roonsbi itself, the
same way for TTrees, RNTuples (whose uproot reader ignores expressions and cuts) and arrays.

Files are read with uproot one chunk of ``chunk_size`` entries at a time, so the memory
used for the events is bounded by the chunk size, whatever the number of files.
"""

from __future__ import annotations

import ast
import glob
import os
import re
from dataclasses import dataclass
from typing import Any, Collection, Iterator, Mapping, Sequence, Union

import numpy as np

from ..checks import check_file
from ..optional import optional_module
from ..spec import PathLike

__all__ = [
    "FUNCTIONS",
    "Chunk",
    "Expression",
    "MissingFeatureError",
    "Source",
    "iter_events",
    "read_events",
    "resolve_files",
]

#: A source of events: ROOT file path(s) (globs and ``"file.root:tree"`` allowed) or arrays.
Source = Union[PathLike, Sequence[PathLike], Mapping[str, Any]]

#: Functions and constants available in feature expressions and cuts.
FUNCTIONS: dict[str, Any] = {
    name: getattr(np, name)
    for name in (
        "abs", "sqrt", "cbrt", "exp", "expm1", "log", "log10", "log2", "log1p",
        "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh",
        "arcsinh", "arccosh", "arctanh", "hypot", "floor", "ceil", "sign", "minimum", "maximum",
        "where", "isfinite", "isnan", "clip", "pi", "e",
    )
}
FUNCTIONS.update(asin=np.arcsin, acos=np.arccos, atan=np.arctan, atan2=np.arctan2, fabs=np.abs)

_EVENT_CLASSES = ("TTree", "ROOT::RNTuple")
_BRANCH_NAME = re.compile(r"[A-Za-z_][\w.]*(/[A-Za-z_][\w.]*)*")


class MissingFeatureError(KeyError):
    """A branch, field or array needed by a feature, a cut or a network is missing."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


def _import_uproot() -> Any:
    return optional_module("uproot", "reading ROOT files")


class _Elementwise(ast.NodeTransformer):
    """``a and b`` -> ``logical_and(a, b)``; ``not a`` -> ``logical_not(a)``; ``a < b < c`` split."""

    def _call(self, func: str, args: list[ast.expr]) -> ast.expr:
        return ast.Call(func=ast.Name(id=func, ctx=ast.Load()), args=args, keywords=[])

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        func = "__logical_and__" if isinstance(node.op, ast.And) else "__logical_or__"
        out = node.values[0]
        for value in node.values[1:]:
            out = self._call(func, [out, value])
        return out

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return self._call("__logical_not__", [node.operand])
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        self.generic_visit(node)
        if len(node.ops) == 1:
            return node
        left, parts = node.left, []
        for op, right in zip(node.ops, node.comparators):
            parts.append(ast.Compare(left=left, ops=[op], comparators=[right]))
            left = right
        out: ast.expr = parts[0]
        for part in parts[1:]:
            out = self._call("__logical_and__", [out, part])
        return out


_HELPERS = {"__logical_and__": np.logical_and, "__logical_or__": np.logical_or, "__logical_not__": np.logical_not}


class Expression:
    """A feature definition or cut: a branch name, or a Python expression of branches.

    Args:
        text: the branch name or expression.
        keys: names available in the source; ``text`` equal to one of them is read as is
            (so branch names that are not Python identifiers, such as ``"jet.pt"``, work).
        what: description for error messages (e.g. ``"feature 'log_pt'"``).
    """

    def __init__(self, text: str, keys: Collection[str], what: str = "expression") -> None:
        self.text = str(text)
        self.what = what
        if self.text in keys:
            self.names = [self.text]
            self._code = None
            return
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as err:
            raise ValueError(f"{what}: cannot parse {self.text!r} ({err.msg})") from None
        for node in ast.walk(tree):
            if isinstance(node, (ast.Attribute, ast.Lambda, ast.ListComp, ast.DictComp, ast.SetComp,
                                 ast.GeneratorExp, ast.NamedExpr)):
                raise ValueError(f"{what}: {type(node).__name__} is not allowed in {self.text!r}")
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        unknown = sorted(c for c in calls if c not in FUNCTIONS)
        if unknown:
            raise ValueError(
                f"{what}: unknown function(s) {unknown} in {self.text!r}; available: {sorted(FUNCTIONS)}"
            )
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in FUNCTIONS and node.id not in names:
                names.append(node.id)
        self.names = names
        tree = ast.fix_missing_locations(_Elementwise().visit(tree))
        self._code = compile(tree, f"<{what}>", "eval")

    def __call__(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        if self._code is None:
            return arrays[self.text]
        scope = {"__builtins__": {}, **FUNCTIONS, **_HELPERS}
        with np.errstate(all="ignore"):
            value = eval(self._code, scope, {n: arrays[n] for n in self.names})
        return value


@dataclass
class Chunk:
    """One chunk of selected events.

    Attributes:
        data: name -> values (one per selected event) for every requested feature.
        start: index of the first event of this chunk in the whole selection.
        file: the file (or ``"<arrays>"``) the chunk comes from.
        entry_start, entry_stop: the entries of that file (before the cut) read for it.
    """

    data: dict[str, np.ndarray]
    start: int
    file: str
    entry_start: int
    entry_stop: int

    def __len__(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0

    def where(self, index: int) -> str:
        """Human-readable location of event ``index`` of this chunk (for error messages)."""
        return (
            f"event {self.start + index} of the selection "
            f"(file {self.file}, read from entries {self.entry_start}-{self.entry_stop})"
        )


def _split_object(path: str) -> tuple[str, str | None]:
    if ":" in path and not os.path.exists(path):
        head, tail = path.rsplit(":", 1)
        if tail and "/" not in tail and "\\" not in tail:
            return head, tail
    return path, None


def resolve_files(source: PathLike | Sequence[PathLike], tree: str | None = None) -> list[tuple[str, str | None]]:
    """Expand ``source`` into ``(file, object name or None)`` pairs (globs sorted, in order).

    Raises:
        FileNotFoundError: a path or a glob pattern matching no file.
    """
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    out = []
    for item in source:
        path, obj = _split_object(os.fspath(item))
        obj = obj or tree
        if any(c in path for c in "*?["):
            matches = sorted(glob.glob(path))
            if not matches:
                raise FileNotFoundError(f"no file matches {path!r}")
            out += [(str(check_file(m, "event file")), obj) for m in matches]
        else:
            check_file(path, "event file")
            out.append((path, obj))
    if not out:
        raise ValueError("no event files given")
    return out


def _event_object(file: Any, path: str, name: str | None) -> Any:
    classes = {k.split(";")[0]: v for k, v in file.classnames(recursive=True).items()}
    if name is None:
        candidates = sorted({k for k, v in classes.items() if v in _EVENT_CLASSES})
        if len(candidates) != 1:
            raise ValueError(
                f"{path} holds {len(candidates)} TTrees/RNTuples {candidates}; choose one with tree=... "
                f"or 'file.root:name'"
            )
        name = candidates[0]
    if name not in classes:
        raise MissingFeatureError(f"{path} has no TTree/RNTuple '{name}' (objects: {sorted(classes)})")
    if classes[name] not in _EVENT_CLASSES:
        raise ValueError(f"{path}: '{name}' is a {classes[name]}, not a TTree or RNTuple")
    return file[name]


def _short_list(names: Sequence[str], limit: int = 25) -> str:
    names = list(names)
    more = f" ... ({len(names) - limit} more)" if len(names) > limit else ""
    return str(names[:limit])[:-1] + more + "]" if more else str(names)


class _Plan:
    """Expressions of one source (branch list known): which keys to read, how to compute."""

    def __init__(
        self,
        features: Mapping[str, str],
        cut: str | None,
        keys: Sequence[str],
        where: str,
        needed_by: Mapping[str, str] | None = None,
    ) -> None:
        keyset = set(keys)
        self.expressions: dict[str, Expression] = {}
        problems = []
        for name, text in features.items():
            label = f"the {name[1:]}" if name.startswith("@") else f"feature '{name}'"  # "@weight": the weight
            if text not in keyset and _BRANCH_NAME.fullmatch(text):
                expr, missing = None, [text]  # a branch name such as "jet.pt" that is not there
            else:
                expr = Expression(text, keyset, what=label)
                missing = [n for n in expr.names if n not in keyset]
                self.expressions[name] = expr
            if missing:
                user = f" (needed by {needed_by[name]})" if needed_by and name in needed_by else ""
                definition = "" if text == name else f" = {text!r}"
                problems.append(f"{label}{definition}{user} needs {missing}")
        self.cut = Expression(cut, keyset, what="cut") if cut else None
        if self.cut is not None:
            missing = [n for n in self.cut.names if n not in keyset]
            if missing:
                problems.append(f"the cut {cut!r} needs {missing}")
        if problems:
            raise MissingFeatureError(
                f"{where} has no branch/field/array for: " + "; ".join(problems)
                + f". Available: {_short_list(sorted(keyset))}"
            )
        needed: dict[str, None] = {}
        for expr in self.expressions.values():
            needed.update(dict.fromkeys(expr.names))
        if self.cut is not None:
            needed.update(dict.fromkeys(self.cut.names))
        self.keys = list(needed)

    def apply(self, arrays: Mapping[str, np.ndarray], n: int, where: str) -> dict[str, np.ndarray]:
        mask = None
        if self.cut is not None:
            mask = np.asarray(self.cut(arrays))
            if mask.dtype != np.bool_ or mask.shape != (n,):
                raise ValueError(
                    f"the cut {self.cut.text!r} must give one boolean per event, got dtype {mask.dtype} "
                    f"and shape {mask.shape} for {n} events ({where})"
                )
        out = {}
        for name, expr in self.expressions.items():
            value = np.asarray(expr(arrays))
            if value.shape == () and n != 1:
                value = np.full(n, value)
            if value.dtype == object or value.shape != (n,) or value.dtype.kind not in "biuf":
                label = f"the {name[1:]}" if name.startswith("@") else f"feature '{name}'"
                raise ValueError(
                    f"{label} = {expr.text!r} is not one number per event (dtype {value.dtype}, "
                    f"shape {value.shape} for {n} events; {where}); jagged branches need an expression "
                    f"that reduces them"
                )
            out[name] = value if mask is None else value[mask]
        return out


def _progress_bar(progress: bool | None, total: int, desc: str) -> Any:
    tqdm = optional_module("tqdm.auto", "the progress bar").tqdm
    return tqdm(total=total, unit="evt", unit_scale=True, desc=desc, dynamic_ncols=True,
                disable=None if progress is None else not progress)


def iter_events(
    source: Source,
    features: Mapping[str, str] | Sequence[str],
    *,
    tree: str | None = None,
    cut: str | None = None,
    chunk_size: int = 100_000,
    progress: bool | None = False,
    desc: str = "events",
    needed_by: Mapping[str, str] | None = None,
) -> Iterator[Chunk]:
    """Iterate over the selected events in chunks of at most ``chunk_size`` entries.

    Args:
        source: ROOT file path(s), glob patterns, ``"file.root:tree"``, or a mapping of
            name -> 1-D array (in-memory events; expressions and cuts work the same).
        features: output name -> branch or expression (a sequence of names reads the
            branches of those names).
        tree: the TTree or RNTuple (default: the only one in each file).
        cut: selection expression (on branches), applied before the features are returned.
        chunk_size: entries read per chunk (bounds the memory used for the events).
        progress: show a tqdm bar over the entries (None: only on a terminal).
        needed_by: feature name -> who needs it, used in error messages.

    Yields:
        :class:`Chunk` objects (chunks emptied by the cut are skipped).

    Raises:
        MissingFeatureError (a KeyError): a file lacks a branch used by a feature or the cut,
            naming the file, the features and the available branches. All files are
            checked before the first event is read.
        ValueError: unparsable expressions, non-numeric or jagged features, a non-boolean cut.
    """
    if isinstance(features, (str, bytes)):
        raise TypeError("features must be a mapping name -> expression or a sequence of names")
    if not isinstance(features, Mapping):
        features = {str(f): str(f) for f in features}
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive number of entries, got {chunk_size}")
    chunk_size = int(chunk_size)

    if isinstance(source, Mapping):
        yield from _iter_arrays(source, features, cut, chunk_size, progress, desc, needed_by)
        return

    yield from _iter_files(resolve_files(source, tree), features, cut, chunk_size, progress, desc, needed_by)


def _iter_files(
    files: Sequence[tuple[str, str | None]],
    features: Mapping[str, str],
    cut: str | None,
    chunk_size: int,
    progress: bool | None,
    desc: str,
    needed_by: Mapping[str, str] | None,
) -> Iterator[Chunk]:
    """The chunks of the ROOT files ``files`` ((file, tree) pairs), read with uproot."""
    uproot = _import_uproot()
    # check every file first (metadata only), so that a missing branch fails before any work
    plans, totals = [], []
    for path, name in files:
        with uproot.open(path) as f:
            obj = _event_object(f, path, name)
            where = f"{path}:{obj.object_path.lstrip('/').split(';')[0]}"
            plans.append((_Plan(features, cut, obj.keys(), where, needed_by), where))
            totals.append(int(obj.num_entries))

    start = 0
    with _progress_bar(progress, sum(totals), desc) as bar:
        for (path, name), (plan, _), total in zip(files, plans, totals):
            if total == 0:
                continue
            with uproot.open(path) as f:
                obj = _event_object(f, path, name)
                for arrays, report in obj.iterate(
                    filter_name=plan.keys, step_size=chunk_size, library="np", report=True
                ):
                    a, b = int(report.tree_entry_start), int(report.tree_entry_stop)
                    chunk = Chunk({}, start, path, a, b)
                    chunk.data = plan.apply(arrays, b - a, f"file {path}, entries {a}-{b}")
                    bar.update(b - a)
                    n = len(chunk)
                    if n:
                        start += n
                        yield chunk


def _iter_arrays(
    source: Mapping[str, Any],
    features: Mapping[str, str],
    cut: str | None,
    chunk_size: int,
    progress: bool | None,
    desc: str,
    needed_by: Mapping[str, str] | None,
) -> Iterator[Chunk]:
    arrays = {str(k): np.asarray(v) for k, v in source.items()}
    lengths = {k: v.shape[0] if v.ndim else -1 for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the event arrays have different lengths: {lengths}")
    n_total = next(iter(lengths.values()), 0)
    plan = _Plan(features, cut, list(arrays), "the event arrays", needed_by)
    start = 0
    with _progress_bar(progress, n_total, desc) as bar:
        for a in range(0, n_total, chunk_size):
            b = min(a + chunk_size, n_total)
            view = {k: arrays[k][a:b] for k in plan.keys}
            chunk = Chunk(plan.apply(view, b - a, f"entries {a}-{b}"), start, "<arrays>", a, b)
            bar.update(b - a)
            if len(chunk):
                start += len(chunk)
                yield chunk


def read_events(
    source: Source,
    features: Mapping[str, str] | Sequence[str],
    *,
    tree: str | None = None,
    cut: str | None = None,
    chunk_size: int = 100_000,
    progress: bool | None = False,
) -> dict[str, np.ndarray]:
    """All selected events at once: name -> array (see :func:`iter_events` for the arguments)."""
    if not isinstance(features, Mapping):
        features = {str(f): str(f) for f in features}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in features}
    for chunk in iter_events(source, features, tree=tree, cut=cut, chunk_size=chunk_size, progress=progress):
        for name, values in chunk.data.items():
            parts[name].append(values)
    return {name: np.concatenate(v) if v else np.zeros(0) for name, v in parts.items()}
