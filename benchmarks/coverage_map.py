r"""Coverage map of the asymptotic and the Neyman (toy-belt) profile-likelihood intervals: the
fraction of toys whose 68.27% and 95% intervals contain the true mu, at several true mu, for
unbinned NSBI with systematics and for its combination with a binned channel.

A thin script over :mod:`roonsbi.infer` (every loop is the library's, on any ``executor``):

* asymptotic interval :math:`\{\mu: t(\mu) < F^{-1}_{\chi^2_1}(\mathrm{CL})\}` (1.00 at 68.27%,
  3.84 at 95%): :func:`roonsbi.infer.coverage` draws ``--toys`` toys at the truth (nuisance
  parameters 0, global observables drawn per toy) and computes :math:`t(\mu_\mathrm{true})`;
  the interval covers where :math:`t < F^{-1}`;
* Neyman interval :math:`\{\mu: t(\mu) < c(\mu)\}`: :func:`roonsbi.infer.neyman_construction` at
  :math:`\mu_\mathrm{true}` on the Asimov dataset of the truth (:func:`roonsbi.infer.asimov_dataset`;
  its conditional fit is the truth, so the belt's ``--belt`` toys are generated there, with
  seeds independent of the coverage toys) gives :math:`c(\mu_\mathrm{true})`, the CL quantile of
  its toys' t; a coverage toy's Neyman interval covers where :math:`t < c`
  (:meth:`roonsbi.infer.CoverageResult.at`).

Errors: binomial at the nominal CL, :math:`\sqrt{\mathrm{CL}(1-\mathrm{CL})/n}` for the
asymptotic intervals and :math:`\sqrt{\mathrm{CL}(1-\mathrm{CL})\,(1/n + 1/n_\mathrm{belt})}` for
the Neyman ones (the belt's quantile is itself estimated from :math:`n_\mathrm{belt}` toys: its
probability content has the binomial variance :math:`\mathrm{CL}(1-\mathrm{CL})/n_\mathrm{belt}`).

Models (the off-shell toy, exact ratios, eff: normsys + per-event shape, lumi: normsys):

* ``nsbi``: a store-form channel with a reference pool of ``--pool`` events
  :math:`x_k \sim p_\mathrm{ref}`, which the toys resample (:class:`roonsbi.infer.ToyGenerator`).
  Its ratios are normalised on the pool, :math:`\sum_k m_k r_J(x_k) = 1`, and its shapes
  renormalised on it (``renormalise_shapes=True``), so that the pool's expected events
  :math:`\sum_k m_k F_k(\theta)` equal the :math:`\nu(\theta)` of the likelihood at every
  :math:`\theta`: the toys (which follow the pool) are then toys of the likelihood, and the
  Asimov dataset's conditional fit is the truth. (Without it the pool's 1-2% mismatch, for
  5000 events, biases :math:`\hat\mu` and the map measures the pool: see benchmarks/RESULTS.md.)
* ``combined``: the same channel combined with a binned control region sharing ``lumi`` (pyhf JSON
  read by :func:`roonsbi.from_pyhf`); toys from RooFit's generator of the combination
  (:class:`roonsbi.infer.toys.PdfToyGenerator`: the NSBI channel resamples its pool, the binned
  channel draws Poisson counts, global observables from the constraint terms).

Where the toys run: here (default), ``--processes N`` worker processes (``concurrent.futures``),
``--workers N`` (a local Dask cluster) or ``--scheduler ADDRESS`` (a running Dask cluster, e.g. of
``dask-jobqueue``; the model files are then written to ``--folder``, which the workers must see).
The toys are the same wherever they run (one ``SeedSequence`` per toy).

Usage:  python benchmarks/coverage_map.py [--toys 150] [--belt 100] [--mus 0.05,0.25,1,2]
            [--models nsbi,combined] [--pool 5000] [--processes 2 | --workers 2 | --scheduler ADDRESS]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
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
POI = "mu"


@dataclass
class Point:
    """The coverage of one model at one true mu: per CL the asymptotic and the Neyman intervals'
    (:class:`roonsbi.infer.CoverageResult` of the same toys), and the belt's number of toys."""

    model: str
    mu: float
    asymptotic: dict[float, Any]
    neyman: dict[float, Any]
    n_belt: int

    def row(self, cl: float) -> tuple[float, float, float, float]:
        """(asymptotic coverage, error, Neyman coverage, error) at ``cl`` (errors: see the module doc)."""
        a, n = self.asymptotic[cl], self.neyman[cl]
        return a.coverage, a.error, n.coverage, math.sqrt(cl * (1 - cl) * (1 / n.t.size + 1 / self.n_belt))


def build(kind: str, pool_size: int, seed: int = 1, *, normalised: bool = True) -> Any:
    """The model ``kind`` (``nsbi`` or ``combined``, see the module doc) with a pool of ``pool_size``
    events (``normalised``: its ratios normalised and its shapes renormalised on the pool)."""
    import roonsbi
    from roonsbi.inputs.toy import OffShellToy

    toy = OffShellToy()
    pool = toy.processes(toy.sample_ref(pool_size, np.random.default_rng(seed)))
    if normalised:
        pool = [replace(p, ratio=np.asarray(p.ratio) / np.mean(p.ratio)) for p in pool]
    nsbi = roonsbi.build_model(pool, pool_weights=np.ones(pool_size), renormalise_shapes=normalised, name="cov")
    if kind == "nsbi":
        return nsbi
    if kind == "combined":
        return roonsbi.combine([nsbi, roonsbi.from_pyhf(CONTROL)], name="covcomb")
    raise ValueError(f"unknown model '{kind}' (nsbi, combined)")


