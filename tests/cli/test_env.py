"""``eval "$(roonsbi env)"``: a ROOT process that never imports roonsbi (PyROOT, plain ``root``) opens a
saved roonsbi workspace through ROOT's own autoloading (the rootmap next to libRooNSBI) and gets the NLL
that roonsbi computed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from roonsbi.inputs.toy import OffShellToy
from roonsbi.library import macro_nll, nll_macro
from roonsbi.models.unbinned import build_model
from support import root_executable, run_in_roonsbi_env, run_killable

VALUES = {"mu": 1.3, "alpha_eff": 0.4, "alpha_lumi": -0.7}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, float]:
    toy = OffShellToy()
    model = build_model(toy.processes(toy.generate(1.0, np.random.default_rng(5)), systematics=True), name="env")
    path = model.save(tmp_path_factory.mktemp("env") / "nsbi.root")
    return path, model.nll(VALUES)


def test_env_prints_export_lines() -> None:
    proc = subprocess.run([sys.executable, "-m", "roonsbi", "env"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split("=")[0] for line in lines] == ["export LD_LIBRARY_PATH", "export ROOT_INCLUDE_PATH"] or \
        sys.platform == "darwin"


def test_pyroot_without_roonsbi_reads_the_workspace(saved) -> None:
    path, expected = saved
    code = (
        "import sys, ROOT\n"
        "ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)\n"
        f"ws = ROOT.TFile.Open({str(path)!r}).Get('ws_env')\n"
        f"for k, v in {VALUES!r}.items(): ws.var(k).setVal(v)\n"
        "mc = ws.obj('ModelConfig')\n"
        "nll = mc.GetPdf().createNLL(ws.data('obsData'), ROOT.RooFit.Extended(True),"
        " ROOT.RooFit.GlobalObservables(mc.GetGlobalObservables()), ROOT.RooFit.Offset('none'))\n"
        "assert 'roonsbi' not in sys.modules\n"
        "print(repr(nll.getVal()))\n"
    )
    proc = run_in_roonsbi_env(f'"{sys.executable}" -c "{code}"', path.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1]) == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_plain_root_reads_the_workspace(saved) -> None:
    root = root_executable()
    if root is None:
        pytest.skip("no root executable")
    path, expected = saved
    macro = path.parent / "read_env.C"
    macro.write_text(nll_macro("read_env", path, "ws_env", VALUES))
    proc = run_in_roonsbi_env(f'"{root}" -l -b -q read_env.C', path.parent)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert macro_nll(proc.stdout) == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_root_command_of_the_environment_needs_no_env_line(saved) -> None:
    """The ``root`` command that the ROOT wheel installs is a Python launcher of ``root.exe``, so the installed
    ``roonsbi-autoload.pth`` has put the library folder on the library path before ``root.exe`` starts: no
    ``roonsbi env`` line, no ``gSystem->Load``, the library path emptied."""
    root = Path(sys.executable).parent / "root"
    if not root.is_file() or not root.read_text(errors="replace").startswith("#!"):
        pytest.skip("this environment's root command is not the ROOT wheel's Python launcher")
    path, expected = saved
    macro = path.parent / "read_plain.C"
    macro.write_text(nll_macro("read_plain", path, "ws_env", VALUES))
    env = "env -u LD_LIBRARY_PATH -u DYLD_LIBRARY_PATH -u ROOT_INCLUDE_PATH"
    proc = run_killable(["bash", "-c", f'{env} "{root}" -l -b -q read_plain.C'], path.parent)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert macro_nll(proc.stdout) == pytest.approx(expected, rel=1e-12, abs=1e-9)
