r"""Shapes renormalised on the reference pool (``build_model(..., renormalise_shapes=True)``) against
independent numpy computations (``tests/reference.py``):

* the expected events of the pool, :math:`\sum_k m_k F_k(\alpha)`, do not move with shape-only
  nuisance parameters up to :math:`|\alpha| = 5` (one term per process: exactly), while nu stays
  :math:`\sum_J f_J \nu_J G_J`; without the option they move by percents;
* :math:`\sum_k m_k r_J(x_k) g_{Jm}(x_k,\alpha) / c_{Jm}(\alpha) = \sum_k m_k r_J(x_k)` with g from
  the numpy interpolation and 1/c from the model's ``RooNSBIShapeNorm``;
* RooFit's generic NLL = the fast NLL (RooNSBINLL through RooNSBIModel's createNLL) = the numpy NLL
  with renormalised shapes, and the fast gradient = finite differences of the numpy NLL;
* the workspace read back in a fresh process gives the same NLL and factors;
* :func:`roonsbi.infer.shape_drift` reports the numpy drift (and 0 left when renormalised).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import ROOT

import reference as ref
from roonsbi import Process, ShapeSys, build_model, load_model
from roonsbi.infer import shape_drift
from roonsbi.models import fast_nll
from roonsbi.naming import constraint, shape_norm_name

#: (process, coefficient, nominal yield, {nuisance: code}); one term per process in SINGLE
SINGLE = [("S", "mu", 40.0, {"jes": 5}), ("B", "1", 300.0, {"res": 4}), ("C", "1", 80.0, {"jes": 1}),
          ("D", "1", 60.0, {"res": 2}), ("E", "1", 50.0, {"jes": 6}), ("F", "1", 30.0, {"res": 0})]
#: a process with two terms (applied in order), for the NLL
MIXED = SINGLE[:2] + [("C", "1", 80.0, {"jes": 5, "res": 6})]
COEF = {"mu": lambda p: p["mu"], "1": lambda p: 1.0}
ALPHAS = (-5.0, -3.0, -1.5, -1.0, -0.5, 0.3, 1.0, 2.5, 5.0)
N_POOL, N_OBS = 400, 150


def _events(rng: np.random.Generator, n: int, spec: list) -> dict[str, Any]:
    """float32 columns (what the store keeps): r_J, and per term g(x, -1), g(x, +1) correlated with r_J
    so that their reference expectation away from +-1 is not 1."""
    out: dict[str, Any] = {}
    for name, _, _, terms in spec:
        r = rng.uniform(0.2, 2.0, n)
        out[name] = (r.astype(np.float32), {})
        for k, (np_name, _) in enumerate(terms.items()):
            t = rng.uniform(0.0, 1.0, n)
            lo = 1.0 - 0.35 * t * (0.5 + 0.5 * r / 2.0)
            hi = 1.0 + 0.5 * t ** (1 + k) * (1.1 - r / 2.0)
            out[name][1][np_name] = (lo.astype(np.float32), hi.astype(np.float32))
    return out


def _as_stored(code: int, values: np.ndarray) -> np.ndarray:
    """The float64 values the pdf reads from its store: float32 values, or for the exponential codes
    1 and 5 the exponential of the float32 logarithm."""
    v = values.astype(np.float64)
    return np.exp(np.log(v).astype(np.float32).astype(np.float64)) if code in (1, 5) else v


def _processes(spec: list, events: dict[str, Any]) -> list[Process]:
    return [Process(name, nu, events[name][0], coef,
                    shapesys={m: ShapeSys(*events[name][1][m], code=c) for m, c in terms.items()})
            for name, coef, nu, terms in spec]


def _ref(spec: list, events: dict[str, Any]) -> list[ref.RefProcess]:
    return [ref.RefProcess(nu, events[name][0].astype(np.float64), COEF[coef],
                           shapesys={m: (*(_as_stored(c, a) for a in events[name][1][m]), c)
                                     for m, c in terms.items()})
            for name, coef, nu, terms in spec]


@pytest.fixture(scope="module")
def pool_model() -> tuple[Any, Any, np.ndarray]:
    """The events are the pool (weights u_k), every process with one shape term."""
    rng = np.random.default_rng(11)
    events = _events(rng, N_POOL, SINGLE)
    u = rng.uniform(0.5, 1.5, N_POOL)
    models = [build_model(_processes(SINGLE, events), pool_weights=u, renormalise_shapes=ren, name=f"p{int(ren)}")
              for ren in (False, True)]
    return models, events, (u / u.sum()).astype(np.float32).astype(np.float64)  # the store's measure


def _pool_sum(model: Any) -> float:
    out = np.empty(model.pdf.numPoolRows())
    model.pdf.poolWeights(out)
    return float(out.sum())


def test_expected_events_do_not_move_with_shape_only_nuisances(pool_model) -> None:
    (plain, renorm), events, m = pool_model
    for model in (plain, renorm):
        model.set_parameters({"mu": 1.3, "alpha_jes": 0.0, "alpha_res": 0.0})
    # sum_k m_k F_k = sum_J f_J nu_J sum_k m_k r_J (numpy), and nu = sum_J f_J nu_J (no normsys)
    expected = sum(COEF[c]({"mu": 1.3}) * nu * float(m @ events[n][0].astype(np.float64)) for n, c, nu, _ in SINGLE)
    nu = sum(COEF[c]({"mu": 1.3}) * y for _, c, y, _ in SINGLE)
    drifts = []
    for a in ALPHAS:
        for point in ({"alpha_jes": a, "alpha_res": 0.0}, {"alpha_jes": 0.0, "alpha_res": a}, {"alpha_jes": a,
                                                                                              "alpha_res": -a}):
            renorm.set_parameters(point)
            plain.set_parameters(point)
            assert _pool_sum(renorm) == pytest.approx(expected, rel=1e-12), point
            assert renorm.total_yield() == pytest.approx(nu, rel=1e-14), point
            drifts.append(abs(_pool_sum(plain) / expected - 1.0))
    assert max(drifts) > 0.03  # what the option removes: the unrenormalised channel moves by percents


def test_reference_expectation_is_one_with_the_models_factors(pool_model) -> None:
    r"""sum_k m_k r_J g_Jm(alpha) (numpy interpolation) x the model's 1/c_Jm(alpha) = sum_k m_k r_J."""
    (_, renorm), events, m = pool_model
    for name, _, _, terms in SINGLE:
        r = events[name][0].astype(np.float64)
        for np_name, code in terms.items():
            lo, hi = (_as_stored(code, a) for a in events[name][1][np_name])
            factor = renorm.workspace.function(shape_norm_name(name, np_name))
            for a in ALPHAS:
                renorm.set_parameters({f"alpha_{np_name}": a})
                g = ref.shape_factor([ref.Term(code, lo, hi, a)], len(r))
                assert np.sum(m * r * g) * factor.getVal() == pytest.approx(np.sum(m * r), rel=1e-12), (name, a)


