r"""Route (a) for non-linear f_J(mu): a pyhf modifier whose factor is an expression of parameters.

pyhf's schema has no modifier for f = sqrt(mu) (normfactors multiply once, there are no
parameter expressions), but pyhf's model takes custom modifiers: ``pyhf.Model(spec,
modifier_set=..., validate=False)`` in the released pyhf 0.7.6 (pyhf's development branch adds
the same idea as ``pyhf.experimental.modifiers.add_custom_modifier``, with the modifier data
``{"expr": ...}`` used here too). An exported sample with coefficient f_J(mu) carries

.. code-block:: json

    {"name": "f_S_pnsbi", "type": "roonsbi_expression", "data": {"expr": "mu - sqrt(mu)"}}

and its bin contents are multiplied by f_J evaluated by pyhf's tensor backend at the model's
parameters (``mu`` is an ordinary unconstrained parameter of the measurement, the POI). Such a
workspace is not valid for pyhf's schema (the type is unknown), so plain ``pyhf fit`` refuses it
instead of fitting a different model; read it with :func:`load_pyhf_model`:

>>> import json, pyhf
>>> spec = {"channels": [{"name": "c", "samples": [
...     {"name": "S", "data": [4.0, 2.0], "modifiers": [
...         {"name": "f_S", "type": "roonsbi_expression", "data": {"expr": "sqrt(mu)"}}]},
...     {"name": "B", "data": [10.0, 10.0], "modifiers": []}]}],
...     "observations": [{"name": "c", "data": [14.0, 12.0]}],
...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}], "version": "1.0.0"}
>>> model, data = load_pyhf_model(spec)
>>> [float(v) for v in model.expected_actualdata([4.0])]   # sqrt(4) * S + B
[18.0, 14.0]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from ...spec import checked_formula, formula_parameters

__all__ = ["EXPRESSION_TYPE", "expression_modifier_set", "load_pyhf_model", "python_formula"]

EXPRESSION_TYPE = "roonsbi_expression"  #: the modifier type of a factor f(parameters)
_TENSOR_FUNCTIONS = {"sqrt": "sqrt", "exp": "exp", "log": "log", "pow": "power", "abs": "abs"}


def python_formula(formula: str) -> str:
    """The formula of a RooFit coefficient in the modifier's syntax (``^`` -> ``**``)."""
    return formula.replace("^", "**")


def _parameters_of(expr: str) -> list[str]:
    return formula_parameters(expr)


def _unconstrained_parset() -> dict:
    """pyhf's parameter set of a normfactor (so that a parameter also used by normfactors merges)."""
    return {"paramset_type": "unconstrained", "n_parameters": 1, "is_scalar": True, "inits": (1.0,),
            "bounds": ((0, 10),), "fixed": False}


class _Builder:
    """Collects, per modifier, the per-bin mask of the samples it multiplies and its expression."""

    is_shared = True

    def __init__(self, config: Any):
        self.config = config
        self.masks: dict[str, dict] = {}
        self.expressions: dict[str, str] = {}
        self.required_parsets: dict[str, list] = {}

    def append(self, key: str, channel: str, sample: str, thismod: Mapping | None,
               defined_samp: Mapping | None) -> None:
        n = len(defined_samp["data"]) if defined_samp else self.config.channel_nbins[channel]
        entry = self.masks.setdefault(key, {}).setdefault(sample, {"data": {"mask": []}})
        entry["data"]["mask"] += [bool(thismod)] * n
        if not thismod:
            return
        data = thismod.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("expr"), str):
            raise ValueError(f"modifier '{thismod['name']}' ({EXPRESSION_TYPE}) of sample '{sample}' needs data "
                             '{"expr": "<formula of parameters>"}')
        expr = checked_formula(data["expr"], _parameters_of(data["expr"]))
        if self.expressions.setdefault(key, expr) != expr:
            raise ValueError(f"modifier '{thismod['name']}' ({EXPRESSION_TYPE}) has two expressions: "
                             f"'{self.expressions[key]}' and '{expr}'")
        for p in _parameters_of(expr):
            self.required_parsets.setdefault(p, [_unconstrained_parset()])

    def finalize(self) -> dict:
        return {"masks": self.masks, "expressions": self.expressions}


