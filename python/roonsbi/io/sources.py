"""Read a model or workspace from a file of any supported format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..models.combined import read_roofit_file, source_format
from .histfactory_xml import from_histfactory_xml
from .hs3 import read_hs3
from .pyhf_json import from_pyhf

__all__ = ["read_source"]


def read_source(path: str | os.PathLike) -> Any:
    """The workspace or model of a file, by its format: pyhf JSON (``.json`` with channels,
    observations and measurements: :func:`~roonsbi.io.pyhf_json.from_pyhf`), HistFactory XML (``.xml``:
    :func:`~roonsbi.io.histfactory_xml.from_histfactory_xml`, paths relative to the current
    directory), HS3 JSON (``.json``: :func:`~roonsbi.io.hs3.read_hs3`, with its side files) or a ROOT file with
    one workspace. The result can be passed to
    :func:`roonsbi.combine`."""
    kind = source_format(path)
    if kind == "xml":
        return from_histfactory_xml(path)
    if kind == "pyhf":
        return from_pyhf(path, name=Path(path).stem)
    if kind == "hs3":
        return read_hs3(path)
    return read_roofit_file(path)
