"""Whole-fit speed of the fast likelihood: the one-pass Hessian, Newton vs MIGRAD + HESSE, and JAX + iminuit.

The toy of ``bench_nsbi.py`` (off-shell basis SBI, S, B with exact ratios, Asimov weights at mu = 1,
``n_np`` random per-event shape systematics per process, code 5 or 4, 2 threads), fitted from
mu = 1.5 and every alpha = 0.2 (tolerance 1e-5: EDM < 1e-8). Each measurement runs in its own
process and prints one JSON line (peak memory per process, from getrusage's maxrss):

* ``fast`` (RooNSBINLL): the one-pass memory bound (``EventStore::readAll``) measured in the same run,
  NLL + gradient at the start point / bound, the one-pass Hessian / NLL + gradient and its agreement
  with central differences of the analytic gradient (three columns), then the full fit (minimum and
  Hessian errors) with ``Fitter`` method "newton" (Newton iterations, MIGRAD, HESSE) and method
  "migrad" (MIGRAD + HESSE, the default of ``fit(fast=True)``; both with the exact Hessian), their
  passes over the events and the agreement of their mu-hat and errors;
* ``jax32`` / ``jax64``: the same toy as JAX arrays, fitted the way a careful JAX user would: the NLL in
  ``jax.numpy`` vectorised over (process, NP, event) arrays (code 5: ROOT's polynomial inside
  |alpha| < 1, linear in the stored logarithms outside; the product over NPs as the exp of a sum of
  logs), the event sum a ``lax.map`` over chunks of CHUNK events of a ``jax.checkpoint``-ed chunk term
  (reverse mode holds one chunk's intermediates, not a (P, M, N) array), ``jax.jit(jax.value_and_grad)``
  given to iminuit's MIGRAD (strategy 1, the tolerance above, at most MAX_CALLS calls, ``--budget``
  seconds), then ``jax.hessian`` summed over sub-chunks of HESSIAN_CHUNK events for the errors. jax64
  holds the columns in float64; jax32 in float32 with the (P, M, C) work in float32 and the per-event
  sums, logs and event sums in float64 (x64 enabled in both). A run with JAX first checks, in its own
  process, that JAX's float64 NLL equals roonsbi's on a small toy (CHECK_SIZE) to CHECK_TOLERANCE;
* ``profile``: roonsbi's conditional fits: passes (all, and Hessian passes) per impact fit (alpha_np{m}
  at its post-fit +- 1 sigma) started from the best fit with a Hessian pass of their own (unseeded), MIGRAD
  seeded with the global fit's Hessian (``fit(seed_hessian=True)``) from the best fit and from its linear
  response (:func:`linear_response`), then ``infer.impacts`` and ``infer.profile_scan`` seeded and unseeded
  (``--profile COMPARE,IMPACTS,POINTS``: NPs of the start comparison, NPs of ``impacts``, contiguous points
  of the 31-point grid mu-hat +- 3 sigma; ``--strategy``: Minuit's strategy of these fits).

Usage:  python benchmarks/bench_fit_speed.py [--sizes 1e5x20] [--codes 5,4] [--methods fast,jax32,jax64,profile]
            [--fits newton,migrad] [--quick] [--budget SECONDS] [--profile 2,1,31] [--strategy 1]
        python benchmarks/bench_fit_speed.py --one fast:1000000:100:5   (one measurement)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np
from bench_nsbi import _sigma, structure, toy_columns

TOLERANCE = 1e-5
MU_START, ALPHA_START = 1.5, 0.2
MAX_CALLS = 1000  # iminuit's MIGRAD call limit (float32 values cannot reach EDM < 1e-8: it would run ~n^2 calls)
FITS = ("newton", "migrad")  # the Fitter methods of the fast measurement ("migrad" is fit(fast=True)'s)
CHUNK = 4000  # events per chunk of the JAX NLL: (3 x 100 x 4000) intermediates of a few MB
HESSIAN_CHUNK = 250  # events per sub-chunk of the JAX Hessian (1 + n_np tangents of each intermediate)
CHECK_SIZE = (3000, 6)  # the toy of the JAX-vs-roonsbi NLL check at the start of a run with JAX
CHECK_TOLERANCE = 1e-9  # JAX's float64 NLL equals roonsbi's to this relative difference


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _best(reps: int, call) -> float:
    times = []
    for k in range(reps):
        t = time.perf_counter()
        call(k)
        times.append(time.perf_counter() - t)
    return min(times)


def _start(model, n_np: int) -> None:
    model.set_parameters({f"alpha_np{m}": ALPHA_START for m in range(n_np)}, mu=MU_START)


def _roonsbi_nll(n: int, n_np: int, code: int, threads: int):
    """(model, FastNLL, store) of the toy: roonsbi's RooNSBINLL on the float32 EventStore."""
    import ROOT

    from roonsbi.models.fast import fast_nll

    _, yields, ratios, weights, shape_logs = toy_columns(n, n_np, sigma=_sigma(code))
    store = ROOT.std.make_shared["RooNSBI::EventStore"](n)
    for k, v in ratios.items():
        store.addColumn(k, v)
    store.addColumn("weight", weights)
    del ratios, weights
    for proc, m, ll, lh in shape_logs():
        if code == 5:
            store.addColumn(f"log:g_{proc}_np{m}_lo", ll)
            store.addColumn(f"log:g_{proc}_np{m}_hi", lh)
        else:
            store.addColumn(f"g_{proc}_np{m}_lo", np.exp(ll))
            store.addColumn(f"g_{proc}_np{m}_hi", np.exp(lh))
    model = structure(yields, n_np, code=code)
    return model, fast_nll(model, store=store, threads=threads), store  # the FastNLL keeps the constraints alive


