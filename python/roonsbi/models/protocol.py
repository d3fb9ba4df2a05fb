"""The interface of a model that :mod:`roonsbi.infer` fits, scans and generates toys for.

Every roonsbi model (:class:`~roonsbi.models.unbinned.NSBIModel`,
:class:`~roonsbi.models.parametrized.ParametrizedModel`,
:class:`~roonsbi.models.combined.CombinedModel`) satisfies it through
:class:`~roonsbi.models.workspace.WorkspaceModel`; any other object with these members can be
fitted too (structural typing: no base class needed).
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

__all__ = ["FitModel"]


class FitModel(Protocol):
    """A likelihood model with RooFit parameters (RooRealVar) in named collections."""

    @property
    def pois(self) -> Any:
        """The parameters of interest (a RooArgSet)."""

    @property
    def nuisance_parameters(self) -> Any:
        """The nuisance parameters (a RooArgSet, possibly empty)."""

    @property
    def global_observables(self) -> Any:
        """The global observables of the constraint terms (a RooArgSet, possibly empty)."""

    @property
    def model(self) -> Any:
        """The full pdf (the channel pdf times its constraint terms)."""

    def parameter(self, name: str) -> Any:
        """The RooRealVar called ``name``; KeyError if there is none."""

    def parameters(self) -> dict[str, float]:
        """Current values of the POIs and nuisance parameters."""

    def set_parameters(self, values: Mapping[str, float] | None = None, **kwargs: float) -> None:
        """Set parameter values by name."""

    def create_nll(self, data: Any = None, *, backend: str = "cpu") -> Any:
        """The NLL (a RooAbsReal) on ``data`` (None: the model's own data)."""

    def nll(self, values: Mapping[str, float] | None = None, *, data: Any = None, backend: str = "cpu") -> float:
        """The NLL value at ``values`` (others unchanged) on ``data``."""
