"""Fuzz cases of pyhf JSON and HS3 JSON import, of combinations and of parametrized NSBI: damaged or invalid
specs and files give a clear error naming the problem; valid ones give pyhf's best fit (pyhf as the
reference), the sum of the channels' NLLs, or the NLL of an independent Poisson reference."""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from common import channel, nll_matches, ref_processes
from harness import Case, close, error, result

from roonsbi.models.unbinned import build_model

CASES: list[Case] = []
add = CASES.append


def spec() -> dict:
    import support

    return support.load_pyhf("2-bin_1-channel.json")


def mutated(change: Callable[[dict], Any]) -> dict:
    s = spec()
    change(s)
    return s


def from_pyhf_of(s: Any, **kwargs: Any):
    def run(tmp: Path) -> Any:
        from roonsbi.io.pyhf_json import from_pyhf

        return from_pyhf(s, **kwargs)

    return run


def pyhf_best_fit(s: dict):
    def run(tmp: Path) -> tuple[dict, dict]:
        import support
        from roonsbi.infer.fit import fit
        from roonsbi.io.pyhf_json import from_pyhf

        return fit(from_pyhf(s)).values, support.pyhf_fit(s)[0]

    return run


def same_fit(v: tuple[dict, dict]) -> str | None:
    roofit, ref = v
    for name, value in roofit.items():
        if abs(value - ref[name]) > 1e-4 * max(1.0, abs(ref[name])):
            return f"{name}: {value} != pyhf's {ref[name]}"
    return None


def _set(path: list, value: Any) -> Callable[[dict], None]:
    def change(s: dict) -> None:
        obj = s
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value

    return change


add(result("pyhf-good-fit", pyhf_best_fit(spec()), same_fit))
add(
    result(
        "pyhf-good-fit-bounds",
        pyhf_best_fit(
            mutated(
                _set(
                    ["measurements", 0, "config", "parameters"],
                    [{"name": "mu", "bounds": [[0.0, 5.0]], "inits": [2.0]}],
                )
            )
        ),
        same_fit,
    )
)
for i, (change, words) in enumerate(
    [
        (
            _set(["observations", 0, "data"], [50.0]),
            r"observations of channel 'singlechannel' have 1 bins, its samples 2",
        ),
        (
            _set(["observations", 0, "data"], [50.0, -1.0]),
            r"observations of channel 'singlechannel' have the count -1.0 in bin 1",
        ),
        (_set(["observations", 0, "data"], [50.0, "x"]), r"'x'|not of type|number"),
        (_set(["channels", 0, "samples", 0, "data"], [5.0]), r"signal|bins|2"),
        (_set(["channels", 0, "samples", 0, "modifiers", 0, "type"], "normfactorx"), r"normfactorx"),
        (_set(["measurements", 0, "config", "poi"], "nope"), r"nope"),
        (_set(["measurements"], []), r"measurement"),
        (_set(["channels", 0, "name"], "single channel"), r"single channel"),
        (_set(["channels", 0, "samples", 1, "modifiers", 0, "data"], [5.0]), r"uncorr_bkguncrt|shapesys|2"),
        (
            _set(["channels", 0, "samples", 0, "data"], [5.0, math.nan]),
            r"sample 'signal' of channel 'singlechannel' has the non-finite content nan in bin 1",
        ),
        (
            _set(["measurements", 0, "config", "parameters"], [{"name": "mu", "bounds": [[5.0, 0.0]]}]),
            r"parameter 'mu' of measurement 'Measurement' has the bounds \[5.0, 0.0\]",
        ),
        (
            _set(
                ["measurements", 0, "config", "parameters"], [{"name": "mu", "inits": [20.0], "bounds": [[0.0, 10.0]]}]
            ),
            r"parameter 'mu' of measurement 'Measurement' starts at 20.0, outside its bounds \[0.0, 10.0\]",
        ),
        (_set(["version"], "9.9.9"), r"not a valid pyhf workspace: .*9.9.9"),
    ]
):
    add(error(f"pyhf-invalid-{i}", from_pyhf_of(mutated(change)), ValueError, words))