def _progress(out: dict, what: str) -> None:
    print(f"  {out['method']}: {what} ({json.dumps({k: v for k, v in out.items() if k.endswith('_s')})})",
          file=sys.stderr, flush=True)


def _hessian_checks(out: dict, model, nll, n_np: int) -> None:
    """The one-pass Hessian's time and three of its columns against central differences of the gradient."""
    npar = nll.gradientParameters().size()
    grad, hess = np.zeros(npar), np.zeros(npar * npar)
    alpha = model.parameter("alpha_np0")

    def hessian(k):
        alpha.setVal(ALPHA_START - 1e-3 * (k + 1))
        nll.hessian(hess)

    out["hessian_s"] = _best(3, hessian)
    # three columns of the Hessian against central differences of the analytic gradient
    alpha.setVal(ALPHA_START)
    nll.hessian(hess)
    h = hess.reshape(npar, npar).copy()
    params = list(nll.gradientParameters())
    worst = 0.0
    for name in ("mu", "alpha_np0", f"alpha_np{n_np - 1}"):
        k = [p.GetName() for p in params].index(name)
        p, x0, step = params[k], params[k].getVal(), 1e-5
        p.setVal(x0 + step)
        nll.gradient(grad)
        up = grad.copy()
        p.setVal(x0 - step)
        nll.gradient(grad)
        p.setVal(x0)
        fd = (up - grad) / (2 * step)
        floating = np.array([not q.isConstant() for q in params])
        scale = np.sqrt(np.abs(np.diag(h)) * abs(h[k, k]))[floating]
        worst = max(worst, float(np.max(np.abs(h[floating, k] - fd[floating]) / scale)))
    out["hessian_vs_differences"] = worst


def run_fast(n: int, n_np: int, code: int, threads: int, fits: tuple[str, ...] = FITS, quick: bool = False) -> dict:
    """roonsbi's fast path (module doc); ``quick``: the full fits only (no Hessian timing and check)."""
    from roonsbi.infer.fit import Fitter

    out: dict = {"method": "fast", "events": n, "nps": n_np, "code": code, "load_start": os.getloadavg()[0]}
    model, fnll, store = _roonsbi_nll(n, n_np, code, threads)
    nll = fnll.nll
    grad = np.zeros(nll.gradientParameters().size())
    out["store_gb"] = store.bytes() / 1e9
    out["bound_s"] = _best(5, lambda k: store.readAll(threads))
    _start(model, n_np)
    alpha = model.parameter("alpha_np0")

    def value_and_gradient(k):
        alpha.setVal(ALPHA_START + 1e-3 * (k + 1))
        nll.getVal()
        nll.gradient(grad)

    nll.getVal()
    out["nll_grad_s"] = _best(5, value_and_gradient)

    if not quick:
        _hessian_checks(out, model, nll, n_np)
    _progress(out, "NLL+grad timed")
    results = {}
    for method in fits:
        _start(model, n_np)
        passes = nll.numPasses()
        fitter = Fitter(model, nll=nll, tolerance=TOLERANCE, method=method)
        t = time.perf_counter()
        res = fitter.fit(hesse=True)
        results[method] = res
        out[f"{method}_fit_s"] = time.perf_counter() - t
        out[f"{method}_passes"] = int(nll.numPasses() - passes)
        out[f"{method}_status"], out[f"{method}_edm"] = res.status, res.edm
        out[f"{method}_mu"], out[f"{method}_mu_err"] = res.values["mu"], res.errors["mu"]
        if fitter.newton is not None:
            out["newton_iterations"] = fitter.newton.iterations
    if "newton" in results and "migrad" in results:
        a, b = results["newton"], results["migrad"]
        out["max_value_diff_over_error"] = max(abs(a.values[k] - b.values[k]) / b.errors[k] for k in b.values)
        out["max_error_rel_diff"] = max(abs(a.errors[k] / b.errors[k] - 1) for k in b.values)
    out["load_end"] = os.getloadavg()[0]
    out["peak_gb"] = peak_rss_gb()
    return out