def _generic_nll(model: Any) -> Any:
    """RooFit's own NLL of the pdf times its constraints (not RooNSBIModel's createNLL)."""
    factors = ROOT.RooArgList(model.pdf)
    for alpha in model.nuisance_parameters:
        factors.add(model.workspace.pdf(constraint(alpha.GetName())))
    prod = ROOT.RooProdPdf("generic", "", factors)
    nll = prod.createNLL(model.data, ROOT.RooFit.GlobalObservables(model.global_observables),
                         ROOT.RooFit.Offset("none"))
    return prod, nll


def test_nll_roofit_fast_and_numpy_agree() -> None:
    rng = np.random.default_rng(12)
    pool_events, obs_events = _events(rng, N_POOL, MIXED), _events(rng, N_OBS, MIXED)
    u = rng.uniform(0.5, 1.5, N_POOL)
    model = build_model(_processes(MIXED, obs_events), pool=_processes(MIXED, pool_events), pool_weights=u,
                        renormalise_shapes=True, name="mixed")
    prod, generic = _generic_nll(model)
    fast = fast_nll(model, threads=1)
    standard = model.create_nll()  # RooNSBIModel::createNLL: RooNSBINLL
    assert standard.ClassName() == "RooNSBINLL"
    observed, pool = _ref(MIXED, obs_events), _ref(MIXED, pool_events)
    reference = (pool, u / u.sum())
    seen_difference = 0.0
    for point in ({"mu": 1.0, "alpha_jes": 0.0, "alpha_res": 0.0}, {"mu": 0.4, "alpha_jes": -4.5, "alpha_res": 2.2},
                  {"mu": 2.1, "alpha_jes": 1.7, "alpha_res": -0.6}, {"mu": 1.2, "alpha_jes": 5.0, "alpha_res": -2.0}):
        model.set_parameters(point)
        alphas = {"jes": point["alpha_jes"], "res": point["alpha_res"]}
        expected = ref.nll(observed, point, alphas, reference=reference)
        assert generic.getVal() == pytest.approx(expected, rel=1e-7, abs=1e-4), point
        assert fast.getVal() == pytest.approx(generic.getVal(), rel=1e-11), point
        assert standard.getVal() == pytest.approx(generic.getVal(), rel=1e-11), point
        seen_difference = max(seen_difference, abs(ref.nll(observed, point, alphas) - expected))
    assert seen_difference > 1.0  # the renormalisation changes the NLL by more than the tolerance
    # one parameter at a time (the steps RooNSBINLL answers from its per-event cache, as in HESSE)
    for name, value in (("alpha_jes", -2.7), ("alpha_res", 1.4), ("mu", 0.9), ("alpha_jes", 3.3)):
        model.set_parameters({name: value})
        assert standard.getVal() == pytest.approx(generic.getVal(), rel=1e-11), name
    assert standard.numIncrementalEvaluations() > 0
    # analytic (shape terms) and numerical (yields, shift) gradient against the numpy NLL
    point = {"mu": 1.4, "alpha_jes": -1.3, "alpha_res": 0.8}
    model.set_parameters(point)
    grad = fast.gradient()
    for name in point:
        h = 1e-5

        def at(x: float, name: str = name) -> float:
            p = {**point, name: x}
            return ref.nll(observed, p, {"jes": p["alpha_jes"], "res": p["alpha_res"]}, reference=reference)

        numeric = (at(point[name] + h) - at(point[name] - h)) / (2 * h)
        assert grad[name] == pytest.approx(numeric, rel=2e-5, abs=2e-5), name
    del prod


