"""roonsbi.binned needs no ROOT: importing it and building templates leaves ROOT unimported."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import numpy as np
from roonsbi.binned import BinnedProcess, FixedEdges, build_templates
r = np.linspace(0.5, 1.5, 100)
t = build_templates({"r_A": r}, [BinnedProcess("A", 10.0)], [0.5, 1.5], FixedEdges([-1.0, 0.0, 1.0]), progress=False)
assert abs(t.nominal.sum(axis=(1, 2)) - 10.0).max() < 1e-12
print("ROOT" in sys.modules, "cppyy" in sys.modules)
"""


def test_binned_imports_no_root() -> None:
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]
