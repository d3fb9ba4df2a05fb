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
* ``jax32`` / ``jax64``: the same toy as JAX arrays (float32 / float64), the NLL written in
  ``jax.numpy`` (code 5: ROOT's polynomial inside |alpha| < 1, exponential outside), ``jax.jit`` of
  ``jax.value_and_grad`` given to iminuit's MIGRAD (``tol`` as above), then the Hessian from JAX
  (forward-over-reverse, one Hessian-vector product per parameter) for the errors: Minuit's HESSE
  would take ~n^2/2 NLL evaluations. MIGRAD stops after MAX_CALLS = 1000 calls (float32 values are too
  coarse for EDM < 1e-8: without a limit it runs until Minuit's own, ~5 n^2 calls).

Usage:  python benchmarks/bench_fit_speed.py [--sizes 1e5x20] [--codes 5,4] [--methods fast,jax32,jax64]
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


def run_fast(n: int, n_np: int, code: int, threads: int) -> dict:
    import ROOT

    from roonsbi.infer.fit import Fitter
    from roonsbi.models.fast import fast_nll

    out: dict = {"method": "fast", "events": n, "nps": n_np, "code": code, "load_start": os.getloadavg()[0]}
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
    fnll = fast_nll(model, store=store, threads=threads)  # keeps the constraint terms alive
    nll = fnll.nll
    npar = nll.gradientParameters().size()
    grad, hess = np.zeros(npar), np.zeros(npar * npar)
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

    fits = {}
    for method in ("newton", "migrad"):
        _start(model, n_np)
        passes = nll.numPasses()
        fitter = Fitter(model, nll=nll, tolerance=TOLERANCE, method=method)
        t = time.perf_counter()
        res = fitter.fit(hesse=True)
        fits[method] = res
        out[f"{method}_fit_s"] = time.perf_counter() - t
        out[f"{method}_passes"] = int(nll.numPasses() - passes)
        out[f"{method}_status"], out[f"{method}_edm"] = res.status, res.edm
        out[f"{method}_mu"], out[f"{method}_mu_err"] = res.values["mu"], res.errors["mu"]
        if fitter.newton is not None:
            out["newton_iterations"] = fitter.newton.iterations
    a, b = fits["newton"], fits["migrad"]
    out["max_value_diff_over_error"] = max(abs(a.values[k] - b.values[k]) / b.errors[k] for k in b.values)
    out["max_error_rel_diff"] = max(abs(a.errors[k] / b.errors[k] - 1) for k in b.values)
    out["load_end"] = os.getloadavg()[0]
    out["peak_gb"] = peak_rss_gb()
    return out


def run_jax(n: int, n_np: int, code: int, x64: bool) -> dict:
    """The toy in JAX + iminuit (code 5 only), as the public NSBI toolkits fit it."""
    import jax

    jax.config.update("jax_enable_x64", x64)
    import jax.numpy as jnp
    from iminuit import Minuit

    from roonsbi.inputs.toy import COEFFICIENTS

    if code != 5:
        raise ValueError("the JAX variant implements code 5")
    dtype = np.float64 if x64 else np.float32
    out: dict = {"method": "jax64" if x64 else "jax32", "events": n, "nps": n_np, "code": code,
                 "load_start": os.getloadavg()[0]}
    _, yields, ratios, weights, shape_logs = toy_columns(n, n_np, sigma=_sigma(code))
    procs = list(COEFFICIENTS)
    lo = np.empty((len(procs), n_np, n), dtype=dtype)
    hi = np.empty((len(procs), n_np, n), dtype=dtype)
    for proc, m, ll, lh in shape_logs():
        lo[procs.index(proc), m] = ll
        hi[procs.index(proc), m] = lh
    r = jnp.asarray(np.stack([ratios[f"r_{p}"] for p in procs]).astype(dtype))
    w = jnp.asarray(weights.astype(dtype))
    log_lo, log_hi = jnp.asarray(lo), jnp.asarray(hi)
    del lo, hi, ratios, weights
    nu = jnp.asarray(np.array([yields[p] for p in procs], dtype=dtype))

    def coefficients(mu):
        s = jnp.sqrt(mu)
        return jnp.stack([s, mu - s, 1 - s])

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

    def nll(theta):
        mu, alpha = theta[0], theta[1:].astype(dtype)
        a = alpha[None, :, None]
        K, P0, P1, P2, Q0, Q1, Q2 = (v[None, :, None] for v in poly_weights(alpha))
        g_hi, g_lo = jnp.exp(log_hi), jnp.exp(log_lo)
        inner = K + g_hi * (P0 + log_hi * (P1 + log_hi * P2)) + g_lo * (Q0 + log_lo * (Q1 + log_lo * Q2))
        outer = jnp.exp(jnp.where(a >= 0, a * log_hi, -a * log_lo))
        factor = jnp.where(jnp.abs(a) < 1, inner, outer)
        big_n = coefficients(mu) * nu
        f = jnp.sum(big_n[:, None] * r * jnp.prod(factor, axis=1), axis=0)
        return jnp.sum(big_n) - jnp.sum(w * jnp.log(f)) + 0.5 * jnp.sum(theta[1:] ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(nll))
    grad_only = jax.jit(jax.grad(nll))

    @jax.jit
    def hessian(theta):  # one forward-over-reverse Hessian-vector product per parameter, in sequence
        return jax.lax.map(lambda v: jax.jvp(grad_only, (theta,), (v,))[1], jnp.eye(theta.size, dtype=theta.dtype))

    x0 = np.array([MU_START] + [ALPHA_START] * n_np)
    t = time.perf_counter()
    value_and_grad(jnp.asarray(x0))[0].block_until_ready()
    out["compile_s"] = time.perf_counter() - t
    out["nll_grad_s"] = _best(3, lambda k: value_and_grad(jnp.asarray(x0 + 1e-3 * (k + 1)))[0].block_until_ready())
    cache: dict = {}

    def both(x):
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            v, g = value_and_grad(jnp.asarray(x))
            cache[key] = (float(v), np.asarray(g, dtype=np.float64))
        return cache[key]

    calls = {"n": 0}

    def fcn(x):
        calls["n"] += 1
        return both(np.asarray(x))[0]

    m = Minuit(fcn, x0, grad=lambda x: both(np.asarray(x))[1], name=["mu"] + [f"alpha_np{k}" for k in range(n_np)])
    m.errordef = Minuit.LIKELIHOOD
    m.tol = TOLERANCE
    m.strategy = 1
    m.limits = [(0.0, 10.0)] + [(-5.0, 5.0)] * n_np
    t = time.perf_counter()
    m.migrad(ncall=MAX_CALLS)
    out["migrad_s"] = time.perf_counter() - t
    t = time.perf_counter()
    hess = np.asarray(hessian(jnp.asarray(np.array(m.values)))).astype(np.float64)
    cov = np.linalg.inv(0.5 * (hess + hess.T))
    out["hessian_s"] = time.perf_counter() - t
    out["fit_s"] = out["migrad_s"] + out["hessian_s"]
    out["valid"], out["edm"], out["calls"] = bool(m.valid), float(m.fmin.edm), calls["n"]
    out["mu"], out["mu_err"] = float(m.values["mu"]), float(math.sqrt(cov[0, 0]))
    out["load_end"] = os.getloadavg()[0]
    out["peak_gb"] = peak_rss_gb()
    return out


def measure(spec: str, threads: int) -> dict:
    method, n, n_np, code = spec.split(":")
    if method == "fast":
        return run_fast(int(n), int(n_np), int(code), threads)
    return run_jax(int(n), int(n_np), int(code), x64=method == "jax64")


def _run(spec: str, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}")
    proc = subprocess.run([sys.executable, __file__, "--one", spec, "--threads", str(threads)], env=env,
                          capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"method": spec.split(":")[0], "error": proc.stderr.strip().splitlines()[-3:]}
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
    ap.add_argument("--one", help="one measurement METHOD:N:NNP:CODE in this process (prints a JSON line)")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.threads)), flush=True)
        return
    for size in args.sizes.split(","):
        n, n_np = _size(size)
        for code in (int(c) for c in args.codes.split(",")):
            for method in args.methods.split(","):
                if method.startswith("jax") and code != 5:
                    continue
                res = _run(f"{method}:{n}:{n_np}:{code}", args.threads)
                print(json.dumps(res), flush=True)
                _report(res)


