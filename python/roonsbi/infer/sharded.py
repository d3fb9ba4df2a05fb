r"""A sharded NSBI likelihood: the event store split into shard files, each held by a worker.

The fast NLL (:mod:`roonsbi.models.fast`) of events :math:`i` in shards :math:`s = 1..S` is

.. math:: \mathrm{NLL}(\theta) = \underbrace{\nu(\theta) + \sum_m c_m(\alpha_m)}_\text{driver}
          \;+\; \sum_s \underbrace{\Bigl(-\sum_{i \in s} w_i \log F_i(\theta)\Bigr)}_{\text{shard } s},

so each shard's worker (a Dask actor pinned to a worker, or a plain object in-process) maps its
shard file (a ``RooNSBI::EventStore`` written by :func:`write_shards`, memory-mapped), opens the
saved model once, and returns at each call the value and the analytic gradient of its part: the
``RooNSBINLL`` on its shard minus the same NLL on no events (which is :math:`\nu` and its
gradient, computed the same way, so the two cancel exactly). The driver adds :math:`\nu` and the
constraint terms once (a ``RooNSBINLL`` on no events with the constraint terms) and sums.

The fit (:meth:`ShardedNLL.fit`) is Minuit2's MIGRAD through **iminuit**, with the summed
analytic gradient: a Python callable is all iminuit needs, where RooMinimizer would need a C++
``RooAbsReal`` calling back into Python. The errors are those of the covariance
:math:`H^{-1}` at the minimum, :math:`H` the summed ``RooNSBINLL::hessian`` (central differences
of the analytic gradient, what RooMinimizer's HESSE uses for ``Fitter(fast=True)``), without
Minuit's bound transformation. As in :class:`~roonsbi.infer.fit.Fitter`, Minuit sees
the NLL minus its value at the start plus :data:`~roonsbi.infer.fit.LEVEL`, with
:data:`~roonsbi.infer.fit.TOLERANCE`. :func:`minuit_fit` fits any such function, e.g. the
single-process ``RooNSBINLL`` (:class:`LocalNLL`), the same way.

Dask is imported only when a Client is given (``pip install 'roonsbi[dask]'``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..atomic import atomic_path, refuse_existing
from ..library import cpp_errors, load
from ..models.fast import constraint_terms
from ..models.store import make_store, open_store
from ..models.unbinned import NSBIModel
from ..optional import optional_module
from .executor import ModelSource, open_source
from .fit import LEVEL, TOLERANCE
from .newton import full_hessian
from .results import FitResult

ROOT = load()

__all__ = ["LocalNLL", "Shard", "ShardedNLL", "minuit_fit", "write_shards"]


def write_shards(store: Any, folder: str | os.PathLike, n_shards: int, *, overwrite: bool = False) -> list[Path]:
    """Split the rows of ``store`` (an EventStore) into ``n_shards`` contiguous, nearly equal
    parts and write each as an EventStore file ``folder/shard-<k>.store`` (atomically; existing
    files only with ``overwrite``). Returns the paths."""
    n = int(store.size())
    if not 1 <= int(n_shards) <= max(n, 1):
        raise ValueError(f"n_shards must be between 1 and the number of events ({n}), got {n_shards}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [refuse_existing(folder / f"shard-{k:04d}.store", overwrite) for k in range(int(n_shards))]
    names = [str(c) for c in store.columnNames()]
    columns = {c: np.frombuffer(store.column(c), dtype=np.float32, count=n) for c in names}
    edges = np.linspace(0, n, int(n_shards) + 1).round().astype(int)
    for path, a, b in zip(paths, edges[:-1], edges[1:]):
        shard = make_store({c: v[a:b] for c, v in columns.items()})  # float32 views: no copy to float64
        with atomic_path(path, overwrite) as tmp:
            shard.write(str(tmp), True)  # the empty temporary file atomic_path made
    return paths


def _empty_like(store: Any) -> Any:
    """An EventStore with the columns of ``store`` and no rows."""
    return make_store({str(c): np.zeros(0, dtype=np.float32) for c in store.columnNames()})


def _nll(name: str, pdf: Any, store: Any, terms: Sequence[Any] = (), threads: int = 0) -> Any:
    arglist = ROOT.RooArgList()
    for t in terms:
        arglist.add(t)
    with cpp_errors():
        ROOT.RooNSBINLL.checkInputs(name, pdf, store, arglist)
    nll = ROOT.RooNSBINLL(name, "sharded NSBI NLL", pdf, store, arglist)
    if threads:
        nll.setNumThreads(threads)
    return nll


def _hessian(nll: Any, names: Sequence[str]) -> np.ndarray:
    """The Hessian of a RooNSBINLL (central differences of its analytic gradient,
    ``RooNSBINLL::hessian``) in the order of ``names``."""
    params = [p.GetName() for p in nll.gradientParameters()]
    m = len(params)
    full = full_hessian(nll).reshape(m, m)
    index = {n: i for i, n in enumerate(params)}
    h = np.zeros((len(names), len(names)))
    for a, na in enumerate(names):
        for b, nb in enumerate(names):
            if na in index and nb in index:
                h[a, b] = full[index[na], index[nb]]
    return h


def _set(model: Any, names: Sequence[str], values: Sequence[float]) -> None:
    """Set the parameters, clipped into their ranges (Minuit's bound transformation can step past a
    bound by a rounding error, which RooRealVar refuses)."""
    for name, value in zip(names, values):
        var = model.parameter(name)
        var.setVal(min(max(float(value), var.getMin()), var.getMax()))


def _value_and_gradient(nll: Any, names: Sequence[str]) -> tuple[float, np.ndarray]:
    """(value, gradient in the order of ``names``) of a RooNSBINLL at the current parameters."""
    value = float(nll.getVal())
    params = nll.gradientParameters()
    out = np.zeros(params.size())
    nll.gradient(out)
    by_name = {p.GetName(): float(g) for p, g in zip(params, out)}
    return value, np.array([by_name.get(n, 0.0) for n in names])


class Shard:
    """One shard's part of the NLL (see the module doc): the model of ``source`` (opened once per
    process) and the shard file ``path`` (memory-mapped). A Dask actor, or a plain object."""

    def __init__(self, source: ModelSource, path: str, threads: int = 1):
        self.model = open_source(source)
        self.store = open_store(path)
        self.empty = _empty_like(self.store)
        pdf = self.model.pdf
        self.nll = _nll(f"shard_{Path(path).stem}", pdf, self.store, threads=threads)
        self.nll0 = _nll(f"shard0_{Path(path).stem}", pdf, self.empty, threads=1)

    def size(self) -> int:
        return int(self.store.size())

    def evaluate(self, names: Sequence[str], values: Sequence[float]) -> tuple[float, list[float]]:
        r"""(value, gradient) of :math:`-\sum_{i \in s} w_i \log F_i` at parameters ``names`` = ``values``."""
        _set(self.model, names, values)
        v, g = _value_and_gradient(self.nll, names)
        v0, g0 = _value_and_gradient(self.nll0, names)
        return v - v0, (g - g0).tolist()

    def hessian(self, names: Sequence[str], values: Sequence[float]) -> list[list[float]]:
        """The Hessian of this shard's part at ``values`` (``RooNSBINLL::hessian``, rows in ``names`` order)."""
        _set(self.model, names, values)
        return (_hessian(self.nll, names) - _hessian(self.nll0, names)).tolist()


