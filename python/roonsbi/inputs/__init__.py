"""The inputs of an NSBI model (no ROOT): events, ratio networks, per-event columns, their diagnostics, toys.

* :mod:`~roonsbi.inputs.events`: event features from ROOT files (uproot) or arrays, in chunks;
* :mod:`~roonsbi.inputs.networks`: ONNX ratio networks and ensembles (onnxruntime);
* :mod:`~roonsbi.inputs.columns`: the per-event columns ``r_J``, ``g_Jm(+-1)``: networks evaluated on
  events, and :class:`~roonsbi.spec.Process` objects from them;
* :mod:`~roonsbi.inputs.column_files`: the columns written to and read from files (ROOT, .npz, .npy);
* :mod:`~roonsbi.inputs.diagnostics`: normalisation closure :math:`\\sum_i w_i r_J(x_i)/\\sum_i w_i = 1`
  and reweighting checks (numbers; the plots are :mod:`roonsbi.plot.diagnostics`);
* :mod:`~roonsbi.inputs.evaluate`: the configuration of ``roonsbi evaluate``;
* :mod:`~roonsbi.inputs.toy`: the analytic off-shell toy with exact ratios;
* :mod:`~roonsbi.inputs.training`: learned ratios for the toy (scikit-learn -> ONNX).

Importing it needs numpy only: uproot, onnxruntime and scikit-learn load when first used
(:mod:`roonsbi.optional`).
"""

from .column_files import read_columns, write_columns
from .columns import ColumnSpec, evaluate_columns, iter_columns, processes_from_columns
from .diagnostics import normalisation_closure, reweighting_check
from .events import MissingFeatureError, iter_events, read_events
from .networks import RatioModel, set_feature_names
from .toy import OffShellToy

__all__ = [
    "ColumnSpec",
    "MissingFeatureError",
    "OffShellToy",
    "RatioModel",
    "evaluate_columns",
    "iter_columns",
    "iter_events",
    "normalisation_closure",
    "processes_from_columns",
    "read_columns",
    "read_events",
    "reweighting_check",
    "set_feature_names",
    "write_columns",
]