def _report(r: dict) -> None:
    if "error" in r:
        print(f"  {r['method']}: failed: {r['error']}")
        return
    head = f"  {r['method']} {r['events']:.0e} x 3 x {r['nps']}, code {r['code']}:"
    if r["method"] == "fast":
        print(f"{head} store {r['store_gb']:.2f} GB, bound {r['bound_s']:.4f} s; NLL+grad {r['nll_grad_s']:.4f} s "
              f"({r['nll_grad_s'] / r['bound_s']:.2f} x bound); Hessian {r['hessian_s']:.4f} s "
              f"({r['hessian_s'] / r['nll_grad_s']:.2f} NLL+grad passes; "
              f"vs differences {r['hessian_vs_differences']:.1e})")
        print(f"    full fit: Newton {r['newton_fit_s']:.2f} s ({r['newton_passes']} passes, "
              f"{r.get('newton_iterations')} Newton iterations), MIGRAD+HESSE {r['migrad_fit_s']:.2f} s "
              f"({r['migrad_passes']} passes); mu = {r['newton_mu']:.6f} +- {r['newton_mu_err']:.6f} vs "
              f"{r['migrad_mu']:.6f} +- {r['migrad_mu_err']:.6f}; "
              f"max |dvalue|/error {r['max_value_diff_over_error']:.1e}, "
              f"max |derror|/error {r['max_error_rel_diff']:.1e}; peak {r['peak_gb']:.2f} GB")
    else:
        print(f"{head} NLL+grad {r['nll_grad_s']:.4f} s (compile {r['compile_s']:.1f} s); MIGRAD {r['migrad_s']:.1f} s "
              f"({r['calls']} calls, valid {r['valid']}) + Hessian {r['hessian_s']:.1f} s = {r['fit_s']:.1f} s; "
              f"mu = {r['mu']:.6f} +- {r['mu_err']:.6f}; peak {r['peak_gb']:.2f} GB")


if __name__ == "__main__":
    main()