class _Function:
    """Value and gradient of an NLL as a function of the floating parameters' values (an array)."""

    model: Any
    names: list[str]

    def value_and_gradient(self, x: Sequence[float]) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def hessian(self, x: Sequence[float]) -> np.ndarray:
        raise NotImplementedError

    def floating(self, fixed: Mapping[str, float]) -> list[str]:
        return [n for n in self.names if n not in fixed]

    def fit(self, fixed: Mapping[str, float] | None = None, *, hesse: bool = True, strategy: int = 1,
            tolerance: float = TOLERANCE, start: Mapping[str, float] | None = None) -> FitResult:
        """The fit of this NLL with ``fixed`` parameters held, from ``start`` (default: the
        model's current values; :func:`minuit_fit`)."""
        return minuit_fit(self, fixed, hesse=hesse, strategy=strategy, tolerance=tolerance, start=start)


class LocalNLL(_Function):
    """The single-process RooNSBINLL of ``model`` on ``store`` with the model's constraint terms
    (:func:`~roonsbi.models.fast.fast_nll`'s NLL), as a function for :func:`minuit_fit`."""

    def __init__(self, model: NSBIModel, store: Any, threads: int = 0):
        self.model = model
        self.store = store
        self.terms = constraint_terms(model)
        self.nll = _nll(f"local_{model.name}", model.pdf, store, self.terms, threads)
        self.names = [p.GetName() for c in (model.pois, model.nuisance_parameters) for p in c]

    def value_and_gradient(self, x: Sequence[float]) -> tuple[float, np.ndarray]:
        _set(self.model, self.names, x)
        return _value_and_gradient(self.nll, self.names)

    def hessian(self, x: Sequence[float]) -> np.ndarray:
        _set(self.model, self.names, x)
        return _hessian(self.nll, self.names)