add(error("pyhf-not-mapping", from_pyhf_of([1, 2, 3]), (TypeError, ValueError), r"pyhf|workspace|mapping|dict"))
add(error("pyhf-missing-file", lambda tmp: from_pyhf_of(tmp / "none.json")(tmp), FileNotFoundError, r"none.json"))


def pyhf_file(content: str | None, fifo: bool = False):
    def run(tmp: Path) -> Any:
        from roonsbi.io.pyhf_json import from_pyhf

        path = tmp / "ws.json"
        if fifo:
            os.mkfifo(path)
        else:
            path.write_text(content or "")
        return from_pyhf(path)

    return run


add(error("pyhf-file-truncated", pyhf_file(json.dumps(spec())[:80]), ValueError, r"ws.json is not valid JSON"))
add(error("pyhf-file-empty", pyhf_file(""), ValueError, r"ws.json is not valid JSON"))
add(error("pyhf-file-fifo", pyhf_file(None, fifo=True), ValueError, r"ws.json is a FIFO"))

# -- HS3 JSON import (RooJSONFactoryWSTool) -----------------------------------------------------------


def hs3(content: Any, fifo: bool = False):
    def run(tmp: Path) -> Any:
        from roonsbi.models.combined import read_roofit_file

        path = tmp / "model.json"
        if fifo:
            os.mkfifo(path)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        return read_roofit_file(path)

    return run


HS3_BAD = [
    ("truncated", '{"distributions": [{"name": "x", "type": "gaussian_dist"', r"model.json is not valid JSON"),
    ("empty", "", r"model.json is not valid JSON"),
    ("list", [1, 2], r"could not import the HS3 JSON file .*model.json: .*HS3 version is missing"),
    (
        "unknown-type",
        {"distributions": [{"name": "p", "type": "no_such_dist", "x": "x"}], "metadata": {"hs3_version": "0.2"}},
        r"HS3 JSON file .*model.json: .*no_such_dist",
    ),
    (
        "nsbi-missing-fields",
        {"distributions": [{"name": "p", "type": "roonsbi::nsbi_dist"}], "metadata": {"hs3_version": "0.2"}},
        r"HS3 JSON file .*model.json: .*no \"yields\" given in \"p\"",
    ),
    (
        "nsbi-bad-fields",
        {
            "distributions": [{"name": "p", "type": "roonsbi::nsbi_dist", "yields": 3, "ratios": "r"}],
            "metadata": {"hs3_version": "0.2"},
        },
        r"model.json: .*\"yields\" in \"p\" is not a sequence",
    ),
]
for label, content, words in HS3_BAD:
    add(error(f"hs3-{label}", hs3(content), ValueError, words))
add(error("hs3-fifo", hs3(None, fifo=True), ValueError, r"model.json is a FIFO"))


def hs3_export_truncated(tmp: Path) -> Any:
    """A roonsbi HS3 export cut in half: an error naming the file."""
    import ROOT

    model = build_model(channel(), form="columns")
    path = tmp / "m.json"
    assert ROOT.RooNSBI.exportJSON(model.workspace, str(path), "nsbi")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    from roonsbi.models.combined import read_roofit_file

    return read_roofit_file(path)


def hs3_round_trip(tmp: Path) -> float:
    """A single column-form model exported and imported: its NLL is the reference's."""
    import ROOT

    model = build_model(channel(), form="columns")
    path = tmp / "m.json"
    assert ROOT.RooNSBI.exportJSON(model.workspace, str(path), "nsbi")
    ws = ROOT.RooWorkspace("imported")
    assert ROOT.RooJSONFactoryWSTool(ws).importJSON(str(path))
    ws.var("mu").setVal(1.7)
    ws.var("alpha_lumi").setVal(0.3)
    pdf = ws.obj("ModelConfig").GetPdf() if ws.obj("ModelConfig") else ws.pdf("model_nsbi")
    nll = pdf.createNLL(
        ws.data("obsData"),
        ROOT.RooFit.Extended(True),
        ROOT.RooFit.GlobalObservables(ROOT.RooArgSet(ws.var("nom_alpha_lumi"))),
        ROOT.RooFit.Offset("none"),
    )
    return float(nll.getVal())