def _jax_functions(nu: np.ndarray, n_np: int, dtype, chunk: int, hessian_chunk: int):
    """The jitted (value and gradient, Hessian) of the code-5 NLL over chunked (K, P, M, C) arrays.

    ``data`` = (log_lo, log_hi, r, w) with shapes (K, P, M, C), (K, P, M, C), (K, P, C), (K, C): the events in
    K chunks of C (padding events have w = 0, r = 1, logs 0). The (P, M, C) work of a chunk is in ``dtype``;
    the per-event sums over processes, the log and the sums over events are float64. The event sum is a
    ``lax.map`` over chunk indices of a ``jax.checkpoint``-ed chunk function, so reverse mode keeps one
    chunk's intermediates (recomputed in the backward pass), never a (P, M, N) array; the Hessian sums
    ``jax.hessian`` of sub-chunks of ``hessian_chunk`` events (forward-over-reverse, 1 + n_np tangents).
    """
    import jax
    import jax.numpy as jnp

    nu = jnp.asarray(nu, dtype=jnp.float64)

    def big_n(mu):  # the off-shell basis coefficients (sqrt(mu), mu - sqrt(mu), 1 - sqrt(mu)) times the yields
        s = jnp.sqrt(mu)
        return jnp.stack([s, mu - s, 1 - s]) * nu

    def poly_weights(x):  # ROOT's code 5 inside |alpha| < 1, collected by powers of alpha (see MathFuncs.h)
        x2, x3 = x * x, x * x * x
        x4, x5, x6 = x2 * x2, x2 * x3, x3 * x3
        a0 = 15 / 8 * x - 5 / 4 * x3 + 3 / 8 * x5
        s0 = 3 * x2 - 3 * x4 + x6
        s1 = -7 / 8 * x + 5 / 4 * x3 - 3 / 8 * x5
        a1 = -9 / 8 * x2 + 7 / 4 * x4 - 5 / 8 * x6
        s2 = 1 / 8 * x2 - 1 / 4 * x4 + 1 / 8 * x6
        a2 = 1 / 8 * x - 1 / 4 * x3 + 1 / 8 * x5
        return ((1 - x2) ** 3, 0.5 * (a0 + s0), 0.5 * (s1 + a1), 0.5 * (s2 + a2), 0.5 * (s0 - a0), 0.5 * (a1 - s1),
                0.5 * (s2 - a2))

    def events_term(theta, log_lo, log_hi, r, w):  # sum_i w_i log F_i over the events of the arrays
        alpha = theta[1:].astype(dtype)[None, :, None]  # (1, M, 1) against (P, M, C)
        k, p0, p1, p2, q0, q1, q2 = poly_weights(alpha)
        inside = jnp.abs(alpha) < 1
        inner = k + jnp.exp(log_hi) * (p0 + log_hi * (p1 + log_hi * p2)) + jnp.exp(log_lo) * (
            q0 + log_lo * (q1 + log_lo * q2))
        # the product over NPs as exp(sum of logs): outside |alpha| < 1 the log is linear in the stored logs
        # (no exp), and the sum's gradient is cheap where jnp.prod's is not; inner is made 1 outside before its
        # log, so that the branch not taken gives no NaN gradient
        log_factor = jnp.where(inside, jnp.log(jnp.where(inside, inner, 1)),
                               jnp.where(alpha >= 0, alpha * log_hi, -alpha * log_lo))
        factor = jnp.exp(jnp.sum(log_factor, axis=1))  # (P, C)
        f = jnp.sum(big_n(theta[0])[:, None] * (r * factor).astype(jnp.float64), axis=0)
        return jnp.sum(w.astype(jnp.float64) * jnp.log(f))

    def outside(theta):  # the event-free terms: sum_J N_J(mu) and the unit Gaussian constraints (-log N(0 | alpha, 1))
        return jnp.sum(big_n(theta[0])) + 0.5 * jnp.sum(theta[1:] ** 2) + n_np * 0.5 * math.log(2 * math.pi)

    @jax.checkpoint  # the slicing inside: the residuals of a chunk are theta and k, not a copy of its events
    def chunk_term(theta, k, data):
        return events_term(theta, *(a[k] for a in data))

    def nll(theta, data):
        sums = jax.lax.map(lambda k: chunk_term(theta, k, data), jnp.arange(data[3].shape[0]))
        return outside(theta) - jnp.sum(sums)

    hess_term = jax.hessian(events_term)
    n_sub = chunk // hessian_chunk

    def hessian(theta, data):
        log_lo, log_hi, r, w = data

        def sub(k, j):
            cut = lambda a: jax.lax.dynamic_slice_in_dim(a[k], j * hessian_chunk, hessian_chunk, axis=-1)
            return hess_term(theta, cut(log_lo), cut(log_hi), cut(r), cut(w))

        def over_chunks(k, acc):
            return jax.lax.fori_loop(0, n_sub, lambda j, a: a + sub(k, j), acc)

        zero = jnp.zeros((theta.size, theta.size), dtype=jnp.float64)
        return jax.hessian(outside)(theta) - jax.lax.fori_loop(0, w.shape[0], over_chunks, zero)

    return jax.jit(jax.value_and_grad(nll)), jax.jit(hessian), jax.jit(nll)


