"""RooFit models (ROOT and libRooNSBI load on import): an unbinned NSBI channel (``RooNSBIPdf``), its fast
likelihood on a float32 event store (``RooNSBINLL``), a parametrized-NSBI channel of optimal-observable
histograms (``RooNSBIParamHistPdf`` + ``RooNSBIParamDataHist``) and combinations of channels
(``RooNSBI::Combination``), each a RooWorkspace with a ``RooStats::ModelConfig``.

* :mod:`.unbinned` -- :func:`build_model` from numpy columns, :func:`load_model`;
* :mod:`.store` -- float32 event stores (:func:`make_store`, :func:`open_store`);
* :mod:`.fast` -- :func:`fast_nll` with the analytic gradient;
* :mod:`.parametrized` -- :func:`build_parametrized_model` from :class:`roonsbi.binned.Templates`;
* :mod:`.combined` -- :func:`combine` channels, models and workspaces into one RooSimultaneous;
* :mod:`.builders`, :mod:`.workspace` -- the RooFit blocks and the base class they share.
"""

from __future__ import annotations

from .combined import Channel, CombinedModel, channels_of, combine, read_roofit_file
from .fast import FastNLL, fast_nll, store_from_model
from .parametrized import ParametrizedModel, build_parametrized_model, load_parametrized_model
from .store import make_store, open_store
from .unbinned import NSBIModel, build_model, load_model
from .workspace import WorkspaceModel, read_workspace

__all__ = [
    "Channel",
    "CombinedModel",
    "FastNLL",
    "NSBIModel",
    "ParametrizedModel",
    "WorkspaceModel",
    "build_model",
    "build_parametrized_model",
    "channels_of",
    "combine",
    "fast_nll",
    "load_model",
    "load_parametrized_model",
    "make_store",
    "open_store",
    "read_roofit_file",
    "read_workspace",
    "store_from_model",
]