add(error("hs3-export-truncated", hs3_export_truncated, ValueError, r"m.json is not valid JSON"))
add(result("hs3-single-round-trip", hs3_round_trip, nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3})))

# -- combination -------------------------------------------------------------------------------------------


def combined_nll(tmp: Path) -> tuple[float, float]:
    """NSBI channel + a HistFactory channel sharing mu: the combined NLL is the sum of the channels' NLLs."""
    import support
    from roonsbi.models.combined import combine

    ws, _ = support.histfactory_workspace(tmp)
    nsbi = build_model(channel(), name="nsbi")
    comb = combine([nsbi, ws])
    values = {"mu": 1.3, "alpha_lumi": 0.2, "alpha_eff": -0.4}
    a = comb.nll(values)
    nsbi_alone = build_model(channel(), name="nsbi").nll({"mu": 1.3, "alpha_lumi": 0.2})
    return a, nsbi_alone


def combine_case(sources: Callable[[Path], list], **kwargs: Any):
    def run(tmp: Path) -> Any:
        from roonsbi.models.combined import combine

        return combine(sources(tmp), **kwargs)

    return run


def combined_pair(tmp: Path) -> float:
    """Two NSBI channels sharing mu and alpha_lumi: the difference of the combined NLL between two points is the
    sum of the channels' reference differences (RooSimultaneous adds a parameter-independent log 2 per event)."""
    from roonsbi.models.combined import combine

    comb = combine([build_model(channel(), name="a"), build_model(channel(), name="b")])
    return comb.nll({"mu": 1.3, "alpha_lumi": 0.2}) - comb.nll({"mu": 0.6, "alpha_lumi": -0.5})


def pair_reference(v: float) -> str | None:
    import reference

    def one(mu: float, a: float) -> float:  # the data terms of one channel, the shared constraint once
        return reference.nll(ref_processes(), {"mu": mu}, {"lumi": a}) - 0.5 * a * a

    ref = 2 * (one(1.3, 0.2) - one(0.6, -0.5)) + 0.5 * (0.2**2 - 0.5**2)
    return close(v, ref, rtol=1e-6, atol=1e-7, what="combined NLL difference")


add(result("combine-nsbi-pair", combined_pair, pair_reference))
add(error("combine-empty", combine_case(lambda tmp: []), ValueError, r"no channel|empty|at least one"))
add(
    error(
        "combine-same-channel",
        combine_case(lambda tmp: [build_model(channel()), build_model(channel())]),
        ValueError,
        r"nsbi",
    )
)
add(error("combine-not-a-model", combine_case(lambda tmp: [3]), (TypeError, ValueError), r"3|int|source"))
add(error("combine-missing-file", combine_case(lambda tmp: [tmp / "none.root"]), FileNotFoundError, r"none.root"))
add(
    error(
        "combine-text-file",
        combine_case(lambda tmp: [(tmp / "x.root").write_text("x") and tmp / "x.root"]),
        OSError,
        r"x.root",
    )
)
add(
    result(  # POI ranges that differ are harmonised to their union, and the model says so
        "combine-range-conflict",
        combine_case(
            lambda tmp: [
                build_model(channel(), name="a"),
                build_model(channel(), name="b", pois={"mu": (1.0, 0.0, 5.0)}),
            ]
        ),
        lambda c: None if (c.workspace.var("mu").getMin(), c.workspace.var("mu").getMax()) == (0.0, 10.0)
        and any("union [0, 10]" in n for n in c.notes) else f"mu range {c.workspace.var('mu').getMax()}, {c.notes}",
    )
)
add(
    error(
        "combine-rename-collision",
        combine_case(
            lambda tmp: [build_model(channel(), name="a"), build_model(channel(), name="b")],
            rename={"alpha_lumi": "mu"},
        ),
        ValueError,
        r"mu|alpha_lumi",
    )
)

