"""The macros in a plain `root -l -b -q` session: fit_scan.C on a combined workspace and on HS3 JSON, and
combine_fit_scan.C combining an NSBI workspace with ROOT's HistFactory tutorial model (from its
XML) with RooNSBI::combine, compared with the Python path (roonsbi.models.combined + profile_scan)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import ROOT

from roonsbi import library
from roonsbi.infer.fit import fit
from roonsbi.infer.scan import profile_scan
from roonsbi.inputs.toy import OffShellToy
from roonsbi.io.histfactory_xml import from_histfactory_xml
from roonsbi.io.pyhf_json import from_pyhf
from roonsbi.models.combined import combine
from roonsbi.models.unbinned import build_model
from support import histfactory_tutorial, histfactory_workspace, load_pyhf, root_executable

MACROS = Path(__file__).resolve().parents[2] / "macros"
MACRO = MACROS / "fit_scan.C"
COMBINE_MACRO = MACROS / "combine_fit_scan.C"
RENAME = {"SigXsecOverSM": "mu", "alpha_syst2": "alpha_eff"}
GRID = np.linspace(0.0, 3.0, 21)


def _root() -> Path:
    root = root_executable()
    if root is None:
        pytest.skip("no root executable")
    return root


def test_fit_scan_macro_reproduces_the_python_scan(tmp_path: Path) -> None:
    root = _root()
    hws, _ = histfactory_workspace(tmp_path)
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(4))[:400]
    combined = combine([build_model(toy.processes(x, systematics=True)), hws])
    path = combined.save(tmp_path / "combined.root")
    scan = profile_scan(combined, "mu", np.linspace(0.0, 3.0, 21))

    plot = tmp_path / "scan.png"
    call = f'{MACRO}("{path}", "combined", "{library.LIBRARY}", "{plot}", 21, 0.0, 3.0)'
    proc = subprocess.run([str(root), "-l", "-b", "-q", call], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    match = re.search(r"68% interval of mu: \[([-\d.]+), ([-\d.]+)\]", proc.stdout)
    assert match, proc.stdout[-2000:]
    assert [float(match.group(1)), float(match.group(2))] == pytest.approx(list(scan.interval(0.6827)), abs=2e-3)
    assert plot.stat().st_size > 1000


def test_fit_scan_macro_reads_hs3_json(tmp_path: Path) -> None:
    """fit_scan.C on an HS3 JSON file (pyhf's 2-bin example with an excess, exported by
    RooNSBI::exportJSON): the same best fit and t(mu) as roonsbi's scan of the pyhf model."""
    root = _root()
    spec = load_pyhf("2-bin_1-channel.json")
    spec["observations"][0]["data"] = [1.4 * v for v in spec["observations"][0]["data"]]  # mu-hat inside its range
    model = from_pyhf(spec)
    hs3 = tmp_path / "model.json"
    assert ROOT.RooNSBI.exportJSON(model.workspace, str(hs3))
    grid = np.linspace(0.0, 3.0, 7)
    scan = profile_scan(model, "mu", grid)
    call = f'{MACRO}("{hs3}", "", "{library.LIBRARY}", "{tmp_path / "scan.png"}", 7, 0.0, 3.0)'
    proc = subprocess.run([str(root), "-l", "-b", "-q", call], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result, t = _parse(proc.stdout)
    assert float(result["value"]) == pytest.approx(scan.best.values["mu"], abs=1e-3)
    assert float(result["minNLL"]) == pytest.approx(scan.best.min_nll, abs=1e-5)
    np.testing.assert_allclose(t[:, 1], scan.t, atol=2e-3)


def _combine_macro(root: Path, *args: object) -> subprocess.CompletedProcess:
    def literal(a: object) -> str:
        return f'"{a}"' if isinstance(a, (str, Path)) else repr(a)

    call = f"{COMBINE_MACRO}({', '.join(literal(a) for a in args)})"
    return subprocess.run([str(root), "-l", "-b", "-q", call], capture_output=True, text=True, timeout=600)


def _parse(stdout: str) -> tuple[dict[str, str], np.ndarray]:
    """The RESULT line (key=value) and the t values of the SCAN lines."""
    result = re.search(r"^RESULT (.*)$", stdout, re.M)
    assert result, stdout[-3000:]
    values = dict(item.split("=", 1) for item in result.group(1).split())
    scan = re.findall(r"^SCAN \w+=(\S+) t=(\S+)$", stdout, re.M)
    return values, np.array([[float(a), float(b)] for a, b in scan])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An NSBI workspace file and ROOT's HistFactory tutorial model (from its XML) in a file."""
    base = histfactory_tutorial(tmp_path_factory.mktemp("macro"))
    hws = from_histfactory_xml(base / "config" / "example.xml", "GaussExample", base_dir=base)
    hf_path = base / "hf.root"
    assert hws.writeToFile(str(hf_path))
    toy = OffShellToy()
    x = toy.generate(1.0, np.random.default_rng(4))[:400]
    # the column form: the combination is also exported to HS3 JSON, which holds only that form
    nsbi = build_model(toy.processes(x, systematics=True), pois={"mu": (1.0, 0.0, 3.0)}, form="columns")
    return {"base": base, "nsbi": nsbi.save(base / "nsbi.root"), "hf": hf_path}


def test_combine_fit_scan_macro_matches_python(inputs: dict, tmp_path: Path) -> None:
    """combine_fit_scan.C in plain ROOT: combination, fit and scan equal the Python path's
    (best fit 1e-3, HESSE error 1%, min NLL 1e-5, t at 21 points 2e-3); its combined file opens
    and gives the same fit and scan in a second plain ROOT session."""
    root = _root()
    rename = ",".join(f"{k}={v}" for k, v in RENAME.items())
    plot, out = tmp_path / "scan.png", tmp_path / "combined_by_macro.root"
    proc = _combine_macro(root, inputs["nsbi"], inputs["hf"], library.LIBRARY, rename, plot, 21, 0.0, 3.0, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result, scan = _parse(proc.stdout)

    combined = combine([inputs["nsbi"], inputs["hf"]], rename=RENAME)  # files as sources
    python = profile_scan(combined, "mu", GRID)
    assert result["poi"] == "mu" and int(result["status"]) == 0 and python.best.status == 0
    assert float(result["value"]) == pytest.approx(python.best.values["mu"], abs=1e-3)
    assert float(result["error"]) == pytest.approx(python.best.errors["mu"], rel=1e-2)
    assert float(result["minNLL"]) == pytest.approx(python.best.min_nll, abs=1e-5)
    np.testing.assert_allclose(scan[:, 0], GRID, atol=1e-9)
    np.testing.assert_allclose(scan[:, 1], python.t, atol=2e-3)
    lo, hi = python.interval(0.6827)
    assert [float(result["lo68"]), float(result["hi68"])] == pytest.approx([lo, hi], abs=2e-3)
    assert plot.stat().st_size > 1000

    # the written combination in a new session, without combining again
    again = _combine_macro(root, out, "", library.LIBRARY, "", tmp_path / "again.pdf", 21, 0.0, 3.0)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    result2, scan2 = _parse(again.stdout)
    assert float(result2["value"]) == pytest.approx(python.best.values["mu"], abs=1e-3)
    assert float(result2["minNLL"]) == pytest.approx(python.best.min_nll, abs=1e-5)
    np.testing.assert_allclose(scan2[:, 1], python.t, atol=2e-3)

    # the Python combination exported to HS3 JSON, fitted in plain ROOT
    hs3 = tmp_path / "combined.json"
    assert ROOT.RooJSONFactoryWSTool(combined.workspace).exportJSON(str(hs3))
    from_json = _combine_macro(root, hs3, "", library.LIBRARY, "", tmp_path / "json.png", 21, 0.0, 3.0)
    assert from_json.returncode == 0, from_json.stdout[-3000:] + from_json.stderr[-2000:]
    result3, scan3 = _parse(from_json.stdout)
    assert float(result3["minNLL"]) == pytest.approx(python.best.min_nll, abs=1e-5)
    np.testing.assert_allclose(scan3[:, 1], python.t, atol=2e-3)

    # never overwrites a file
    third = _combine_macro(root, inputs["nsbi"], inputs["hf"], library.LIBRARY, rename, plot, 3, 0.0, 3.0, out)
    assert third.returncode != 0 and "not overwritten" in third.stdout


def test_combine_fit_scan_macro_errors(inputs: dict, tmp_path: Path) -> None:
    root = _root()
    missing = tmp_path / "nowhere" / "libRooNSBI.so"
    proc = _combine_macro(root, inputs["nsbi"], inputs["hf"], missing, "")
    assert proc.returncode != 0 and f"cannot load the roonsbi library '{missing}'" in proc.stdout
    # the tutorial's alpha_syst1 is constant: sharing it with the NSBI alpha_eff is a conflict
    proc = _combine_macro(root, inputs["nsbi"], inputs["hf"], library.LIBRARY, "alpha_syst1=alpha_eff")
    assert proc.returncode != 0 and "parameter 'alpha_eff'" in proc.stdout, proc.stdout[-2000:]
    proc = _combine_macro(root, tmp_path / "none.root", inputs["hf"], library.LIBRARY, "")
    assert proc.returncode != 0 and "cannot open" in proc.stdout


def test_large_unbinned_channel(inputs: dict) -> None:
    """A 10^5-event weighted NSBI channel (events from p_ref weighted to the mu = 1 intensity; the
    store form) with the tutorial model: the combined dataset holds every event (its index in the
    channel's event store) and weight of each channel unchanged (compared with numpy), and the fit
    converges."""
    toy = OffShellToy()
    x = toy.sample_ref(100_000, np.random.default_rng(9))
    processes = toy.processes(x, systematics=True)
    sbi = processes[0]
    assert sbi.name == "SBI"
    weights = sbi.nominal_yield * np.asarray(sbi.ratio) / len(x)
    nsbi = build_model(processes, pois={"mu": (1.0, 0.0, 3.0)}, weights=weights)
    combined = combine([nsbi, inputs["hf"]], rename=RENAME)
    data = combined.data
    assert data.numEntries() == len(x) + 2
    columns = data.to_numpy()
    from_nsbi = columns["channelCat"] == combined.workspace.cat("channelCat").lookupIndex("nsbi")
    assert np.count_nonzero(from_nsbi) == len(x)
    np.testing.assert_array_equal(columns["event_nsbi"][from_nsbi], np.arange(len(x)))
    store = nsbi.pdf.store()
    np.testing.assert_array_equal(np.frombuffer(store.column("r_S"), dtype=np.float32, count=len(x)),
                                  np.asarray(processes[1].ratio, dtype=np.float32))
    np.testing.assert_allclose(columns["weight"][from_nsbi], weights, rtol=1e-15)
    assert sorted(zip(columns["obs_x_channel1"][~from_nsbi], columns["weight"][~from_nsbi])) == [(1.25, 122.0),
                                                                                                   (1.75, 112.0)]
    result = fit(combined)
    assert result.status == 0 and abs(result.values["mu"] - 1.0) < 3 * result.errors["mu"]
