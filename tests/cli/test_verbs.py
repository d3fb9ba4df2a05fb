"""The model verbs of the command line, each run as a subprocess (``python -m roonsbi VERB ... --json``)
on saved models, against the Python API called here (``roonsbi.io.open_model`` + ``roonsbi.infer``)
and, for the binned model, against pyhf itself (``pyhf.infer``, pyhf's MLE fit):

* an unbinned NSBI channel of the off-shell toy (store form with a reference pool), in a ROOT file;
* pyhf's ``simplemodels.uncorrelated_background`` as pyhf JSON;
* a HistFactory channel (``HistoToWorkspaceFactoryFast``, POI ``mu_hf`` in [0, 3]) combined with the
  NSBI channel (``--rename mu_hf=mu``: the POI ranges [0, 3] and [0, 10] are harmonised to [0, 10]);
* an NSBI channel whose nuisance parameter is pushed to its bound (the at-bound flag and warning).

Every verb runs once as a subprocess (each imports ROOT: a few seconds); further cases of a verb run
in this process (:func:`run_here`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyhf
import pytest
import ROOT

import roonsbi
from roonsbi.cli.main import main
from roonsbi.infer import ParameterAtBoundWarning, discovery_significance, impacts, profile_scan, profile_scan_2d
from roonsbi.infer.fit import Fitter
from roonsbi.inputs.toy import OffShellToy
from roonsbi.io import open_model, to_pyhf
from support import histfactory_workspace

PACKAGE_PATH = str(Path(roonsbi.__file__).resolve().parents[1])
PYHF_BKG, PYHF_SIG, PYHF_UNC, PYHF_OBS = [50.0, 52.0], [12.0, 11.0], [3.0, 7.0], [66.0, 64.0]


def run(*args: Any, ok: bool = True) -> subprocess.CompletedProcess:
    """``python -m roonsbi *args`` in a subprocess with this tree's roonsbi first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([PACKAGE_PATH, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "roonsbi", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "alpha stage" not in proc.stderr and "INFO:" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def run_json(*args: Any) -> Any:
    return json.loads(run(*args, "--json").stdout)


