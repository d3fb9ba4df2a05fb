"""The fuzz harness: cases of one kind run one after the other in one worker process, each outcome
reported as a JSON line; a case that kills the worker (a crash) is recorded and the worker restarts
with the cases after it.

A :class:`Case` expects either an error (its type and a regular expression of the words it must
contain: the argument, object or file named, the first bad entry) or a result, which its ``check``
compares with an independent reference (returning what differs, or None). The outcome classes:

* ``clear-error``: the expected error type with the expected words;
* ``ok``: a result the reference confirms;
* ``unclear-error``: another error type or message (the message is kept);
* ``wrong``: a result the reference contradicts, or no error where one was expected;
* ``crash``: the worker died (signal or exit code) during the case;
* ``timeout``: the case ran longer than :data:`CASE_TIMEOUT` seconds (the worker is killed).

Run one kind by hand: ``PYTHONPATH=python python tests/fuzz/harness.py cases_builders``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
#: seconds a case may run before the worker is killed and the case counted as a time-out
CASE_TIMEOUT = 60
GOOD = ("clear-error", "ok")


@dataclass
class Case:
    """One fuzz case: ``run(tmp)`` (``tmp``: a fresh folder) raises ``raises = (type, regex)`` or returns a
    value that ``check`` accepts (``check(value)`` returns None, or what is wrong)."""

    id: str
    run: Callable[[Path], Any]
    raises: tuple[type[BaseException] | tuple[type[BaseException], ...], str] | None = None
    check: Callable[[Any], str | None] | None = None


def error(id: str, run: Callable[[Path], Any], kind: Any, words: str) -> Case:
    """A case that must raise ``kind`` with a message matching the regular expression ``words``."""
    return Case(id, run, (kind, words))


def result(id: str, run: Callable[[Path], Any], check: Callable[[Any], str | None] | None = None) -> Case:
    """A case that must return a value ``check`` accepts (no check: any value, no error)."""
    return Case(id, run, None, check or (lambda value: None))


def close(value: float, reference: float, rtol: float = 1e-9, atol: float = 1e-9, what: str = "value") -> str | None:
    """None if ``value`` equals ``reference`` to ``rtol``/``atol`` (NaN equals NaN), else what differs."""
    import math

    if math.isnan(reference) and math.isnan(value):
        return None
    if abs(value - reference) <= atol + rtol * abs(reference):
        return None
    return f"{what} {value!r} != reference {reference!r}"


# -- worker ---------------------------------------------------------------------------------------

_CRASH_TYPES = ("SegmentationViolation", "BusError", "IllegalInstruction", "AbortSignal")


def _outcome(case: Case, tmp: Path) -> dict[str, Any]:
    try:
        value = case.run(tmp)
    except BaseException as err:
        name = type(err).__name__
        text = _message(err)
        if name in _CRASH_TYPES:
            return {"kind": "crash", "detail": f"{name}: {text}"}
        if case.raises is None:
            return {"kind": "unclear-error", "detail": f"unexpected {name}: {text}\n{traceback.format_exc()[-1500:]}"}
        kind, words = case.raises
        if isinstance(err, kind) and re.search(words, text, re.S):
            return {"kind": "clear-error", "detail": f"{name}: {text}"}
        return {"kind": "unclear-error", "detail": f"{name}: {text} (expected {kind} matching {words!r})"}
    if case.raises is not None:
        return {
            "kind": "wrong",
            "detail": f"no error (expected {case.raises[0]} matching {case.raises[1]!r}); got {value!r}"[:2000],
        }
    assert case.check is not None
    try:
        wrong = case.check(value)
    except BaseException as err:
        wrong = f"the check raised {type(err).__name__}: {_message(err)}"
    return {"kind": "wrong", "detail": wrong} if wrong else {"kind": "ok", "detail": ""}


def _message(err: BaseException) -> str:
    what = getattr(err, "what", None)
    try:
        text = what() if callable(what) else str(err)
    except Exception:
        text = str(err)
    return text.decode() if isinstance(text, bytes) else str(text)


def _quiet_root() -> None:
    """Batch mode, RooFit quiet, and ROOT's crash handlers off: a segfault kills the worker (the parent
    sees the signal) instead of a stack-trace dump, or cppyy turning it into a Python exception."""
    import roonsbi.library

    ROOT = roonsbi.library.load()
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.FATAL)
    for sig in ("kSigBus", "kSigSegmentationViolation", "kSigIllegalInstruction", "kSigFloatingException"):
        ROOT.gSystem.ResetSignal(getattr(ROOT, sig), True)


def worker(module: str, results: str, ids: Sequence[str]) -> None:
    """Run the cases ``ids`` of ``module`` in order, appending ``{"id", "start"}`` then ``{"id", "kind",
    "detail"}`` lines to the file ``results``."""
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    _quiet_root()
    cases = {c.id: c for c in importlib.import_module(module).CASES}
    with open(results, "a", buffering=1) as out:
        for case_id in ids:
            out.write(json.dumps({"id": case_id, "start": True}) + "\n")
            out.flush()
            os.fsync(out.fileno())
            with tempfile.TemporaryDirectory(prefix=f"fuzz-{case_id[:40]}-") as tmp:
                line = {"id": case_id, **_outcome(cases[case_id], Path(tmp))}
            out.write(json.dumps(line) + "\n")
            out.flush()


# -- parent ---------------------------------------------------------------------------------------


def case_ids(module: str) -> list[str]:
    """The ids of the cases of ``module`` (unique)."""
    ids = [c.id for c in importlib.import_module(module).CASES]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"{module}: duplicated case ids {dup}")
    return ids


def run_batch(module: str, ids: Sequence[str], python: str = sys.executable) -> dict[str, dict[str, Any]]:
    """Run the cases ``ids`` of ``module`` in worker processes: one, restarted after each crash or time-out
    with the cases not yet run. Returns id -> {"kind", "detail"}."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(_package_root()), os.environ.get("PYTHONPATH", "")) if p),
    }
    outcomes: dict[str, dict[str, Any]] = {}
    remaining = list(ids)
    with tempfile.TemporaryDirectory(prefix="fuzz-results-") as folder:
        for attempt in range(len(ids) + 1):
            if not remaining:
                break
            results = Path(folder) / f"{module}.{attempt}.jsonl"
            stderr = Path(folder) / f"{module}.{attempt}.stderr"
            with open(stderr, "w") as err:
                proc = subprocess.Popen(
                    [python, str(Path(__file__)), "--worker", module, str(results), *remaining],
                    env=env,
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                )
                timed_out = _watch(proc, results)
            started = None
            if results.exists():
                for line in results.read_text().splitlines():
                    record = json.loads(line)
                    if record.get("start"):
                        started = record["id"]
                    else:
                        outcomes[record["id"]] = {"kind": record["kind"], "detail": record["detail"]}
                        started = None
            tail = stderr.read_text()[-1500:]
            if started is not None:  # the worker died (or was killed) in this case
                how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
                kind = "timeout" if timed_out else "crash"
                outcomes[started] = {"kind": kind, "detail": f"worker ended with {how}: {tail}"}
            elif proc.returncode != 0 and not outcomes:
                raise RuntimeError(f"the fuzz worker of {module} failed before any case: {tail}")
            elif proc.returncode != 0:
                raise RuntimeError(f"the fuzz worker of {module} failed between cases: {tail}")
            remaining = [i for i in remaining if i not in outcomes]
    return outcomes


def _watch(proc: subprocess.Popen, results: Path) -> bool:
    """Wait for the worker; kill its process group if a case runs longer than CASE_TIMEOUT (True then)."""
    import time

    lines, since = -1, time.monotonic()
    while proc.poll() is None:
        time.sleep(0.2)
        count = len(results.read_text().splitlines()) if results.exists() else 0
        if count != lines:
            lines, since = count, time.monotonic()
        elif time.monotonic() - since > CASE_TIMEOUT:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
    return False


def _package_root() -> Path:
    import roonsbi

    return Path(roonsbi.__file__).resolve().parents[1]


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--worker"]:
        worker(argv[1], argv[2], argv[3:])
        return 0
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    bad = 0
    for module in argv:
        ids = case_ids(module)
        outcomes = run_batch(module, ids)
        for case_id in ids:
            out = outcomes.get(case_id, {"kind": "missing", "detail": "no outcome reported"})
            if out["kind"] not in GOOD or "-v" in os.environ.get("FUZZ_VERBOSE", ""):
                bad += out["kind"] not in GOOD
                print(f"{module}::{case_id}: {out['kind']}: {out['detail'][:600]}")
        print(f"{module}: {len(ids)} cases")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
