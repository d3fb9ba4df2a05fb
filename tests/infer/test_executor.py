"""Toys, Neyman belts, toy CLs and the sharded likelihood on a Dask LocalCluster (2 worker
processes, one thread each) against the in-process runs: bit-identical toys, resumable results,
the sharded NLL against the single-process RooNSBINLL, and toy CLs against the asymptotic CLs."""

from __future__ import annotations

import signal
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from roonsbi import NormSys, Process
from roonsbi.infer.limits import cls_scan, toy_cls
from roonsbi.infer.records import ToyLog, merge_records
from roonsbi.infer.sharded import LocalNLL, ShardedNLL, write_shards
from roonsbi.infer.toys import coverage, neyman_construction
from roonsbi.inputs.toy import OffShellToy
from roonsbi.models.fast import store_from_model
from roonsbi.models.unbinned import build_model, load_model
from support import run_killable

distributed = pytest.importorskip("distributed")

GRID = [0.6, 1.4]
N_TOYS = 6
SEED = 20261201


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small store-form channel with systematics and a reference pool, saved."""
    rng = np.random.default_rng(11)
    toy = OffShellToy(nu_s=30.0, nu_b=300.0)
    model = build_model(toy.processes(toy.generate(1.0, rng), systematics=True), name="obs",
                        pool=toy.processes(toy.sample_ref(4000, rng), systematics=True))
    path = tmp_path_factory.mktemp("model") / "obs.root"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def reference_belt(saved_model: Path):
    """The in-process construction (the model in memory, no executor)."""
    return neyman_construction(load_model(saved_model), None, "mu", GRID, n_toys=N_TOYS, seed=SEED)


def _same_toys(a, b) -> None:
    assert len(a.toys) == len(b.toys)
    for x, y in zip(a.toys, b.toys):
        np.testing.assert_array_equal(x, y)  # bit-identical
    np.testing.assert_array_equal(a.critical, b.critical)
    np.testing.assert_array_equal(a.t_observed, b.t_observed)


def test_neyman_on_a_cluster_is_bit_identical(saved_model: Path, reference_belt, client, tmp_path: Path) -> None:
    """The same construction on 2 Dask workers (the model saved to a temporary file) gives the same
    toys, bit for bit; the toys are real fits (t >= 0, not all equal) and the chunk files hold one
    record per toy with its seed."""
    model = load_model(saved_model)
    on_cluster = neyman_construction(model, None, "mu", GRID, n_toys=N_TOYS, seed=SEED, executor=client,
                                     results=tmp_path / "toys", chunk_size=4)
    _same_toys(reference_belt, on_cluster)
    assert all(np.all(ts >= 0) and np.unique(ts).size == N_TOYS for ts in on_cluster.toys)
    records = merge_records([tmp_path / "toys"])
    assert sorted(r["seed"]["spawn_key"] for r in records.values()) == [[j, k] for j in range(2) for k in range(N_TOYS)]


def test_coverage_on_a_cluster_is_bit_identical(saved_model: Path, client) -> None:
    """A coverage study: the same t(mu_true) per toy in-process, on the cluster and on a
    concurrent.futures process pool (the saved model file); split into two jobs (first_toy) its
    toys are those of the whole study."""
    model = load_model(saved_model)
    truth = {"mu": 1.0, "alpha_eff": 0.0, "alpha_lumi": 0.0}
    here = coverage(model, "mu", truth, n_toys=8, seed=5)
    there = coverage(model, "mu", truth, n_toys=8, seed=5, executor=client)
    np.testing.assert_array_equal(here.t, there.t)
    with ProcessPoolExecutor(1) as pool:
        pooled = coverage(model, "mu", truth, n_toys=8, seed=5, executor=pool, model_file=saved_model)
    np.testing.assert_array_equal(here.t, pooled.t)
    halves = [coverage(model, "mu", truth, n_toys=4, seed=5, first_toy=f, executor=client).t for f in (0, 4)]
    np.testing.assert_array_equal(np.concatenate(halves), here.t)
    assert 0.0 <= here.coverage <= 1.0 and np.all(here.t >= 0)


_KILLED = """
import os, signal
import ROOT
from roonsbi.infer import records
from roonsbi.infer.toys import neyman_construction
from roonsbi.models.unbinned import load_model

flush = records.ToyLog.flush
def killing_flush(self):
    flush(self)
    if self._chunks == 2:  # SIGKILL after the second chunk file: no clean-up, no last chunk
        os.kill(os.getpid(), signal.SIGKILL)
