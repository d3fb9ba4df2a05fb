"""Fuzz cases of the fast path (fast_nll, make_store, fit(fast=True)), of fits (fixed values, options) and of
scans (values, undefined points with and without nuisance parameters), checked against the numpy reference
NLL (tests/reference.py) or for a clear error."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from common import HI, LO, RATIO, N, channel, jes, nll_matches, ref_processes
from harness import Case, close, error, result

import reference
from roonsbi.infer.fit import Fitter, fit
from roonsbi.infer.scan import profile_scan, profile_scan_2d
from roonsbi.models.fast import fast_nll
from roonsbi.models.store import make_store
from roonsbi.models.unbinned import build_model
from roonsbi.spec import Process, ShapeSys

AT = {"mu": 1.7, "alpha_lumi": 0.3}
AT_JES = {**AT, "alpha_jes": -0.6}
CASES: list[Case] = []
add = CASES.append


def fast_at(values: dict[str, float], form: str, **kwargs: Any):
    def run(tmp: Path) -> float:
        model = build_model(channel(**kwargs.pop("shapes", {})), form=form, **kwargs)
        nll = fast_nll(model)
        model.set_parameters(values)
        return nll.getVal()

    return run


# -- value of the fast NLL against the reference (float32 inputs: 1e-6) ----------------------------------
W = np.linspace(0.5, 1.5, N)
for form in ("store", "columns"):
    add(
        result(
            f"fast-value-{form}", fast_at(AT, form), nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}, rtol=1e-6)
        )
    )
    add(
        result(
            f"fast-value-shape-{form}",
            fast_at(AT_JES, form, shapes={"jes": jes()}),
            nll_matches(ref_processes(shape=True), {"mu": 1.7}, {"lumi": 0.3, "jes": -0.6}, rtol=1e-6),
        )
    )
    add(
        result(
            f"fast-value-weighted-{form}",
            fast_at(AT, form, weights=W),
            nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}, weights=W, rtol=1e-6),
        )
    )


def scipy_minimum() -> tuple[float, float]:
    """(min NLL, mu-hat) of the reference NLL of channel() over mu in [0, 10], alpha_lumi in [-5, 5] (scipy)."""
    from scipy.optimize import minimize

    refs = ref_processes()
    best = minimize(
        lambda x: reference.nll(refs, {"mu": x[0]}, {"lumi": x[1]}),
        [1.0, 0.0],
        method="L-BFGS-B",
        bounds=[(0.0, 10.0), (-5.0, 5.0)],
        options={"ftol": 1e-14, "gtol": 1e-10},
    )
    return float(best.fun), float(best.x[0])


def fits(form: str, fast: bool):
    """The minimum of channel() is at the limit mu = 0 (this data prefers no signal)."""

    def run(tmp: Path) -> tuple[float, float, int]:
        r = fit(build_model(channel(), form=form), fast=fast)
        return r.min_nll, r.values["mu"], r.status

    return run


def at_scipy_minimum(v: tuple[float, float, int]) -> str | None:
    ref, mu = scipy_minimum()
    if v[2] != 0:
        return f"status {v[2]}"
    return close(v[0], ref, rtol=1e-7, atol=1e-6, what="min NLL") or close(v[1], mu, atol=1e-3, what="mu-hat")


for form in ("store", "columns"):
    for fast in (False, True):
        add(result(f"fit-boundary-minimum-{form}{'-fast' if fast else ''}", fits(form, fast), at_scipy_minimum))

# -- a store given by the user: values are checked -------------------------------------------------------


def column_model(shapes: dict | None = None) -> Any:
    return build_model(channel(**(shapes or {})), form="columns")


def with_store(
    columns: dict[str, np.ndarray],
    logs: dict[str, np.ndarray] | None = None,
    weights: np.ndarray | None = None,
    shapes: dict | None = None,
):
    def run(tmp: Path) -> float:
        model = column_model(shapes)
        store = make_store(columns, logs, weights)
        model.set_parameters(AT)
        return fast_nll(model, store).getVal()

    return run


def bad(values: np.ndarray, index: int, value: float) -> np.ndarray:
    out = np.array(values, dtype=float)
    out[index] = value
    return out


GOOD = {"r_S": RATIO, "r_B": np.ones(N)}
add(result("store-good", with_store(GOOD), nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}, rtol=1e-6)))
for i, (columns, logs, weights, words) in enumerate(
    [
        (
            {**GOOD, "r_S": bad(RATIO, 4, -0.5)},
            None,
            None,
            r"event store column 'r_S' has 1 of 12 entries .*entry 4 = -0.5",
        ),
        ({**GOOD, "r_B": bad(np.ones(N), 0, np.nan)}, None, None, r"column 'r_B' .*entry 0 = nan"),
        ({**GOOD, "r_S": bad(RATIO, 11, np.inf)}, None, None, r"column 'r_S' .*entry 11 = inf"),
        ({"r_S": np.zeros(N), "r_B": np.zeros(N)}, None, None, r"event 0 has r_J = 0 for every process"),
        (GOOD, None, -W, r"event store column 'weight' sum to -12"),
        (
            GOOD,
            None,
            bad(W, 2, np.nan),
            r"event store column 'weight' have 1 NaN or infinite entries \(first: entry 2 = nan\)",
        ),
    ]
):
    add(error(f"store-bad-{i}", with_store(columns, logs, weights), ValueError, words))
SHAPES = {"jes": jes()}
add(
    result(
        "store-shape-good",
        with_store(GOOD, {"g_S_jes_lo": LO, "g_S_jes_hi": HI}, shapes=SHAPES),
        nll_matches(ref_processes(shape=True), {"mu": 1.7}, {"lumi": 0.3, "jes": 0.0}, rtol=1e-6),
    )
)
add(
    error(
        "store-shape-missing",
        with_store(GOOD, {"g_S_jes_lo": LO}, shapes=SHAPES),
        ValueError,
        r"the event store has no column 'log:g_S_jes_hi'",
    )
)
add(
    error(
        "store-shape-values-not-logs",
        with_store({**GOOD, "g_S_jes_lo": LO, "g_S_jes_hi": HI}, shapes=SHAPES),
        ValueError,
        r"the event store has no column 'log:g_S_jes_lo'",
    )
)
add(
    error(
        "store-shape-log-nan",
        with_store({**GOOD, "log:g_S_jes_lo": bad(np.log(LO), 3, np.nan), "log:g_S_jes_hi": np.log(HI)}, shapes=SHAPES),
        ValueError,
        r"event store column 'log:g_S_jes_lo' .*entry 3 = nan",
    )
)
add(
    error(
        "store-shape-additive-zero",
        with_store({**GOOD, "g_S_jes_lo": bad(LO, 5, 0.0), "g_S_jes_hi": HI}, shapes={"jes": ShapeSys(LO, HI, 4)}),
        ValueError,
        r"event store column 'g_S_jes_lo' .*entry 5 = 0",
    )
)
# make_store: arrays are 1-D numbers of one length
for i, (columns, kind, words) in enumerate(
    [
        ({"r_S": RATIO.reshape(6, 2)}, ValueError, r"event store column 'r_S' must be 1-D, got shape \(6, 2\)"),
        ({"r_S": RATIO.astype(str)}, TypeError, r"event store column 'r_S' has dtype <U"),
        (
            {"r_S": RATIO, "r_B": np.ones(N - 1)},
            ValueError,
            r"event store column 'r_B' has 11 entries but the other columns have 12",
        ),
        ({"r_S": np.array([1.0, None], dtype=object)}, TypeError, r"event store column 'r_S' has dtype object"),
        ({"r_S": 1.0}, ValueError, r"event store column 'r_S' must be 1-D, got shape \(\)"),
        ({"": RATIO}, ValueError, r"EventStore: column name '' is empty or contains a newline"),
        ({"a\nb": RATIO}, ValueError, r"EventStore: column name 'a\\nb' is empty or contains a newline"),
    ]
):
    add(error(f"make-store-{i}", lambda tmp, c=columns: make_store(c), kind, words))
add(
    error(
        "make-store-log-negative",
        lambda tmp: make_store({}, {"g": bad(LO, 1, -1.0)}),
        ValueError,
        r"column 'log:g' needs positive finite values for its logarithm \(entry 1 = -1\)",
    )
)
add(
    error(
        "make-store-duplicate",
        lambda tmp: make_store({"log:g": LO}, {"g": LO}),
        ValueError,
        r"event store column 'log:g' is given twice",
    )
)
add(
    error(
        "make-store-weight-twice",
        lambda tmp: make_store({"weight": LO}, None, LO),
        ValueError,
        r"event store column 'weight' is given twice",
    )
)
add(
    result(
        "make-store-float32-kept",
        lambda tmp: _column_of(make_store({"r": RATIO.astype(np.float32)})),
        lambda v: None if np.array_equal(v, RATIO.astype(np.float32)) else "values differ",
    )
)
add(
    result(
        "make-store-strided",
        lambda tmp: _column_of(make_store({"r": np.repeat(RATIO, 2)[::2]})),
        lambda v: None if np.array_equal(v, RATIO.astype(np.float32)) else "values differ",
    )
)


def _column_of(store: Any) -> np.ndarray:
    return np.frombuffer(store.column("r"), dtype=np.float32, count=N).copy()  # copied while the store lives


def fast_threads(threads: Any):
    return lambda tmp: fast_nll(build_model(channel()), threads=threads).getVal()


for i, (threads, kind, words) in enumerate(
    [
        (-1, ValueError, r"threads must be a number of threads >= 0 \(0: the default\), got -1"),
        (2.5, TypeError, r"threads must be an integer \(0: the default\), got float"),
        ("4", TypeError, r"threads must be an integer \(0: the default\), got str"),
    ]
):
    add(error(f"fast-threads-{i}", fast_threads(threads), kind, words))
add(result("fast-threads-3", fast_threads(3), nll_matches(ref_processes(), {"mu": 1.0}, {"lumi": 0.0}, rtol=1e-6)))
add(
    error(
        "fast-extra-not-real",
        lambda tmp: fast_nll(build_model(channel()), extra=[build_model(channel()).data]),
        TypeError,
        r"extra\[0\] must be a RooAbsReal term of the NLL, got RooDataSet",
    )
)
add(
    error(
        "fast-on-parametrized",
        lambda tmp: Fitter(_param_model(), fast=True),
        TypeError,
        r"fast=True needs an NSBIModel \(an unbinned channel\), got a ParametrizedModel",
    )
)
add(
    error(
        "fast-columns-data",
        lambda tmp: fit(
            build_model(channel(), form="columns"), fast=True, data=build_model(channel(), form="columns").data
        ),
        ValueError,
        r"fast=True on a column-form model fits the model's own dataset",
    )
)
add(
    error(
        "fast-store-foreign-data",
        lambda tmp: fit(build_model(channel()), fast=True, data=build_model(channel(), form="columns").data),
        ValueError,
        r"has no variable 'event_nsbi'",
    )
)


def _param_model() -> Any:
    import support

    return support.offshell_pnsbi()


# -- fits: options and fixed values ---------------------------------------------------------------------
def fit_fixed(fixed: dict[str, Any], **kwargs: Any):
    return lambda tmp: fit(build_model(channel()), fixed=fixed, **kwargs)


for i, (fixed, kind, words) in enumerate(
    [
        ({"mu": math.nan}, ValueError, r"fixed\['mu'\] = nan is not a finite number"),
        ({"mu": 20.0}, ValueError, r"fixed\['mu'\] = 20.0 is outside the range \[0, 10\] of 'mu'"),
        ({"alpha_lumi": -6.0}, ValueError, r"fixed\['alpha_lumi'\] = -6.0 is outside the range \[-5, 5\]"),
        ({"nope": 1.0}, KeyError, r"no parameter 'nope' in workspace 'ws_nsbi'"),
        ({"mu": "1"}, TypeError, r"fixed\['mu'\] = '1' must be a number"),
        ({"mu": np.array([1.0, 2.0])}, TypeError, r"fixed\['mu'\] = .* must be a number"),
    ]
):
    add(error(f"fit-fixed-{i}", fit_fixed(fixed), kind, words))
for i, (kwargs, words) in enumerate(
    [
        ({"strategy": 3}, r"strategy must be Minuit's 0, 1 or 2, got 3"),
        ({"tolerance": 0.0}, r"tolerance must be a positive number"),
        ({"tolerance": math.nan}, r"tolerance must be a positive number"),
    ]
):
    add(error(f"fit-option-{i}", fit_fixed({}, **kwargs), ValueError, words))


def fixed_fit_value(tmp: Path) -> float:
    """The conditional fit at mu = 2 with alpha_lumi profiled equals scipy's minimum of the reference."""
    return fit(build_model(channel()), fixed={"mu": 2.0}).min_nll