def run_here(*args: Any) -> int:
    """``roonsbi *args`` in this process (for checks that need no fresh process), its global
    settings (warning display, progress lines) restored afterwards."""
    from roonsbi.infer.progress import report_lines

    show = warnings.showwarning
    try:
        return main([str(a) for a in args])
    finally:
        warnings.showwarning = show
        report_lines(None)
        ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)  # as tests/conftest.py


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The saved models of the module doc."""
    base = tmp_path_factory.mktemp("verbs")
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(3))[:400]
    pool = toy.processes(toy.sample_ref(1000, np.random.default_rng(2)))
    nsbi = roonsbi.build_model(toy.processes(x), pool=pool, form="store", name="nsbi")
    out = {"nsbi": nsbi.save(base / "nsbi.root"), "x": base / "x.npy"}
    np.save(out["x"], x)

    spec = pyhf.simplemodels.uncorrelated_background(signal=PYHF_SIG, bkg=PYHF_BKG, bkg_uncertainty=PYHF_UNC).spec
    workspace = {**spec, "observations": [{"name": "singlechannel", "data": PYHF_OBS}],
                 "measurements": [{"name": "Measurement", "config": {"poi": "mu", "parameters": []}}],
                 "version": "1.0.0"}
    out["pyhf"] = base / "simple.json"
    out["pyhf"].write_text(json.dumps(workspace))

    hf_ws, _ = histfactory_workspace(base, poi="mu_hf")
    hf_ws.var("mu_hf").setRange(0.0, 3.0)  # as ROOT's HistFactory tutorial: [0, 3]
    out["hf"] = base / "hf.root"
    assert hf_ws.writeToFile(str(out["hf"]))

    # 400 events, 4964 expected at mu = 1: a 10% normsys cannot bring them down within 5 sigma
    scaled = [roonsbi.Process(p.name, 10 * p.nominal_yield, p.ratio, p.coefficient, normsys={"scale": (0.9, 1.1)})
              for p in toy.processes(x, systematics=False)]
    out["bound"] = roonsbi.build_model(scaled, name="bound").save(base / "bound.root")
    return out


def test_help_lists_the_verbs() -> None:
    proc = subprocess.run([sys.executable, "-m", "roonsbi", "--help"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": PACKAGE_PATH})
    assert proc.returncode == 0
    for verb in ("inspect", "fit", "scan", "impacts", "limit", "significance", "combine", "export", "evaluate",
                 "demo", "env"):
        assert f"\n    {verb}" in proc.stdout, verb


def test_inspect_nsbi_and_pyhf(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    info = run_json("inspect", files["nsbi"])
    (channel,) = info["channels"]
    nu = OffShellToy().basis_yields()  # mu = 1: f_SBI = sqrt(mu) = 1, f_S = mu - sqrt(mu) = 0, f_B = 1 - sqrt(mu) = 0
    assert channel["entries"] == len(np.load(files["x"]))
    assert channel["processes"] == pytest.approx({"SBI": nu["SBI"], "S": 0.0, "B": 0.0}, abs=1e-9)
    assert channel["expected"] == pytest.approx(nu["SBI"], rel=1e-12)
    assert list(info["pois"]) == ["mu"] and info["pois"]["mu"]["min"] == 0.0

    assert run_here("inspect", files["pyhf"], "--json") == 0
    info = json.loads(capsys.readouterr().out)
    (channel,) = info["channels"]
    pm = pyhf.Workspace(json.loads(files["pyhf"].read_text())).model()
    assert channel["expected"] == pytest.approx(float(np.sum(pm.expected_actualdata(pm.config.suggested_init()))))
    assert channel["sum_weights"] == pytest.approx(sum(PYHF_OBS))
    assert sorted(channel["processes"].values()) == pytest.approx([sum(PYHF_SIG), sum(PYHF_BKG)])
    assert len(info["nuisance_parameters"]) == pm.config.npars - 1  # the two shapesys gammas


def test_fit_with_fixed_and_fast(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    result = run_json("fit", files["nsbi"], "--fixed", "alpha_lumi=0.5")
    model = open_model(files["nsbi"])
    ref = roonsbi.fit(model, fixed={"alpha_lumi": 0.5})
    assert result["fixed"] == {"alpha_lumi": 0.5} and result["values"]["alpha_lumi"] == 0.5
    for name, value in ref.values.items():
        assert result["values"][name] == pytest.approx(value, abs=1e-6), name
        assert result["errors"][name] == pytest.approx(ref.errors[name], rel=1e-4, abs=1e-9), name
    assert result["min_nll"] == pytest.approx(ref.min_nll, abs=1e-8)
    assert run_here("fit", files["nsbi"], "--fast", "--json") == 0
    fast = json.loads(capsys.readouterr().out)
    ref_fast = roonsbi.fit(open_model(files["nsbi"]), fast=True)
    assert fast["values"] == pytest.approx(ref_fast.values, abs=1e-6)
    assert fast["status"] == 0


def test_scan_1d_and_2d(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    proc = run("scan", files["nsbi"], "--range", 0.5, 2.5, "--points", 5, "--json", "--progress-every", 0)
    s = json.loads(proc.stdout)  # stdout: the JSON alone; progress lines (not a terminal) on stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("roonsbi: scan of mu:")]
    assert [line.split(":")[2].split()[0] for line in lines] == [f"{k}/5" for k in range(1, 6)]
    assert "68% CL" in proc.stderr and f"roonsbi: reading {files['nsbi']}: done" in proc.stderr
    ref = profile_scan(open_model(files["nsbi"]), "mu", np.linspace(0.5, 2.5, 5))
    np.testing.assert_allclose(s["values"], ref.values)
    np.testing.assert_allclose(s["t"], ref.t, atol=1e-6)
    assert s["interval_68"] == pytest.approx(list(ref.interval(0.6827)), abs=1e-6)

    assert run_here("scan", files["pyhf"], "--range", 0.0, 2.0, "--points", 3, "--poi2", "gamma_uncorr_bkguncrt_bin_0",
                    "--range2", 0.8, 1.2, "--points2", 3, "--json") == 0
    s2 = json.loads(capsys.readouterr().out)
    ref2 = profile_scan_2d(open_model(files["pyhf"]), ("mu", "gamma_uncorr_bkguncrt_bin_0"), np.linspace(0, 2, 3),
                           np.linspace(0.8, 1.2, 3))
    np.testing.assert_allclose(np.array(s2["t"]), ref2.t, atol=1e-6)
    assert s2["levels"]["95"] == pytest.approx(5.991, abs=1e-3)

    assert run_here("scan", files["nsbi"], "--range", 0.5, 1.5, "--points", 2, "--quiet") == 0
    assert capsys.readouterr() == ("", "")  # --quiet: neither text nor progress


def test_impacts(files: dict[str, Path]) -> None:
    result = run_json("impacts", files["nsbi"])
    ref = impacts(open_model(files["nsbi"]))
    assert [i["name"] for i in result["impacts"]] == [i.name for i in ref.impacts]
    for got, want in zip(result["impacts"], ref.impacts):
        assert [got["postfit_up"], got["postfit_down"], got["prefit_up"], got["prefit_down"]] == pytest.approx(
            [want.postfit_up, want.postfit_down, want.prefit_up, want.prefit_down], abs=1e-5)
    assert [p["pull"] for p in result["pulls"]] == pytest.approx([p.pull for p in ref.pulls], abs=1e-5)


def test_limit_and_significance_equal_pyhf(files: dict[str, Path]) -> None:
    workspace = pyhf.Workspace(json.loads(files["pyhf"].read_text()))
    pm, data = workspace.model(), workspace.data(workspace.model())
    limit = run_json("limit", files["pyhf"])
    obs, expected = pyhf.infer.intervals.upper_limits.upper_limit(data, pm, scan=None, level=0.05)
    assert limit["observed"] == pytest.approx(float(obs), rel=1e-3)
    np.testing.assert_allclose(limit["expected"], np.array(expected, dtype=float), rtol=1e-3)

    z = run_json("significance", files["pyhf"])
    p0, p0_expected = pyhf.infer.hypotest(0.0, data, pm, test_stat="q0", return_expected=True)
    assert z["q0"] > 1.0
    assert z["p0"] == pytest.approx(float(p0), rel=1e-3)
    assert z["expected_p0"] == pytest.approx(float(p0_expected), rel=1e-3)
    ref = discovery_significance(open_model(files["pyhf"]))
    assert z["q0"] == pytest.approx(ref.q0, rel=1e-6)


def test_combine_renames_and_harmonises_the_poi_range(files: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "comb.root"
    proc = run("combine", files["nsbi"], files["hf"], "-o", out, "--rename", "mu_hf=mu", "--json")
    result = json.loads(proc.stdout)
    assert sorted(result["channels"]) == ["cr", "nsbi"]
    assert (result["pois"]["mu"]["min"], result["pois"]["mu"]["max"]) == (0.0, 10.0)  # the union of [0, 3], [0, 10]
    assert "union [0, 10]" in result["notes"][0] and "union [0, 10]" in proc.stderr
    with pytest.warns(roonsbi.models.combined.POIRangeWarning, match="union"):
        ref = roonsbi.combine([open_model(files["nsbi"]), open_model(files["hf"])], rename={"mu_hf": "mu"})
    saved = open_model(out)
    point = {"mu": 2.7, "alpha_eff": 0.3, "alpha_lumi": -0.4}
    assert saved.nll(point) == pytest.approx(ref.nll(point), abs=1e-9)
    mu = saved.parameter("mu")
    assert (mu.getMin(), mu.getMax()) == (0.0, 10.0)
    assert open_model(files["hf"]).parameter("mu_hf").getMax() == 3.0  # the source keeps its range

    # an explicit range; and the output is not replaced without --overwrite
    refused = run("combine", files["nsbi"], files["hf"], "-o", out, "--rename", "mu_hf=mu", ok=False)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr and "overwrite=True" not in refused.stderr
    assert str(out) in refused.stderr
    assert run_here("combine", files["nsbi"], files["hf"], "-o", out, "--rename", "mu_hf=mu", "--poi-range", 0, 4,
                    "--overwrite", "--json") == 0
    explicit = json.loads(capsys.readouterr().out)
    assert explicit["pois"]["mu"]["max"] == 4.0 and "set to [0, 4]" in explicit["notes"][0]
    assert open_model(out).parameter("mu").getMax() == 4.0


def test_export_pyhf_and_hs3(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """pyhf JSON of the HistFactory channel: pyhf's MLE equals the CLI fit of the ROOT file; HS3
    JSON of the pyhf model: the CLI fit of the HS3 file equals the Python fit of the pyhf model."""
    exported = tmp_path / "hf_pyhf.json"
    assert run_json("export", files["hf"], "--to", "pyhf", "-o", exported)["channels"] == ["cr"]
    assert json.loads(exported.read_text()) == to_pyhf(open_model(files["hf"]))
    workspace = pyhf.Workspace(json.loads(exported.read_text()))
    pm = workspace.model()
    best = pyhf.infer.mle.fit(workspace.data(pm), pm)
    assert roonsbi.fit(open_model(files["hf"])).values["mu_hf"] == pytest.approx(float(best[pm.config.poi_index]),
                                                                                   abs=1e-4)

    hs3 = tmp_path / "simple_hs3.json"
    assert run_here("export", files["pyhf"], "--to", "hs3", "-o", hs3) == 0
    assert f"wrote {hs3} (hs3)" in capsys.readouterr().out
    assert run_here("fit", hs3, "--json") == 0
    from_hs3 = json.loads(capsys.readouterr().out)
    assert from_hs3["values"] == pytest.approx(roonsbi.fit(open_model(files["pyhf"])).values, abs=1e-6)


@pytest.mark.filterwarnings("ignore::roonsbi.infer.FitStatusWarning")  # Minuit at a bound: status -1
def test_parameter_at_its_bound_is_flagged_and_warned(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    """alpha_scale (a 10% normsys) must bring 4964 expected events down to 400 at mu = 1: it ends at -5,
    where the NLL still falls towards the bound."""
    model = open_model(files["bound"])
    assert model.nll({"mu": 1.0, "alpha_scale": -5.0}) < model.nll({"mu": 1.0, "alpha_scale": -4.95})
    with pytest.warns(ParameterAtBoundWarning, match="'alpha_scale'.*bound -5"):
        result = Fitter(model).fit({"mu": 1.0})
    assert result.at_bound == {"alpha_scale": -5.0}
    assert result.values["alpha_scale"] == pytest.approx(-5.0, abs=0.1)
    with pytest.warns(ParameterAtBoundWarning):
        scan = profile_scan(model, "mu", [0.5, 1.0])
    assert scan.at_bound[1] == {"alpha_scale": -5.0}

    assert run_here("fit", files["bound"], "--fixed", "mu=1", "--json") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["at_bound"] == {"alpha_scale": -5.0}
    assert "roonsbi fit: warning: the fit with mu = 1 ended with parameters within 1% of a bound" in err
    assert "'alpha_scale'" in err


def test_user_errors_are_one_line(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Exit status 2 and one line naming the file or argument (the subprocess case, with no
    traceback, is the refused overwrite of the combine test)."""
    assert run_here("fit", tmp_path / "missing.root") == 2
    err = capsys.readouterr().err  # (after the log line "roonsbi: reading ...": stderr is not a terminal)
    assert err.splitlines()[-1] == f"roonsbi fit: error: no such model file: {tmp_path / 'missing.root'}"
    assert run_here("fit", files["nsbi"], "--fixed", "mu") == 2
    assert "--fixed takes NAME=VALUE, got 'mu'" in capsys.readouterr().err
    assert run_here("fit", files["nsbi"], "--fixed", "nope=1") == 2
    assert "no parameter 'nope'" in capsys.readouterr().err
    assert run_here("scan", files["nsbi"], "--points", "1") == 2
    assert "--points must be at least 2" in capsys.readouterr().err