class ShardedNLL(_Function):
    """The NLL of a model whose events are in shard files (see the module doc).

    Args:
        model_file: the saved model (:meth:`~roonsbi.models.unbinned.NSBIModel.save`; it need hold
            no events: ``build_model(..., with_data=False)``), on a file system every worker sees.
        shards: the shard files (:func:`write_shards`).
        client: a ``dask.distributed.Client``: one actor per shard, placed round-robin on the
            workers; None: the shards in this process.
        threads: threads of each shard's pass over its events.
        workspace: the workspace in ``model_file`` (default: its only one).
    """

    def __init__(self, model_file: str | os.PathLike, shards: Sequence[str | os.PathLike], *, client: Any = None,
                 threads: int = 1, workspace: str | None = None):
        path = Path(model_file)
        if not path.is_file():
            raise FileNotFoundError(f"model_file {path} does not exist")
        missing = [str(s) for s in shards if not Path(s).is_file()]
        if missing:
            raise FileNotFoundError(f"shard file {missing[0]} does not exist (write the shards with write_shards)")
        if not shards:
            raise ValueError("ShardedNLL needs at least one shard file")
        self.source = ModelSource(str(path.resolve()), "NSBIModel", workspace)
        self.model = open_source(self.source)
        self.names = [p.GetName() for c in (self.model.pois, self.model.nuisance_parameters) for p in c]
        self.client = client
        paths = [str(Path(s).resolve()) for s in shards]
        if client is None:
            self.shards: list[Any] = [Shard(self.source, p, threads) for p in paths]
        else:
            optional_module("distributed", "the sharded likelihood on a Dask cluster")
            workers = sorted(client.scheduler_info()["workers"])
            futures = [client.submit(Shard, self.source, p, threads, actor=True, workers=[workers[k % len(workers)]],
                                     allow_other_workers=False, pure=False) for k, p in enumerate(paths)]
            self.shards = [f.result() for f in futures]
        first = open_store(paths[0])
        self.terms = constraint_terms(self.model)
        self.driver = _nll(f"driver_{self.model.name}", self.model.pdf, _empty_like(first), self.terms, 1)
        self.calls = 0

    def value_and_gradient(self, x: Sequence[float]) -> tuple[float, np.ndarray]:
        """The NLL and its gradient (in the order of :attr:`names`) at ``x``."""
        self.calls += 1
        values = [float(v) for v in x]
        if self.client is None:
            parts = [s.evaluate(self.names, values) for s in self.shards]
        else:
            futures = [s.evaluate(self.names, values) for s in self.shards]  # all shards at once
            parts = [f.result() for f in futures]
        _set(self.model, self.names, values)
        value, gradient = _value_and_gradient(self.driver, self.names)
        for v, g in parts:  # in shard order: the sum does not depend on which worker finished first
            value += v
            gradient = gradient + np.asarray(g)
        return value, gradient

    def hessian(self, x: Sequence[float]) -> np.ndarray:
        """The Hessian at ``x``: the sum of the shards' and the driver's ``RooNSBINLL::hessian``."""
        values = [float(v) for v in x]
        if self.client is None:
            parts = [s.hessian(self.names, values) for s in self.shards]
        else:
            parts = [f.result() for f in [s.hessian(self.names, values) for s in self.shards]]
        _set(self.model, self.names, values)
        out = _hessian(self.driver, self.names)
        for h in parts:
            out = out + np.asarray(h)
        return out


