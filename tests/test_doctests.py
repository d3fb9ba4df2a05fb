"""The runnable examples in the docstrings of every roonsbi module (the installed package) pass."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import roonsbi

MODULES = sorted(m.name for m in pkgutil.walk_packages(roonsbi.__path__, "roonsbi.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", ["roonsbi", *MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"
