r"""Damped Newton minimisation on an exact gradient and Hessian (the start of ``fit(fast=True)``).

For an NLL with an exact Hessian in one pass (``RooNSBINLL::hessian``, which also gives the value
and the gradient of its point), a Newton iteration

.. math:: \theta \leftarrow \Pi\big(\theta - t\,\tilde H^{-1} g\big)

converges quadratically where MIGRAD's quasi-Newton updates need many passes. Here :math:`g` and
:math:`H` are the gradient and Hessian of the floating parameters, :math:`\tilde H` is :math:`H` with
its eigenvalues replaced by :math:`\max(|\lambda|, 10^{-10}\max|\lambda|)` (a descent direction also
where :math:`H` is not positive definite), :math:`\Pi` clips to the parameters' ranges, parameters at
a limit whose gradient points outwards are held there for the step, and :math:`t = 1, 1/2, 1/4,\dots`
backtracks until the Armijo condition :math:`f(\theta') \le f(\theta) + 10^{-4}\,t\,g\cdot\Delta`
holds. It stops when the estimated distance to the minimum
:math:`\mathrm{EDM} = \tfrac12 g^T H^{-1} g` is below the target (Minuit's EDM), after
``max_iterations``, or when no step decreases the NLL. Each accepted step costs one pass over the
events (the Hessian pass at the new point gives its value); each backtracking step one more.

With ``method="newton"``, :class:`~roonsbi.infer.fit.Fitter` then runs MIGRAD from the Newton point,
which converges there in a few passes (Minuit seeds it with the same exact Hessian), and HESSE, so
that the status, the EDM, the RooFitResult and the errors are Minuit's. (Not the default: MIGRAD
seeded with the exact Hessian needs fewer passes at 101 parameters, each Newton iteration being a
Hessian pass of about 4 value-and-gradient passes; see ``benchmarks/RESULTS.md``.)

Example (a quadratic NLL: one Newton step reaches the minimum)::

    >>> import numpy as np
    >>> from roonsbi.infer.newton import newton_steps
    >>> A = np.array([[2.0, 0.5], [0.5, 1.0]]); b = np.array([1.0, -1.0])
    >>> f = lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b, A)
    >>> res = newton_steps(f, np.zeros(2), np.full(2, -10.0), np.full(2, 10.0), edm_target=1e-12)
    >>> bool(np.allclose(res.x, np.linalg.solve(A, b))), res.converged
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["NewtonResult", "acceptable_seed", "full_hessian", "newton_minimize", "newton_steps",
           "positive_definite_hessian", "restricted"]

#: f(x) -> (value, gradient, Hessian) of the floating parameters.
Objective = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]


@dataclass
class NewtonResult:
    """Where the Newton iterations ended: parameters, value, EDM, iterations, evaluations."""

    x: np.ndarray
    value: float
    edm: float
    iterations: int
    evaluations: int
    converged: bool
    message: str = ""


def _direction(g: np.ndarray, h: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, float]:
    """The Newton step of the free parameters (0 for the others) and the EDM 1/2 g^T H^-1 g."""
    step = np.zeros_like(g)
    if not free.any():
        return step, 0.0
    hf = h[np.ix_(free, free)]
    gf = g[free]
    evals, evecs = np.linalg.eigh(0.5 * (hf + hf.T))
    top = float(np.max(np.abs(evals))) if evals.size else 0.0
    if not (top > 0 and np.isfinite(top)):
        return step, float("nan")
    fixed = np.maximum(np.abs(evals), 1e-10 * top)
    step[free] = -(evecs @ ((evecs.T @ gf) / fixed))
    return step, float(0.5 * gf @ -step[free])


def newton_steps(f: Objective, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, edm_target: float,
                 max_iterations: int = 30, max_halvings: int = 12) -> NewtonResult:
    """Damped, bound-projected Newton iterations (module doc) from ``x0`` inside [lower, upper]."""
    x = np.clip(np.asarray(x0, dtype=float), lower, upper)
    value, g, h = f(x)
    evaluations = 1
    edm = float("nan")
    for iteration in range(max_iterations + 1):
        if not (np.isfinite(value) and np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
            return NewtonResult(x, value, float("nan"), iteration, evaluations, False,
                                "non-finite NLL, gradient or Hessian")
        at_lower = (x <= lower) & (g > 0)
        at_upper = (x >= upper) & (g < 0)
        step, edm = _direction(g, h, ~(at_lower | at_upper))
        if not np.isfinite(edm):
            return NewtonResult(x, value, edm, iteration, evaluations, False, "singular Hessian")
        if edm < edm_target:
            return NewtonResult(x, value, edm, iteration, evaluations, True)
        if iteration == max_iterations:
            break
        slope = float(g @ step)
        t = 1.0
        for _ in range(max_halvings + 1):
            trial = np.clip(x + t * step, lower, upper)
            value_t, g_t, h_t = f(trial)
            evaluations += 1
            if np.isfinite(value_t) and value_t <= value + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            return NewtonResult(x, value, edm, iteration, evaluations, False, "no step decreases the NLL")
        x, value, g, h = trial, value_t, g_t, h_t
    return NewtonResult(x, value, edm, max_iterations, evaluations, False, "iteration limit")


def acceptable_seed(hess: np.ndarray) -> bool:
    r"""Whether the symmetric matrix ``hess`` (a Hessian over the floating parameters) is a MIGRAD seed that
    Minuit2 accepts: finite, positive definite (a Cholesky factorisation exists), and, as Minuit2's ``MnPosDef``
    asks of the seed's covariance :math:`V = H^{-1}`, the eigenvalues of its correlation matrix above
    :math:`10^{-6}\max(1, \lambda_\max)` (Minuit's internal coordinates of bounded parameters scale :math:`H`
    by :math:`\mathrm{d}x/\mathrm{d}u`, which changes neither).

    >>> acceptable_seed(np.array([[2.0, 0.5], [0.5, 1.0]])), acceptable_seed(np.array([[1.0, 2.0], [2.0, 1.0]]))
    (True, False)
    """
    if hess.size == 0 or not np.all(np.isfinite(hess)):
        return False
    try:
        np.linalg.cholesky(hess)
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return False
    scale = 1.0 / np.sqrt(np.diag(cov))
    eig = np.linalg.eigvalsh(scale[:, None] * cov * scale[None, :])
    return bool(np.all(np.isfinite(eig)) and eig[0] > 1e-6 * max(1.0, abs(eig[-1])))


def restricted(nll: Any, full: np.ndarray, params: list[Any]) -> np.ndarray:
    """The rows and columns of the RooRealVars ``params`` of ``full``, a matrix over all parameters of ``nll``
    in gradient order (``nll.gradientParameters()``; flat row-major or square)."""
    order = [p.GetName() for p in nll.gradientParameters()]
    index = np.array([order.index(p.GetName()) for p in params], dtype=int)
    return np.asarray(full, dtype=float).reshape(len(order), len(order))[np.ix_(index, index)]


def full_hessian(nll: Any) -> np.ndarray:
    """The exact Hessian of ``nll`` (a RooAbsReal with ``hessian()``, RooNSBINLL) at the current parameter values:
    flat row-major over all its parameters in gradient order (``nll.gradientParameters()``; one Hessian pass, none
    at the point of the last one)."""
    n = len(nll.gradientParameters())
    full = np.zeros(n * n)
    nll.hessian(full)
    return full


def positive_definite_hessian(nll: Any, params: list[Any]) -> bool:
    r"""Whether the exact Hessian :math:`H` of ``nll`` (a RooAbsReal with ``hessian()``, RooNSBINLL) over the
    RooRealVars ``params`` at their current values is a seed that Minuit2 accepts (:func:`acceptable_seed`).

    MIGRAD's seed from an NLL's Hessian must be: Minuit2 prints "Initial matrix not pos.def." and its
    first step fails otherwise (e.g. at a start where the NLL is not convex). The pass is the one the seed
    needs: RooNSBINLL returns its last Hessian again at the same point."""
    return acceptable_seed(restricted(nll, full_hessian(nll), params))


def newton_minimize(nll: Any, params: list[Any], *, edm_target: float, max_iterations: int = 30) -> NewtonResult:
    """:func:`newton_steps` on a RooAbsReal with ``hessian()`` (RooNSBINLL) over the floating
    RooRealVars ``params``, which are left at the result (also when it did not converge: a good
    start for MIGRAD)."""
    order = [p.GetName() for p in nll.gradientParameters()]
    index = np.array([order.index(p.GetName()) for p in params])
    n = len(order)
    lower = np.array([p.getMin() for p in params])
    upper = np.array([p.getMax() for p in params])
    full_grad = np.zeros(n)
    full_hess = np.zeros(n * n)

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        for p, v in zip(params, x):
            p.setVal(float(v))
        nll.hessian(full_hess)  # value and gradient of this point come with it
        value = float(nll.getVal())  # no pass: the Hessian pass left the value of this point
        nll.gradient(full_grad)
        hess = full_hess.reshape(n, n)[np.ix_(index, index)]
        return value, full_grad[index].copy(), hess.copy()

    result = newton_steps(evaluate, np.array([p.getVal() for p in params]), lower, upper, edm_target=edm_target,
                          max_iterations=max_iterations)
    for p, v in zip(params, result.x):
        p.setVal(float(v))
    return result
