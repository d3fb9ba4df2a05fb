r"""Pseudo-experiments for unbinned NSBI models without a simulator.

A toy at parameters :math:`\theta` draws :math:`N \sim \mathrm{Poisson}(\nu(\theta))` events
from a pool of reference events :math:`x_k \sim p_\mathrm{ref}` (weights :math:`u_k`), each
with probability

.. math:: P(k) = \frac{u_k\, F_k(\theta)}{\sum_l u_l\, F_l(\theta)},\qquad
          F_k = \frac{p(x_k|\theta)}{p_\mathrm{ref}(x_k)},

so the toy events follow :math:`p(x|\theta)` (as the pool grows); their columns (ratios and
shape ratios) are those of the pool events. The global observables are drawn as well:
``nom_alpha_X`` :math:`\sim \mathcal{N}(\alpha_X, 1)`, as in HistFactory.

The Asimov (expected) dataset at :math:`\theta` is the whole pool with weights

.. math:: w_k = \nu(\theta)\,\frac{u_k\,F_k(\theta)/\nu(\theta)}{\sum_l u_l}
          \quad(\textstyle\sum_k w_k \to \nu(\theta)),

and global observables equal to the nuisance parameters, ``nom_alpha_X`` = :math:`\alpha_X`.

Any other model (a combination of store-form NSBI channels with binned ones, a binned or
parametrized channel) draws its toys with RooFit's generator (:class:`PdfToyGenerator`; a
store-form NSBI channel resamples its pool there too), seeded from the toy's random stream;
:func:`toy_generator` picks the generator of a model.

Generation leaves the model at the toy's parameters; on an exception it restores the model's
parameters (:func:`roonsbi.infer.state.saved_parameters`), as do :func:`t_statistic` and
:func:`neyman_construction` (which also restores them when it ends).

**Seeded studies on any executor.** With ``seed=`` (instead of a ``numpy.random.Generator``
``rng``), :func:`neyman_construction` and :func:`coverage` make one work unit per toy
(:class:`ToyUnit`: the model's source, the toy's parameters, the model's state and the toy's own
``SeedSequence``, :mod:`roonsbi.infer.executor`) and run them in-process or on ``executor=`` (a
``concurrent.futures`` executor or a ``dask.distributed.Client``): the results are bit-identical
whatever runs them. With ``results=FOLDER`` the toys are written as JSON lines in chunks
(:mod:`roonsbi.infer.records`): a study run again with the same folder resumes, and the chunks of
several jobs (``first_toy=``) merge.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..library import load
from ..models.builders import real_var
from ..models.protocol import FitModel
from ..models.unbinned import NSBIModel
from ..naming import DATA_NAME, WEIGHT_NAME, global_observable
from .executor import (
    ModelSource,
    capture_state,
    is_open,
    model_source,
    open_source,
    restore_state,
    run_units,
    source_extra,
    toy_seed,
)
from .fit import Fitter
from .intervals import chi2_threshold
from .records import ToyLog
from .results import CoverageResult, NeymanResult, Toy
from .state import saved_parameters

ROOT = load()

__all__ = ["CoverageResult", "NeymanResult", "PdfToyGenerator", "Toy", "ToyGenerator", "ToyUnit", "check_distributable",
           "coverage", "draw_toy", "neyman_construction", "poolless_unbinned_channels", "run_toys",
           "set_global_observables", "t_statistic", "toy_generator", "toy_t"]


class ToyGenerator:
    """Draws toys of ``model`` from a pool of reference events.

    A store-form model (:func:`~roonsbi.models.unbinned.build_model` with a pool) keeps its pool:
    ``ToyGenerator(model)``; its toys and Asimov data hold event indices (pool rows), exactly
    what RooFit's ``generate`` and RooStats' Asimov builder give for the same model. A column-form
    model needs the pool's columns (named as the model's observables) and optional weights u_k.
    """

    def __init__(self, model: NSBIModel, pool: Mapping[str, np.ndarray] | None = None, *,
                 weights: np.ndarray | None = None):
        self.model = model
        self._store_form = bool(model.pdf.usesStore())
        if self._store_form:
            if pool is not None or weights is not None:
                raise ValueError("a store-form model keeps its reference pool: build it with build_model(..., pool=, "
                                 "pool_weights=) and call ToyGenerator(model)")
            self.n_pool = int(model.pdf.numPoolRows())
            if not self.n_pool:
                raise ValueError(f"model '{model.name}' has no reference pool to draw toys from: build it with "
                                 "build_model(..., pool=..., pool_weights=...)")
            self.index = model.pdf.indexVariable()
            return
        if pool is None:
            raise ValueError("a column-form model needs pool= (the reference events' columns)")
        names = [v.GetName() for v in model.model_config.GetObservables()]
        missing = [n for n in names if n not in pool]
        if missing:
            raise ValueError(f"the pool has no columns {missing} (the model's observables are {names})")
        self.columns = {n: np.ascontiguousarray(pool[n], dtype=np.float64) for n in names}
        self.n_pool = len(next(iter(self.columns.values())))
        self.weights = np.ones(self.n_pool) if weights is None else np.asarray(weights, dtype=np.float64)
        self._evaluator = ROOT.RooFit.Evaluator(model.pdf)
        self._spans = []  # keep the inputs alive while the evaluator uses them
        for name, values in self.columns.items():
            span = ROOT.std.span["const double"](values, len(values))
            self._spans.append(span)
            self._evaluator.setInput(name, span, False)

    def density_ratios(self) -> np.ndarray:
        """p(x_k|theta)/p_ref(x_k) = F_k/nu for the pool at the current parameters."""
        if self._store_form:
            return self.expected_weights() / self.model.total_yield() / self._measure()
        out = self._evaluator.run()
        return np.array(np.frombuffer(out.data(), dtype=np.float64, count=out.size()))

    def expected_weights(self) -> np.ndarray:
        r"""The expected events of each pool row, :math:`u_k F_k / \sum_l u_l`, at the current parameters."""
        if self._store_form:
            out = np.empty(self.n_pool)
            self.model.pdf.poolWeights(out)
            return out
        return self.model.total_yield() * self.weights * self.density_ratios() / self.weights.sum()

    def _measure(self) -> np.ndarray:
        """m_k of the store-form pool."""
        store = self.model.pdf.store()
        column = store.column(self.model.pdf.measureColumn())
        return np.frombuffer(column, dtype=np.float32, count=self.n_pool).astype(np.float64)

    def _dataset(self, picked: np.ndarray | None, weights: np.ndarray | None, name: str) -> Any:
        """A RooDataSet of pool rows ``picked`` (None: all, with ``weights``)."""
        obs = ROOT.RooArgSet(self.model.model_config.GetObservables())
        if self._store_form:
            rows = np.arange(self.n_pool, dtype=np.float64) if picked is None else picked.astype(np.float64)
            columns = {self.index.GetName(): rows}
        else:
            columns = {k: (v if picked is None else v[picked]) for k, v in self.columns.items()}
        if weights is None:
            return ROOT.RooDataSet.from_numpy(columns, obs, name=name)
        wvar = real_var(WEIGHT_NAME, 1.0)  # alive until the dataset has copied it
        obs.add(wvar)
        data = ROOT.RooDataSet.from_numpy({**columns, WEIGHT_NAME: weights}, obs, name=name, weight_name=WEIGHT_NAME)
        if data.numEntries() != self.n_pool:
            raise RuntimeError(f"the Asimov dataset kept {data.numEntries()} of {self.n_pool} pool events")
        return data

    def generate(self, values: Mapping[str, float], rng: np.random.Generator) -> Toy:
        """A toy at ``values`` (POIs and nuisance parameters; others unchanged). The model is
        left at ``values``; on an exception its parameters are restored."""
        with saved_parameters(self.model, restore_on_success=False):
            self.model.set_parameters(values)
            nu = self.model.total_yield()
            prob = self.expected_weights()
            if not np.all(np.isfinite(prob)) or np.any(prob < 0) or not prob.sum() > 0:
                raise ValueError("the model gives negative or non-finite densities on the pool at these parameters")
            n = rng.poisson(nu)
            picked = rng.choice(self.n_pool, size=n, replace=True, p=prob / prob.sum())
            data = self._dataset(picked, None, DATA_NAME)
            globs = {}
            for alpha in self.model.nuisance_parameters:
                name = alpha.GetName()
                globs[global_observable(name)] = float(rng.normal(self.model.parameter(name).getVal(), 1.0))
        return Toy(data, globs)

    def asimov(self, values: Mapping[str, float]) -> Toy:
        r"""The Asimov dataset at ``values`` (see the module doc): the pool with weights
        :math:`w_k = u_k F_k(\theta) / \sum_l u_l` in the column ``weight``, and the global
        observables at the nuisance parameters' values. The model is left at ``values``; on an
        exception its parameters are restored."""
        with saved_parameters(self.model, restore_on_success=False):
            self.model.set_parameters(values)
            weights = self.expected_weights()
            if not np.all(np.isfinite(weights)):
                raise ValueError("the model gives non-finite densities on the pool at these parameters")
            data = self._dataset(None, weights, f"{DATA_NAME}_asimov")
            globs = {global_observable(a.GetName()): self.model.parameter(a.GetName()).getVal()
                     for a in self.model.nuisance_parameters}
        return Toy(data, globs)


def poolless_unbinned_channels(model: FitModel) -> list[str]:
    """The RooNSBIPdf components of ``model`` that RooFit can neither generate toys from nor build an
    Asimov dataset of: the column form (RooFit would bin or sample the ratio columns) and store-form
    channels without a reference pool."""
    return [c.GetName() for c in model.model.getComponents()
            if c.InheritsFrom("RooNSBIPdf") and not (c.usesStore() and c.numPoolRows() > 0)]


class PdfToyGenerator:
    r"""Draws toys of any model with a ``ModelConfig`` (a combination, a binned or parametrized
    channel) with RooFit's own generator: ``pdf.generate(observables, Extended())`` (Poisson
    counts in binned channels; a store-form NSBI channel resamples its reference pool with
    probabilities :math:`\propto m_k F_k`, as :class:`ToyGenerator`), and the global
    observables from the model's constraint terms at the toy's nuisance parameters (RooStats'
    ``ToyMCSampler``: ``nom_alpha_X`` :math:`\sim \mathcal{N}(\alpha_X, 1)`, Poisson for gammas).
    RooFit's random generator (``RooRandom``) is seeded from the toy's ``rng``, so a toy
    depends on its seed only."""

    def __init__(self, model: FitModel):
        poolless = poolless_unbinned_channels(model)
        if poolless:
            raise ValueError(f"{type(model).__name__} has unbinned NSBI channels without a reference pool to draw "
                             f"toys from ({', '.join(poolless)}): build them with build_model(..., form='store', "
                             "pool=... or pool_weights=...)")
        model_config = getattr(model, "model_config", None)
        if model_config is None:
            raise ValueError(f"{type(model).__name__} has no ModelConfig to generate toys from")
        self.model, self.model_config = model, model_config

    def generate(self, values: Mapping[str, float], rng: np.random.Generator) -> Toy:
        """A toy at ``values`` (POIs and nuisance parameters; others unchanged). The model is
        left at ``values``; on an exception its parameters are restored."""
        model = self.model
        with saved_parameters(model, restore_on_success=False):
            model.set_parameters(values)
            ROOT.RooRandom.randomGenerator().SetSeed(int(rng.integers(1, 2**31 - 1)))  # 0 would seed from the clock
            pdf, observables = self.model_config.GetPdf(), self.model_config.GetObservables()
            data = pdf.generate(observables, ROOT.RooFit.Extended(True))
            ROOT.SetOwnership(data, True)
            data.SetName(DATA_NAME)
            globs: dict[str, float] = {}
            if len(model.global_observables):
                params = ROOT.RooArgSet(model.pois)
                params.add(model.nuisance_parameters)
                constraints = pdf.getAllConstraints(observables, params, False)
                drawn = ROOT.RooProdPdf("toy_constraints", "", constraints).generate(model.global_observables, 1)
                ROOT.SetOwnership(drawn, True)
                globs = {v.GetName(): float(v.getVal()) for v in drawn.get(0)}
        return Toy(data, globs)


def toy_generator(model: FitModel) -> ToyGenerator | PdfToyGenerator:
    """The toy generator of ``model``: its pool (:class:`ToyGenerator`) for an unbinned NSBI
    channel of the store form, RooFit's generator (:class:`PdfToyGenerator`) for any other model."""
    return ToyGenerator(model) if isinstance(model, NSBIModel) else PdfToyGenerator(model)