def reference_profile(mu: float) -> float:
    from scipy.optimize import minimize_scalar

    refs = ref_processes()
    return float(
        minimize_scalar(
            lambda a: reference.nll(refs, {"mu": mu}, {"lumi": a}),
            bounds=(-5, 5),
            method="bounded",
            options={"xatol": 1e-9},
        ).fun
    )


add(
    result(
        "fit-fixed-profiled",
        fixed_fit_value,
        lambda v: close(v, reference_profile(2.0), rtol=1e-8, atol=1e-7, what="profiled NLL"),
    )
)
add(
    error(
        "fit-nu-negative-start",
        lambda tmp: _negative_nu_fit(),
        ValueError,
        r"expected number of events nu = -10.0 is not positive at the start of the fit",
    )
)


def _negative_nu_fit() -> Any:
    model = build_model([Process("S", 10.0, RATIO, "mu - 2")], pois={"mu": (3.0, -5.0, 10.0)})
    model.set_parameters(mu=1.0)
    return fit(model)


# -- scans: values and undefined points ---------------------------------------------------------------
def scan(values: Any, poi: str = "mu", **kwargs: Any):
    return lambda tmp: profile_scan(build_model(channel()), poi, values, **kwargs)


for i, (values, kind, words) in enumerate(
    [
        ([1.0, math.nan, 2.0], ValueError, r"scan values of 'mu' .*entry 1 = nan"),
        ([1.0, math.inf], ValueError, r"scan values of 'mu' .*entry 1 = inf"),
        ([-0.1], ValueError, r"scan values of 'mu' must be finite and inside its range \[0, 10\]: entry 0 = -0.1"),
        (
            [1.0, 20.0],
            ValueError,
            r"scan values of 'mu' must be finite and inside its range \[0, 10\]: entry 1 = 20 is not",
        ),
        (np.ones((2, 2)), ValueError, r"scan values of 'mu' must be 1-D"),
        (["a"], TypeError, r"scan values of 'mu' must be numbers, got dtype <U1"),
        ([], ValueError, r"scan values of 'mu' are empty"),
    ]
):
    add(error(f"scan-values-{i}", scan(values), kind, words))
