"""The fuzz suite (tests/fuzz/harness.py): every case of every kind, run in worker subprocesses (one per kind,
two at a time, restarted after a crash), must end in a clear error with the expected words or in a result
that an independent reference confirms: no crash, no time-out, no silently wrong result, no unclear error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import harness  # tests/fuzz is on sys.path (conftest)
import pytest

KINDS = ("cases_builders", "cases_fast", "cases_files", "cases_evaluate", "cases_io", "cases_cli")
IDS = [(kind, case_id) for kind in KINDS for case_id in harness.case_ids(kind)]


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[str, dict[str, Any]]]:
    """Every kind's outcomes, two workers at a time (the CI machine has two cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {kind: pool.submit(harness.run_batch, kind, harness.case_ids(kind)) for kind in KINDS}
        return {kind: run.result() for kind, run in runs.items()}


def test_enough_cases() -> None:
    assert len(IDS) >= 200


@pytest.mark.parametrize("kind, case_id", IDS, ids=[f"{k[6:]}::{c}" for k, c in IDS])
def test_case(outcomes: dict[str, dict[str, dict[str, Any]]], kind: str, case_id: str) -> None:
    out = outcomes[kind].get(case_id, {"kind": "missing", "detail": "no outcome reported"})
    assert out["kind"] in harness.GOOD, f"{out['kind']}: {out['detail']}"
