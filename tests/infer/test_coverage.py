"""benchmarks/coverage_map.py at a small number of toys: the asymptotic 68%/95% intervals of unbinned
NSBI with systematics cover the true mu = 1 at a rate compatible with 68%/95% (wide tolerance: about
3 binomial standard deviations of 30 toys), and the results table holds the binomial errors.
The map itself (more toys, four true mu, the combination) is in benchmarks/RESULTS.md."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "coverage_map.py"


def _script():
    spec = importlib.util.spec_from_file_location("coverage_map", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_coverage_of_nsbi_with_systematics_at_mu_1() -> None:
    cov = _script()
    (result,) = cov.coverage_map(["nsbi"], [1.0], 30, chunk=30, pool_size=3000, seed=3)
    assert result.n + result.failed == 30 and result.failed <= 1
    p68, e68 = result.fraction(0.6827)
    p95, _ = result.fraction(0.95)
    assert e68 == math.sqrt(p68 * (1 - p68) / result.n)
    assert 0.68 - 3 * 0.085 < p68 < 0.68 + 3 * 0.085, p68
    assert p95 > 0.95 - 3 * 0.04, p95
    assert "| nsbi | 1 | " in cov.table([result])