add(
    error(
        "scan-unknown-poi",
        scan([1.0], poi="nope"),
        ValueError,
        r"'nope' is not a floating parameter of the model \(have \['alpha_lumi', 'mu'\]\)",
    )
)
add(
    error(
        "scan2d-nan",
        lambda tmp: profile_scan_2d(build_model(channel()), ("mu", "alpha_lumi"), [1.0, math.nan], [0.0]),
        ValueError,
        r"scan values of 'mu' must be finite",
    )
)
add(
    error(
        "scan2d-same",
        lambda tmp: profile_scan_2d(build_model(channel()), ("mu", "mu"), [1.0], [1.0]),
        ValueError,
        r"a 2-D scan needs two different parameters",
    )
)


def undefined_scan(with_nps: bool, fast: bool = False, form: str = "store"):
    """f_S = mu - 2, f_B = -1: nu = 10 (mu - 2) - 40 + 45 G_C(alpha_lumi), G_C in [0.9, 1.1] (alpha in [-1, 1])."""

    def run(tmp: Path) -> Any:
        norm = {"lumi": (0.9, 1.1)} if with_nps else {}
        shape = {"jes": jes()} if with_nps else {}
        procs = [
            Process("S", 10.0, RATIO, "mu - 2", shapesys=shape),
            Process("B", 40.0, np.ones(N), "-1"),
            Process("C", 45.0, np.ones(N), normsys=norm),
        ]
        model = build_model(procs, pois={"mu": (3.0, -10.0, 10.0)}, form=form, alpha_range=(-1.0, 1.0))
        return profile_scan(model, "mu", [3.0, 1.0, -2.0, 4.0], fast=fast)

    return run