records.ToyLog.flush = killing_flush
neyman_construction(load_model({model!r}), None, "mu", {grid!r}, n_toys={n}, seed={seed}, results={out!r},
                    chunk_size=3)
"""


def test_killed_construction_resumes_to_the_same_belt(saved_model: Path, reference_belt, tmp_path: Path) -> None:
    """A construction killed (SIGKILL) after two chunks of 3 toys resumes from its results folder:
    it keeps the 6 toys written, runs the others, and gives the belt of the uninterrupted run."""
    out = tmp_path / "toys"
    script = textwrap.dedent(_KILLED.format(model=str(saved_model), grid=GRID, n=N_TOYS, seed=SEED, out=str(out)))
    proc = run_killable([sys.executable, "-c", script], timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert len(merge_records([out])) == 6
    resumed = neyman_construction(load_model(saved_model), None, "mu", GRID, n_toys=N_TOYS, seed=SEED, results=out)
    _same_toys(reference_belt, resumed)
    assert len(merge_records([out])) == 2 * N_TOYS
    with pytest.raises(ValueError, match="another study"):  # the folder refuses toys of another study
        neyman_construction(load_model(saved_model), None, "mu", [0.7, 1.4], n_toys=N_TOYS, seed=SEED, results=out)


def test_records_merge_and_conflicts(tmp_path: Path) -> None:
    """Two jobs' folders merge; the same toy with another result is an error naming both files."""
    base = {"kind": "t", "poi": "mu", "mu": 1.0, "parameters": {"mu": 1.0}}
    for folder, ks in (("a", (0, 1)), ("b", (1, 2))):
        with ToyLog(tmp_path / folder) as log:
            for k in ks:
                log.add({**base, "seed": {"entropy": 3, "spawn_key": [0, k]}, "t": float(k)})
    assert sorted(r["t"] for r in merge_records([tmp_path / "a", tmp_path / "b"]).values()) == [0.0, 1.0, 2.0]
    with ToyLog(tmp_path / "c") as log:
        log.add({**base, "seed": {"entropy": 3, "spawn_key": [0, 1]}, "t": 9.0})
    with pytest.raises(ValueError, match="differs between"):
        merge_records([tmp_path / "a", tmp_path / "c"])


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory):
    """A column-form channel (systematics: normsys and per-event shapes), its store in 3 shards."""
    rng = np.random.default_rng(5)
    toy = OffShellToy(nu_s=60.0, nu_b=600.0)
    model = build_model(toy.processes(toy.generate(1.0, rng), systematics=True), name="obs", form="columns")
    folder = tmp_path_factory.mktemp("shards")
    model.save(folder / "model.root")
    store = store_from_model(model)
    return model, store, folder / "model.root", write_shards(store, folder, 3)


def test_sharded_nll_equals_the_single_process_one(sharded, client) -> None:
    """At two points: value and gradient of the sharded NLL (3 shards on 2 workers, and in-process)
    equal the single-process RooNSBINLL on the whole store to 1e-12 relative; the Hessian to 1e-9."""
    model, store, path, shards = sharded
    local = LocalNLL(model, store, threads=1)
    for nll in (ShardedNLL(path, shards, client=client), ShardedNLL(path, shards)):
        for x in ([1.0, 0.1, -0.2], [1.7, -0.6, 0.5]):
            value, gradient = nll.value_and_gradient(x)
            ref_value, ref_gradient = local.value_and_gradient(x)
            assert value == pytest.approx(ref_value, rel=1e-12)
            np.testing.assert_allclose(gradient, ref_gradient, rtol=1e-12, atol=1e-12 * np.abs(ref_gradient).max())
            np.testing.assert_allclose(nll.hessian(x), local.hessian(x), rtol=1e-9, atol=1e-9)


def test_sharded_fit_equals_the_single_process_fit(sharded, client) -> None:
    """The fit of the sharded NLL (2 workers) and of the single-process RooNSBINLL (the same
    iminuit MIGRAD and Newton polish): mu-hat and every parameter to 1e-8 absolute, every error
    (inverse Hessian at the minimum) to 1e-8 relative; and the minimum of roonsbi's RooMinimizer
    fit (Fitter(fast=True), MIGRAD to EDM 1e-8: within 1e-3 of the errors)."""
    from roonsbi.infer.fit import Fitter

    model, store, path, shards = sharded
    start = {"mu": 1.0, "alpha_eff": 0.0, "alpha_lumi": 0.0}
    local = LocalNLL(model, store, threads=1).fit(start=start)
    fit = ShardedNLL(path, shards, client=client).fit(start=start)
    assert fit.status == 0 and local.status == 0
    for name, value in local.values.items():
        assert fit.values[name] == pytest.approx(value, abs=1e-8), name
    for name, error in local.errors.items():
        assert fit.errors[name] == pytest.approx(error, rel=1e-8), name
    model.set_parameters(start)
    standard = Fitter(model, fast=True).fit()
    for name, value in standard.values.items():
        assert fit.values[name] == pytest.approx(value, abs=1e-3 * standard.errors[name]), name


