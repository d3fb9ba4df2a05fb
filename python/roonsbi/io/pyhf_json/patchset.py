"""Patchsets: a model over POI values (route (b) for non-linear f_J) or a parametrized channel over its mu' grid."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from .errors import PyhfExportError, _patchset_invalid
from .export import poi_relation, to_pyhf
from .names import VERSION

__all__ = ["to_patchset"]


def _label(v: float) -> str:
    """A patch-name label of a grid value: ``1.6`` -> ``1p6``, ``-0.5`` -> ``m0p5``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", f"{v:g}".replace("-", "m").replace(".", "p"))


def _skeleton(obj: Any) -> Any:
    """The structure of a workspace without its numbers (data, inits, bounds)."""
    if isinstance(obj, dict):
        return {k: _skeleton(v) for k, v in obj.items() if k not in ("data", "inits", "bounds")}
    if isinstance(obj, list):
        return [_skeleton(v) for v in obj]
    return obj


def _patches(base: dict, specs: Sequence[dict], points: Sequence[float], poi: str) -> list[dict]:
    """One JSON patch per grid point from ``base`` to its workspace (same structure required)."""
    import jsonpatch

    patches = []
    for v, spec in zip(points, specs):
        ops = jsonpatch.make_patch(base, spec).patch  # jsonpatch: pyhf's own patch library
        structure = json.dumps(_skeleton(base), sort_keys=True) == json.dumps(_skeleton(spec), sort_keys=True)
        if not structure:
            raise PyhfExportError(f"the workspace at {poi} = {v:g} differs in structure from the first grid point")
        patches.append({"metadata": {"name": f"{poi}_{_label(v)}", "values": [v]}, "patch": ops})
    return patches


def _poi_name(model: Any, relation: dict) -> str:
    if relation["poi"]:
        return str(relation["poi"])
    raise PyhfExportError("to_patchset(mu=...): the model has no POI")


def to_patchset(model: Any, hepdata: str, grid: Sequence[float] | None = None, description: str | None = None,
                measurement: str | None = None, *, mu: Sequence[float] | None = None,
                mu_prime: float | None = None) -> tuple[dict, dict]:
    """A pyhf patchset: (workspace of the first point, patchset), one patch per point.

    * ``mu`` given (route (b) for non-linear f_J(mu), any binned model): one patch per value of
      the POI, each the model at that value (:func:`~roonsbi.io.pyhf_json.to_pyhf` with
      ``nonlinear="fixed"``: every f_J a fixed normfactor f_J(mu), the POI fixed, POI-less
      measurement); ``pyhf patchset apply`` + ``pyhf fit --value`` give -2 log L(mu) profiled
      over the nuisance parameters, so t(mu) = -2 log L(mu) - min over mu (a parametrized
      channel stays at ``mu_prime``, default its current mu').
    * otherwise (a :class:`~roonsbi.models.parametrized.ParametrizedModel`): one patch per point
      mu'_k of its grid (``grid``), the channel binned in O_mu'_k; where the f_J are non-linear the
      model is taken at mu = mu'_k (the conditional fits of ``parametrized_scan``), else the POI is free.

    Patch ``<poi>_<value>`` (values ``[value]``) replaces the data that differ from the first
    point (a JSON patch made by ``jsonpatch``, the library pyhf applies patches with). The
    patchset metadata hold the POI relation (``"poi_relation"``, see
    :func:`~roonsbi.io.pyhf_json.poi_relation`). ``hepdata`` is the INSPIRE id of the publication
    (``ins`` + 7 digits), required by pyhf's patchset schema.
    """
    import pyhf

    if not re.fullmatch(r"ins[0-9]{7}", hepdata or ""):
        raise ValueError(f"hepdata must be an INSPIRE id 'ins' + 7 digits (pyhf's patchset schema), got {hepdata!r}")
    if mu is not None:
        points = [float(v) for v in mu]
        relation = poi_relation(model, mu_prime=mu_prime)
        poi = _poi_name(model, relation)
        specs = [to_pyhf(model, mu_prime=mu_prime, measurement=measurement, nonlinear="fixed", at={poi: v})
                 for v in points]
        label = poi
        what = f"the model at each value of {poi} (f_J({poi}) and {poi} fixed; `pyhf fit --value` gives -2 log L)"
    else:
        points = [float(v) for v in (model.grid if grid is None else grid)]
        relation = poi_relation(model, mu_prime=points[0])
        label = model.mu_prime.GetName()
        if relation["normfactors"]:
            poi = _poi_name(model, relation)
            specs = [to_pyhf(model, mu_prime=v, measurement=measurement, nonlinear="fixed", at={poi: v})
                     for v in points]
            what = f"its {label} grid, each point at {poi} = {label} (f_J fixed)"
        else:
            specs = [to_pyhf(model, mu_prime=v, measurement=measurement) for v in points]
            what = f"its {label} grid"
    base = specs[0]
    patchset = {
        "metadata": {
            "description": description or f"channel '{model.name}' over {what}",
            "digests": {"sha256": pyhf.utils.digest(base, "sha256")},
            "labels": [label],
            "references": {"hepdata": hepdata},
            "poi_relation": relation,
        },
        "patches": _patches(base, specs, points, label),
        "version": VERSION,
    }
    try:
        ps = pyhf.PatchSet(patchset)  # pyhf's schema validation
        ps.verify(pyhf.Workspace(base))
    except _patchset_invalid() as err:
        raise PyhfExportError(f"the patchset is not valid for pyhf: {err}") from None
    return base, patchset
