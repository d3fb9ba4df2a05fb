"""Saved models read back identically: in a fresh Python process (roonsbi and plain PyROOT)
and in a plain ROOT C++ session (``root -l -b -q macro.C``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from roonsbi import library
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.unbinned import NSBIModel, build_model
from support import root_executable

#: A non-trivial parameter point (both NPs away from 0, one outside |alpha| < 1).
VALUES = {"mu": 1.37, "alpha_eff": 0.43, "alpha_lumi": -1.21}
#: The point stored in the files: the readers must really set VALUES to reproduce the NLL.
STORED = {"mu": 0.8, "alpha_eff": -0.2, "alpha_lumi": 0.1}


def toy_model(kind: str, rng: np.random.Generator) -> NSBIModel:
    """The off-shell toy with systematics: pseudo-data ("data") or weighted Asimov MC ("asimov")."""
    toy = OffShellToy()
    if kind == "data":
        x = toy.generate(1.0, rng)
        return build_model(toy.processes(x, systematics=True), name="toydata")
    x, w = toy.asimov(1.0, 2000, rng)
    return build_model(toy.processes(x, systematics=True), weights=w, name="toyasimov")


def run_python(script: str) -> dict:
    """Run ``script`` in a fresh interpreter; it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(params=["data", "asimov"])
def saved(request: pytest.FixtureRequest, rng: np.random.Generator, tmp_path: Path) -> tuple[NSBIModel, Path, float]:
    """A toy model saved to tmp_path, and its NLL at VALUES before saving."""
    model = toy_model(request.param, rng)
    if request.param == "asimov":
        assert model.data.isWeighted()
    nll = model.nll(VALUES)
    assert np.isfinite(nll)
    model.set_parameters(STORED)
    assert model.nll() != pytest.approx(nll, rel=1e-6)
    path = model.save(tmp_path / f"{model.name}.root")
    assert path.exists()
    return model, path, nll


def test_fresh_python_process(saved: tuple[NSBIModel, Path, float]) -> None:
    """load_model in a new interpreter gives the same NLL (1e-12), and the file opens with
    plain PyROOT after ``roonsbi.library.load()`` with the expected ModelConfig."""
    model, path, nll = saved
    result = run_python(f"""
        import json
        import roonsbi.library
        ROOT = roonsbi.library.load()
        ROOT.gROOT.SetBatch(True)
        ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
        from roonsbi.models.unbinned import load_model

        model = load_model({str(path)!r})
        stored = model.parameters()
        out = {{"name": model.name, "stored": stored, "nll": repr(model.nll({VALUES!r})),
                "nll_legacy": repr(model.nll(backend="legacy")),
                "n_entries": model.data.numEntries(), "weighted": bool(model.data.isWeighted())}}

        f = ROOT.TFile({str(path)!r})
        ws = f.Get("ws_{model.name}")
        out["plain_ws"] = bool(ws) and ws.ClassName()
        mc = ws.obj("ModelConfig")
        out["pois"] = [p.GetName() for p in mc.GetParametersOfInterest()]
        out["nps"] = sorted(p.GetName() for p in mc.GetNuisanceParameters())
        out["globs"] = sorted(p.GetName() for p in mc.GetGlobalObservables())
        out["pdf_class"] = ws.pdf("nsbi_{model.name}").ClassName()
        out["model_pdf"] = mc.GetPdf().GetName()
        print(json.dumps(out))
    """)
    assert result["name"] == model.name
    assert result["stored"] == pytest.approx(STORED, rel=1e-15)
    assert float(result["nll"]) == pytest.approx(nll, rel=1e-12, abs=0)
    assert float(result["nll_legacy"]) == pytest.approx(nll, rel=1e-12, abs=0)
    assert result["n_entries"] == model.data.numEntries()
    assert result["weighted"] == bool(model.data.isWeighted())
    assert result["plain_ws"] == "RooWorkspace"
    assert result["pois"] == ["mu"]
    assert result["nps"] == ["alpha_eff", "alpha_lumi"]
    assert result["globs"] == ["nom_alpha_eff", "nom_alpha_lumi"]
    assert result["pdf_class"] == "RooNSBIPdf"
    assert result["model_pdf"] == model.model.GetName()




MACRO = r"""
#include <cstdio>
#include <memory>

void {func}()
{{
   if (gSystem->Load("{library}") < 0) {{ printf("LOADFAIL\n"); return; }}
   gInterpreter->AddIncludePath("{incdir}");
   std::unique_ptr<TFile> f{{TFile::Open("{path}")}};
   auto *ws = dynamic_cast<RooWorkspace *>(f->Get("ws_{name}"));
   if (!ws) {{ printf("NOWORKSPACE\n"); return; }}
   auto *mc = dynamic_cast<RooStats::ModelConfig *>(ws->obj("ModelConfig"));
   RooAbsPdf *pdf = ws->pdf("nsbi_{name}");
   RooAbsData *data = ws->data("obsData");
   if (!mc || !pdf || !data) {{ printf("MISSING %d %d %d\n", !mc, !pdf, !data); return; }}
   printf("PDFCLASS=%s\n", pdf->ClassName());
   std::unique_ptr<RooAbsReal> nll{{mc->GetPdf()->createNLL(*data, RooFit::Extended(true),
      RooFit::GlobalObservables(*mc->GetGlobalObservables()), RooFit::Offset("none"))}};
{setters}
   printf("NLL=%.17g\n", nll->getVal());
}}
"""


def test_plain_root_macro(saved: tuple[NSBIModel, Path, float], tmp_path: Path) -> None:
    """A C++ macro run by ``root -l -b -q`` reads the file and computes the same NLL (1e-12)."""
    model, path, nll = saved
    root = root_executable()
    assert root is not None, "no root executable found next to python, on PATH or in ROOT/bin"
    func = f"nll_{model.name}"
    setters = "\n".join(f'   ws->var("{k}")->setVal({v!r});' for k, v in VALUES.items())
    macro = tmp_path / f"{func}.C"
    macro.write_text(MACRO.format(func=func, library=library.LIBRARY, incdir=library.INCDIR, path=path,
                                  name=model.name, setters=setters))
    proc = subprocess.run([str(root), "-l", "-b", "-q", str(macro)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, f"stdout:\n{out[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    lines = dict(line.split("=", 1) for line in out.splitlines() if line.startswith(("NLL=", "PDFCLASS=")))
    assert "NLL" in lines, f"stdout:\n{out[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert lines["PDFCLASS"] == "RooNSBIPdf"
    assert float(lines["NLL"]) == pytest.approx(nll, rel=1e-12, abs=0)


def test_load_in_same_process_after_model_is_gone(rng: np.random.Generator, tmp_path: Path) -> None:
    """Saving, dropping the Python model and loading again in the same process gives the same NLL
    (the workspace owns everything; nothing refers to Python-owned objects)."""
    model = toy_model("data", rng)
    nll = model.nll(VALUES)
    model.set_parameters(STORED)
    path = model.save(tmp_path / "same.root")
    del model
    from roonsbi.models.unbinned import load_model

    loaded = load_model(path)
    assert loaded.parameters() == pytest.approx(STORED, rel=1e-15)
    assert loaded.nll(VALUES) == pytest.approx(nll, rel=1e-12, abs=0)