def minuit_fit(function: Any, fixed: Mapping[str, float] | None = None, *, hesse: bool = True, strategy: int = 1,
               tolerance: float = TOLERANCE, start: Mapping[str, float] | None = None) -> FitResult:
    """MIGRAD with iminuit on ``function`` (a :class:`ShardedNLL` or :class:`LocalNLL`:
    ``names``, ``model``, ``value_and_gradient`` and ``hessian``), with the analytic gradient and
    the Hessian from it (``RooNSBINLL::hessian``, as :class:`~roonsbi.infer.fit.Fitter` with
    ``fast=True`` gives RooMinimizer); with ``hesse`` the minimum is polished by Newton steps with
    that Hessian (:func:`_newton`) and the covariance is the inverse of the Hessian from central
    differences of the gradient with steps of 0.01 of the errors (:func:`_covariance_hessian`).
    The start is the
    model's current values (or ``start``), steps its parameters' errors, limits their ranges.
    ``fixed`` parameters are held at the given values. The model is left at the minimum."""
    iminuit = optional_module("iminuit", "the fit of a sharded likelihood")
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    model = function.model
    values = {n: float(model.parameter(n).getVal()) for n in function.names}
    values.update(start or {})
    values.update(fixed)
    x0 = np.array([values[n] for n in function.names])
    reference = function.value_and_gradient(x0)[0]
    cache: dict[tuple[float, ...], tuple[float, np.ndarray]] = {}

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
        key = tuple(float(v) for v in x)
        if key not in cache:
            cache.clear()
            cache[key] = function.value_and_gradient(x)
        return cache[key]

    fcn: Callable[..., float] = lambda x: evaluate(x)[0] - reference + LEVEL
    grad: Callable[..., np.ndarray] = lambda x: evaluate(x)[1]
    minuit = iminuit.Minuit(fcn, x0, grad=grad, name=function.names)
    minuit.errordef = iminuit.Minuit.LIKELIHOOD
    minuit.strategy = strategy
    minuit.tol = tolerance
    for n in function.names:
        var = model.parameter(n)
        minuit.limits[n] = (var.getMin(), var.getMax())
        minuit.errors[n] = var.getError() if var.getError() > 0 else 0.1 * (var.getMax() - var.getMin())
        minuit.fixed[n] = n in fixed or var.isConstant()
    minuit.migrad()
    x = np.array([float(v) for v in minuit.values])
    free = [i for i, n in enumerate(function.names) if not minuit.fixed[n]]
    lo = np.array([model.parameter(n).getMin() for n in function.names])
    hi = np.array([model.parameter(n).getMax() for n in function.names])
    errors = dict.fromkeys(function.names, 0.0)
    cov_quality = -1
    if hesse and free:
        x, h = _newton(function, x, free, lo, hi)
        try:
            h = _covariance_hessian(function, x, free, lo, hi, h)
            cov = np.linalg.inv(h)
            cov_quality = 3 if np.all(np.linalg.eigvalsh(h) > 0) else 1
            for i, c in zip(free, np.sqrt(np.abs(np.diag(cov)))):
                errors[function.names[i]] = float(c)
        except np.linalg.LinAlgError:
            cov_quality = 0
    best = {n: float(v) for n, v in zip(function.names, x)}
    min_nll = function.value_and_gradient(x)[0]
    model.set_parameters(best)
    status = 0 if minuit.valid else -1
    return FitResult(best, errors, float(min_nll), status, cov_quality, fixed, minuit, float(minuit.fmin.edm))


