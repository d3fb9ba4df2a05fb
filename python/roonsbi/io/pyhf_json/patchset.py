"""Patchsets: a parametrized-NSBI channel over its whole mu' grid as one pyhf patchset."""

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


def to_patchset(model: Any, hepdata: str, grid: Sequence[float] | None = None, description: str | None = None,
                measurement: str | None = None) -> tuple[dict, dict]:
    """The parametrized channel over its mu' grid as (background-only workspace, patchset).

    The workspace is the channel at the first grid point; patch ``<mup>_<value>`` (values
    ``[mu']``) replaces the sample, modifier and observation data with those of its grid point
    (a JSON patch made by ``jsonpatch``, the library pyhf applies patches with). The patchset
    metadata hold the POI relation (``"poi_relation"``, see :func:`~roonsbi.io.pyhf_json.poi_relation`).
    ``hepdata`` is the INSPIRE id of the publication (``ins`` + 7 digits), required by pyhf's patchset schema.
    """
    import pyhf

    if not re.fullmatch(r"ins[0-9]{7}", hepdata or ""):
        raise ValueError(f"hepdata must be an INSPIRE id 'ins' + 7 digits (pyhf's patchset schema), got {hepdata!r}")
    points = [float(v) for v in (model.grid if grid is None else grid)]
    specs = [to_pyhf(model, mu_prime=v, measurement=measurement) for v in points]
    base = specs[0]
    poi = model.mu_prime.GetName()
    patchset = {
        "metadata": {
            "description": description or f"parametrized NSBI channel '{model.name}' over its {poi} grid",
            "digests": {"sha256": pyhf.utils.digest(base, "sha256")},
            "labels": [poi],
            "references": {"hepdata": hepdata},
            "poi_relation": poi_relation(model, mu_prime=points[0]),
        },
        "patches": _patches(base, specs, points, poi),
        "version": VERSION,
    }
    try:
        ps = pyhf.PatchSet(patchset)  # pyhf's schema validation
        ps.verify(pyhf.Workspace(base))
    except _patchset_invalid() as err:
        raise PyhfExportError(f"the patchset is not valid for pyhf: {err}") from None
    return base, patchset
