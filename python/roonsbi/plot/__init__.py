"""Plots of roonsbi results (matplotlib, Agg backend): they take plain numbers and roonsbi's
result containers (:class:`~roonsbi.infer.scan.Scan2DResult`, :class:`~roonsbi.infer.impacts.ImpactResult`,
:class:`~roonsbi.infer.toys.NeymanResult`) and never build models.

:mod:`~roonsbi.plot.scans` (1-D scans, 2-D contours, Neyman belts), :mod:`~roonsbi.plot.pulls`
(pulls and impact ranking), :mod:`~roonsbi.plot.data_model` (data against model), :mod:`~roonsbi.plot.diagnostics` (the
diagnostics of ratio columns); :func:`pyplot` (:mod:`~roonsbi.plot.figure`) is how they get matplotlib.
"""

from __future__ import annotations

__all__ = ["BinnedChannelYields", "ControlRegionYields", "plot_data_vs_model", "plot_impacts", "plot_neyman",
           "plot_pulls", "plot_scan_2d", "plot_scans", "pyplot"]


from .data_model import BinnedChannelYields, ControlRegionYields, plot_data_vs_model
from .figure import pyplot
from .pulls import plot_impacts, plot_pulls
from .scans import plot_neyman, plot_scan_2d, plot_scans
