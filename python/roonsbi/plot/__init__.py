"""roonsbi's plots: public functions that take roonsbi's result containers (:mod:`roonsbi.infer.results`)
and draw them in a HEP style (mplhep), written as PNG and/or PDF.

* :func:`plot_scan`: 1-D profile-likelihood scans (several curves, 68% / 95% CL lines);
* :func:`plot_scan_2d`: 2-D confidence-region contours;
* :func:`plot_pulls`: nuisance-parameter pulls; :func:`plot_ranking`: the impact ranking;
* :func:`plot_data_vs_model`: binned channels, data against pre-/post-fit model with a ratio
  panel (:func:`channel_yields` reads any binned channel of a model into a :class:`ChannelYields`);
* :func:`plot_limit_bands`: the "Brazil" plot of a CLs scan;
* :func:`plot_neyman`: a Neyman construction (toy critical values);
* :func:`diagnose` and the diagnostics of ratio columns (:mod:`roonsbi.plot.diagnostics`).

Every plot function returns its matplotlib ``Figure`` (outside pyplot: nothing to close) and, given
a ``path``, writes it: the format from the suffix, or ``formats=("png", "pdf")``; an existing file is
replaced only with ``overwrite=True``; each file is written atomically (:mod:`roonsbi.atomic`). The
experiment label is off by default: ``label="ATLAS", label_text="Internal", lumi=140, energy=13``
draws it (mplhep's ``exp_label``) and selects that experiment's mplhep style (ROOT's otherwise).
These keywords, common to every plot function, are :class:`PlotOptions` (a dict: one set serves
several plots, ``plot_scan(scan, path, **atlas)``). The styles apply inside the call only
(``matplotlib.rc_context``). The names load their module on first use: :func:`diagnose`
(``roonsbi evaluate``) does not load ROOT.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

#: name -> the module that defines it (imported on first use)
_LAZY = {
    "ChannelYields": "data_model", "channel_yields": "data_model", "plot_data_vs_model": "data_model",
    "diagnose": "diagnostics", "ExperimentLabel": "figure", "PlotOptions": "figure", "plot_limit_bands": "limits",
    "plot_pulls": "pulls", "plot_ranking": "pulls", "plot_neyman": "scans", "plot_scan": "scans",
    "plot_scan_2d": "scans",
}

__all__ = ["ChannelYields", "ExperimentLabel", "PlotOptions", "channel_yields", "diagnose", "plot_data_vs_model",
           "plot_limit_bands", "plot_neyman", "plot_pulls", "plot_ranking", "plot_scan", "plot_scan_2d"]

if TYPE_CHECKING:
    from .data_model import ChannelYields, channel_yields, plot_data_vs_model
    from .diagnostics import diagnose
    from .figure import ExperimentLabel, PlotOptions
    from .limits import plot_limit_bands
    from .pulls import plot_pulls, plot_ranking
    from .scans import plot_neyman, plot_scan, plot_scan_2d


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