_READ_BACK = """
import json, sys
import numpy as np
from roonsbi import load_model
from roonsbi.naming import shape_norm_name
m = load_model(sys.argv[1])
m.set_parameters(json.loads(sys.argv[2]))
out = np.empty(m.pdf.numPoolRows())
m.pdf.poolWeights(out)
print(json.dumps({"nll": m.nll(), "pool": float(out.sum()), "nu": m.total_yield(),
                  "factor": m.workspace.function(shape_norm_name("S", "jes")).getVal()}))
"""


def test_workspace_round_trip_in_a_fresh_process(pool_model, tmp_path) -> None:
    (_, renorm), _, _ = pool_model
    point = {"mu": 0.8, "alpha_jes": -4.0, "alpha_res": 3.0}
    renorm.set_parameters(point)
    here = {"nll": renorm.nll(), "pool": _pool_sum(renorm), "nu": renorm.total_yield(),
            "factor": renorm.workspace.function(shape_norm_name("S", "jes")).getVal()}
    path = renorm.save(tmp_path / "renorm.root")
    proc = subprocess.run([sys.executable, "-c", _READ_BACK, str(path), json.dumps(point)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    there = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, value in here.items():
        assert there[key] == pytest.approx(value, rel=1e-12), key
    again = load_model(path)  # and in this process: the pdf keeps its shift
    assert again.pdf.expectedEventsShift()


def test_shape_drift_reports_the_numpy_drift(pool_model) -> None:
    (plain, renorm), events, m = pool_model
    values = {"alpha_jes": -5.0, "alpha_res": 2.5}
    for model in (plain, renorm):
        table = shape_drift(model, values)
        assert len(table.rows) == len(SINGLE)
        for row in table.rows:
            spec = next(s for s in SINGLE if s[0] == row.process)
            lo, hi = events[row.process][1][row.nuisance]
            code = spec[3][row.nuisance]
            refp = ref.RefProcess(1.0, events[row.process][0].astype(np.float64), COEF["1"],
                                  shapesys={row.nuisance: (_as_stored(code, lo), _as_stored(code, hi), code)})
            c = ref.shape_expectation(refp, row.nuisance, m, values[f"alpha_{row.nuisance}"])
            assert row.expectation == pytest.approx(c, rel=1e-12), row
            assert row.code == code
            assert row.renormalised is (model is renorm)
            assert abs(row.residual) < (1e-12 if row.renormalised else 1.0)
            if not row.renormalised:
                assert row.residual == pytest.approx(row.drift, abs=1e-15)
        assert "residual" in str(table)
    assert max(abs(r.drift) for r in shape_drift(plain, values).rows) > 0.03
    assert shape_drift(renorm, values).max_residual() < 1e-12


def test_shape_drift_leaves_parameters_and_needs_a_pool(pool_model) -> None:
    (plain, _), events, _ = pool_model
    plain.set_parameters({"alpha_jes": 0.25})
    shape_drift(plain, {"alpha_jes": 3.0})
    assert plain.parameters()["alpha_jes"] == 0.25
    procs = _processes(SINGLE[:1], events)
    with pytest.raises(ValueError, match="pool"):
        shape_drift(build_model(procs, name="nopool"))
    with pytest.raises(ValueError, match="renormalise_shapes=True .* pool="):
        build_model(procs, renormalise_shapes=True, name="nopool2")
    with pytest.raises(ValueError, match="column form keeps no reference pool: it needs form='store' and pool="):
        build_model(procs, renormalise_shapes=True, form="columns", name="cols")