def set_global_observables(model: FitModel, values: Mapping[str, float]) -> dict[str, float]:
    """Set global observables (constant variables); returns their previous values."""
    previous = {}
    for name, value in values.items():
        var = model.parameter(name)
        previous[name] = var.getVal()
        var.setVal(value)
    return previous


def t_statistic(model: FitModel, poi: str, value: float, *, data: Any = None,
                start: Mapping[str, float] | None = None, one_sided: bool = False,
                fast: bool = False) -> tuple[float, dict[str, float]]:
    r"""t(value) = 2 [NLL(value, profiled) - NLL(free)] on ``data``, and the conditional
    (profiled) parameter values. With ``one_sided`` the upper-limit statistic
    :math:`q_\mu` (:math:`\tilde q_\mu` for a POI bounded below at 0): 0 where the free fit has
    :math:`\hat\mu >` ``value``, as RooStats' ``ProfileLikelihoodTestStat::SetOneSided(true)``
    (which reports half of it, :math:`-\log\lambda`). The model is left at the conditional fit;
    on an exception its parameters are restored. ``fast``: the fits use the RooNSBINLL
    (:class:`~roonsbi.infer.fit.Fitter`)."""
    with saved_parameters(model, restore_on_success=False):
        if start:
            model.set_parameters(start)
        fitter = Fitter(model, data=data, fast=fast, quiet_bounds=(poi,))  # a toy's mu-hat at its bound is expected
        free = fitter.fit(hesse=False)
        model.set_parameters(free.values)
        fixed = fitter.fit({poi: value}, hesse=False)
    if one_sided and free.values[poi] > value:
        return 0.0, fixed.values
    return max(0.0, 2.0 * (fixed.min_nll - free.min_nll)), fixed.values


