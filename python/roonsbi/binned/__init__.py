"""Binned inputs of parametrized NSBI (no ROOT): the optimal observable, its binnings and the templates.

:mod:`~roonsbi.binned.observable` (T_mu' and the coefficients f_J), :mod:`~roonsbi.binned.binning`
(fixed edges, quantiles), :mod:`~roonsbi.binned.chunks` (sources of events),
:mod:`~roonsbi.binned.templates` (:func:`build_templates`, :class:`Templates`).
"""

from .binning import FixedEdges, Quantiles
from .observable import optimal_observable
from .process import BinnedProcess
from .templates import Templates, build_templates

__all__ = ["BinnedProcess", "FixedEdges", "Quantiles", "Templates", "build_templates",
           "optimal_observable"]
