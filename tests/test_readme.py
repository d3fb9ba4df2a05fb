"""The README's examples run: its ```python blocks are executed in order, in one namespace, in a
temporary folder. A block preceded by the line ``<!-- no-test -->`` (e.g. one that needs files the
test does not have) is skipped."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = "<!-- no-test -->"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(first line number, code, skipped) of each ```python block."""
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").splitlines()
        previous = next((line.strip() for line in reversed(before) if line.strip()), "")
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, match.group(1), previous == SKIP))
    return blocks


def test_block_finder() -> None:
    text = "x\n```python\na = 1\n```\n\n<!-- no-test -->\n\n```python\nb = 2\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n", False), (9, "b = 2\n", True)]


def test_readme_python_blocks_run(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    ran = 0
    for line, code, skipped in python_blocks(README.read_text()):
        if skipped:
            continue
        try:
            exec(compile(code, f"{README.name}:{line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"the README's python block at line {line} fails: {type(err).__name__}: {err}") \
                from err
        ran += 1
    assert ran, "the README has no python block to run"