def _toy_distribution(model: FitModel, generator: ToyGenerator | PdfToyGenerator, poi: str, mu: float,
                      conditional: dict[str, float], n_toys: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted t(mu) of ``n_toys`` toys generated at the conditional fit ``conditional``, each
    with its own global observables (the observed ones are put back after each toy)."""
    observed_globs = {g.GetName(): g.getVal() for g in model.global_observables}
    ts = []
    for _ in range(n_toys):
        toy = generator.generate(conditional, rng)
        set_global_observables(model, toy.global_observables)
        t, _ = t_statistic(model, poi, mu, data=toy.data, start=conditional)
        ts.append(t)
        set_global_observables(model, observed_globs)
    return np.sort(ts)


def _critical_value(ts: np.ndarray, cl: float) -> tuple[float, float]:
    """The ``cl`` quantile of the sorted toy values ``ts`` and its error: the binomial error
    sqrt(cl (1 - cl) / n) in probability, over the empirical density of t near the quantile."""
    c = float(np.quantile(ts, cl))
    dp = np.sqrt(cl * (1 - cl) / ts.size)
    lo, hi = np.quantile(ts, [max(0.0, cl - dp), min(1.0, cl + dp)])
    return c, 0.5 * float(hi - lo)


def neyman_construction(model: FitModel, generator: ToyGenerator | None, poi: str, values: Iterable[float], *,
                        n_toys: int, rng: np.random.Generator | None = None, seed: int | None = None,
                        cl: float = 0.6827, executor: Any = None, results: str | os.PathLike | None = None,
                        first_toy: int = 0, chunk_size: int = 100, model_file: str | os.PathLike | None = None,
                        fast: bool = False, data: Any = None) -> NeymanResult:
    r"""Neyman construction with the profile-likelihood ratio t(mu) (as in the ATLAS off-shell
    analysis): at each grid value mu_k, toys are generated with the nuisance parameters at their
    conditional fit to the observed data (and global observables drawn around them); the critical
    value is the ``cl`` quantile of t(mu_k) over the toys. Its error is the binomial error of the
    quantile, propagated through the empirical density of t. The model's parameters and global
    observables are restored at the end, also on an exception.

    Randomness: ``rng`` (a ``numpy.random.Generator``, drawn from in order, in-process only) or
    ``seed`` (an integer: toy k of grid point j uses ``SeedSequence(seed, spawn_key=(j, k))``, see
    the module doc), which allows ``executor`` (a ``concurrent.futures`` executor or a
    ``dask.distributed.Client``), ``results`` (a folder of JSON-lines chunks: resume and merge),
    ``first_toy`` (this job runs toys ``first_toy .. first_toy + n_toys - 1``), ``chunk_size``
    (toys per chunk file), ``model_file`` (the model saved where the workers read it; default: a
    temporary file) and ``fast`` (the toys' fits on the RooNSBINLL). ``generator``: the reference
    pool of a column-form model (in-process only); None for a store-form model (its own pool) and
    for any other model (a combination, a binned channel: RooFit's generator,
    :class:`PdfToyGenerator`). ``data``: the observed dataset of the conditional fits (default:
    the model's own; e.g. an Asimov dataset for the expected belt).

    >>> import numpy as np
    >>> from roonsbi import Process, build_model
    >>> x = np.random.default_rng(1).uniform(0.0, 2.0, 400)  # ratios of mean 1 over the pool
    >>> m = build_model([Process("S", 40.0, 0.5 + 0.5 * x, "mu"), Process("B", 400.0, 1.5 - 0.5 * x)],
    ...                 pool_weights=np.ones(400))
    >>> belt = neyman_construction(m, None, "mu", [0.5, 1.5], n_toys=4, seed=7)
    >>> belt.critical.shape, len(belt.toys[0])
    ((2,), 4)
    """
    values = np.asarray(list(values), dtype=float)
    if (rng is None) == (seed is None):
        raise ValueError("neyman_construction needs exactly one of rng= (a numpy Generator, in-process) or seed= "
                         "(an integer: one SeedSequence per toy, any executor)")
    if rng is not None and (executor is not None or results is not None or first_toy):
        raise ValueError("executor=, results= and first_toy= need seed= (an integer) instead of rng=")
    gen: ToyGenerator | PdfToyGenerator | None = generator
    if gen is None and rng is not None:
        gen = toy_generator(model)
    critical, errors, t_obs, toys = [], [], [], []
    with saved_parameters(model):
        state = capture_state(model)
        start = model.parameters()
        conditionals = []
        for mu in values:
            t0, conditional = t_statistic(model, poi, mu, data=data, start=start)
            t_obs.append(t0)
            conditionals.append(conditional)
        if rng is not None:
            assert gen is not None
            toys = [_toy_distribution(model, gen, poi, mu, cond, n_toys, rng)
                    for mu, cond in zip(values, conditionals)]
        else:
            assert seed is not None
            check_distributable(model, executor, model_file)
            with model_source(model, executor, model_file, extra=generator) as source:
                units = [ToyUnit(source, "t", poi, float(mu), cond, cond, state, int(seed), (j, k), fast)
                         for j, (mu, cond) in enumerate(zip(values, conditionals))
                         for k in range(first_toy, first_toy + n_toys)]
                records = run_toys(toy_t, units, executor, results=results, chunk_size=chunk_size)
            toys = [np.sort([r["t"] for r in records[j * n_toys:(j + 1) * n_toys]]) for j in range(len(values))]
        for ts in toys:
            c, error = _critical_value(ts, cl)
            critical.append(c)
            errors.append(error)
    return NeymanResult(poi, values, np.array(critical), np.array(errors), np.array(t_obs), toys, cl)


def coverage(model: FitModel, poi: str, truth: Mapping[str, float], *, n_toys: int, seed: int,
             cl: float = 0.6827, generator: ToyGenerator | None = None, executor: Any = None,
             results: str | os.PathLike | None = None, first_toy: int = 0, chunk_size: int = 100,
             model_file: str | os.PathLike | None = None, fast: bool = False) -> CoverageResult:
    r"""Coverage of the asymptotic interval :math:`\{\mu: t(\mu) < F^{-1}_{\chi^2_1}(\mathrm{cl})\}`:
    ``n_toys`` toys at ``truth`` (every POI and nuisance parameter not given keeps its current
    value; global observables drawn), each with :math:`t(\mu_\mathrm{true})` fitted from the
    truth. Toy k uses ``SeedSequence(seed, spawn_key=(0, k))``; ``executor``, ``results``,
    ``first_toy``, ``chunk_size``, ``model_file``, ``fast`` and ``generator`` as in
    :func:`neyman_construction` (any model: an NSBI channel resamples its pool, a combination or
    a binned model is generated by RooFit). The model's parameters are restored.

    The coverage of a Neyman interval at the truth is that of the critical value of its belt,
    :meth:`CoverageResult.at` with ``neyman_construction(...).critical``."""
    check_distributable(model, executor, model_file)
    with saved_parameters(model):
        state = capture_state(model)
        params = {**model.parameters(), **{k: float(v) for k, v in truth.items()}}
        with model_source(model, executor, model_file, extra=generator) as source:
            units = [ToyUnit(source, "t", poi, float(params[poi]), params, params, state, int(seed), (0, k), fast)
                     for k in range(first_toy, first_toy + n_toys)]
            records = run_toys(toy_t, units, executor, results=results, chunk_size=chunk_size)
    return CoverageResult(poi, float(params[poi]), cl, np.array([r["t"] for r in records]), chi2_threshold(cl))


def check_distributable(model: FitModel, executor: Any, model_file: Any) -> None:
    """Toys on workers draw from the pool the model file keeps: a store-form model with a pool
    (every unbinned channel of a combination too)."""
    if executor is None and model_file is None:
        return
    if not isinstance(model, NSBIModel):
        PdfToyGenerator(model)  # ValueError naming the channels without a pool
        return
    if not (model.pdf.usesStore() and model.pdf.numPoolRows()):
        raise ValueError(f"toys of model '{model.name}' on an executor (or from model_file=) need a store-form model "
                         "with a reference pool, which the saved file keeps: build it with build_model(..., pool=..., "
                         "pool_weights=...); a column-form model's pool (generator=) lives in this process only")


@dataclass(frozen=True)
class ToyUnit:
    """One toy of a seeded study (picklable; no ROOT object): generated at ``parameters`` from the
    model of ``source`` (its variables first put back to ``state``) with the seed sequence
    ``SeedSequence(entropy, spawn_key=key)``, then its test statistic ``kind`` at ``poi`` =
    ``mu``, the fits started at ``start``."""

    source: ModelSource
    kind: str
    poi: str
    mu: float
    parameters: dict[str, float]
    start: dict[str, float]
    state: dict[str, tuple[float, float, bool]]
    entropy: int
    key: tuple[int, ...]
    fast: bool = False

    def record(self, t: float, n_events: int) -> dict[str, Any]:
        """The JSON record of this toy's result (:mod:`roonsbi.infer.records`)."""
        return {"kind": self.kind, "poi": self.poi, "mu": self.mu, "parameters": dict(self.parameters),
                "seed": {"entropy": self.entropy, "spawn_key": list(self.key)}, "t": float(t),
                "n_events": int(n_events)}


#: per process: the toy generator of each file source
_GENERATORS: dict[ModelSource, ToyGenerator | PdfToyGenerator] = {}


def draw_toy(unit: ToyUnit) -> tuple[FitModel, Toy]:
    """The model of ``unit`` (opened once per process) put back to the unit's state, and the
    unit's toy; the model is left with the toy's global observables."""
    model = open_source(unit.source)
    restore_state(model, unit.state)
    generator = source_extra(unit.source)
    if generator is None:
        if unit.source.in_memory:
            generator = toy_generator(model)
        else:
            for old in [s for s in _GENERATORS if not is_open(s)]:  # their models were dropped
                del _GENERATORS[old]
            generator = _GENERATORS.get(unit.source)
            if generator is None:
                generator = _GENERATORS[unit.source] = toy_generator(model)
    toy = generator.generate(unit.parameters, np.random.default_rng(toy_seed(unit.entropy, unit.key)))
    set_global_observables(model, toy.global_observables)
    return model, toy


def toy_t(unit: ToyUnit) -> dict[str, Any]:
    """The work of one toy of :func:`neyman_construction` and :func:`coverage`: t(mu) on the toy
    (:func:`t_statistic`, fits started at ``unit.start``); returns its record."""
    model, toy = draw_toy(unit)
    t, _ = t_statistic(model, unit.poi, unit.mu, data=toy.data, start=unit.start, fast=unit.fast)
    return unit.record(t, toy.data.numEntries())


def run_toys(function: Callable[[ToyUnit], dict[str, Any]], units: Sequence[ToyUnit], executor: Any = None, *,
             results: str | os.PathLike | None = None, chunk_size: int = 100) -> list[dict[str, Any]]:
    """The records of ``units`` (in their order): read from ``results`` (a folder of chunk files,
    :class:`~roonsbi.infer.records.ToyLog`) where it holds them, the others computed by
    ``function`` on ``executor`` (:func:`~roonsbi.infer.executor.run_units`) and added to it."""
    out: list[dict[str, Any] | None] = [None] * len(units)
    log = ToyLog(results, chunk_size) if results is not None else None
    todo = []
    for i, unit in enumerate(units):
        old = log.lookup(unit.record(0.0, 0)) if log is not None else None
        if old is not None:
            out[i] = old
        else:
            todo.append(i)
    try:
        for i, record in run_units(function, [units[i] for i in todo], executor):
            out[todo[i]] = record
            if log is not None:
                log.add(record)
    finally:
        if log is not None:
            log.flush()
    return [r for r in out if r is not None]