def undefined_check(scan: Any) -> str | None:
    """nu(mu) = 10 (mu - 2) - 40 + 45 G: defined at mu = 3, 4; at mu = 1 and mu = -2 nu < 0 for every alpha in the
    range: NaN there with a reason naming the point and nu, finite elsewhere, and the scan goes on."""
    t = scan.t
    if not (np.isfinite(t[[0, 3]]).all() and np.isnan(t[[1, 2]]).all()):
        return f"t = {t}: expected finite at mu = 3, 4 and NaN at mu = 1, -2"
    for k, mu in ((1, 1.0), (2, -2.0)):
        why = scan.undefined.get(k, "")
        if f"mu = {mu:g}" not in why or "nu = " not in why:
            return f"no reason naming mu = {mu:g} and nu for the undefined point: {scan.undefined}"
    if set(scan.undefined) != {1, 2}:
        return f"undefined points {sorted(scan.undefined)} != [1, 2]"
    return None


for nps in (False, True):
    for form in ("store", "columns"):
        label = f"{'nps' if nps else 'no-nps'}-{form}"
        add(result(f"scan-undefined-{label}", undefined_scan(nps, form=form), undefined_check))
    add(result(f"scan-undefined-fast-{'nps' if nps else 'no-nps'}", undefined_scan(nps, fast=True), undefined_check))