def _tensor_function(expr: str) -> Callable[[Mapping[str, Any]], Any]:
    """expr evaluated with pyhf's current tensor backend (its sqrt, exp, log, power, abs)."""
    code = compile(expr, expr, "eval")

    def evaluate(values: Mapping[str, Any]) -> Any:
        import pyhf

        tensorlib, _ = pyhf.get_backend()
        names = {k: getattr(tensorlib, v) for k, v in _TENSOR_FUNCTIONS.items()}
        return eval(code, {"__builtins__": {}}, {**names, **values})

    return evaluate


class _Applier:
    """The factors f(parameters) of every expression modifier, as pyhf's normfactor applies its
    parameter: a tensor (modifiers, samples, batch, bins) of f where the mask is set, 1 elsewhere."""

    name = EXPRESSION_TYPE
    op_code = "multiplication"

    def __init__(self, modifiers: list, pdfconfig: Any, builder_data: Mapping, batch_size: int | None = None):
        from pyhf import events
        from pyhf.parameters import ParamViewer

        self.batch_size = batch_size
        keys = [f"{mtype}/{m}" for m, mtype in modifiers]
        self.funcs = [_tensor_function(builder_data["expressions"][k]) for k in keys]
        self.deps = sorted({p for k in keys for p in _parameters_of(builder_data["expressions"][k])})
        shape = (batch_size, pdfconfig.npars) if batch_size else (pdfconfig.npars,)
        self.param_viewer = ParamViewer(shape, pdfconfig.par_map, self.deps)
        self._mask = [[[builder_data["masks"][k][s]["data"]["mask"]] for s in pdfconfig.samples] for k in keys]
        self._precompute()
        events.subscribe("tensorlib_changed")(self._precompute)

    def _precompute(self) -> None:
        import pyhf

        if not self.param_viewer.index_selection:
            return
        tensorlib, _ = pyhf.get_backend()
        self.mask = tensorlib.tile(tensorlib.astensor(self._mask), (1, 1, self.batch_size or 1, 1))
        self.mask_bool = tensorlib.astensor(self.mask, dtype="bool")
        self.default = tensorlib.ones(self.mask.shape)

    def apply(self, pars: Any) -> Any:
        """modification tensor of shape (n_modifiers, n_global_samples, n_alphas, n_global_bin)."""
        import pyhf

        if not self.param_viewer.index_selection:
            return None
        tensorlib, _ = pyhf.get_backend()
        values = self.param_viewer.get(pars)  # (n_deps,) or (n_deps, batch)
        named = {d: values[i] for i, d in enumerate(self.deps)}
        factors = tensorlib.stack([tensorlib.astensor(f(named)) * tensorlib.ones(values[0].shape)
                                   for f in self.funcs])
        spec = "msab,m->msab" if self.batch_size is None else "msab,ma->msab"
        return tensorlib.where(self.mask_bool, tensorlib.einsum(spec, self.mask, factors), self.default)


def expression_modifier_set() -> dict:
    """pyhf's HistFactory modifiers plus ``roonsbi_expression``, for ``pyhf.Model(..., modifier_set=...)``."""
    import pyhf

    return {**pyhf.modifiers.histfactory_set, EXPRESSION_TYPE: (_Builder, _Applier)}


def load_pyhf_model(spec_or_path: Mapping | str | os.PathLike, measurement: str | None = None,
                    **config_kwargs: Any) -> tuple[Any, Any]:
    """(pyhf Model, data) of a pyhf workspace (a dict or JSON file), with ``roonsbi_expression``
    modifiers (route (a) of :func:`~roonsbi.io.pyhf_json.to_pyhf`, ``nonlinear="expression"``);
    pyhf's schema validation is off for the custom type, pyhf's model build checks the rest.
    ``config_kwargs`` go to ``pyhf.Workspace.model`` (e.g. ``poi_name``).

    >>> # the one line a pyhf user needs:
    >>> # model, data = roonsbi.io.pyhf_json.load_pyhf_model("binned_pyhf.json")
    >>> # pyhf.infer.mle.fit(data, model)  -> mu-hat of the roonsbi model
    """
    import pyhf

    spec = json.loads(Path(spec_or_path).read_text()) if isinstance(spec_or_path, (str, os.PathLike)) else spec_or_path
    ws = pyhf.Workspace(dict(spec), validate=False)
    model = ws.model(measurement_name=measurement, modifier_set=expression_modifier_set(), validate=False,
                     **config_kwargs)
    return model, ws.data(model)
