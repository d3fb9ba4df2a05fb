"""Fuzz cases of the command line (``roonsbi VERB ...``, run in the worker through ``roonsbi.cli.main.main``):
bad arguments of every model verb, of ``evaluate`` and ``demo`` end with exit status 2 and one line
``roonsbi VERB: error: ...`` naming the option and the bad value (never a traceback, never ignored); the
fit of a pyhf JSON model is pyhf's own (``pyhf.infer.mle.fit``). Also the outcome classes of the issue's
remaining reports: a ``save()`` killed before its rename, and the RooFitResult of every fit owned by Python
(the object count over many fits: tests/infer/test_leaks.py)."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from harness import Case, close, error, result

SIG, BKG, UNC, OBS = [12.0, 11.0], [50.0, 52.0], [3.0, 7.0], [66.0, 64.0]


class CLIError(Exception):
    """A verb that exited with a non-zero status: the status and its stderr."""


def pyhf_file(tmp: Path) -> Path:
    import pyhf

    spec = pyhf.simplemodels.uncorrelated_background(signal=SIG, bkg=BKG, bkg_uncertainty=UNC).spec
    ws = {**spec, "observations": [{"name": "singlechannel", "data": OBS}],
          "measurements": [{"name": "Measurement", "config": {"poi": "mu", "parameters": []}}], "version": "1.0.0"}
    path = tmp / "p.json"
    path.write_text(json.dumps(ws))
    return path


def nsbi_file(tmp: Path) -> Path:
    from roonsbi.models.unbinned import build_model
    from roonsbi.spec import Process

    rng = np.random.default_rng(1)
    model = build_model([Process("S", 10.0, rng.uniform(0.2, 2.0, 30), "mu"),
                         Process("B", 40.0, np.ones(30), normsys={"lumi": (0.95, 1.05)})])
    return model.save(tmp / "m.root")


def cli(*argv: str) -> str:
    """``roonsbi *argv`` in this process (``P``: the pyhf file, ``M``: the NSBI file, ``T/``: the temporary
    folder): its stdout, or CLIError("status N: <stderr>") for a non-zero status (argparse's too)."""
    from roonsbi.cli.main import main

    def run(tmp: Path) -> str:
        args = [a.replace("T/", f"{tmp}/") for a in argv]
        files = {"P": pyhf_file, "M": nsbi_file}
        made = {key: str(make(tmp)) for key, make in files.items() if key in args}
        args = [made.get(a, a) for a in args]
        err, out = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                status = main(args)
        except SystemExit as exit:
            status = exit.code
        if status:
            raise CLIError(f"status {status}: {err.getvalue()}")
        return out.getvalue()

    return run


CASES: list[Case] = []
add = CASES.append

# -- bad arguments: status 2, one line naming the option and the value -----------------------------------
for label, argv, words in [
    ("fit-missing-file", ("fit", "T/none.json"), r"roonsbi fit: error: no such model file: .*none.json"),
    ("fit-folder", ("fit", "T/"), r"is a folder, not a regular file"),
    ("fit-fixed-not-number", ("fit", "P", "--fixed", "mu=abc"), r"--fixed mu=abc: 'abc' is not a number"),
    ("fit-fixed-no-value", ("fit", "P", "--fixed", "mu"), r"--fixed takes NAME=VALUE, got 'mu'"),
    ("fit-fixed-unknown", ("fit", "P", "--fixed", "nope=1"), r"error: no parameter 'nope' in workspace 'p'\n"),
    ("fit-fixed-outside", ("fit", "P", "--fixed", "mu=1e9"), r"fixed\['mu'\] = 1000000000.0 is outside the range"),
    ("fit-fixed-nan", ("fit", "P", "--fixed", "mu=nan"), r"fixed\['mu'\] = nan is not a finite number"),
    ("fit-tolerance-0", ("fit", "P", "--tolerance", "0"), r"tolerance must be a positive number .* got 0.0"),
    ("fit-tolerance-nan", ("fit", "P", "--tolerance", "nan"), r"tolerance must be a positive number .* got nan"),
    ("fit-strategy-3", ("fit", "P", "--strategy", "3"), r"argument --strategy: invalid choice: 3"),
    ("fit-fast-pyhf", ("fit", "P", "--fast"), r"fast=True needs an NSBIModel \(an unbinned channel\), got a Pyhf"),
    ("fit-workspace-json", ("fit", "P", "--workspace", "w"), r"--workspace 'w' names a workspace of a ROOT file, "
                                                            r"but .*p.json is a pyhf file"),
    ("fit-workspace-unknown", ("fit", "M", "--workspace", "nope"), r"error: no workspace 'nope' in .*m.root\n"),
    ("fit-fast-fixed-outside", ("fit", "M", "--fast", "--fixed", "mu=-1"), r"fixed\['mu'\] = -1.0 is outside"),
    ("scan-points-0", ("scan", "P", "--points", "0"), r"--points must be at least 2, got 0"),
    ("scan-points-1", ("scan", "P", "--points", "1"), r"--points must be at least 2, got 1"),
    ("scan-range-reversed", ("scan", "P", "--range", "2", "1"), r"scan range of 'mu' must be finite with LO < HI, "
                                                               r"got \[2, 1\]"),
    ("scan-range-nan", ("scan", "P", "--range", "nan", "1"), r"must be finite with LO < HI, got \[nan, 1\]"),
    ("scan-range-outside", ("scan", "P", "--range", "-100", "1"), r"inside its range \[0, 10\]: entry 0 = -100"),
    ("scan-poi2-same", ("scan", "P", "--poi2", "mu"), r"a 2-D scan needs two different parameters, got 'mu' twice"),
    ("scan-poi2-unknown", ("scan", "P", "--poi2", "nope"), r"no parameter 'nope'"),
    ("scan-points2-0", ("scan", "P", "--poi2", "uncorr_bkguncrt[0]", "--points2", "0"), r"--points2 must be at least"),
    ("limit-cl-1.5", ("limit", "P", "--cl", "1.5"), r"cl must be in \(0, 1\), got 1.5"),
    ("limit-cl-nan", ("limit", "P", "--cl", "nan"), r"cl must be in \(0, 1\), got nan"),
    ("limit-bracket-reversed", ("limit", "P", "--bracket", "3", "1"), r"--bracket LO HI = \(3, 1\) must be finite "
                                                                     r"with 0 < lo < hi <= 10"),
    ("limit-bracket-nan", ("limit", "P", "--bracket", "nan", "1"), r"--bracket LO HI = \(nan, 1\) must be finite"),
    ("limit-bracket-zero", ("limit", "P", "--bracket", "0", "1"), r"--bracket LO HI = \(0, 1\) must be"),
    ("significance-mu-nan", ("significance", "P", "--mu-signal", "nan"), r"--mu-signal nan .* must be a number inside "
                                                                        r"the range \[0, 10\] of 'mu'"),
    ("significance-mu-negative", ("significance", "P", "--mu-signal", "-1"), r"--mu-signal -1.0 .* inside the range"),
    ("impacts-np-unknown", ("impacts", "P", "--np", "nope"), r"'nope' is not a floating parameter of the fit \(have "),
    ("combine-twice", ("combine", "P", "P", "-o", "T/c.root"), r"channel labels must be unique, 'singlechannel'"),
    ("combine-rename-syntax", ("combine", "P", "-o", "T/c.json", "--rename", "a"), r"--rename takes NAME=VALUE"),
    ("combine-poi-range", ("combine", "P", "-o", "T/c.json", "--poi-range", "3", "1"), r"poi_range of 'mu' must be "
                                                                                     r"finite numbers lo < hi"),
    ("combine-output-suffix", ("combine", "P", "-o", "T/c.txt"), r"-o/--output .*c.txt: the file name must end in "
                                                                 r".root or .json"),
    ("combine-output-exists", ("combine", "P", "-o", "P"), r"p.json exists; pass --overwrite to replace it"),
    ("export-hs3-root", ("export", "P", "--to", "hs3", "-o", "T/x.root"), r"the file name must end in .json"),
    ("export-no-folder", ("export", "P", "--to", "hs3", "-o", "T/no/x.json"), r"cannot write .*no/x.json: the folder "
                                                                             r".*no does not exist"),
    ("export-channel-unknown", ("export", "M", "--to", "pyhf", "-o", "T/x.json", "--channel", "nope"),
     r"no channels \['nope'\] \(channels: \['nsbi'\]\)"),
    ("inspect-missing", ("inspect", "T/none.root"), r"roonsbi inspect: error: no such model file"),
    ("evaluate-missing", ("evaluate", "T/none.toml"), r"configuration .*none.toml does not exist"),
    ("toys-no-count", ("toys", "P"), r"the following arguments are required: --n-toys"),
    ("unknown-verb", ("fitt", "P"), r"invalid choice: 'fitt'"),
]:
    add(error(f"cli-{label}", cli(*argv), CLIError, rf"status 2: (roonsbi|usage)[\s\S]*{words}"))


def no_traceback(case: Case) -> Case:
    """The case, also failing if the message holds a Python traceback (a bug's, not the user's)."""
    kind, words = case.raises  # type: ignore[misc]
    return Case(case.id, case.run, (kind, rf"^(?![\s\S]*Traceback){words}"))


CASES[:] = [no_traceback(c) for c in CASES]


# -- results against pyhf -----------------------------------------------------------------------------
def pyhf_fit_reference(out: str) -> str | None:
    """``roonsbi fit P --json``: mu-hat and the minimum NLL are pyhf's MLE fit of the same workspace."""
    import pyhf

    payload = json.loads(out)
    ws = pyhf.simplemodels.uncorrelated_background(signal=SIG, bkg=BKG, bkg_uncertainty=UNC)
    data = OBS + ws.config.auxdata
    best = pyhf.infer.mle.fit(data, ws)
    return close(payload["values"]["mu"], float(best[ws.config.poi_index]), rtol=1e-4, atol=1e-5, what="mu-hat")


add(result("cli-fit-pyhf-json", cli("fit", "P", "--json", "--quiet"), pyhf_fit_reference))


def evaluate_cli(*extra: str):
    """``roonsbi evaluate`` on the configuration of cases_evaluate (its network and events)."""

    def run(tmp: Path) -> str:
        from cases_evaluate import config, setup

        setup(tmp)
        (tmp / "evaluate.json").write_text(json.dumps(config()))
        return cli("evaluate", "T/evaluate.json", "--no-progress", *extra)(tmp)

    return run


add(error("cli-evaluate-chunk-size-0", evaluate_cli("--chunk-size", "0"), CLIError,
          r"status 2: roonsbi evaluate: error: --chunk-size / chunk_size= must be a positive number of entries per "
          r"chunk, got 0"))
add(error("cli-evaluate-chunk-size-negative", evaluate_cli("--chunk-size", "-3"), CLIError, r"got -3"))
add(error("cli-evaluate-threads-negative", evaluate_cli("--threads", "-2"), CLIError,
          r"status 2: roonsbi evaluate: error: threads \(--threads\) must be a whole number >= 0 .* got -2"))


def demo_in(files: dict[str, str], *extra: str):
    """``roonsbi demo --out T/out`` where T/out holds ``files`` (name -> text): refused before any work."""

    def run(tmp: Path) -> Any:
        (tmp / "out").mkdir()
        for name, text in files.items():
            (tmp / "out" / name).write_text(text)
        try:
            return cli("demo", "--out", "T/out", "--quick", *extra)(tmp)
        finally:
            left = {p.name: p.read_text() for p in (tmp / "out").iterdir()}
            assert left == files, f"the demo changed the folder: {sorted(left)}"

    return run


add(error("cli-demo-user-summary", demo_in({"summary.json": "the user's own"}), CLIError,
          r"roonsbi demo: error: .*out holds the outputs of an earlier demo \(summary.json\); pass --overwrite"))
add(error("cli-demo-foreign-file", demo_in({"notes.txt": "mine", "pulls.png": "mine"}, "--overwrite"), CLIError,
          r"holds files the demo did not write \(notes.txt\); choose another --out"))


# -- save() killed before its rename; RooFitResults owned by Python ---------------------------------------
def killed_save(tmp: Path) -> Any:
    """A save() killed (a forked worker that dies where the complete temporary file would take the target's
    place) leaves the old file intact, and a re-save (the temporary of the killed one beside it) works."""
    from roonsbi.io.sources import open_model
    from roonsbi.models.unbinned import build_model
    from roonsbi.spec import Process

    target = tmp / "m.root"
    build_model([Process("S", 10.0, np.linspace(0.2, 1.2, 12), "mu"), Process("B", 40.0, np.ones(12))]).save(target)
    before = target.read_bytes()
    model = build_model([Process("S", 20.0, np.linspace(0.2, 1.2, 12), "mu"), Process("B", 40.0, np.ones(12))])
    pid = os.fork()
    if pid == 0:  # the child: dies at the rename
        os.replace = os.rename = os.link = lambda *a, **k: os._exit(9)  # type: ignore[assignment]
        try:
            model.save(target, overwrite=True)
        finally:
            os._exit(3)  # the save did not reach its rename
    _, status = os.waitpid(pid, 0)
    intact = target.read_bytes() == before
    left = sorted(p.name for p in tmp.iterdir())
    model.save(target, overwrite=True)
    return os.waitstatus_to_exitcode(status), intact, len(left), open_model(target).nll({"mu": 1.5}), \
        model.nll({"mu": 1.5})


add(result("save-killed-before-rename", killed_save,
           lambda v: None if v[:3] == (9, True, 2) and close(v[3], v[4]) is None
           else f"(exit code, old file intact, files left, NLL of the re-saved file, of its model) = {v}"))


def fit_results_owned(tmp: Path) -> Any:
    """Every fit's RooFitResult is owned by Python (deleted with its FitResult; it leaked, ~32 ROOT objects per
    fit, before): fit() and a conditional Fitter.fit, RooFit's NLL and the fast one. The object count over
    many fits: tests/infer/test_leaks.py (ROOT's gObjectTable, in a fresh process)."""
    from roonsbi.infer.fit import Fitter, fit
    from roonsbi.models.unbinned import build_model
    from roonsbi.spec import Process

    model = build_model([Process("S", 10.0, np.linspace(0.2, 1.2, 12), "mu"),
                         Process("B", 40.0, np.ones(12), normsys={"lumi": (0.95, 1.05)})])
    results = [fit(model), fit(model, fast=True), Fitter(model).fit({"mu": 2.0}), Fitter(model, fast=True).fit()]
    return [bool(r.roofit_result.__python_owns__) for r in results]


add(result("fit-results-owned", fit_results_owned,
           lambda v: None if v == [True] * 4 else f"Python owns the RooFitResults {v}"))
CASES.insert(0, CASES.pop())  # the forking case first: the worker has no other threads yet
CASES.insert(0, CASES.pop())
