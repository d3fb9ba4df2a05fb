"""The main job: ``roonsbi demo`` (reduced) and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import roonsbi


def _roonsbi(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roonsbi", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_demo_writes_outputs_and_table(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = _roonsbi("demo", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in ("summary.json", "nsbi_workspace.root", "scan_mu.png"):
        assert (out / name).stat().st_size > 0, name
    assert "68% CL interval" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    methods = {m["method"]: m for m in summary["methods"]}
    exact, nsbi = methods["exact likelihood"], methods["NSBI (no systematics)"]
    # with exact ratios the unbinned NSBI interval is the exact-likelihood interval
    assert nsbi["interval68"] == pytest.approx(exact["interval68"], abs=1e-6)
    assert nsbi["interval95"] == pytest.approx(exact["interval95"], abs=1e-6)
    # systematics can only widen the profile-likelihood interval
    syst = methods["NSBI (with systematics)"]
    width = lambda m: m["interval68"][1] - m["interval68"][0]  # noqa: E731
    assert width(syst) >= width(nsbi) - 1e-6
    # binned analyses lose information: parametrized NSBI between exact and the plain histogram
    pnsbi, hist = methods["parametrized NSBI (30 bins)"], methods["histogram of x0 (30 bins)"]
    assert width(exact) - 1e-6 <= width(pnsbi) < width(hist)


def test_demo_refuses_a_folder_with_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    proc = _roonsbi("demo", "--quick", "--out", str(tmp_path))
    assert proc.returncode != 0
    assert "notes.txt" in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_cli_prints_library_paths() -> None:
    proc = _roonsbi("--libdir", "--incdir", "--library")
    lines = proc.stdout.split()
    assert Path(lines[0]) == roonsbi.LIBDIR and Path(lines[1]) == roonsbi.INCDIR
    assert Path(lines[2]) == roonsbi.LIBRARY and roonsbi.LIBRARY.exists()
    assert (roonsbi.INCDIR / "RooNSBI" / "RooNSBIPdf.h").exists()
