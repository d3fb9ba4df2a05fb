"""Plots of roonsbi results (matplotlib, Agg backend): they take plain numbers and roonsbi's
result containers (:class:`~roonsbi.infer.scan.Scan2DResult`, :class:`~roonsbi.infer.impacts.ImpactResult`,
:class:`~roonsbi.infer.toys.NeymanResult`) and never build models.

:mod:`~roonsbi.plot.scans` (1-D scans, 2-D contours, Neyman belts), :mod:`~roonsbi.plot.pulls`
(pulls and impact ranking), :mod:`~roonsbi.plot.data_model` (data against model).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BinnedChannelYields", "ControlRegionYields", "plot_data_vs_model", "plot_impacts", "plot_neyman",
           "plot_pulls", "plot_scan_2d", "plot_scans", "pyplot"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the non-interactive Agg backend (files only, no display)."""
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("roonsbi's plots need matplotlib: pip install matplotlib") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


from .data_model import BinnedChannelYields, ControlRegionYields, plot_data_vs_model  # noqa: E402
from .pulls import plot_impacts, plot_pulls  # noqa: E402
from .scans import plot_neyman, plot_scan_2d, plot_scans  # noqa: E402
