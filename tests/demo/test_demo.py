"""The main job: ``roonsbi demo`` (reduced) and the command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pyhf
import pytest

from roonsbi import library
from roonsbi.io.pyhf_json import load_pyhf_model


def _roonsbi(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roonsbi", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_demo_writes_outputs_and_table(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = _roonsbi("demo", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in ("summary.json", "nsbi_workspace.root", "control_region.root", "combined_workspace.root",
                 "binned_pyhf.json", "neyman_mu.png", "scan_mu.png", "pulls.png", "impacts.png", "data_vs_model.png",
                 "scan2d_mu_lumi.png"):
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
    width = lambda m: m["interval68"][1] - m["interval68"][0]
    assert width(syst) >= width(nsbi) - 1e-6
    # binned analyses lose information: parametrized NSBI between exact and the plain histogram
    pnsbi, hist = methods["parametrized NSBI (30 bins)"], methods["histogram of x0 (30 bins)"]
    assert width(exact) - 1e-6 <= width(pnsbi) < width(hist)

    # the control region constrains the shared nuisance parameters: the combined interval is no
    # wider than the NSBI-alone one (observed: holds for this pseudo-data; expected (Asimov): the
    # information of the two channels adds)
    combined = methods["NSBI + control region"]
    assert width(combined) <= width(syst)
    expected = {m["method"]: m for m in summary["expected"]}
    assert width(expected["NSBI + control region [Asimov]"]) < width(expected["NSBI (with systematics) [Asimov]"])
    # Asimov data at mu = 1: the expected best fit is mu = 1 (up to the reference pool's fluctuation)
    for m in expected.values():
        assert m["mu_hat"] == pytest.approx(1.0, abs=0.1)
    assert summary["combined_fit"]["status"] == 0

    # Neyman construction (40 toys per point in quick mode): the model has ~660 events, so the toy
    # critical values scatter around the asymptotic chi2_1 threshold 1 (mean within 0.3) and the
    # Neyman interval is the asymptotic one within the toy error of its edges (< 0.15)
    neyman = summary["neyman"]
    assert abs(sum(neyman["critical68"]) / len(neyman["critical68"]) - 1.0) < 0.3
    assert methods["NSBI (with systematics), Neyman"]["interval68"] == pytest.approx(syst["interval68"], abs=0.15)

    # the binned channels as pyhf JSON: f_J(mu) as expression modifiers, so plain pyhf refuses the
    # file (never a wrong mu-hat); pyhf's model with them (load_pyhf_model) gives RooFit's mu-hat
    spec = json.loads((out / "binned_pyhf.json").read_text())
    with pytest.raises(pyhf.exceptions.InvalidSpecification):
        pyhf.Workspace(spec, validate=True)
    model, data = load_pyhf_model(out / "binned_pyhf.json")
    best = pyhf.infer.mle.fit(data, model)
    assert float(best[model.config.poi_index]) == pytest.approx(summary["pyhf"]["scan_check"]["mu_hat_roofit"],
                                                                abs=1e-3)
    observed = {o["name"]: o["data"] for o in spec["observations"]}
    assert observed["cr"] == pytest.approx(summary["control_region"]["data"], abs=0)
    assert sum(observed["pnsbi"]) == summary["events"]
    assert summary["pyhf"]["poi_relation"]["normfactors"] == {
        "f_SBI_pnsbi": "sqrt(mu)", "f_S_pnsbi": "mu - sqrt(mu)", "f_B_pnsbi": "1 - sqrt(mu)"}
    # pyhf alone (the documented recipe) refits the JSON as RooFit fits the binned channels
    check = summary["pyhf"]["scan_check"]
    assert check["max_abs_t_difference"] < 1e-4
    assert check["mu_hat_pyhf"] == pytest.approx(check["mu_hat_roofit"], abs=1e-3)

    # pulls: the control region narrows the post-fit error of the shared alpha_lumi
    pulls = {label: {p["name"]: p for p in r["pulls"]} for label, r in summary["impacts"].items()}
    alone, both = pulls["NSBI (with systematics)"], pulls["NSBI + control region"]
    assert both["alpha_lumi"]["pull_error"] < alone["alpha_lumi"]["pull_error"] < 1.0
    assert set(both) == {"alpha_eff", "alpha_lumi", "alpha_cr_bkg_xsec", "alpha_cr_model"}
    ranked = [i["size"] for i in summary["impacts"]["NSBI + control region"]["impacts"]]
    assert ranked == sorted(ranked, reverse=True)

    # 2-D scan: t >= 0 on the grid, contour levels of chi2 with 2 dof (-2 log(1 - CL))
    for scan in summary["scan2d"].values():
        assert min(min(row) for row in scan["t"]) > -1e-6
        assert scan["levels"]["0.6827"] == pytest.approx(-2 * math.log(1 - 0.6827), rel=1e-9)

    # control region pre-fit yields (HistFactory, evaluated in RooFit) = the analytic integrals of the
    # toy's Gaussians in x0 over [-3.5, 0]: background 10000 N(-0.3, 1), signal 50 N(0.7, 0.35)
    def gauss_integral(n: float, mean: float, sigma: float) -> float:
        cdf = lambda v: 0.5 * (1 + math.erf((v - mean) / (sigma * math.sqrt(2))))
        return n * (cdf(0.0) - cdf(-3.5))

    prefit = summary["control_region"]["pre-fit"]
    assert sum(prefit["bkg_cr"]) == pytest.approx(gauss_integral(10000, -0.3, 1.0), rel=1e-9)
    assert sum(prefit["sig_cr"]) == pytest.approx(gauss_integral(50, 0.7, 0.35), rel=1e-6)

    # a second run into the same folder is refused before any work, naming the option, files untouched
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    again = _roonsbi("demo", "--quick", "--out", str(out))
    assert again.returncode == 2 and "--overwrite" in again.stderr and "summary.json" in again.stderr
    assert "Traceback" not in again.stderr and "simulated" not in again.stdout  # not even the first step ran
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_demo_refuses_a_folder_with_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    proc = _roonsbi("demo", "--quick", "--out", str(tmp_path), "--overwrite")
    assert proc.returncode == 2
    assert "notes.txt" in proc.stderr and "choose another --out" in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_output_folder_rules(tmp_path: Path) -> None:
    """roonsbi.demo.run._prepare: an earlier demo's outputs need overwrite (and nothing else is
    accepted); temporaries of the outputs, left by a killed run, count as the demo's own files."""
    from roonsbi.demo.run import _prepare

    fresh = tmp_path / "new" / "demo"
    _prepare(fresh, overwrite=False)
    assert fresh.is_dir()
    (fresh / "summary.json").write_text("{}")
    (fresh / ".pulls.png.0123abcd.tmp.png").write_bytes(b"half")
    with pytest.raises(FileExistsError, match=r"outputs of an earlier demo \(summary\.json\); pass overwrite=True"):
        _prepare(fresh, overwrite=False)
    _prepare(fresh, overwrite=True)
    (fresh / ".bashrc").write_text("mine")
    with pytest.raises(FileExistsError, match=r"did not write \(\.bashrc\)"):
        _prepare(fresh, overwrite=True)
    (tmp_path / "file").write_text("mine")
    with pytest.raises(FileExistsError, match="is not a folder"):
        _prepare(tmp_path / "file", overwrite=True)


def test_cli_prints_library_paths() -> None:
    proc = _roonsbi("--libdir", "--incdir", "--library")
    lines = proc.stdout.split()
    assert Path(lines[0]) == library.LIBDIR and Path(lines[1]) == library.INCDIR
    assert Path(lines[2]) == library.LIBRARY and library.LIBRARY.exists()
    assert (library.INCDIR / "RooNSBI" / "RooNSBIPdf.h").exists()
