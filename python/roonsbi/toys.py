r"""Pseudo-experiments for unbinned NSBI models without a simulator.

A toy at parameters :math:`\theta` draws :math:`N \sim \mathrm{Poisson}(\nu(\theta))` events
from a pool of reference events :math:`x_k \sim p_\mathrm{ref}` (weights :math:`u_k`), each
with probability

.. math:: P(k) = \frac{u_k\, F_k(\theta)}{\sum_l u_l\, F_l(\theta)},\qquad
          F_k = \frac{p(x_k|\theta)}{p_\mathrm{ref}(x_k)},

so the toy events follow :math:`p(x|\theta)` (as the pool grows); their columns (ratios and
shape ratios) are those of the pool events. The global observables are drawn as well:
``nom_alpha_X`` :math:`\sim \mathcal{N}(\alpha_X, 1)`, as in HistFactory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from . import _library

_library.load_library()
import ROOT  # noqa: E402

from .model import DATA_NAME, NSBIModel  # noqa: E402


@dataclass
class Toy:
    """One pseudo-experiment: its dataset and the values of the global observables."""

    data: Any
    global_observables: dict[str, float]


class ToyGenerator:
    """Draws toys of ``model`` from a pool of reference events (columns named as the model's
    observables, plus optional weights u_k)."""

    def __init__(self, model: NSBIModel, pool: Mapping[str, np.ndarray], weights: np.ndarray | None = None):
        self.model = model
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
        out = self._evaluator.run()
        return np.array(np.frombuffer(out.data(), dtype=np.float64, count=out.size()))

    def generate(self, values: Mapping[str, float], rng: np.random.Generator) -> Toy:
        """A toy at ``values`` (POIs and nuisance parameters; others unchanged)."""
        self.model.set_parameters(values)
        nu = self.model.total_yield()
        prob = self.weights * self.density_ratios()
        if not np.all(np.isfinite(prob)) or np.any(prob < 0) or not prob.sum() > 0:
            raise ValueError("the model gives negative or non-finite densities on the pool at these parameters")
        n = rng.poisson(nu)
        picked = rng.choice(self.n_pool, size=n, replace=True, p=prob / prob.sum())
        obs = ROOT.RooArgSet(self.model.model_config.GetObservables())
        data = ROOT.RooDataSet.from_numpy({k: v[picked] for k, v in self.columns.items()}, obs, name=DATA_NAME)
        globs = {}
        for alpha in self.model.nuisance_parameters:
            globs[f"nom_{alpha.GetName()}"] = float(rng.normal(self.model.parameter(alpha.GetName()).getVal(), 1.0))
        return Toy(data, globs)


def set_global_observables(model: Any, values: Mapping[str, float]) -> dict[str, float]:
    """Set global observables (constant variables); returns their previous values."""
    previous = {}
    for name, value in values.items():
        var = model.parameter(name)
        previous[name] = var.getVal()
        var.setVal(value)
    return previous
