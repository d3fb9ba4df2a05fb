"""roonsbi without ROOT: the command line's shell and the ROOT-free layers import and run, and what
needs ROOT says so (the message of :func:`roonsbi.library.load`). Each check runs in a subprocess
whose ``PYTHONPATH`` starts with a folder holding packages ``ROOT`` and ``cppyy`` that raise
ImportError, so neither imports whatever is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import roonsbi
import roonsbi.library

#: the package's folder on sys.path (the source tree or site-packages)
PACKAGE_PATH = str(Path(roonsbi.__file__).resolve().parents[1])

#: the ROOT-free layers: every module of them (found on disk, so that a new one is checked too)
ROOT_FREE = ["roonsbi", "roonsbi.spec", "roonsbi.naming", "roonsbi.checks", "roonsbi.library", "roonsbi.optional",
             "roonsbi.cli", "roonsbi.cli.main"] + sorted(
    f"roonsbi.{layer}" + ("" if f.stem == "__init__" else f".{f.stem}")
    for layer in ("inputs", "binned") for f in (Path(roonsbi.__file__).parent / layer).glob("*.py"))

#: the facade of ``import roonsbi``
FACADE = ["NormSys", "Process", "ShapeSys", "build_model", "load_model", "build_parametrized_model", "combine",
          "fit", "profile_scan", "impacts", "to_pyhf", "from_pyhf"]


@pytest.fixture
def no_root(tmp_path) -> dict[str, str]:
    """The environment of a Python in which ``import ROOT`` and ``import cppyy`` raise ImportError."""
    for name in ("ROOT", "cppyy"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('{name} is hidden by the test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), PACKAGE_PATH, env.get("PYTHONPATH", "")])
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


def test_root_is_hidden(no_root) -> None:
    proc = run(no_root, "-c", "import ROOT")
    assert proc.returncode != 0 and "ROOT is hidden by the test" in proc.stderr


@pytest.mark.parametrize("flag, expected", [
    ("--help", "usage: roonsbi"),
    ("--libdir", str(roonsbi.library.LIBDIR)),
    ("--incdir", str(roonsbi.library.INCDIR)),
])
def test_command_line_without_root(no_root, flag, expected) -> None:
    proc = run(no_root, "-m", "roonsbi", flag)
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout


def test_root_free_modules_import_without_root(no_root) -> None:
    code = "import sys\n" + "".join(f"import {m}\n" for m in ROOT_FREE) + (
        "assert 'ROOT' not in sys.modules or sys.modules['ROOT'] is None, 'ROOT was imported'\n")
    proc = run(no_root, "-c", code)
    assert proc.returncode == 0, proc.stderr


def test_build_model_without_root_says_what_to_install(no_root) -> None:
    code = """
import roonsbi, roonsbi.library
try:
    roonsbi.library.load()
except ImportError as err:
    expected = str(err)
else:
    raise SystemExit("roonsbi.library.load() did not fail")
try:
    roonsbi.build_model
except ImportError as err:
    assert str(err) == expected, (str(err), expected)
else:
    raise SystemExit("roonsbi.build_model did not raise ImportError")
print(expected)
"""
    proc = run(no_root, "-c", code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "needs ROOT" in proc.stdout and "pip install ROOT" in proc.stdout


def test_facade_names_resolve() -> None:
    """With ROOT: ``roonsbi.__all__`` lists the facade and each of its names resolves."""
    missing = [name for name in FACADE if name not in roonsbi.__all__]
    assert not missing, f"not in roonsbi.__all__: {missing}"
    for name in roonsbi.__all__:
        assert getattr(roonsbi, name) is not None, name