def test_toy_cls_agrees_with_the_asymptotic_cls(client) -> None:
    """High counts (2000 background events, a linear signal mu S with a luminosity normsys): at the
    POI value where the asymptotic CLs is about 0.15, CLs from 150 + 150 toys (on the cluster)
    equals it within 3 toy sigma, and so does CL_b; the toy statistics are those of q-tilde
    (0 for toys with mu-hat above mu)."""
    rng = np.random.default_rng(17)

    def processes(x: np.ndarray) -> list[Process]:
        lumi = {"lumi": NormSys(0.98, 1.02)}
        return [Process("S", 60.0, 2 * x, "mu"), Process("B", 2000.0, np.ones_like(x), normsys=lumi)]

    observed = rng.uniform(0, 1, rng.poisson(2000.0))  # background only
    # the pool: a uniform grid, on which every ratio has mean 1 exactly (a random pool's mean of r_S off
    # by its MC error of ~0.6% would bias mu-hat of the toys by ~0.2 sigma at this signal-to-background)
    pool = (np.arange(10_000) + 0.5) / 10_000
    model = build_model(processes(observed), name="cls", pool=processes(pool))
    grid = [0.8, 1.2, 1.6, 2.0]
    asymptotic = cls_scan(model, grid)
    best = min(asymptotic, key=lambda r: abs(r.cls - 0.15))
    result = toy_cls(model, [best.mu], n_toys=150, seed=3, executor=client)[0]
    print(f"mu {best.mu}: asymptotic CLs {best.cls:.4f} CLb {best.clb:.4f}; toys CLs {result.cls:.4f} "
          f"+- {result.cls_error:.4f}, CLb {result.clb:.4f} +- {result.clb_error:.4f}; expected {result.expected}")
    assert result.q_mu == pytest.approx(best.q_mu, rel=1e-9)
    assert abs(result.cls - best.cls) < 3 * result.cls_error
    assert abs(result.clb - best.clb) < 3 * result.clb_error
    assert np.mean(result.q_sb == 0) == pytest.approx(0.5, abs=0.15)  # q-tilde: half the s+b toys have mu-hat > mu