def temporary_model(form: str):
    """fast_nll of a model that is not kept: the NLL keeps the model (its pdf, dataset, workspace) alive."""

    def run(tmp: Path) -> float:
        import gc

        nll = fast_nll(build_model(channel(), form=form))
        gc.collect()
        nll.nll.setValueDirty()
        return nll.getVal()

    return run


for form in ("store", "columns"):
    add(
        result(
            f"fast-temporary-model-{form}",
            temporary_model(form),
            nll_matches(ref_processes(), {"mu": 1.0}, {"lumi": 0.0}, rtol=1e-6),
        )
    )


def undefined_scan_2d(tmp: Path) -> Any:
    """The model of undefined_scan on a (mu, alpha_lumi) grid: NaN with a reason where nu < 0, finite elsewhere."""
    procs = [Process("S", 10.0, RATIO, "mu - 2"), Process("B", 40.0, np.ones(N), "-1"),
             Process("C", 45.0, np.ones(N), normsys={"lumi": (0.9, 1.1)})]
    model = build_model(procs, pois={"mu": (3.0, -10.0, 10.0)}, alpha_range=(-1.0, 1.0))
    return profile_scan_2d(model, ("mu", "alpha_lumi"), [3.0, -2.0], [-0.5, 0.5], progress=False)


def undefined_2d_check(scan: Any) -> str | None:
    t = scan.t
    if not (np.isfinite(t[0]).all() and np.isnan(t[1]).all()):
        return f"t = {t}: expected finite at mu = 3 and NaN at mu = -2"
    if set(scan.undefined) != {(1, 0), (1, 1)} or not all("nu = " in why for why in scan.undefined.values()):
        return f"undefined points {scan.undefined}"
    return None


add(result("scan2d-undefined", undefined_scan_2d, undefined_2d_check))