# -- parametrized NSBI ---------------------------------------------------------------------------------


def templates() -> Any:
    from roonsbi.binned.templates import BinnedProcess, Templates

    nom = np.array([[[5.0, 4.0, 3.0], [50.0, 60.0, 70.0]]])
    procs = [BinnedProcess("S", 12.0, "mu"), BinnedProcess("B", 180.0, "1")]
    sumw2 = np.zeros((1, 2, 2, 3))
    sumw2[0, 0, 0], sumw2[0, 1, 1] = nom[0, 0] * 0.01, nom[0, 1] * 0.01
    return Templates(
        "mu",
        1.0,
        {"mu": 1.0},
        np.array([1.0]),
        np.array([[0.0, 1.0, 2.0, 3.0]]),
        procs,
        nom,
        {},
        {},
        sumw2,
        np.full((1, 2), 100.0),
        np.ones(1),
        200,
    )


def param(**kwargs: Any):
    def run(tmp: Path) -> Any:
        from roonsbi.models.parametrized import build_parametrized_model

        return build_parametrized_model(templates(), **kwargs)

    return run


def poisson_nll(tmp: Path) -> tuple[float, float]:
    """Without staterror (stat_threshold huge), no systematics: the NLL at mu is sum_b (nu_b - n_b log nu_b) up to
    a constant: the difference between two mu values is the reference's."""
    from roonsbi.models.parametrized import build_parametrized_model

    counts = np.array([[60.0, 61.0, 75.0]])
    m = build_parametrized_model(templates(), data=counts, stat_threshold=1e9)
    return m.nll({"mu": 2.0}) - m.nll({"mu": 0.5}), 0.0


def poisson_ref(v: tuple[float, float]) -> str | None:
    nom = np.array([[5.0, 4.0, 3.0], [50.0, 60.0, 70.0]])
    n = np.array([60.0, 61.0, 75.0])

    def nll(mu: float) -> float:
        nu = mu * nom[0] + nom[1]
        return float(np.sum(nu - n * np.log(nu)))

    return close(v[0], nll(2.0) - nll(0.5), rtol=1e-8, what="NLL(2) - NLL(0.5)")


add(result("param-poisson-reference", poisson_nll, poisson_ref))
for i, (kwargs, kind, words) in enumerate(
    [
        ({"data": np.array([[1.0, 2.0]])}, ValueError, r"data counts have shape \(1, 2\), expected \(1, 3\)"),
        (
            {"data": np.array([[1.0, -2.0, 3.0]])},
            ValueError,
            r"data counts must not be negative \(first: -2 at \(0, 1\)\)",
        ),
        (
            {"data": np.array([[1.0, np.nan, 3.0]])},
            ValueError,
            r"data counts have 1 NaN or infinite entries \(first at \(0, 1\)\)",
        ),
        ({"data": np.array([["a", "b", "c"]])}, TypeError, r"data counts have dtype <U1"),
        ({"pois": {"mu": (1.0, 10.0, 0.0)}}, ValueError, r"pois\['mu'\].*min 10 >= max 0"),
        ({"pois": {"mu": (20.0, 0.0, 10.0)}}, ValueError, r"start 20 outside"),
        ({"pois": {"mu": (1.0, 0.0, 10.0), "mu_prime": (1.0, 0.0, 2.0)}}, ValueError, r"scan parameter 'mu_prime'"),
        ({"name": "a b"}, ValueError, r"channel name 'a b'"),
        ({"stat_threshold": -1.0}, ValueError, r"stat_threshold must be >= 0"),
        ({"stat_threshold": math.nan}, ValueError, r"stat_threshold is nan"),
        (
            {"alpha_range": (5.0, -5.0)},
            ValueError,
            r"alpha_range = \(5.0, -5.0\) must be \(min, max\) with min < 0 < max",
        ),
    ]
):
    add(error(f"param-bad-{i}", param(**kwargs), kind, words))


