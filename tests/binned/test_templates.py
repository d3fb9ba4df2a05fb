r"""Template building for parametrized NSBI (:mod:`roonsbi.binned.templates`).

* The binned variable T_mu'(x) = log O_mu'(x) / (mu' - mu_ref) against the exact densities of the
  analytic toy, and its continuity through mu' = mu_ref (the score).
* Fixed edges: templates, variations, sums of squared weights and data against direct numpy
  histograms; normalisation sum_b T_Jb = nu_J; chunked input = one chunk.
* Quantiles: equal expected yield per bin under the hypothesis (exact without compression of
  the sketch, within its resolution with it).
* Streaming from a ROOT file with uproot (callable source) = in-memory arrays.
* Clear errors for bad inputs; save/load round trip.
"""

from __future__ import annotations

import numpy as np
import pytest

from roonsbi.binned import (
    BinnedProcess,
    FixedEdges,
    Quantiles,
    Templates,
    build_templates,
    optimal_observable,
)
from roonsbi.inputs.toy import COEFFICIENTS, OffShellToy
from roonsbi.spec import NormSys

GRID = np.array([0.3, 1.0, 2.0])


def _toy_columns(n: int, seed: int, weights: bool = True) -> tuple[OffShellToy, dict[str, np.ndarray], np.ndarray]:
    toy = OffShellToy()
    rng = np.random.default_rng(seed)
    x = toy.sample_ref(n, rng)
    cols = {f"r_{k}": v for k, v in toy.ratios(x).items()}
    if weights:
        cols["weight"] = rng.uniform(0.5, 1.5, n) / n
    cols["x0"] = x[:, 0]
    for name in ("SBI", "S", "B"):
        cols[f"g_{name}_eff_lo"] = np.exp(-0.1 * x[:, 0]) / np.exp(0.005)
        cols[f"g_{name}_eff_hi"] = np.exp(0.1 * x[:, 0]) / np.exp(0.005)
    return toy, cols, x


def _processes(toy: OffShellToy, histosys: bool = True) -> list[BinnedProcess]:
    return [BinnedProcess(n, y, COEFFICIENTS[n], {"lumi": NormSys(0.98, 1.02)}, ["eff"] if histosys else [])
            for n, y in toy.basis_yields().items()]


