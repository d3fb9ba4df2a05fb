"""Read a model or workspace from a file of any supported format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..models.combined import read_roofit_file, source_format
from .histfactory_xml import from_histfactory_xml
from .pyhf_json import from_pyhf

__all__ = ["read_source"]


def read_source(path: str | os.PathLike) -> Any:
    """The workspace or model of a file, by its format: pyhf JSON (``.json`` with channels,
    observations and measurements: :func:`~roonsbi.io.pyhf_json.from_pyhf`), HistFactory XML (``.xml``:
    :func:`~roonsbi.io.histfactory_xml.from_histfactory_xml`, paths relative to the current
    directory), HS3 JSON (``.json``) or a ROOT file with one workspace. The result can be passed to
    :func:`roonsbi.combine`."""
    kind = source_format(path)
    if kind == "xml":
        return from_histfactory_xml(path)
    if kind == "pyhf":
        return from_pyhf(path, name=Path(path).stem)
    return read_roofit_file(path)
