"""macros/fit_scan.C in a plain `root -l -b -q` session on a combined NSBI + HistFactory workspace."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import roonsbi
from roonsbi.combine import combine
from roonsbi.inference import profile_scan
from roonsbi.model import build_model
from roonsbi.toy import OffShellToy
from test_combine import histfactory_workspace
from test_persistence import root_executable

MACRO = Path(__file__).resolve().parents[1] / "macros" / "fit_scan.C"


def test_fit_scan_macro_reproduces_the_python_scan(tmp_path: Path) -> None:
    root = root_executable()
    if root is None:
        pytest.skip("no root executable")
    hws, _ = histfactory_workspace(tmp_path)
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(4))[:400]
    combined = combine([build_model(toy.processes(x, systematics=True)), hws])
    path = combined.save(tmp_path / "combined.root")
    scan = profile_scan(combined, "mu", np.linspace(0.0, 3.0, 21))

    plot = tmp_path / "scan.png"
    call = f'{MACRO}("{path}", "combined", "{roonsbi.LIBRARY}", "{plot}", 21, 0.0, 3.0)'
    proc = subprocess.run([str(root), "-l", "-b", "-q", call], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    match = re.search(r"68% interval of mu: \[([-\d.]+), ([-\d.]+)\]", proc.stdout)
    assert match, proc.stdout[-2000:]
    assert [float(match.group(1)), float(match.group(2))] == pytest.approx(list(scan.interval(0.6827)), abs=2e-3)
    assert plot.stat().st_size > 1000
