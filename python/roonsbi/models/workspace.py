"""A channel in a RooWorkspace with a ``RooStats::ModelConfig``: the base of every roonsbi model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..atomic import atomic_path
from ..checks import check_file
from ..library import load
from ..naming import MODELCONFIG_NAME, channel_of_workspace

ROOT = load()

__all__ = ["WorkspaceModel", "accept_fixed_observables", "read_workspace"]


def accept_fixed_observables(ws: Any) -> None:
    """Let RooFit's NLL of every parametrized channel in ``ws`` compile in this process.

    A parametrized channel's observable is that of one mu'; its NLL compiles only where that fixed
    observable was accepted: in roonsbi, whose scans know it (``parametrized_scan``). A workspace read
    by a standard tool elsewhere refuses, pointing to that scan (``RooNSBIParamHistPdf.h``)."""
    for pdf in ws.allPdfs():
        if isinstance(pdf, ROOT.RooNSBIParamHistPdf):
            pdf.acceptFixedObservable(True)


@dataclass
class WorkspaceModel:
    """A channel in a RooWorkspace with a ``RooStats::ModelConfig``: the interface that
    fits, scans and exports use (:class:`~roonsbi.models.protocol.FitModel`: ``parameter``,
    ``pois``, ``nuisance_parameters``, ``nll``; ``create_nll`` in subclasses). All RooFit
    objects are owned by :attr:`workspace`."""

    workspace: Any
    name: str

    def __post_init__(self) -> None:
        accept_fixed_observables(self.workspace)

    def _owned(self, obj: Any) -> Any:
        """``obj`` (a workspace object) keeping this model, and so the workspace, alive: the
        objects the properties return stay valid even if the model itself is not kept."""
        if obj:
            obj._roonsbi_model = self
        return obj

    @property
    def pdf(self) -> Any:
        """The channel pdf without constraint terms (each kind of model says which)."""
        raise NotImplementedError(f"{type(self).__name__} defines no pdf")

    @property
    def data(self) -> Any:
        """The model's own dataset (each kind of model says which)."""
        raise NotImplementedError(f"{type(self).__name__} defines no dataset")

    @property
    def model_config(self) -> Any:
        return self._owned(self.workspace.obj(MODELCONFIG_NAME))

    @property
    def model(self) -> Any:
        """The full pdf: the channel pdf times its constraint terms."""
        return self._owned(self.model_config.GetPdf())

    @property
    def pois(self) -> Any:
        return self.model_config.GetParametersOfInterest()

    @property
    def nuisance_parameters(self) -> Any:
        nps = self.model_config.GetNuisanceParameters()
        return nps if nps else ROOT.RooArgSet()

    @property
    def global_observables(self) -> Any:
        globs = self.model_config.GetGlobalObservables()
        return globs if globs else ROOT.RooArgSet()

    def parameter(self, name: str) -> Any:
        var = self.workspace.var(name)
        if not var:
            raise KeyError(f"no parameter '{name}' in workspace '{self.workspace.GetName()}'")
        return self._owned(var)

    def parameters(self) -> dict[str, float]:
        """Current values of the POIs and nuisance parameters."""
        out = {}
        for collection in (self.pois, self.nuisance_parameters):
            for p in collection:
                out[p.GetName()] = p.getVal()
        return out

    def set_parameters(self, values: Mapping[str, float] | None = None, **kwargs: float) -> None:
        for name, value in {**(values or {}), **kwargs}.items():
            self.parameter(name).setVal(float(value))

    def create_nll(self, data: Any = None, *, backend: str = "cpu") -> Any:
        """The NLL (a RooAbsReal) on ``data`` (None: the model's own data); defined by each model."""
        raise NotImplementedError(f"{type(self).__name__} does not define create_nll")

    def nll(self, values: Mapping[str, float] | None = None, *, data: Any = None, backend: str = "cpu") -> float:
        """The value of :meth:`create_nll` on ``data`` at ``values`` (others unchanged)."""
        if values:
            self.set_parameters(values)
        return float(self.create_nll(data, backend=backend).getVal())

    def total_yield(self) -> float:
        r"""The expected number of events nu at the current parameters."""
        return self.pdf.totalYield()

    def _extended_nll(self, data: Any, backend: str) -> Any:
        """RooFit's extended NLL of the full model on ``data``, constraints normalised over the
        global observables, without offset."""
        return self.model.createNLL(
            data,
            ROOT.RooFit.Extended(True),
            ROOT.RooFit.GlobalObservables(self.global_observables),
            ROOT.RooFit.Offset("none"),
            ROOT.RooFit.EvalBackend(backend),
        )

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the workspace (pdf, data, ModelConfig) to a ROOT file; an existing file is replaced
        only with ``overwrite``. The TFile is written under a temporary name next to ``path`` and
        renamed when complete (:mod:`roonsbi.atomic`): a failed write leaves the old file as it was."""
        path = Path(path)
        with atomic_path(path, overwrite) as tmp:
            if not self.workspace.writeToFile(str(tmp), True):
                raise OSError(f"could not write workspace to {path}")
        return path


def read_workspace(path: str | os.PathLike, workspace: str | None = None) -> tuple[Any, str]:
    """The RooWorkspace in a ROOT file (the only one, or the one named) and its channel name
    (the workspace name without the ``ws_`` prefix)."""
    path = check_file(path, "workspace file")
    try:
        f = ROOT.TFile.Open(str(path))
    except OSError:  # PyROOT raises for a file ROOT cannot open
        f = None
    if not f or f.IsZombie():
        raise OSError(f"cannot open {path} as a ROOT file (not a ROOT file, or truncated or damaged)")
    if workspace is None:
        names = [k.GetName() for k in f.GetListOfKeys() if k.GetClassName() == "RooWorkspace"]
        if len(names) != 1:
            raise ValueError(f"{path} holds workspaces {names}; pass workspace=<name>")
        workspace = names[0]
    ws = f.Get(workspace)
    if not ws:
        raise KeyError(f"no workspace '{workspace}' in {path}")
    ROOT.SetOwnership(ws, True)
    f.Close()
    return ws, channel_of_workspace(workspace)


