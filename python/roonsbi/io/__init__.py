"""Reading and writing models in other formats: pyhf JSON (:mod:`.pyhf_json`: export, import, the
non-linear-POI recipe, patchsets), HistFactory XML (:mod:`.histfactory_xml`) and any supported
file (:func:`read_source`; :func:`open_model` gives the fit model of any saved file)."""

from __future__ import annotations

from .histfactory_xml import from_histfactory_xml, read_histfactory_xml
from .pyhf_json import (
    PyhfExportError,
    PyhfModel,
    PyhfScan,
    from_pyhf,
    poi_relation,
    pyhf_parameters,
    pyhf_profile_scan,
    roofit_names,
    to_patchset,
    to_pyhf,
    write_json,
)
from .sources import model_of_workspace, open_model, read_source

__all__ = [
    "PyhfExportError",
    "PyhfModel",
    "PyhfScan",
    "from_histfactory_xml",
    "from_pyhf",
    "model_of_workspace",
    "open_model",
    "poi_relation",
    "pyhf_parameters",
    "pyhf_profile_scan",
    "read_histfactory_xml",
    "read_source",
    "roofit_names",
    "to_patchset",
    "to_pyhf",
    "write_json",
]