def _cli(*args: str) -> object:
    import json

    proc = run_killable([sys.executable, "-m", "roonsbi", *args, "--json"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_cli_neyman_and_toys(saved_model: Path, reference_belt, client, tmp_path: Path,
                             capsys: pytest.CaptureFixture) -> None:
    """``roonsbi neyman`` (a subprocess, in-process toys) gives the belt of the Python API bit for
    bit, ``roonsbi toys --scheduler ADDRESS`` (the test cluster) the coverage study's t values and
    ``roonsbi cls-toys`` the toy CLs; a bad option is an error naming it."""
    import json

    from roonsbi.cli.main import main

    out = _cli("neyman", str(saved_model), "--grid", ",".join(map(str, GRID)), "--n-toys", str(N_TOYS),
               "--seed", str(SEED), "--results", str(tmp_path / "belt"))
    assert out["critical"] == reference_belt.critical.tolist()
    assert out["t_observed"] == reference_belt.t_observed.tolist()
    assert len(merge_records([tmp_path / "belt"])) == 2 * N_TOYS
    truth = {"mu": 1.0, "alpha_eff": 0.0, "alpha_lumi": 0.0}
    here = coverage(load_model(saved_model), "mu", truth, n_toys=3, seed=9)
    capsys.readouterr()
    assert main(["toys", str(saved_model), "--truth", "mu=1,alpha_eff=0,alpha_lumi=0", "--n-toys", "3", "--seed", "9",
                 "--scheduler", client.scheduler.address, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["t"] == here.t.tolist() and out["coverage"] == here.coverage
    cls = toy_cls(load_model(saved_model), [1.5], n_toys=3, seed=4)[0]
    assert main(["cls-toys", str(saved_model), "--mu", "1.5", "--n-toys", "3", "--seed", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [out[0][k] for k in ("q_mu", "clsb", "clb")] == [cls.q_mu, cls.clsb, cls.clb]
    assert main(["toys", str(saved_model), "--truth", "mu:1", "--n-toys", "2", "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "--truth" in err and "mu:1" in err


def test_scans_and_impacts_on_the_cluster(saved_model: Path, client, tmp_path: Path) -> None:
    """The fits of a 1-D scan, a 2-D scan, the impacts and a parametrized scan run on the workers
    (fresh Fitters from the best fit's state) and give the in-process results to the fit
    tolerance (t to 1e-4, impacts to 1e-3 of the POI's error)."""
    from roonsbi.infer.impacts import impacts
    from roonsbi.infer.scan import parametrized_scan, profile_scan, profile_scan_2d
    from support import offshell_pnsbi

    model = load_model(saved_model)
    grid = [0.5, 1.0, 2.0]
    here, there = (profile_scan(model, "mu", grid, executor=e) for e in (None, client))
    np.testing.assert_allclose(there.t, here.t, atol=1e-4)
    here2, there2 = (profile_scan_2d(model, ("mu", "alpha_lumi"), [0.6, 1.5], [-1.0, 1.0], executor=e)
                     for e in (None, client))
    np.testing.assert_allclose(there2.t, here2.t, atol=1e-4)
    ranked_here, ranked_there = (impacts(model, executor=e) for e in (None, client))
    sigma = ranked_here.best.errors["mu"]
    for a, b in zip(ranked_here.impacts, ranked_there.impacts):
        assert a.name == b.name
        for side in ("postfit_up", "postfit_down", "prefit_up", "prefit_down"):
            assert getattr(b, side) == pytest.approx(getattr(a, side), abs=1e-3 * sigma), (a.name, side)
    pnsbi = offshell_pnsbi()
    pnsbi.save(tmp_path / "pnsbi.root")
    p_here = parametrized_scan(pnsbi, "mu", progress=False)
    p_there = parametrized_scan(pnsbi, "mu", executor=client, model_file=tmp_path / "pnsbi.root")
    np.testing.assert_allclose(p_there.t, p_here.t, atol=1e-4)


def test_column_form_toys_stay_in_process(sharded) -> None:
    """A column-form model's pool lives in the process: toys on an executor are an error saying what to build."""
    model = sharded[0]
    with pytest.raises(ValueError, match="store-form model with a reference pool"):
        coverage(model, "mu", {"mu": 1.0}, n_toys=2, seed=1, executor=object())


CONTROL = {  # one binned bin sharing lumi with the NSBI channel
    "channels": [{"name": "cr", "samples": [
        {"name": "bkg", "data": [400.0], "modifiers": [
            {"name": "lumi", "type": "normsys", "data": {"hi": 1.02, "lo": 0.98}}]},
        {"name": "sig", "data": [6.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
    "observations": [{"name": "cr", "data": [405]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}


def test_combination_toys_on_a_cluster_are_bit_identical(saved_model: Path, client) -> None:
    """A combination of the store-form channel and a binned one: its toys (RooFit's generator,
    seeded per toy) are the same in-process and on the cluster (the workers' combination, read
    back from its file, fits them to the same minima up to the last digits: t to 1e-8)."""
    from roonsbi import combine, from_pyhf

    model = combine([load_model(saved_model), from_pyhf(CONTROL)], name="comb")
    truth = {"mu": 1.0, "alpha_eff": 0.0, "alpha_lumi": 0.0}
    here = coverage(model, "mu", truth, n_toys=4, seed=9)
    there = coverage(model, "mu", truth, n_toys=4, seed=9, executor=client)
    np.testing.assert_allclose(there.t, here.t, rtol=1e-8, atol=1e-10)
    assert np.all(here.t >= 0) and len(set(here.t.tolist())) == 4


def test_combination_with_a_column_form_channel_stays_in_process(sharded) -> None:
    """Toys of a combination need every NSBI channel in the store form with a pool: the error names the channel."""
    from roonsbi import combine, from_pyhf

    model = combine([sharded[0], from_pyhf(CONTROL)], name="comb_columns")
    with pytest.raises(ValueError, match="without a reference pool to draw toys from .*nsbi_obs"):
        coverage(model, "mu", {"mu": 1.0}, n_toys=2, seed=1, executor=object())
    with pytest.raises(ValueError, match="without a reference pool"):
        coverage(model, "mu", {"mu": 1.0}, n_toys=2, seed=1)
