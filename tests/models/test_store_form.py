"""The store form of an NSBI channel (``build_model(form="store")``) against independent references.

* its NLL equals the numpy reference of the master formula (``tests/reference.py``) on the
  float32-rounded columns, plus the constant -sum_i w_i log m_i of the pool measure;
* the per-event cache of the pdf, after 10^4 random single-parameter changes, equals a fresh
  computation (1e-12), and it did update term by term (its counters say so);
* a saved workspace reads back in a fresh process with the same NLL; a damaged store is refused;
* RooStats' Asimov builder and RooFit's toy generator use the pool: the Asimov weights are the
  numpy u_k F_k / sum_l u_l, the toys' row frequencies follow them (chi2), their counts Poisson(nu).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import ROOT

import reference as ref
from roonsbi.infer.toys import ToyGenerator
from roonsbi.models.unbinned import NSBIModel, build_model, load_model
from roonsbi.spec import NormSys, Process, ShapeSys

POINTS = [
    {"mu": 1.0, "alpha_a": 0.0, "alpha_b": 0.0, "alpha_c": 0.0},
    {"mu": 1.4, "alpha_a": 0.4, "alpha_b": -0.7, "alpha_c": 1.8},
    {"mu": 0.3, "alpha_a": -1.6, "alpha_b": 2.5, "alpha_c": -0.2},
]
#: process -> (nominal yield, coefficient, its f_J for the reference)
PROCESSES = {"S": (40.0, "mu", lambda p: p["mu"]), "B": (200.0, "2 - sqrt(mu)", lambda p: 2 - np.sqrt(p["mu"])),
             "C": (30.0, "1", lambda p: 1.0)}
#: process -> NP -> shape code: every code; S and C: additive then multiplicative terms (one group,
#: updated term by term in the cache), B: an additive term after a multiplicative one (recomputed whole)
SHAPES = {"S": {"b": 0, "a": 5}, "B": {"a": 1, "c": 4}, "C": {"b": 2, "c": 6}}


def _arrays(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {f"r_{p}": rng.uniform(0.05, 3.0, n) for p in PROCESSES}
    for p, shapes in SHAPES.items():
        for a in shapes:
            out[f"lo_{p}_{a}"] = rng.uniform(0.7, 1.0, n)
            out[f"hi_{p}_{a}"] = rng.uniform(1.0, 1.4, n)
    return out


def _processes(arrays: dict[str, np.ndarray]) -> list[Process]:
    return [Process(p, y, arrays[f"r_{p}"], coef, normsys={"a": NormSys(0.9, 1.15)} if p == "S" else {},
                    shapesys={a: ShapeSys(arrays[f"lo_{p}_{a}"], arrays[f"hi_{p}_{a}"], code)
                              for a, code in SHAPES[p].items()})
            for p, (y, coef, _) in PROCESSES.items()]


def _stored(values: np.ndarray, code: int | None = None) -> np.ndarray:
    """What the store holds: float32 values, or exp of the float32 logarithm (codes 1, 5)."""
    if code in (1, 5):
        return np.exp(np.log(values).astype(np.float32).astype(np.float64))
    return values.astype(np.float32).astype(np.float64)


def _reference(arrays: dict[str, np.ndarray], rows: np.ndarray | slice = slice(None)) -> list[ref.RefProcess]:
    procs = []
    for p, (y, _, f) in PROCESSES.items():
        shapes = {a: (_stored(arrays[f"lo_{p}_{a}"], c)[rows], _stored(arrays[f"hi_{p}_{a}"], c)[rows], c)
                  for a, c in SHAPES[p].items()}
        procs.append(ref.RefProcess(y, _stored(arrays[f"r_{p}"])[rows], f,
                                    normsys={"a": (0.9, 1.15, 4)} if p == "S" else {}, shapesys=shapes))
    return procs


def _split(point: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    return {"mu": point["mu"]}, {k[len("alpha_"):]: v for k, v in point.items() if k.startswith("alpha_")}


@pytest.fixture(scope="module")
def pool() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    n = 1500
    return _arrays(n, rng), rng.uniform(0.2, 2.0, n), rng.uniform(0.01, 0.3, n)


@pytest.fixture(scope="module")
def model(pool) -> NSBIModel:
    arrays, u, w = pool
    return build_model(_processes(arrays), weights=w, pool_weights=u, form="store", name="st")


def _measure(u: np.ndarray) -> np.ndarray:
    return (u / u.sum()).astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("point", POINTS)
def test_nll_is_the_reference_plus_the_measure_constant(model, pool, point):
    arrays, u, w = pool
    pois, alphas = _split(point)
    expected = ref.nll(_reference(arrays), pois, alphas, w) - np.sum(w * np.log(_measure(u)))
    assert model.nll(point) == pytest.approx(expected, rel=1e-11)


def test_observed_rows_after_the_pool(pool):
    """Data rows beyond the pool have m = 1: the NLL is the reference on the data events."""
    arrays, u, _ = pool
    data = _arrays(300, np.random.default_rng(5))
    m = build_model(_processes(data), pool=_processes(arrays), pool_weights=u, form="store", name="obs")
    assert m.pdf.numPoolRows() == len(u) and m.pdf.store().size() == len(u) + 300
    index = m.data.to_numpy()[m.pdf.indexVariable().GetName()]
    assert np.array_equal(index, len(u) + np.arange(300))
    for point in POINTS:
        pois, alphas = _split(point)
        assert m.nll(point) == pytest.approx(ref.nll(_reference(data), pois, alphas), rel=1e-11)


def test_cache_after_many_single_parameter_changes(model):
    """10^4 random single-parameter moves (inside and outside |alpha| < 1), no periodic refresh:
    the cached values equal a fresh computation to 1e-12, and the cache did update term by term."""
    pdf = model.pdf
    pdf.setCacheRefreshInterval(0)
    rows = np.arange(pdf.store().size(), dtype=np.float64)
    span = ROOT.std.span["const double"](rows, len(rows))
    evaluator = ROOT.RooFit.Evaluator(pdf)
    evaluator.setInput(pdf.indexVariable().GetName(), span, False)
    evaluator.run()
    rng = np.random.default_rng(3)
    names = list(POINTS[0])
    for _ in range(10_000):
        name = names[rng.integers(len(names))]
        model.parameter(name).setVal(rng.uniform(0.2, 2.5) if name == "mu" else rng.uniform(-2.5, 2.5))
        out = evaluator.run()
    cached = np.frombuffer(out.data(), dtype=np.float64, count=out.size()).copy()
    assert pdf.numCacheFullComputations() == 1 and pdf.numCacheTermUpdates() > 5000
    fresh_pdf = pdf.clone("fresh")
    fresh = ROOT.RooFit.Evaluator(fresh_pdf)
    fresh.setInput(pdf.indexVariable().GetName(), span, False)
    out = fresh.run()
    expected = np.frombuffer(out.data(), dtype=np.float64, count=out.size())
    assert np.max(np.abs(cached / expected - 1)) < 1e-12
    pdf.setCacheRefreshInterval(1000)


def test_saved_workspace_reads_back_in_a_fresh_process(model, tmp_path):
    path = model.save(tmp_path / "store.root")
    nlls = {json.dumps(p): model.nll(p) for p in POINTS}
    script = textwrap.dedent(f"""
        import json
        from roonsbi.models.unbinned import load_model
        m = load_model({str(path)!r})
        print(json.dumps({{k: m.nll(json.loads(k)) for k in {list(nlls)!r}}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, value in nlls.items():
        assert again[key] == pytest.approx(value, rel=1e-12)


def test_a_damaged_store_is_refused(model, tmp_path):
    path = model.save(tmp_path / "damaged.root")
    f = ROOT.TFile.Open(str(path), "UPDATE")
    folder = next(k.GetName() for k in f.GetListOfKeys() if k.GetName().startswith("roonsbi_store_"))
    d = f.Get(folder)
    chunk = ROOT.BindObject(d.GetObjectChecked("c0_k0", "TArrayF"), "TArrayF")
    chunk[0] = chunk[0] * 1.5
    d.WriteObjectAny(chunk, "TArrayF", "c0_k0", "WriteDelete")
    f.Close()
    with pytest.raises(Exception, match="checksum"):
        load_model(Path(path))


def test_roostats_asimov_is_the_weighted_pool(model, pool):
    """AsymptoticCalculator's Asimov data (one weighted entry per bin of the event index) are the
    pool rows with weights u_k F_k / sum_l u_l, as the numpy reference and ToyGenerator give them."""
    arrays, u, _ = pool
    point = POINTS[1]
    model.set_parameters(point)
    pois, alphas = _split(point)
    procs = _reference(arrays)
    f = sum(p.yield_(pois, alphas) * p.ratio * p.shape(alphas) for p in procs)
    expected = _measure(u) * f
    index = model.pdf.indexVariable()
    ROOT.RooStats.AsymptoticCalculator.SetPrintLevel(-1)
    asimov = ROOT.RooStats.AsymptoticCalculator.GenerateAsimovData(model.model, ROOT.RooArgSet(index))
    ROOT.SetOwnership(asimov, True)
    values = asimov.to_numpy()
    assert np.array_equal(np.floor(values[index.GetName()]), np.arange(len(u)))
    np.testing.assert_allclose(values["binWeightAsimov"], expected, rtol=1e-12)
    ours = ToyGenerator(model).asimov(point).data.to_numpy()
    np.testing.assert_allclose(ours["weight"], expected, rtol=1e-12)


def test_roofit_toys_follow_the_pool(model, pool):
    """RooFit's generate (RooNSBIGenContext): counts Poisson(nu), rows drawn with P(k) ~ u_k F_k."""
    arrays, u, _ = pool
    point = POINTS[2]
    model.set_parameters(point)
    pois, alphas = _split(point)
    procs = _reference(arrays)
    weights = _measure(u) * sum(p.yield_(pois, alphas) * p.ratio * p.shape(alphas) for p in procs)
    nu = sum(p.yield_(pois, alphas) for p in procs)
    ROOT.RooRandom.randomGenerator().SetSeed(1234)
    index = model.pdf.indexVariable()
    counts, rows = [], []
    for _ in range(200):
        toy = model.pdf.generate(ROOT.RooArgSet(index), ROOT.RooFit.Extended(True))
        ROOT.SetOwnership(toy, True)
        r = toy.to_numpy()[index.GetName()]
        counts.append(len(r))
        rows.append(r.astype(int))
    counts_arr = np.array(counts)
    assert abs(counts_arr.mean() - nu) < 4 * np.sqrt(nu / len(counts))
    assert np.var(counts_arr) == pytest.approx(nu, rel=0.35)
    # row frequencies in 30 groups of 50 rows against the expected probabilities
    drawn = np.bincount(np.concatenate(rows), minlength=len(u)).reshape(30, -1).sum(axis=1)
    prob = (weights / weights.sum()).reshape(30, -1).sum(axis=1)
    expected = prob * drawn.sum()
    chi2 = np.sum((drawn - expected) ** 2 / expected)
    assert chi2 < 29 + 6 * np.sqrt(2 * 29)  # 29 degrees of freedom: mean 29, std 7.6


def test_without_a_pool_asimov_and_toys_fail_clearly(pool):
    arrays, _, _ = pool
    m = build_model(_processes(arrays), form="store", name="nopool")
    index = m.pdf.indexVariable()
    with pytest.raises(Exception, match="no reference pool"):
        ROOT.RooStats.AsymptoticCalculator.GenerateAsimovData(m.model, ROOT.RooArgSet(index))
    with pytest.raises(Exception, match="no reference pool"):
        m.pdf.generate(ROOT.RooArgSet(index), 10)
    with pytest.raises(ValueError, match="no reference pool"):
        ToyGenerator(m)


def test_a_bad_dataset_is_named(model, pool):
    """The dataset check of the fast likelihood (RooNSBINLL::checkData) guards every NLL of the store
    form, RooFit's too (EvalBackend legacy): the first bad entry, its value and what is allowed."""
    index = model.pdf.indexVariable()
    name = index.GetName()
    wide = ROOT.RooRealVar(name, "", 0.0, -1e9, 1e9)
    outside = ROOT.RooDataSet.from_numpy({name: np.array([3.0, 1e6, 2.0])}, ROOT.RooArgSet(wide))
    for backend in ("cpu", "legacy"):
        with pytest.raises(ValueError, match=rf"pdf 'nsbi_st' with dataset '' entry 1 has {name} = 1e\+06, not a row "
                                             r"of the event store \(row k is \[k, k\+1\), k = 0 to 1500 - 1\)"):
            model.create_nll(outside, backend=backend)
    weight = ROOT.RooRealVar("w", "", 1.0)
    nan_weight = ROOT.RooDataSet("nan_weight", "", ROOT.RooArgSet(wide, weight), ROOT.RooFit.WeightVar(weight))
    for row, w in ((1.0, 1.0), (2.0, np.nan)):
        wide.setVal(row)
        nan_weight.add(ROOT.RooArgSet(wide), w)
    with pytest.raises(ValueError, match=r"dataset 'nan_weight' has a non-finite weight at entry 1 \(nan\)"):
        model.nll(data=nan_weight)
    x = ROOT.RooRealVar("x", "", 0.0, 0.0, 1.0)
    no_index = ROOT.RooDataSet.from_numpy({"x": np.zeros(3)}, ROOT.RooArgSet(x))
    with pytest.raises(ValueError, match=rf"dataset '' has no variable '{name}' \(the pdf's event index\)"):
        model.nll(data=no_index)
    arrays, u, _ = pool  # a pool row of measure 0 has no probability
    small = {k: v[:20] for k, v in arrays.items()}
    zero = build_model(_processes(small), pool_weights=np.r_[u[:3], 0.0, u[4:20]], form="store", name="zero")
    rows = ROOT.RooDataSet.from_numpy({zero.pdf.indexVariable().GetName(): np.array([1.0, 3.0])},
                                      ROOT.RooArgSet(zero.pdf.indexVariable()))
    with pytest.raises(ValueError, match=r"entry 1 is pool row 3, whose pool measure m_k = 0 is not positive"):
        zero.nll(data=rows)


def test_combination_with_histfactory_reads_back_in_a_fresh_process(model, tmp_path):
    """A store-form channel combined with a HistFactory channel: saved, read in a fresh process
    (roonsbi.combine of the file's workspace), the same NLL to 1e-12."""
    from roonsbi.models.combined import combine
    from support import histfactory_workspace

    hws, _ = histfactory_workspace(tmp_path)
    comb = combine([model, hws], name="comb_store")
    path = comb.save(tmp_path / "comb.root")
    point = {**POINTS[1], "alpha_syst1": 0.3}
    expected = comb.nll({k: v for k, v in point.items() if comb.workspace.var(k)})
    script = textwrap.dedent(f"""
        import json
        from roonsbi.models.combined import combine
        m = combine([{str(path)!r}], name="again")
        print(json.dumps(m.nll({{k: v for k, v in {point!r}.items() if m.workspace.var(k)}})))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == pytest.approx(expected, rel=1e-12)
