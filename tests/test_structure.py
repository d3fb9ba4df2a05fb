"""The package's structure, read from its source with ``ast`` (nothing is imported).

From every ``import`` statement of ``python/roonsbi`` (absolute and relative, at module level, inside
functions and inside ``if TYPE_CHECKING:`` blocks) the graph of roonsbi modules is built, and

* there is no import cycle. Imports inside ``if TYPE_CHECKING:`` blocks never run, so they are left
  out of the cycle check (and only of it: the layer and private-name checks include them);
* no underscore name crosses a subpackage: no module imports an underscore module, or an underscore
  name defined in a module of another subpackage (the top-level modules ``spec``, ``naming``,
  ``checks``, ``library``, ``optional`` and ``atomic`` count as subpackages of their own);
* no lower layer imports a higher one (:data:`LAYERS`; the facade ``roonsbi/__init__.py`` and
  ``roonsbi/__main__.py`` are exempt, as importer and as target);
* every module defines ``__all__`` (``__main__``, a script, is exempt).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "roonsbi"
SOURCE = Path(__file__).resolve().parents[1] / "python" / PACKAGE

#: The layers, lowest first: a module may import its own layer and the layers below it only.
LAYERS = (
    ("spec", "naming", "checks", "library", "optional", "atomic"),
    ("inputs",),
    ("binned",),
    ("models",),
    ("infer",),
    ("io",),
    ("plot",),
    ("demo",),
    ("cli",),
)
#: modules free of the layer rules (the lazy facade imports every layer on demand)
EXEMPT = (PACKAGE, f"{PACKAGE}.__main__")


@dataclass(frozen=True)
class Import:
    """One imported roonsbi module (``name`` None) or name ``name`` of module ``target``."""

    source: str
    target: str
    name: str | None
    line: int
    type_only: bool

    def where(self) -> str:
        what = self.target if self.name is None else f"{self.target}.{self.name}"
        return f"{self.source}:{self.line} imports {what}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the statements inside ``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    inside.update(id(n) for n in ast.walk(stmt))
    return inside


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` in ``module``."""
    if level == 0:
        return target or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports_of(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    type_only = _type_checking_nodes(tree)
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        flag = id(node) in type_only
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    out.append(Import(module, alias.name, None, node.lineno, flag))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            if base != PACKAGE and not base.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # ``from . import evaluate``: a module
                    out.append(Import(module, sub, None, node.lineno, flag))
                else:
                    out.append(Import(module, base, alias.name, node.lineno, flag))
    return out


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports_of(module, path)]


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(module: str) -> int | None:
    sub = _subpackage(module)
    return next((k for k, names in enumerate(LAYERS) if sub in names), None)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component with more than one module (Tarjan),
    or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_cycle_in(set(c), edges) for c in components]


def _cycle_in(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A path start -> ... -> start inside ``component`` (breadth-first, shortest)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges.get(v, ()) & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(component)


def _defined_in(module: str, name: str) -> str:
    """The module that ``name`` of ``module`` comes from, following ``from X import name`` re-exports."""
    for imp in IMPORTS:
        if imp.source == module and imp.name == name and not imp.type_only:
            return _defined_in(imp.target, name) if imp.target != module else module
    return module


def test_the_source_is_found() -> None:
    assert f"{PACKAGE}.spec" in MODULES and f"{PACKAGE}.cli.main" in MODULES, sorted(MODULES)


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        if not imp.type_only and imp.target in MODULES and imp.target != imp.source:
            edges[imp.source].add(imp.target)
    cycles = _cycles(edges)
    for cycle in cycles:
        print("import cycle: " + " -> ".join(cycle))
    assert not cycles, "import cycles (TYPE_CHECKING-only imports left out):\n" + "\n".join(
        " -> ".join(c) for c in cycles)


def test_no_private_names_across_subpackages() -> None:
    bad = []
    for imp in IMPORTS:
        module_parts = imp.target.split(".")[1:]
        if any(_private(p) for p in module_parts):
            bad.append(f"{imp.where()}: an underscore module")
            continue
        if imp.name is not None and _private(imp.name):
            origin = _defined_in(imp.target, imp.name)
            if _subpackage(origin) != _subpackage(imp.source):
                bad.append(f"{imp.where()}: an underscore name of {origin} (subpackage '{_subpackage(origin)}')")
    for line in bad:
        print(line)
    assert not bad, "private names imported across subpackages:\n" + "\n".join(bad)


def test_every_module_is_in_a_layer() -> None:
    missing = [m for m in MODULES if m not in EXEMPT and _layer(m) is None]
    assert not missing, f"modules in no layer of LAYERS (add their subpackage): {missing}"


def test_no_lower_layer_imports_a_higher_one() -> None:
    bad = []
    for imp in IMPORTS:
        if imp.source in EXEMPT or imp.target in EXEMPT:
            continue
        have, want = _layer(imp.source), _layer(imp.target)
        if have is not None and want is not None and want > have:
            bad.append(f"{imp.where()}: layer {'/'.join(LAYERS[have])} below {'/'.join(LAYERS[want])}"
                       + (" (TYPE_CHECKING)" if imp.type_only else ""))
    for line in bad:
        print(line)
    assert not bad, "imports of a higher layer:\n" + "\n".join(bad)


def _defines_all(path: Path) -> bool:
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def test_every_module_has_all() -> None:
    missing = [m for m, path in MODULES.items() if m != f"{PACKAGE}.__main__" and not _defines_all(path)]
    assert not missing, f"modules without __all__: {missing}"


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c", "a"]]),
    ({"a": {"b"}, "b": set()}, []),
    ({"a": {"a"}}, [["a", "a"]]),
])
def test_the_cycle_finder(edges, expected) -> None:
    """The checker itself, on graphs whose cycles are known."""
    assert _cycles(edges) == expected


@pytest.mark.parametrize("module, is_package, level, target, expected", [
    ("roonsbi.inputs.columns", False, 1, "events", "roonsbi.inputs.events"),
    ("roonsbi.inputs.columns", False, 2, "naming", "roonsbi.naming"),
    ("roonsbi.inputs", True, 1, "columns", "roonsbi.inputs.columns"),
    ("roonsbi.cli.main", False, 1, None, "roonsbi.cli"),
    ("roonsbi.cli.main", False, 0, "roonsbi.library", "roonsbi.library"),
])
def test_relative_imports_resolve(module, is_package, level, target, expected) -> None:
    assert _resolve(module, is_package, level, target) == expected


def test_imports_in_functions_and_type_checking_blocks_are_seen(tmp_path) -> None:
    """The checker reads imports at module level, inside functions and in TYPE_CHECKING blocks."""
    path = tmp_path / "mod.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..naming import _hidden\n"
        "if TYPE_CHECKING:\n"
        "    from ..models.unbinned import build_model\n"
        "def f():\n"
        "    import roonsbi.library\n"
    )
    found = {(imp.target, imp.name, imp.type_only) for imp in _imports_of("roonsbi.inputs.mod", path)}
    assert found == {("roonsbi.naming", "_hidden", False), ("roonsbi.models.unbinned", "build_model", True),
                     ("roonsbi.library", None, False)}
