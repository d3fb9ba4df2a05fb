"""Read a model or workspace from a file of any supported format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..models.combined import CombinedModel, combine, read_roofit_file, source_format
from ..models.parametrized import ParametrizedModel
from ..models.unbinned import NSBIModel
from ..models.workspace import WorkspaceModel, read_workspace
from ..naming import DATA_NAME, MODELCONFIG_NAME, PARAM_PDF_NAME, PDF_NAME, SIM_NAME
from .histfactory_xml import from_histfactory_xml
from .hs3 import read_hs3
from .pyhf_json import from_pyhf

__all__ = ["model_of_workspace", "open_model", "read_source"]


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


def model_of_workspace(ws: Any, name: str, origin: str = "the workspace") -> WorkspaceModel:
    """The roonsbi model of a RooWorkspace with a ModelConfig: an unbinned NSBI channel
    (:class:`~roonsbi.models.unbinned.NSBIModel`, its ``RooNSBIPdf`` named ``nsbi_<name>``), a
    parametrized one (:class:`~roonsbi.models.parametrized.ParametrizedModel`), a combination
    (``simPdf``, ``obsData``: :class:`~roonsbi.models.combined.CombinedModel`, e.g. HistFactory's,
    pyhf's or HS3's), or any other pdf with a ModelConfig and ``obsData``, as its one-channel
    combination. ValueError naming ``origin`` if there is no ModelConfig."""
    pdf = ws.pdf(PDF_NAME.format(name=name))
    if pdf and pdf.InheritsFrom("RooNSBIPdf"):
        return NSBIModel(ws, name)
    if ws.pdf(PARAM_PDF_NAME.format(name=name)):
        return ParametrizedModel(ws, name)
    config = ws.obj(MODELCONFIG_NAME)
    if not config or not config.GetPdf():
        raise ValueError(f"{origin} has no RooStats::ModelConfig '{MODELCONFIG_NAME}' with a pdf: save the model with "
                         "roonsbi (model.save) or give a workspace with a ModelConfig")
    if not ws.data(DATA_NAME):
        raise ValueError(f"{origin} has no dataset '{DATA_NAME}'")
    if config.GetPdf().GetName() == SIM_NAME and config.GetPdf().InheritsFrom("RooSimultaneous"):
        return CombinedModel(ws, name)
    return combine([ws], name=name)


def open_model(path: str | os.PathLike, workspace: str | None = None) -> WorkspaceModel:
    """The model saved in ``path``, whatever its format (:func:`read_source`): a ROOT file with a
    roonsbi model, a combination or any workspace with a ModelConfig (``workspace``: its name if
    the file has several), HS3 JSON, pyhf JSON or HistFactory XML; see :func:`model_of_workspace`.
    FileNotFoundError or ValueError naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such model file: {path}")
    kind = source_format(path)
    if workspace is not None and kind in ("pyhf", "xml", "hs3"):
        raise ValueError(f"workspace={workspace!r} names a workspace of a ROOT file, but {path} is a "
                         f"{kind} file (one model): drop the option")
    if kind == "pyhf":
        return from_pyhf(path, name=path.stem)
    if kind == "xml":
        return model_of_workspace(from_histfactory_xml(path), path.stem, str(path))
    if kind == "hs3":
        return model_of_workspace(read_hs3(path), path.stem, str(path))
    ws, name = read_workspace(path, workspace)
    return model_of_workspace(ws, name, f"workspace '{ws.GetName()}' of {path}")