def jax_data(n: int, n_np: int, code: int, dtype, chunk: int):
    """(yields, data) of the toy as chunked JAX arrays (see :func:`_jax_functions`), built one array at a
    time so that the peak stays near the arrays' own size."""
    import jax.numpy as jnp

    from roonsbi.inputs.toy import COEFFICIENTS

    if code != 5:
        raise ValueError("the JAX variant implements code 5")
    procs = list(COEFFICIENTS)
    _, yields, ratios, weights, shape_logs = toy_columns(n, n_np, sigma=_sigma(code))
    k = -(-n // chunk)
    pad = k * chunk - n

    def chunked(column, fill):
        return np.concatenate([column.astype(dtype), np.full(pad, fill, dtype=dtype)]).reshape(k, chunk)

    lo = np.empty((k, len(procs), n_np, chunk), dtype=dtype)
    hi = np.empty((k, len(procs), n_np, chunk), dtype=dtype)
    for proc, m, ll, lh in shape_logs():
        lo[:, procs.index(proc), m] = chunked(ll, 0)
        hi[:, procs.index(proc), m] = chunked(lh, 0)
    log_lo = jnp.asarray(lo)
    del lo
    log_hi = jnp.asarray(hi)
    del hi
    r = jnp.asarray(np.stack([chunked(ratios[f"r_{p}"], 1) for p in procs], axis=1))
    w = jnp.asarray(chunked(weights, 0))
    return np.array([yields[p] for p in procs]), (log_lo, log_hi, r, w)


def run_jax(n: int, n_np: int, code: int, x64: bool, chunk: int = CHUNK, budget: float = math.inf) -> dict:
    """The toy in JAX + iminuit (code 5 only), as a careful JAX user fits it (module doc)."""
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 parameters and sums in both variants
    import jax.numpy as jnp
    from iminuit import Minuit

    dtype = np.float64 if x64 else np.float32
    out: dict = {"method": "jax64" if x64 else "jax32", "events": n, "nps": n_np, "code": code, "chunk": chunk,
                 "load_start": os.getloadavg()[0]}
    nu, data = jax_data(n, n_np, code, dtype, chunk)
    out["input_gb"] = sum(a.nbytes for a in data) / 1e9
    out["rss_data_gb"] = peak_rss_gb()
    value_and_grad, hessian, _ = _jax_functions(nu, n_np, dtype, chunk, min(HESSIAN_CHUNK, chunk))
    x0 = np.array([MU_START] + [ALPHA_START] * n_np)
    t = time.perf_counter()
    value_and_grad = value_and_grad.lower(jnp.asarray(x0), data).compile()
    out["compile_s"] = time.perf_counter() - t
    out["nll_grad_s"] = _best(2, lambda k: value_and_grad(jnp.asarray(x0 + 1e-3 * (k + 1)), data)[0]
                              .block_until_ready())
    _progress(out, "NLL+grad timed")
    cache: dict = {}
    calls = {"n": 0, "t0": time.perf_counter()}

    def both(x):
        key = x.tobytes()
        if key not in cache:
            if time.time() > deadline:
                raise TimeoutError("deadline")
            cache.clear()
            v, g = value_and_grad(jnp.asarray(x), data)
            cache[key] = (float(v), np.asarray(g, dtype=np.float64))
            calls["n"] += 1
            if calls["n"] % 20 == 0:
                print(f"  {out['method']}: {calls['n']} NLL+grad calls in {time.perf_counter() - calls['t0']:.1f} s",
                      file=sys.stderr, flush=True)
        return cache[key]

    m = Minuit(lambda x: both(np.asarray(x))[0], x0, grad=lambda x: both(np.asarray(x))[1],
               name=["mu"] + [f"alpha_np{k}" for k in range(n_np)])
    m.errordef = Minuit.LIKELIHOOD
    m.tol = TOLERANCE
    m.strategy = 1
    m.limits = [(0.0, 10.0)] + [(-5.0, 5.0)] * n_np
    t = time.perf_counter()
    deadline = time.time() + budget
    try:
        m.migrad(ncall=MAX_CALLS)
    except TimeoutError:
        out["migrad_s"] = time.perf_counter() - t
        out["stopped"] = f"time budget {budget:.0f} s reached during MIGRAD after {calls['n']} NLL+grad evaluations"
        out["calls"] = calls["n"]
        out["peak_gb"] = peak_rss_gb()
        return out
    out["migrad_s"] = time.perf_counter() - t
    out["valid"], out["edm"], out["calls"] = bool(m.valid), float(m.fmin.edm), calls["n"]
    out["nfcn"] = int(m.fmin.nfcn)
    _progress(out, "MIGRAD done")
    xhat = jnp.asarray(np.array(m.values))
    t = time.perf_counter()
    hessian = hessian.lower(xhat, data).compile()
    out["hessian_compile_s"] = time.perf_counter() - t
    t = time.perf_counter()
    hess = np.asarray(hessian(xhat, data), dtype=np.float64)
    cov = np.linalg.inv(0.5 * (hess + hess.T))
    out["hessian_s"] = time.perf_counter() - t
    out["fit_s"] = out["migrad_s"] + out["hessian_s"]
    out["mu"], out["mu_err"] = float(m.values["mu"]), float(math.sqrt(cov[0, 0]))
    out["min_nll"] = float(m.fval)
    out["load_end"] = os.getloadavg()[0]
    out["peak_gb"] = peak_rss_gb()
    return out


def run_check(n: int, n_np: int) -> dict:
    """JAX's float64 NLL and gradient against roonsbi's RooNSBINLL on the same small toy, at random points
    inside and outside |alpha| < 1: the benchmark compares fits of the same likelihood."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from roonsbi.infer.fit import true_value

    chunk = 256
    nu, data = jax_data(n, n_np, 5, np.float64, chunk)
    value_and_grad, _, _ = _jax_functions(nu, n_np, np.float64, chunk, 64)
    model, fnll, _ = _roonsbi_nll(n, n_np, 5, threads=1)
    nll = fnll.nll
    names = [p.GetName() for p in nll.gradientParameters()]
    grad = np.zeros(len(names))
    rng = np.random.default_rng(7)
    worst_value = worst_grad = 0.0
    for _ in range(6):
        x = np.concatenate([[rng.uniform(0.3, 2.5)], rng.uniform(-1.8, 1.8, n_np)])
        model.set_parameters({f"alpha_np{m}": float(x[1 + m]) for m in range(n_np)}, mu=float(x[0]))
        ref = true_value(nll)
        nll.gradient(grad)
        ref_grad = np.array([grad[names.index("mu")]] + [grad[names.index(f"alpha_np{m}")] for m in range(n_np)])
        v, g = value_and_grad(jnp.asarray(x), data)
        worst_value = max(worst_value, abs(float(v) / ref - 1))
        worst_grad = max(worst_grad, float(np.max(np.abs(np.asarray(g) - ref_grad)) / np.max(np.abs(ref_grad))))
    out = {"method": "check", "events": n, "nps": n_np, "code": 5, "nll_rel_diff": worst_value,
           "grad_rel_diff": worst_grad}
    if not worst_value < CHECK_TOLERANCE:
        raise AssertionError(f"JAX's NLL differs from roonsbi's by {worst_value:.2e} relative (> {CHECK_TOLERANCE})")
    return out


def linear_response(best, fixed: dict[str, float]) -> dict[str, float]:
    r"""The start of a conditional fit from the best fit's covariance C: the minimum over the other parameters O
    of the quadratic approximation at ``fixed`` values v_F, theta_O = theta-hat_O + C_OF C_FF^-1 (v_F - theta-hat_F)
    (one fixed parameter here: C_OF / C_FF)."""
    result = best.roofit_result
    names = [p.GetName() for p in result.floatParsFinal()]
    cov = result.covarianceMatrix()
    (name, value), = fixed.items()
    f = names.index(name)
    delta = (value - best.values[name]) / cov(f, f)
    return {**best.values, **{n: best.values[n] + cov(i, f) * delta for i, n in enumerate(names) if i != f}, **fixed}


def run_profile(n: int, n_np: int, code: int, threads: int, compare_nps: int, impact_nps: int,
                scan_points: int, strategy: int = 1, impact_seeds: tuple[bool, ...] = (True, False)) -> dict:
    """Conditional fits of roonsbi's fast path: passes per impact fit unseeded (a Hessian pass of their own)
    and seeded with the global fit's Hessian, from the best fit and (seeded) from its linear response, then
    ``infer.impacts`` of ``impact_nps`` NPs and ``infer.profile_scan`` of ``scan_points`` contiguous points of
    the 31-point grid mu-hat +- 3 sigma, each seeded and unseeded."""
    from roonsbi.infer.fit import Fitter
    from roonsbi.infer.impacts import impacts
    from roonsbi.infer.scan import profile_scan

    out: dict = {"method": "profile", "events": n, "nps": n_np, "code": code, "strategy": strategy,
                 "load_start": os.getloadavg()[0]}
    model, fnll, _ = _roonsbi_nll(n, n_np, code, threads)
    nll = fnll.nll
    fitter = Fitter(model, nll=fnll, tolerance=TOLERANCE, strategy=strategy)
    _start(model, n_np)

    def timed(call):
        passes, hessians, t = nll.numPasses(), nll.numHessianPasses(), time.perf_counter()
        res = call()
        return res, time.perf_counter() - t, int(nll.numPasses() - passes), int(nll.numHessianPasses() - hessians)

    best, out["global_fit_s"], out["global_passes"], out["global_hessian_passes"] = timed(
        lambda: fitter.fit(hesse=True))
    _progress(out, "global fit")
    names = [f"alpha_np{m}" for m in range(compare_nps)]
    variants = {"unseeded": (lambda fixed: best.values, False), "seeded": (lambda fixed: best.values, True),
                "seeded_linear": (lambda fixed: linear_response(best, fixed), True)}
    mus: dict[str, list[float]] = {}
    for label, (start_of, seed) in variants.items():
        passes, hessians, secs, mus[label], statuses, used = [], [], [], [], [], []
        for name in names:
            for sign in (1, -1):
                fixed = {name: best.values[name] + sign * best.errors[name]}
                model.set_parameters(start_of(fixed))
                res, s, p, h = timed(lambda fixed=fixed, seed=seed: fitter.fit(fixed, hesse=False, seed_hessian=seed))
                passes.append(p)
                hessians.append(h)
                secs.append(s)
                mus[label].append(res.values["mu"])
                statuses.append(res.status)
                used.append(fitter.seeded)
        out[f"conditional_{label}_passes"], out[f"conditional_{label}_s"] = passes, secs
        out[f"conditional_{label}_hessian_passes"] = hessians
        out[f"conditional_{label}_status"], out[f"conditional_{label}_used_seed"] = statuses, used
        _progress(out, f"conditional fits {label}")
    if mus["unseeded"]:  # (--profile 0,...: no start comparison)
        for label in ("seeded", "seeded_linear"):
            out[f"conditional_{label}_max_dmu_over_error"] = max(
                abs(a - b) for a, b in zip(mus["unseeded"], mus[label])) / best.errors["mu"]
    nps = [f"alpha_np{m}" for m in range(impact_nps)]
    for seed in impact_seeds if impact_nps else ():
        label = "seeded" if seed else "unseeded"
        model.set_parameters(best.values)
        res, out[f"impacts_{label}_s"], out[f"impacts_{label}_passes"], out[f"impacts_{label}_hessian_passes"] = timed(
            lambda seed=seed: impacts(model, "mu", nuisance_parameters=nps, fitter=fitter, progress=False,
                                      seed_hessian=seed))
        out[f"impacts_{label}_deltas"] = [(i.postfit_up, i.postfit_down, i.prefit_up, i.prefit_down)
                                          for i in sorted(res.impacts, key=lambda i: i.name)]
        out["impacts_fits"] = 4 * impact_nps
        _progress(out, f"impacts {label}")
    if impact_nps and len(impact_seeds) == 2:
        out["impacts_max_ddelta_over_error"] = float(np.max(np.abs(
            np.array(out["impacts_seeded_deltas"]) - np.array(out["impacts_unseeded_deltas"])))) / best.errors["mu"]
    for seed in (True, False) if scan_points else ():
        label = "seeded" if seed else "unseeded"
        lo = max(0.0, best.values["mu"] - 3 * best.errors["mu"])
        grid = np.linspace(lo, best.values["mu"] + 3 * best.errors["mu"], 31)
        first = max(0, 15 - scan_points // 2)
        values = grid[first:first + scan_points]
        model.set_parameters(best.values)
        scan, out[f"scan_{label}_s"], out[f"scan_{label}_passes"], out[f"scan_{label}_hessian_passes"] = timed(
            lambda seed=seed, values=values: profile_scan(model, "mu", values, fitter=fitter, progress=False,
                                                          seed_hessian=seed))
        out["scan_values"] = [float(v) for v in values]
        out[f"scan_{label}_t"] = [float(2 * (v - scan.best.min_nll)) for v in scan.nll]
        _progress(out, f"scan {label}")
    if scan_points:
        out["scan_max_dt"] = float(np.max(np.abs(np.array(out["scan_seeded_t"]) - np.array(out["scan_unseeded_t"]))))
    out["load_end"] = os.getloadavg()[0]
    out["peak_gb"] = peak_rss_gb()
    return out


def measure(spec: str, threads: int, fits: tuple[str, ...], budget: float, profile: tuple[int, int, int],
            quick: bool, strategy: int = 1, impact_seeds: tuple[bool, ...] = (True, False)) -> dict:
    method, n, n_np, code = spec.split(":")
    if method == "check":
        return run_check(int(n), int(n_np))
    if method == "fast":
        return run_fast(int(n), int(n_np), int(code), threads, fits, quick)
    if method == "profile":
        return run_profile(int(n), int(n_np), int(code), threads, *profile, strategy=strategy,
                           impact_seeds=impact_seeds)
    return run_jax(int(n), int(n_np), int(code), x64=method == "jax64", budget=budget)


def _run(spec: str, threads: int, extra: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}")
    proc = subprocess.run([sys.executable, __file__, "--one", spec, "--threads", str(threads), *extra], env=env,
                          stdout=subprocess.PIPE, text=True)  # the child's progress goes to our stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"method": spec.split(":")[0], "error": f"exit status {proc.returncode} (its stderr is above)"}
    return json.loads(lines[-1])


def _size(text: str) -> tuple[int, int]:
    n, n_np = text.lower().split("x")
    return int(float(n)), int(n_np)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e5x20", help="comma-separated events x NPs, e.g. 1e5x20,1e6x100")
    ap.add_argument("--codes", default="5,4")
    ap.add_argument("--methods", default="fast,jax32,jax64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fits", default=",".join(FITS), help="Fitter methods of the fast measurement")
    ap.add_argument("--budget", type=float, default=math.inf,
                    help="seconds after which a JAX MIGRAD stops (reporting its calls so far)")
    ap.add_argument("--profile", default="2,1,31",
                    help="the profile measurement: NPs of the start comparison, NPs of infer.impacts, scan points")
    ap.add_argument("--strategy", type=int, default=1, help="Minuit's strategy of the profile measurement's fits")
    ap.add_argument("--impacts", default="seeded,unseeded",
                    help="the profile measurement's infer.impacts runs: seeded (global Hessian), unseeded, or both")
    ap.add_argument("--quick", action="store_true", help="fast: the full fits only (no Hessian timing and check)")
    ap.add_argument("--one", help="one measurement METHOD:N:NNP:CODE in this process (prints a JSON line)")
    args = ap.parse_args()
    impact_seeds = tuple({"seeded": True, "unseeded": False}[v] for v in args.impacts.split(","))
    if args.one:
        profile = tuple(int(v) for v in args.profile.split(","))
        print(json.dumps(measure(args.one, args.threads, tuple(args.fits.split(",")), args.budget, profile,
                                 args.quick, args.strategy, impact_seeds)), flush=True)
        return
    extra = ["--fits", args.fits, "--budget", str(args.budget), "--profile", args.profile,
             "--strategy", str(args.strategy), "--impacts", args.impacts] + \
        (["--quick"] if args.quick else [])
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    if any(m.startswith("jax") for m in args.methods.split(",")):
        res = _run("check:{}:{}:5".format(*CHECK_SIZE), 1, extra)
        print(json.dumps(res), flush=True)
        if "error" in res:
            raise SystemExit("JAX's NLL does not equal roonsbi's: no JAX comparison")
        print(f"  JAX float64 vs roonsbi on {CHECK_SIZE[0]} x 3 x {CHECK_SIZE[1]}: NLL {res['nll_rel_diff']:.1e} "
              f"relative, gradient {res['grad_rel_diff']:.1e} of its largest component")
    for size in args.sizes.split(","):
        n, n_np = _size(size)
        for code in (int(c) for c in args.codes.split(",")):
            for method in args.methods.split(","):
                if method.startswith("jax") and code != 5:
                    continue
                res = _run(f"{method}:{n}:{n_np}:{code}", args.threads, extra)
                print(json.dumps(res), flush=True)
                _report(res)


def _report(r: dict) -> None:
    if "error" in r:
        print(f"  {r['method']}: failed: {r['error']}")
        return
    head = f"  {r['method']} {r['events']:.0e} x 3 x {r['nps']}, code {r['code']}:"
    if r["method"] == "profile":
        print(f"{head} strategy {r['strategy']}: global fit {r['global_fit_s']:.2f} s ({r['global_passes']} passes, "
              f"{r['global_hessian_passes']} Hessian)")
        base = r["conditional_unseeded_s"]
        for label in ("unseeded", "seeded", "seeded_linear"):
            p, h, t = (r[f"conditional_{label}_{k}"] for k in ("passes", "hessian_passes", "s"))
            if not p:
                continue
            ratio = f", {np.mean(t) / np.mean(base):.2f} x unseeded" if label != "unseeded" else ""
            print(f"    conditional fits {label}: passes {p} (mean {np.mean(p):.1f}, Hessian {np.mean(h):.1f}), "
                  f"{np.mean(t):.3f} s each{ratio}, statuses {r[f'conditional_{label}_status']}, "
                  f"seed used {sum(r[f'conditional_{label}_used_seed'])}/{len(p)}")
            if label != "unseeded":
                dmu = r[f"conditional_{label}_max_dmu_over_error"]
                print(f"      mu-hat-hat vs unseeded: <= {dmu:.1e} of its error")
        for label in ("seeded", "unseeded"):
            if f"impacts_{label}_s" in r:
                print(f"    infer.impacts {label} ({r['impacts_fits']} conditional fits + the global fit): "
                      f"{r[f'impacts_{label}_s']:.1f} s ({r[f'impacts_{label}_passes']} passes, "
                      f"{r[f'impacts_{label}_hessian_passes']} Hessian)")
        if "impacts_max_ddelta_over_error" in r:
            print(f"    seeded / unseeded {r['impacts_seeded_s'] / r['impacts_unseeded_s']:.2f} x; impacts equal to "
                  f"{r['impacts_max_ddelta_over_error']:.1e} of the mu error")
        if "scan_seeded_s" in r:
            s, u = r["scan_seeded_s"], r["scan_unseeded_s"]
            print(f"    infer.profile_scan ({len(r['scan_values'])} points + the global fit): seeded {s:.1f} s "
                  f"({r['scan_seeded_passes']} passes, {r['scan_seeded_hessian_passes']} Hessian), unseeded {u:.1f} s "
                  f"({r['scan_unseeded_passes']} passes, {r['scan_unseeded_hessian_passes']} Hessian): {s / u:.2f} x; "
                  f"t equal to {r['scan_max_dt']:.1e}")
        print(f"    peak {r['peak_gb']:.2f} GB, load {r['load_start']:.1f} -> {r['load_end']:.1f}")
        return
    if r["method"] == "fast":
        hessian = (f"; Hessian {r['hessian_s']:.4f} s ({r['hessian_s'] / r['nll_grad_s']:.2f} NLL+grad passes; "
                   f"vs differences {r['hessian_vs_differences']:.1e})") if "hessian_s" in r else ""
        print(f"{head} store {r['store_gb']:.2f} GB, bound {r['bound_s']:.4f} s; NLL+grad {r['nll_grad_s']:.4f} s "
              f"({r['nll_grad_s'] / r['bound_s']:.2f} x bound){hessian}; peak {r['peak_gb']:.2f} GB")
        for method in ("newton", "migrad"):
            if f"{method}_fit_s" in r:
                print(f"    full fit {method}: {r[f'{method}_fit_s']:.2f} s ({r[f'{method}_passes']} passes, status "
                      f"{r[f'{method}_status']}); mu = {r[f'{method}_mu']:.6f} +- {r[f'{method}_mu_err']:.6f}")
        if "max_value_diff_over_error" in r:
            print(f"    Newton vs MIGRAD: max |dvalue|/error {r['max_value_diff_over_error']:.1e}, "
                  f"max |derror|/error {r['max_error_rel_diff']:.1e}")
    elif "stopped" in r:
        print(f"{head} NLL+grad {r['nll_grad_s']:.4f} s (compile {r['compile_s']:.1f} s); {r['stopped']} "
              f"({r['migrad_s']:.1f} s); peak {r['peak_gb']:.2f} GB (input {r['input_gb']:.2f} GB)")
    else:
        print(f"{head} NLL+grad {r['nll_grad_s']:.4f} s (compile {r['compile_s']:.1f} s); MIGRAD {r['migrad_s']:.1f} s "
              f"({r['calls']} calls, valid {r['valid']}, EDM {r['edm']:.1e}) + Hessian {r['hessian_s']:.1f} s "
              f"(compile {r['hessian_compile_s']:.1f} s) = {r['fit_s']:.1f} s; mu = {r['mu']:.6f} +- "
              f"{r['mu_err']:.6f}; peak {r['peak_gb']:.2f} GB (input {r['input_gb']:.2f} GB)")


if __name__ == "__main__":
    main()
