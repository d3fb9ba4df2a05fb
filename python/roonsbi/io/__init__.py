"""Reading and writing models in other formats: pyhf JSON (:mod:`.pyhf_json`: export, import, the
non-linear-POI routes, patchsets), HistFactory XML (:mod:`.histfactory_xml`), nsbi-common-utils
workspaces (:mod:`.nsbi_workspace`), HS3 JSON with side files for large per-event data (:mod:`.hs3`)
and any supported file (:func:`read_source`; :func:`open_model` gives the fit model of any saved file)."""

from __future__ import annotations

from .histfactory_xml import from_histfactory_xml, histfactory_tutorial, read_histfactory_xml
from .hs3 import read_hs3, write_hs3
from .nsbi_workspace import from_nsbi_workspace, to_nsbi_workspace
from .pyhf_json import (
    PyhfExportError,
    PyhfModel,
    PyhfScan,
    from_pyhf,
    load_pyhf_model,
    poi_relation,
    pyhf_expression_scan,
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
    "from_nsbi_workspace",
    "from_pyhf",
    "histfactory_tutorial",
    "load_pyhf_model",
    "model_of_workspace",
    "open_model",
    "poi_relation",
    "pyhf_expression_scan",
    "pyhf_parameters",
    "pyhf_profile_scan",
    "read_histfactory_xml",
    "read_hs3",
    "read_source",
    "roofit_names",
    "to_patchset",
    "to_nsbi_workspace",
    "to_pyhf",
    "write_hs3",
    "write_json",
]