def param_scan(values: Any, **kwargs: Any):
    def run(tmp: Path) -> Any:
        import support
        from roonsbi.infer.scan import parametrized_scan

        return parametrized_scan(support.pnsbi_channel(), "mu", values, **kwargs)

    return run


for i, (values, words) in enumerate(
    [
        ([math.nan], r"nan|NaN|finite"),
        ([0.37], r"0.37.*grid|grid.*0.37|interpolate"),
        ([1e6], r"1e\+06|1000000|range|grid"),
    ]
):
    add(error(f"param-scan-{i}", param_scan(values), ValueError, words))


# -- nsbi-common-utils workspaces (roonsbi.io.nsbi_workspace) ------------------------------------------
@functools.lru_cache(maxsize=1)
def _toolkit_tests() -> Any:
    """tests/io/test_nsbi_workspace.py: its workspace writer and the toolkit's NLL in numpy (the reference)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nsbi_ws_tests", Path(__file__).parents[1] / "io" /
                                                  "test_nsbi_workspace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toolkit_ws(change: Callable[[dict], Any] = lambda spec: None, arrays: dict[str, Any] | None = None,
               points: int = 0):
    """from_nsbi_workspace of the tests' workspace after ``change(spec)`` (which may return a new spec) and
    with the ``.npy`` files ``arrays`` (name -> array or text) replaced; with ``points``, NLL differences
    between the nominal point and ``points`` random ones, ours and the toolkit's numpy NLL."""

    def run(tmp: Path) -> Any:
        from roonsbi.io.nsbi_workspace import from_nsbi_workspace

        tests = _toolkit_tests()
        _, ref = tests._workspace(tmp)
        spec = json.loads(json.dumps(ref["spec"]))
        spec = change(spec) or spec
        for name, value in (arrays or {}).items():
            if isinstance(value, str):
                (tmp / name).write_text(value)
            else:
                np.save(tmp / name, value)
        model = from_nsbi_workspace(spec, base_dir=tmp, form="columns")
        rng = np.random.default_rng(4)
        at = [{"mu": 1.0, "kl": 1.0, "mu_B": 1.0, "alpha_JES": 0.0}] + [
            {"mu": rng.uniform(0.2, 3), "kl": rng.uniform(-2, 4), "mu_B": rng.uniform(0.6, 1.4),
             "alpha_JES": rng.uniform(-2, 2)} for _ in range(points)]
        ours = np.array([model.nll(v) for v in at])
        theirs = np.array([tests._numpy_nll(ref, v, 0.5) for v in at])
        return ours - ours[0], theirs - theirs[0]

    return run