def _newton(function: Any, x: np.ndarray, free: list[int], lo: np.ndarray, hi: np.ndarray,
            steps: int = 4) -> tuple[np.ndarray, np.ndarray]:
    r"""Polish MIGRAD's minimum with Newton steps :math:`\Delta x = -H^{-1} g` (analytic gradient,
    ``RooNSBINLL::hessian``) while they lower the estimated distance to the minimum
    :math:`\tfrac12 g^T H^{-1} g` (near the minimum the NLL's own change, ~EDM, is below its
    rounding) and exceed 1e-10 of the errors. MIGRAD stops at EDM 1e-8, i.e. ~1e-4 of the errors
    from the minimum; two sums of the same NLL then have minima equal to far better than 1e-8.
    Returns the point and the Hessian of the free parameters there."""
    gradient = function.value_and_gradient(x)[1]
    h = function.hessian(x)[np.ix_(free, free)]
    try:
        dx = np.linalg.solve(h, gradient[free])
    except np.linalg.LinAlgError:
        return x, h
    edm = 0.5 * float(gradient[free] @ dx)
    for _ in range(steps):
        scale = np.sqrt(np.abs(np.diag(np.linalg.inv(h))))
        trial = x.copy()
        trial[free] = np.clip(x[free] - dx, lo[free], hi[free])
        trial_gradient = function.value_and_gradient(trial)[1]
        trial_h = function.hessian(trial)[np.ix_(free, free)]
        try:
            trial_dx = np.linalg.solve(trial_h, trial_gradient[free])
        except np.linalg.LinAlgError:
            break
        trial_edm = 0.5 * float(trial_gradient[free] @ trial_dx)
        if not 0 <= trial_edm < edm:
            break
        small = np.all(np.abs(dx) <= 1e-10 * scale)
        x, h, dx, edm = trial, trial_h, trial_dx, trial_edm
        if small:
            break
    return x, h


def _covariance_hessian(function: Any, x: np.ndarray, free: list[int], lo: np.ndarray, hi: np.ndarray,
                        h: np.ndarray, fraction: float = 0.01) -> np.ndarray:
    r"""The Hessian of the free parameters by central differences of the analytic gradient with
    steps of ``fraction`` of each error (from ``h``): steps at the scale of the errors, as Minuit's
    HESSE takes, so that the rounding of the gradient (~1e-13 of the NLL) does not reach the
    errors (with ``RooNSBINLL::hessian``'s fixed steps of 1e-4 it makes them differ at ~3e-8
    between two sums of the same NLL); the truncation error is ~fraction^2 of the curvature's change."""
    steps = fraction * np.sqrt(np.abs(np.diag(np.linalg.inv(h))))
    out = np.zeros((len(free), len(free)))
    for a, (i, step) in enumerate(zip(free, steps)):
        up, down = x.copy(), x.copy()
        up[i], down[i] = min(x[i] + step, hi[i]), max(x[i] - step, lo[i])
        g_up, g_down = function.value_and_gradient(up)[1], function.value_and_gradient(down)[1]
        out[:, a] = (g_up[free] - g_down[free]) / (up[i] - down[i])
    return 0.5 * (out + out.T)