# -- hypothesis: random stores and damaged arrays through fast_nll ---------------------------------------
def property_random_stores(tmp: Path) -> int:
    """fast_nll(model, make_store(columns, weights=...)) of random ratio columns and weights (random length,
    float32 or float64) equals the numpy reference NLL at a random point; one damaged entry (negative, NaN,
    inf ratio; NaN or negative-total weights; a 2-D, short, string or boolean column) is a ValueError or
    TypeError naming the column (and the entry), never a number."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seen = {"ok": 0}
    model = build_model(channel(), form="columns")

    @settings(max_examples=30, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(
        seed=st.integers(0, 2**32 - 1),
        n=st.integers(1, 40),
        dtype=st.sampled_from(["float32", "float64"]),
        weighted=st.booleans(),
        damage=st.sampled_from([None, None, None, None, "negative", "nan", "inf", "2d", "short", "string", "bool",
                                "weight-nan", "weight-negative"]),
    )
    def prop(seed: int, n: int, dtype: str, weighted: bool, damage: str | None) -> None:
        rng = np.random.default_rng(seed)
        r_s, r_b = rng.uniform(0.05, 3.0, n).astype(dtype), rng.uniform(0.2, 2.0, n).astype(dtype)
        weights = rng.uniform(0.2, 2.0, n) if weighted or damage in ("weight-nan", "weight-negative") else None
        columns: dict[str, Any] = {"r_S": r_s, "r_B": r_b}
        at = int(rng.integers(n))
        words = {"negative": rf"column 'r_S' .*entry {at} = -1", "nan": rf"column 'r_S' .*entry {at} = nan",
                 "inf": rf"column 'r_S' .*entry {at} = inf", "2d": r"column 'r_S' must be 1-D",
                 "short": r"column 'r_B' has \d+ entries but the other columns have",
                 "string": r"column 'r_S' has dtype",
                 "bool": r"column 'r_S' has dtype bool", "weight-nan": rf"column 'weight' .*entry {at} = nan",
                 "weight-negative": r"column 'weight' sum to -"}.get(damage or "")
        if damage in ("negative", "nan", "inf"):
            r_s[at] = {"negative": -1.0, "nan": np.nan, "inf": np.inf}[damage]
        elif damage == "2d":
            columns["r_S"] = np.stack([r_s, r_s])
        elif damage == "short":
            if n == 1:
                return
            columns["r_B"] = r_b[:-1]
        elif damage == "string":
            columns["r_S"] = r_s.astype(str)
        elif damage == "bool":
            columns["r_S"] = r_s > 1.0
        elif damage == "weight-nan":
            weights[at] = np.nan  # type: ignore[index]
        elif damage == "weight-negative":
            weights = -weights  # type: ignore[operator]
        point = {"mu": float(rng.uniform(0.1, 5.0)), "alpha_lumi": float(rng.uniform(-2, 2))}
        try:
            store = make_store(columns, None, weights)
            model.set_parameters(point)
            value = fast_nll(model, store).getVal()
        except (ValueError, TypeError) as err:
            assert words is not None and re.search(words, str(err)), f"unexpected error ({damage}): {err}"
            return
        assert words is None, f"no error for {damage}, got {value}"
        refs = [reference.RefProcess(10.0, r_s.astype(np.float64), lambda p: p["mu"]),
                reference.RefProcess(40.0, r_b.astype(np.float64), lambda p: 1.0, normsys={"lumi": (0.95, 1.05, 4)})]
        w = None if weights is None else weights.astype(np.float32).astype(np.float64)  # the store holds float32
        ref = reference.nll(refs, {"mu": point["mu"]}, {"lumi": point["alpha_lumi"]}, w)
        assert abs(value - ref) <= 1e-6 * max(1.0, abs(ref)), f"NLL {value} != reference {ref}"
        seen["ok"] += 1

    prop()
    return seen["ok"]


add(result("property-random-stores", property_random_stores, lambda ok: None if ok >= 5 else f"only {ok} NLLs"))
