r"""Coverage map of the asymptotic profile-likelihood intervals: the fraction of toys whose 68% and
95% intervals {mu : t(mu) < chi2 quantile} contain the true mu, at several true mu, with binomial
errors sqrt(p (1 - p) / n).

Models (the off-shell toy, exact ratios):

* ``nsbi``: unbinned NSBI with systematics (eff: normsys + per-event shape; lumi: normsys), a
  store-form channel whose reference pool (``--pool`` events x_k ~ p_ref) the toys resample
  (:class:`roonsbi.infer.ToyGenerator`: N ~ Poisson(nu), rows with probability ~ F_k);
* ``combined``: the same channel combined with a binned control region sharing ``lumi``
  (pyhf JSON read by :func:`roonsbi.from_pyhf`); toys from RooFit's own generator of the
  combined RooSimultaneous (the NSBI channel resamples its pool, the binned channel draws
  Poisson counts).

The nuisance parameters are true at 0; each toy draws its global observables nom_alpha_X ~
N(0, 1). A toy covers mu at CL when t(mu) = 2 [NLL(mu, profiled) - NLL(free)] < F^-1_chi2(CL)
(1.00 at 68.27%, 3.84 at 95%): that is the interval of a scan with t crossing the threshold once on
each side (the POI is bounded below at 0, as in the analysis).

Toys run in chunks of ``--chunk``, in this process, in ``--processes N`` worker processes
(concurrent.futures), or on any ``executor`` with ``submit()`` (``coverage_map(..., executor=...)``,
e.g. a distributed client's executor); each chunk builds its own model (ROOT objects do not cross
processes) and has its own seed.

Usage:  python benchmarks/coverage_map.py [--toys 200] [--mus 0.05,0.25,1,2] [--models nsbi,combined]
                                          [--processes 2] [--pool 20000]
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

CONTROL = {  # a binned control region sharing "lumi" with the NSBI channel
    "channels": [{"name": "cr", "samples": [
        {"name": "bkg", "data": [500.0, 300.0], "modifiers": [
            {"name": "lumi", "type": "normsys", "data": {"hi": 1.02, "lo": 0.98}},
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}]},
        {"name": "sig", "data": [5.0, 8.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
    "observations": [{"name": "cr", "data": [505, 308]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}
LEVELS = (0.6827, 0.95)


@dataclass
class Coverage:
    """Coverage of one model at one true mu: covered toys per CL out of ``n`` (failed fits excluded)."""

    model: str
    mu: float
    n: int
    covered: dict[float, int]
    failed: int = 0

    def fraction(self, cl: float) -> tuple[float, float]:
        """(coverage, binomial error)."""
        p = self.covered[cl] / self.n if self.n else math.nan
        return p, math.sqrt(p * (1 - p) / self.n) if self.n else math.nan


def _model(kind: str, pool_size: int, seed: int) -> Any:
    import roonsbi
    from roonsbi.inputs.toy import OffShellToy

    toy = OffShellToy()
    pool = toy.processes(toy.sample_ref(pool_size, np.random.default_rng(seed)))
    nsbi = roonsbi.build_model(pool, pool_weights=np.ones(pool_size), name="cov")
    if kind == "nsbi":
        return nsbi
    if kind == "combined":
        return roonsbi.combine([nsbi, roonsbi.from_pyhf(CONTROL)], name="covcomb")
    raise ValueError(f"unknown model '{kind}' (nsbi, combined)")


def _toy(kind: str, model: Any, generator: Any, truth: dict[str, float], rng: np.random.Generator) -> tuple[Any,
                                                                                                         dict]:
    """(dataset, global observables) of one toy at ``truth``."""
    import ROOT

    if kind == "nsbi":
        toy = generator.generate(truth, rng)
        return toy.data, toy.global_observables
    model.set_parameters(truth)
    ROOT.RooRandom.randomGenerator().SetSeed(int(rng.integers(1, 2**31 - 1)))
    mc = model.model_config
    data = mc.GetPdf().generate(mc.GetObservables(), ROOT.RooFit.Extended(True))
    globs = {}
    for g in model.global_observables:
        name = g.GetName()
        if name.startswith("nom_alpha_"):
            globs[name] = float(rng.normal(truth.get(name[len("nom_"):], 0.0), 1.0))
    return data, globs


def run_chunk(kind: str, mu: float, n_toys: int, seed: int, pool_size: int) -> tuple[list[float], int]:
    """t(mu) of ``n_toys`` toys at the true ``mu`` (nuisance parameters at 0), and the failed fits."""
    import roonsbi.library

    ROOT = roonsbi.library.load()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
    import warnings

    from roonsbi.infer import FitStatusWarning, ToyGenerator, t_statistic
    from roonsbi.infer.toys import set_global_observables

    warnings.simplefilter("ignore", FitStatusWarning)
    model = _model(kind, pool_size, 1000 + seed)
    generator = ToyGenerator(model) if kind == "nsbi" else None
    truth = {"mu": mu, **{a.GetName(): 0.0 for a in model.nuisance_parameters}}
    observed_globs = {g.GetName(): g.getVal() for g in model.global_observables}
    rng = np.random.default_rng(seed)
    ts, failed = [], 0
    for _ in range(n_toys):
        data, globs = _toy(kind, model, generator, truth, rng)
        set_global_observables(model, globs)
        try:
            t, _ = t_statistic(model, "mu", mu, data=data, start=truth)
            ts.append(t)
        except (RuntimeError, ValueError):
            failed += 1
        set_global_observables(model, observed_globs)
    return ts, failed


def coverage_map(kinds: Sequence[str], mus: Sequence[float], n_toys: int, *, chunk: int = 25, pool_size: int = 20000,
                 executor: Executor | None = None, seed: int = 1) -> list[Coverage]:
    """The coverage of every model at every true mu (see the module doc); chunks of toys run on
    ``executor`` (anything with ``submit(fn, *args)`` returning futures), or here if None."""
    jobs = []
    for kind in kinds:
        for i, mu in enumerate(mus):
            for c, start in enumerate(range(0, n_toys, chunk)):
                args = (kind, float(mu), min(chunk, n_toys - start), seed * 100_000 + 1000 * i + c, pool_size)
                jobs.append((kind, float(mu), executor.submit(run_chunk, *args) if executor else run_chunk(*args)))
    from roonsbi.infer import chi2_threshold

    out = {}
    for kind, mu, job in jobs:
        ts, failed = job.result() if executor else job
        cov = out.setdefault((kind, mu), Coverage(kind, mu, 0, dict.fromkeys(LEVELS, 0)))
        cov.n += len(ts)
        cov.failed += failed
        for cl in LEVELS:
            cov.covered[cl] += int(np.sum(np.asarray(ts) < chi2_threshold(cl)))
    return list(out.values())


def table(results: Sequence[Coverage]) -> str:
    lines = ["| model | true mu | toys | 68.27% coverage | 95% coverage | failed fits |", "|---|---|---|---|---|---|"]
    for r in results:
        (p68, e68), (p95, e95) = r.fraction(LEVELS[0]), r.fraction(LEVELS[1])
        lines.append(f"| {r.model} | {r.mu:g} | {r.n} | {p68:.3f} +- {e68:.3f} | {p95:.3f} +- {e95:.3f} | {r.failed} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toys", type=int, default=200)
    parser.add_argument("--mus", default="0.05,0.25,1,2")
    parser.add_argument("--models", default="nsbi,combined")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (1: run here)")
    parser.add_argument("--chunk", type=int, default=25, help="toys per job")
    parser.add_argument("--pool", type=int, default=20000, help="reference-pool events of the NSBI channel")
    args = parser.parse_args()
    t0 = time.perf_counter()
    mus = [float(m) for m in args.mus.split(",")]
    kinds = args.models.split(",")
    if args.processes > 1:
        with ProcessPoolExecutor(args.processes) as pool:
            results = coverage_map(kinds, mus, args.toys, chunk=args.chunk, pool_size=args.pool, executor=pool)
    else:
        results = coverage_map(kinds, mus, args.toys, chunk=args.chunk, pool_size=args.pool)
    print(f"{args.toys} toys per point, pool of {args.pool} events, {time.perf_counter() - t0:.0f} s")
    print(table(results))


if __name__ == "__main__":
    main()