def coverage_point(model: Any, kind: str, mu: float, n_toys: int, n_belt: int, seed: int, *, executor: Any = None,
                   model_file: str | None = None) -> Point:
    """Asymptotic and Neyman coverage of ``model`` at the true ``mu`` (nuisance parameters 0):
    ``n_toys`` coverage toys (seed ``seed``) and a belt of ``n_belt`` toys (seed ``seed + 1``)."""
    from roonsbi.infer import asimov_dataset, coverage, neyman_construction
    from roonsbi.infer.toys import set_global_observables

    truth = {POI: mu, **{a.GetName(): 0.0 for a in model.nuisance_parameters}}
    study = coverage(model, POI, truth, n_toys=n_toys, seed=seed, executor=executor, model_file=model_file)
    asimov = asimov_dataset(model, truth)
    observed = set_global_observables(model, asimov.global_observables)
    try:
        belt = neyman_construction(model, None, POI, [mu], n_toys=n_belt, seed=seed + 1, data=asimov.data,
                                   executor=executor, model_file=model_file)
    finally:
        set_global_observables(model, observed)
    critical = {cl: float(np.quantile(belt.toys[0], cl)) for cl in LEVELS}  # as neyman_construction's critical
    return Point(kind, mu, {cl: study.at(cl) for cl in LEVELS}, {cl: study.at(cl, critical[cl]) for cl in LEVELS},
                 n_belt)


def coverage_map(kinds: Sequence[str], mus: Sequence[float], n_toys: int, n_belt: int, *, pool_size: int = 5000,
                 seed: int = 1, executor: Any = None, folder: str | None = None,
                 normalised: bool = True) -> list[Point]:
    """:func:`coverage_point` of every model at every true mu; with an ``executor`` each model is
    saved once to ``folder`` (default: a temporary one) for the workers."""
    out = []
    with ExitStack() as stack:
        if executor is not None and folder is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="coverage-map-"))
        for m, kind in enumerate(kinds):
            model = build(kind, pool_size, normalised=normalised)
            model_file = None
            if executor is not None:
                assert folder is not None
                model_file = str(Path(folder) / f"{kind}.root")
                model.save(model_file, overwrite=True)
            for i, mu in enumerate(mus):
                out.append(coverage_point(model, kind, float(mu), n_toys, n_belt, 1000 * seed + 100 * m + 2 * i,
                                          executor=executor, model_file=model_file))
    return out


def table(points: Sequence[Point]) -> str:
    lines = ["| model | true mu | toys | belt toys | asymptotic 68.27% | Neyman 68.27% | asymptotic 95% | Neyman 95% |",
             "|---|---|---|---|---|---|---|---|"]
    for p in points:
        cells = [p.model, f"{p.mu:g}", str(p.asymptotic[LEVELS[0]].t.size), str(p.n_belt)]
        for cl in LEVELS:
            a, ea, n, en = p.row(cl)
            cells += [f"{a:.3f} +- {ea:.3f}", f"{n:.3f} +- {en:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def averages(points: Sequence[Point]) -> str:
    """The coverage averaged over all points, per interval and CL, with its binomial error (the
    Neyman one with the belts' term, see the module doc)."""
    out = []
    n = sum(p.asymptotic[LEVELS[0]].t.size for p in points)
    n_belt = sum(p.n_belt for p in points)
    for cl in LEVELS:
        for name, inverse in (("asymptotic", 1 / n), ("neyman", 1 / n + 1 / n_belt)):
            covered = sum(getattr(p, name)[cl].coverage * p.asymptotic[cl].t.size for p in points)
            out.append(f"{name} {cl:.2%}: {covered / n:.3f} +- {math.sqrt(cl * (1 - cl) * inverse):.3f}")
    return "; ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toys", type=int, default=150, help="coverage toys per point")
    parser.add_argument("--belt", type=int, default=100, help="Neyman-belt toys per point")
    parser.add_argument("--mus", default="0.05,0.25,1,2")
    parser.add_argument("--models", default="nsbi,combined")
    parser.add_argument("--pool", type=int, default=5000, help="reference-pool events of the NSBI channel")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--unnormalised", action="store_true", help="keep the pool's ratios and shapes as they "
                        "come (the pool's expected events then differ from nu by its MC noise)")
    parser.add_argument("--folder", default=None, help="where the workers read the model files (default: a "
                        "temporary folder; a cluster of other machines needs a shared one)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--processes", type=int, default=None, help="worker processes (concurrent.futures)")
    where.add_argument("--workers", type=int, default=None, help="a local Dask cluster of N workers")
    where.add_argument("--scheduler", default=None, help="a running Dask cluster's scheduler address")
    args = parser.parse_args()

    import roonsbi.library

    ROOT = roonsbi.library.load()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR)
    t0 = time.perf_counter()
    mus = [float(m) for m in args.mus.split(",")]
    kinds = args.models.split(",")
    with ExitStack() as stack:
        executor = None
        if args.processes:
            executor = stack.enter_context(ProcessPoolExecutor(args.processes,
                                                               mp_context=multiprocessing.get_context("spawn")))
        elif args.workers or args.scheduler:
            from roonsbi.infer.executor import local_client

            executor = stack.enter_context(local_client(args.workers, args.scheduler))
        points = coverage_map(kinds, mus, args.toys, args.belt, pool_size=args.pool, seed=args.seed,
                              executor=executor, folder=args.folder, normalised=not args.unnormalised)
    print(f"{args.toys} coverage toys and {args.belt} belt toys per point, pool of {args.pool} events, "
          f"{time.perf_counter() - t0:.0f} s")
    print(table(points))
    print("averages:", averages(points))


if __name__ == "__main__":
    main()
