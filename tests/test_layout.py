"""The README's Layout section and the package agree: every folder and top-level module of
python/roonsbi is listed there, and everything listed exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "python" / "roonsbi"


def _layout_entries() -> set[str]:
    readme = REPO / "README.md"
    if not readme.exists() or not PACKAGE.is_dir():
        pytest.skip("needs the source tree (README.md, python/roonsbi)")
    text = readme.read_text()
    match = re.search(r"^## Layout\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, "README.md has no '## Layout' section"
    block = match.group(1)
    start = block.index("python/roonsbi/")
    entries = set()
    for line in block[start:].splitlines()[1:]:
        if line.strip() and not line.startswith(" " * 6):
            break  # the next top-level entry (4 spaces)
        m = re.match(r"^ {6}(\S+(?:\.py|/))(?:\s|$)", line)
        if m:
            entries.add(m.group(1))
    return entries


def test_layout_lists_the_package() -> None:
    entries = _layout_entries()
    actual = {p.name + "/" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    actual |= {p.name for p in PACKAGE.glob("*.py")}
    assert sorted(actual - entries) == [], "in python/roonsbi but not in the README's Layout"
    assert sorted(entries - actual) == [], "in the README's Layout but not in python/roonsbi"