def _chunks(cols: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    n = len(next(iter(cols.values())))
    return [{k: v[i:i + size] for k, v in cols.items()} for i in range(0, n, size)]


# -- the binned variable ------------------------------------------------------------------------
def test_binned_variable_is_log_density_ratio_and_continuous_at_the_reference() -> None:
    toy, cols, x = _toy_columns(2000, 1)
    procs = _processes(toy, histosys=False)
    for mu in (0.0, 0.3, 2.5):
        density = lambda m: toy.intensity(x, m) / toy.expected(m)
        expected = np.log(density(mu) / density(1.0)) / (mu - 1.0)
        np.testing.assert_allclose(optimal_observable(cols, procs, mu), expected, rtol=1e-9, atol=1e-12)
    score = optimal_observable(cols, procs, 1.0)
    h = 1e-6
    for side in (-1, 1):
        np.testing.assert_allclose(optimal_observable(cols, procs, 1.0 + side * h), score, rtol=1e-4, atol=1e-6)
    # O_mu' = exp((mu' - 1) T) orders the events like T above the reference and reversed below
    t_up, t_down = optimal_observable(cols, procs, 2.0), optimal_observable(cols, procs, 0.5)
    assert np.all(np.diff(t_up[np.argsort(np.exp(t_up))]) >= 0)
    assert np.all(np.diff(np.exp(-0.5 * t_down)[np.argsort(t_down)]) <= 0)


# -- fixed edges --------------------------------------------------------------------------------
@pytest.mark.parametrize("flow", [True, False])
def test_fixed_edges_match_numpy_histograms(flow: bool) -> None:
    toy, cols, x = _toy_columns(5000, 2)
    procs = _processes(toy)
    edges = np.linspace(-0.6, 0.2, 9)
    data_toy = toy.generate(1.0, np.random.default_rng(3))
    data = {f"r_{k}": v for k, v in toy.ratios(data_toy).items()}
    t = build_templates(cols, procs, GRID, FixedEdges(edges, flow=flow), data=data, progress=False)
    assert t.nominal.shape == (3, 3, 8) and t.sumw2.shape == (3, 3, 3, 8)
    w = cols["weight"]
    clip = lambda v: np.clip(v, edges[0], edges[-1]) if flow else v
    for k, m in enumerate(GRID):
        var = clip(optimal_observable(cols, procs, m))
        for j, p in enumerate(procs):
            r = cols[f"r_{p.name}"]
            scale = p.nominal_yield / np.sum(w * r)
            np.testing.assert_allclose(t.nominal[k, j], scale * np.histogram(var, edges, weights=w * r)[0],
                                       rtol=1e-12, atol=1e-12)
            for side, which in ((0, "lo"), (1, "hi")):
                g = cols[f"g_{p.name}_eff_{which}"]
                np.testing.assert_allclose(t.histosys[(p.name, "eff")][side][k],
                                           scale * np.histogram(var, edges, weights=w * r * g)[0], rtol=1e-12,
                                           atol=1e-12)
            for i, q in enumerate(procs):
                rq = cols[f"r_{q.name}"]
                scale_q = q.nominal_yield / np.sum(w * rq)
                np.testing.assert_allclose(
                    t.sumw2[k, j, i], scale * scale_q * np.histogram(var, edges, weights=w * w * r * rq)[0],
                    rtol=1e-12, atol=1e-15)
        dvar = clip(optimal_observable(data, procs, m))
        np.testing.assert_array_equal(t.data[k], np.histogram(dvar, edges)[0])
    assert t.data_sumw2 is None  # unweighted data
    totals = t.nominal.sum(axis=2)
    if flow:  # every process keeps its yield nu_J exactly
        np.testing.assert_allclose(totals, np.tile([p.nominal_yield for p in procs], (3, 1)), rtol=1e-12)
    else:
        nu = np.array([p.nominal_yield for p in procs])
        assert np.all(totals <= nu * (1 + 1e-12)) and np.any(totals < 0.99 * nu)


def test_chunked_input_equals_one_chunk_and_stat_uncertainty() -> None:
    toy, cols, _ = _toy_columns(7000, 4)
    procs = _processes(toy)
    edges = FixedEdges(np.linspace(-0.5, 0.1, 13))
    one = build_templates(cols, procs, GRID, edges, progress=False)
    many = build_templates(_chunks(cols, 999), procs, GRID, edges, progress=True)  # progress: off when not a tty
    np.testing.assert_allclose(many.nominal, one.nominal, rtol=1e-12)
    np.testing.assert_allclose(many.sumw2, one.sumw2, rtol=1e-12)
    for key in one.histosys:
        np.testing.assert_allclose(many.histosys[key], one.histosys[key], rtol=1e-12)
    assert many.n_events == one.n_events == 7000
    # one process: HistFactory's sqrt(sum w^2) / sum w of its events in the bin
    rel = one.stat_uncertainty({"mu": 0.0})  # f = (0, 0, 1): background only
    var = optimal_observable(cols, procs, GRID[1])
    idx = np.clip(np.searchsorted(edges.edges[1:-1], var, side="right"), 0, 11)
    wb = cols["weight"] * cols["r_B"]
    with np.errstate(invalid="ignore"):
        expected = np.sqrt(np.bincount(idx, wb * wb, 12)) / np.bincount(idx, wb, 12)
    np.testing.assert_allclose(rel[1], expected, rtol=1e-10)


# -- quantiles ----------------------------------------------------------------------------------
@pytest.mark.parametrize("hypothesis", [None, 2.0])
def test_quantiles_give_equal_expected_yields(hypothesis: float | None) -> None:
    toy, cols, _ = _toy_columns(6000, 5)
    procs = _processes(toy, histosys=False)
    t = build_templates(_chunks(cols, 2500), procs, GRID, Quantiles(10, hypothesis=hypothesis), progress=False)
    expected = t.expected(1.0 if hypothesis is None else hypothesis)
    total = expected.sum(axis=1, keepdims=True)
    # no compression (fewer events than the sketch size): exact up to the weight of one event
    max_event = (np.max(np.stack([cols[f"r_{p.name}"] for p in procs]), axis=0) * cols["weight"]).max()
    assert np.all(np.abs(expected - total / 10) < 3 * max_event * max(p.nominal_yield for p in procs))
    assert np.all(np.isinf(t.edges[:, [0, -1]])) and np.all(np.diff(t.edges, axis=1) > 0)
    # with compression of the sketch: equal within its resolution
    small = build_templates(_chunks(cols, 700), procs, GRID, Quantiles(10, hypothesis=hypothesis, sketch_size=256),
                            progress=False)
    e2 = small.expected(1.0 if hypothesis is None else hypothesis)
    np.testing.assert_allclose(e2 / (total / 10), 1.0, atol=0.08)


def test_quantiles_of_a_kinematic_column_are_the_same_at_every_grid_point() -> None:
    toy, cols, x = _toy_columns(4000, 6)
    procs = _processes(toy, histosys=False)
    t = build_templates(cols, procs, GRID, Quantiles(7), observable="x0", progress=False)
    assert t.observable == "x0"
    np.testing.assert_allclose(t.edges, np.tile(t.edges[0], (3, 1)))
    np.testing.assert_allclose(t.nominal, np.tile(t.nominal[0], (3, 1, 1)))


def test_streaming_from_a_root_file(tmp_path) -> None:
    uproot = pytest.importorskip("uproot")
    toy, cols, _ = _toy_columns(12_000, 7)
    procs = _processes(toy)
    path = tmp_path / "mc.root"
    with uproot.recreate(path) as f:
        chunks = _chunks(cols, 5000)
        f["events"] = chunks[0]
        for c in chunks[1:]:
            f["events"].extend(c)
    source = lambda: uproot.iterate(f"{path}:events", step_size=3000, library="np")
    streamed = build_templates(source, procs, GRID, Quantiles(6), progress=False)
    in_memory = build_templates(_chunks(cols, 3000), procs, GRID, Quantiles(6), progress=False)
    np.testing.assert_allclose(streamed.edges, in_memory.edges, rtol=1e-12)
    np.testing.assert_allclose(streamed.nominal, in_memory.nominal, rtol=1e-12)
    # awkward chunks (uproot's default library) work too
    ak_source = lambda: uproot.iterate(f"{path}:events", step_size=3000)
    np.testing.assert_allclose(build_templates(ak_source, procs, GRID, Quantiles(6), progress=False).nominal,
                               in_memory.nominal, rtol=1e-12)


def test_save_and_load(tmp_path) -> None:
    toy, cols, _ = _toy_columns(3000, 8)
    data = {k: v[:500] for k, v in cols.items()}
    t = build_templates(cols, _processes(toy), GRID, Quantiles(5), data=data, progress=False)
    back = Templates.load(t.save(tmp_path / "templates.npz"))
    np.testing.assert_array_equal(back.nominal, t.nominal)
    np.testing.assert_array_equal(back.data, t.data)
    np.testing.assert_array_equal(back.data_sumw2, t.data_sumw2)
    for key in t.histosys:
        np.testing.assert_array_equal(back.histosys[key], t.histosys[key])
    assert back.process_names == t.process_names
    assert back.processes[0].normsys_factors() == t.processes[0].normsys_factors()
    np.testing.assert_allclose(back.expected(1.7), t.expected(1.7))


def test_save_refuses_to_overwrite_and_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    toy, cols, _ = _toy_columns(3000, 8)
    old = build_templates(cols, _processes(toy), GRID, Quantiles(5), progress=False)
    new = build_templates(cols, _processes(toy), GRID, Quantiles(3), progress=False)
    path = old.save(tmp_path / "templates.npz")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"templates\.npz exists; pass overwrite=True"):
        new.save(path)
    assert path.read_bytes() == before

    real_savez = np.savez

    def half_savez(file, **arrays):  # the zip is half written when the disk fills up
        real_savez(file, **arrays)
        file.truncate(file.tell() // 2)
        raise OSError("simulated: no space left on device")

    monkeypatch.setattr(np, "savez", half_savez)
    with pytest.raises(OSError, match="no space left"):
        new.save(path, overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["templates.npz"]
    assert Templates.load(new.save(path, overwrite=True)).edges.shape == new.edges.shape != old.edges.shape


# -- errors -------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors() -> None:
    toy, cols, _ = _toy_columns(1000, 9)
    procs = _processes(toy)
    q = Quantiles(4)

    missing = {k: v for k, v in cols.items() if k != "g_S_eff_hi"}
    with pytest.raises(ValueError, match=r"chunk 0: missing column\(s\) \['g_S_eff_hi'\]"):
        build_templates(missing, procs, GRID, q)
    bad = dict(cols, r_S=cols["r_S"].copy())
    bad["r_S"][17] = np.nan
    with pytest.raises(ValueError, match="ratio column 'r_S' has 1 of 1000 entries that are NaN.*entry 17"):
        build_templates(bad, procs, GRID, q)
    bad["r_S"][17] = -1.0
    with pytest.raises(ValueError, match="ratio column 'r_S'.*negative"):
        build_templates(bad, procs, GRID, q)
    bad = dict(cols, g_B_eff_lo=np.zeros(1000))
    with pytest.raises(ValueError, match="shape \\(-1 sigma\\) column 'g_B_eff_lo'.*not positive"):
        build_templates(bad, procs, GRID, q)
    bad = dict(cols, weight=cols["weight"][:999])
    with pytest.raises(ValueError, match="column 'weight' has 999 entries but the other columns have 1000"):
        build_templates(bad, procs, GRID, q)
    bad = dict(cols, weight=np.where(np.arange(1000) == 3, np.inf, cols["weight"]))
    with pytest.raises(ValueError, match="weight column 'weight' has 1 NaN or infinite entries"):
        build_templates(bad, procs, GRID, q)
    with pytest.raises(TypeError, match="reads the MC events twice"):
        build_templates(iter(_chunks(cols, 100)), procs, GRID, q)
    with pytest.raises(ValueError, match="strictly increasing"):
        build_templates(cols, procs, GRID, FixedEdges([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match=r"shape \(B\+1,\) or \(3, B\+1\)"):
        build_templates(cols, procs, GRID, FixedEdges(np.zeros((2, 5))))
    with pytest.raises(ValueError, match="strictly increasing"):
        build_templates(cols, procs, [1.0, 0.5], q)
    with pytest.raises(ValueError, match="unknown histosys interpolation code 3"):
        build_templates(cols, [BinnedProcess("S", 60.0, "mu - sqrt(mu)", {}, {"eff": 3})], GRID, q)
    with pytest.raises(ValueError, match="unknown normalisation interpolation code 3"):
        build_templates(cols, [BinnedProcess("S", 60.0, "mu - sqrt(mu)", {"x": NormSys(0.9, 1.1, 3)})], GRID, q)
    with pytest.raises(ValueError, match="not a valid formula"):
        build_templates(cols, [BinnedProcess("S", 60.0, "mu +* 2")], GRID, q)
    # a discrete variable cannot be split into more quantiles than it has values
    discrete = dict(cols, x0=np.round(cols["x0"]))
    with pytest.raises(ValueError, match="cannot make 40 bins of distinct edges"):
        build_templates(discrete, procs, GRID, Quantiles(40), observable="x0")
    # a coefficient combination with negative density for an event
    neg = [BinnedProcess("S", 600.0, "mu"), BinnedProcess("B", 60.0, "1 - mu")]
    with pytest.raises(ValueError, match="model density is negative or zero for event"):
        build_templates(cols, neg, [0.5, 2.0], q)
