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

Generation leaves the model at the toy's parameters; on an exception it restores the model's
parameters (:func:`roonsbi.infer.state.saved_parameters`), as do :func:`t_statistic` and
:func:`neyman_construction` (which also restores them when it ends).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from ..library import load
from ..models.builders import real_var
from ..models.protocol import FitModel
from ..models.unbinned import NSBIModel
from ..naming import DATA_NAME, WEIGHT_NAME, global_observable
from .fit import Fitter
from .results import NeymanResult, Toy
from .state import saved_parameters

ROOT = load()

__all__ = ["NeymanResult", "Toy", "ToyGenerator", "neyman_construction", "set_global_observables", "t_statistic"]


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


def set_global_observables(model: FitModel, values: Mapping[str, float]) -> dict[str, float]:
    """Set global observables (constant variables); returns their previous values."""
    previous = {}
    for name, value in values.items():
        var = model.parameter(name)
        previous[name] = var.getVal()
        var.setVal(value)
    return previous


def t_statistic(model: FitModel, poi: str, value: float, *, data: Any = None,
                start: Mapping[str, float] | None = None, one_sided: bool = False) -> tuple[float, dict[str, float]]:
    r"""t(value) = 2 [NLL(value, profiled) - NLL(free)] on ``data``, and the conditional
    (profiled) parameter values. With ``one_sided`` the upper-limit statistic
    :math:`q_\mu` (:math:`\tilde q_\mu` for a POI bounded below at 0): 0 where the free fit has
    :math:`\hat\mu >` ``value``, as RooStats' ``ProfileLikelihoodTestStat::SetOneSided(true)``
    (which reports half of it, :math:`-\log\lambda`). The model is left at the conditional fit;
    on an exception its parameters are restored."""
    with saved_parameters(model, restore_on_success=False):
        if start:
            model.set_parameters(start)
        fitter = Fitter(model, data=data, quiet_bounds=(poi,))  # a toy's mu-hat at its bound is expected
        free = fitter.fit(hesse=False)
        model.set_parameters(free.values)
        fixed = fitter.fit({poi: value}, hesse=False)
    if one_sided and free.values[poi] > value:
        return 0.0, fixed.values
    return max(0.0, 2.0 * (fixed.min_nll - free.min_nll)), fixed.values


def _toy_distribution(model: NSBIModel, generator: ToyGenerator, poi: str, mu: float, conditional: dict[str, float],
                      n_toys: int, rng: np.random.Generator) -> np.ndarray:
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


def neyman_construction(model: NSBIModel, generator: ToyGenerator, poi: str, values: Iterable[float], *,
                        n_toys: int, rng: np.random.Generator, cl: float = 0.6827) -> NeymanResult:
    r"""Neyman construction with the profile-likelihood ratio t(mu) (as in the ATLAS off-shell
    analysis): at each grid value mu_k, toys are generated with the nuisance parameters at their
    conditional fit to the observed data (and global observables drawn around them); the critical
    value is the ``cl`` quantile of t(mu_k) over the toys. Its error is the binomial error of the
    quantile, propagated through the empirical density of t. The model's parameters and global
    observables are restored at the end, also on an exception."""
    values = np.asarray(list(values), dtype=float)
    critical, errors, t_obs, toys = [], [], [], []
    with saved_parameters(model):
        start = model.parameters()
        for mu in values:
            t0, conditional = t_statistic(model, poi, mu, start=start)
            t_obs.append(t0)
            ts = _toy_distribution(model, generator, poi, mu, conditional, n_toys, rng)
            c, error = _critical_value(ts, cl)
            critical.append(c)
            errors.append(error)
            toys.append(ts)
    return NeymanResult(poi, values, np.array(critical), np.array(errors), np.array(t_obs), toys, cl)
