"""Toys and the sharded likelihood on Dask against the in-process loop.

**Toys.** A coverage study (:func:`roonsbi.infer.toys.coverage`: one toy = generate from the
pool, two fits) of a small store-form channel with systematics (the demo's off-shell toy, ~660
events, 3 parameters), run in-process and on a ``LocalCluster`` of 1 and 2 worker processes (one
thread each; the model file given as ``model_file=``; each warmed up by a first small study).
Printed: toys per second, and the overhead per toy of a worker,
(T_1 worker - T_in-process) / n_toys. The toys are checked to be bit-identical.

**Sharded NLL.** The off-shell basis at ``--events`` x 3 processes x ``--nps`` shape systematics
(code 5, the store of ``bench_nsbi.py``), split into ``--shards`` shard files on 2 workers:
the time per value + gradient call of :class:`roonsbi.infer.sharded.ShardedNLL` against the
single-process RooNSBINLL (2 threads), the compute time of one shard alone (in-process, 1 thread),
and the per-call overhead measured on a tiny store (1000 events, same structure): Dask's round trip
to the actors, the serialisation of 3 + ``nps`` parameter values and gradients, the driver's sum.

Usage:  python benchmarks/bench_distributed.py [--toys 40] [--events 1e6] [--nps 100] [--shards 2]
                                               [--skip-toys] [--skip-sharded]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _quiet() -> None:
    import ROOT

    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    import warnings

    warnings.simplefilter("ignore")


def bench_toys(n_toys: int, folder: Path) -> None:
    from distributed import Client, LocalCluster

    from roonsbi.demo.run import demo_toy
    from roonsbi.infer.toys import coverage
    from roonsbi.models.unbinned import build_model, load_model

    toy = demo_toy()
    rng = np.random.default_rng(1)
    model = build_model(toy.processes(toy.generate(1.0, rng), systematics=True), name="obs",
                        pool=toy.processes(toy.sample_ref(20_000, rng), systematics=True))
    path = folder / "toys.root"
    model.save(path)
    model = load_model(path)
    truth = {"mu": 1.0, "alpha_eff": 0.0, "alpha_lumi": 0.0}
    coverage(model, "mu", truth, n_toys=2, seed=99)  # warm up (first fits: ROOT's just-in-time compilation)
    t = time.perf_counter()
    here = coverage(model, "mu", truth, n_toys=n_toys, seed=7)
    t_in = time.perf_counter() - t
    print(f"toys: {model.data.numEntries()} observed events, {n_toys} toys, load {os.getloadavg()[0]:.1f}")
    print(f"  in-process           {t_in:7.2f} s  {n_toys / t_in:6.2f} toys/s")
    times = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            coverage(model, "mu", truth, n_toys=2 * workers, seed=99, executor=client, model_file=path)  # warm up
            t = time.perf_counter()
            there = coverage(model, "mu", truth, n_toys=n_toys, seed=7, executor=client, model_file=path)
            times[workers] = time.perf_counter() - t
        assert np.array_equal(here.t, there.t), "toys differ from the in-process run"
        print(f"  Dask, {workers} worker(s)     {times[workers]:7.2f} s  {n_toys / times[workers]:6.2f} toys/s  "
              f"({t_in / times[workers]:.2f}x in-process)")
    print(f"  overhead per toy (1 worker - in-process) / n: {1e3 * (times[1] - t_in) / n_toys:.1f} ms "
          f"of {1e3 * t_in / n_toys:.1f} ms per toy; toys bit-identical: yes")


def _model_and_store(n: int, n_np: int):
    import ROOT
    from bench_nsbi import structure, toy_columns

    _, yields, ratios, weights, shape_logs = toy_columns(n, n_np)
    store = ROOT.std.make_shared["RooNSBI::EventStore"](n)
    for k, v in ratios.items():
        store.addColumn(k, v)
    store.addColumn("weight", weights)
    for proc, m, ll, lh in shape_logs():
        store.addColumn(f"log:g_{proc}_np{m}_lo", ll)
        store.addColumn(f"log:g_{proc}_np{m}_hi", lh)
    return structure(yields, n_np), store


def _per_call(function, x: np.ndarray, reps: int = 5) -> float:
    """Minimum time of a value + gradient call, alpha_np0 moved between calls (no cached value)."""
    best = float("inf")
    for k in range(reps):
        x = x.copy()
        x[1] += 0.01 * (k + 1)
        t = time.perf_counter()
        function(x)
        best = min(best, time.perf_counter() - t)
    return best


def bench_sharded(n: int, n_np: int, n_shards: int, folder: Path) -> None:
    from distributed import Client, LocalCluster

    from roonsbi.infer.executor import ModelSource
    from roonsbi.infer.sharded import LocalNLL, Shard, ShardedNLL, write_shards

    results = {}
    for label, size in (("tiny", 1000), ("full", n)):
        model, store = _model_and_store(size, n_np)
        sub = folder / label
        sub.mkdir()
        model.save(sub / "model.root")
        shards = write_shards(store, sub, n_shards)
        local = LocalNLL(model, store, threads=2)
        x = np.array([model.parameter(name).getVal() for name in local.names])
        t_local = _per_call(local.value_and_gradient, x)
        shard = Shard(ModelSource(str(sub / "model.root"), "NSBIModel"), str(shards[0]), threads=1)
        t_shard = _per_call(lambda v, s=shard, names=local.names: s.evaluate(names, list(v)), x)
        del local, store
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            nll = ShardedNLL(sub / "model.root", shards, client=client)
            nll.value_and_gradient(x)  # warm up
            t_sharded = _per_call(nll.value_and_gradient, x)
        results[label] = (t_local, t_shard, t_sharded)
        print(f"sharded NLL, {size} events x 3 x {n_np} NPs, {n_shards} shards on 2 workers "
              f"(load {os.getloadavg()[0]:.1f}):")
        print(f"  single-process RooNSBINLL (2 threads)  {1e3 * t_local:9.2f} ms per value + gradient")
        print(f"  one shard alone (in-process, 1 thread) {1e3 * t_shard:9.2f} ms")
        print(f"  ShardedNLL on the cluster              {1e3 * t_sharded:9.2f} ms "
              f"({t_sharded / t_local:.2f}x single-process)")
    overhead = results["tiny"][2] - results["tiny"][1]
    print(f"per-call overhead (tiny store: sharded call - one shard's compute): {1e3 * overhead:.2f} ms; "
          f"at full size: {1e3 * (results['full'][2] - results['full'][1]):.2f} ms over the "
          f"{1e3 * results['full'][1]:.1f} ms of a shard's compute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--toys", type=int, default=40)
    parser.add_argument("--events", type=float, default=1e6)
    parser.add_argument("--nps", type=int, default=100)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--skip-toys", action="store_true")
    parser.add_argument("--skip-sharded", action="store_true")
    args = parser.parse_args()
    _quiet()
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as folder:
        if not args.skip_toys:
            bench_toys(args.toys, Path(folder))
        if not args.skip_sharded:
            bench_sharded(int(args.events), args.nps, args.shards, Path(folder))


if __name__ == "__main__":
    main()