def _same(v: tuple[np.ndarray, np.ndarray]) -> str | None:
    return None if np.allclose(v[0], v[1], rtol=0, atol=1e-8) else f"NLL differences {v[0]} != the toolkit's {v[1]}"


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A change of the spec: the entry at ``path`` ("channels.0.samples.1.data") set to ``value``."""

    def change(spec: dict) -> None:
        *head, last = path.split(".")
        node: Any = spec
        for key in head:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return change


add(result("nsbi-ws-good", toolkit_ws(points=4), _same))
_ONES = np.ones(299)
for label, change, arrays, words in [
    ("ratio-nan", None, {"r_S.npy": np.r_[np.nan, _ONES]}, r"sample 'S' of channel 'SR' ratios .*r_S.npy' has NaN or "
                                                          r"infinite entries \(first at index 0\)"),
    ("ratio-negative", None, {"r_S.npy": np.r_[-1.0, _ONES]}, r"ratio column 'r_S' .*entry 0 = -1"),
    ("ratio-2d", None, {"r_S.npy": np.ones((300, 2))}, r"r_S.npy' must be a 1-D array"),
    ("ratio-text", None, {"r_S.npy": "hello"}, r"r_S.npy' is not a numpy .npy array"),
    ("ratio-strings", None, {"r_S.npy": np.array(["a"] * 300)}, r"r_S.npy' has dtype <U1, not real numbers"),
    ("ratio-short", None, {"r_B.npy": np.ones(299)}, r"r_B.npy' has 299 entries, expected 300"),
    ("ratio-missing", _set("channels.0.samples.0.ratios", "none.npy"), None, r"ratios names 'none.npy', which"),
    ("ratio-not-a-name", _set("channels.0.samples.0.ratios", 5), None, r"ratios must name a .npy file, got 5"),
    ("ratio-folder", _set("channels.0.samples.0.ratios", "/tmp"), None, r"ratios '/tmp' is not a numpy .npy array"),
    ("weights-nan", None, {"weights.npy": np.r_[np.nan, _ONES]}, r"channel 'SR' weights .* has NaN or infinite"),
    ("weights-negative", None, {"weights.npy": -np.ones(300)}, r"weights sum to -300"),
    ("shape-zero", None, {"g_S_up.npy": np.r_[0.0, _ONES]}, r"column 'g_S_JES_hi' .*entry 0 = 0"),
    ("zero-event", None, {f"r_{p}.npy": np.r_[0.0, _ONES] for p in "SIB"}, r"event 0 has r_J = 0 for every process"),
    ("yield-string", _set("channels.0.samples.0.data", ["30"]), None, r"sample 'S' of channel 'SR' data must be a "
                                                                      r"number or a non-empty list of numbers"),
    ("yield-nan", _set("channels.0.samples.0.data", [math.nan]), None, r"nominal yield of process 'S' is nan"),
    ("coeff-strings", _set("channels.0.samples.1.modifiers.0.coeff", ["a", 1]), None, r"vandermonde modifier 'kl' has "
                                                                                      r"coeff \['a', 1\]"),
    ("coeff-empty", _set("channels.0.samples.1.modifiers.0.coeff", []), None, r"modifier 'kl' has coeff \[\]: give"),
    ("hi-data-nan", _set("channels.0.samples.0.modifiers.1.data.hi_data", [math.nan]), None,
     r"normalisation systematic 'JES' of process 'S' needs positive finite factors"),
    ("hi-data-string", _set("channels.0.samples.0.modifiers.1.data.hi_data", "x"), None, r"hi_data must be a number"),
    ("bounds-reversed", _set("measurements.0.config.parameters.0.bounds", [[5.0, 0.0]]), None, r"min 5 >= max 0"),
    ("inits-outside", _set("measurements.0.config.parameters.0.inits", [50.0]), None, r"start 50 outside \[0, 5\]"),
    ("channel-type", _set("channels.0.type", "foo"), None, r"channel 'SR' has type 'foo'"),
    ("not-a-workspace", lambda spec: {"version": "1"}, None, r"not an nsbi-common-utils workspace"),
    ("obs-short", _set("observations.0.data", [1.0, 2.0]), None, r"\(channel: 2 bins, the length of its observation\)"),
    ("obs-negative", _set("observations.0.data", [-1.0, 2.0, 3.0, 4.0]), None, r"observation of channel 'CR' has a "
                                                                               r"count .*\(bin 0 = -1\)"),
    ("obs-nan", _set("observations.0.data", [1.0, math.nan, 3.0, 4.0]), None, r"\(bin 1 = nan\)"),
    ("obs-missing", _set("observations", []), None, r"binned channel 'CR' has no observation"),
    ("channel-twice", _set("channels.1.name", "SR"), None, r"channel names must be unique, \['SR'\]"),
    ("sample-twice", _set("channels.0.samples.1.name", "S"), None, r"process names must be unique"),
    ("poi-unknown", _set("measurements.0.config.poi", "zzz"), None, r"the POI 'zzz' of measurement 'meas' is not a "
                                                                    r"fitted parameter"),
    ("modifier-type", _set("channels.0.samples.0.modifiers.1.type", "histosys"), None, r"modifier 'JES' of sample "
                                                                                       r"'S' in channel 'SR' has type"),
]:
    add(error(f"nsbi-ws-{label}", toolkit_ws(change or (lambda spec: None), arrays), (ValueError, FileNotFoundError),
              words))
