"""The one table of names: workspace objects, dataset columns and HistFactory's parameter names (no ROOT).

Every module that writes or reads a roonsbi workspace or a column file takes its names from here.
HistFactory's conventions are followed for nuisance parameters (``alpha_X`` with the global
observable ``nom_alpha_X`` and the constraint ``alpha_XConstraint``) and MC-statistics gammas.

>>> ratio_column("S"), shape_columns("S", "jes")
('r_S', ('g_S_jes_lo', 'g_S_jes_hi'))
>>> alpha("jes"), global_observable("alpha_jes"), constraint("alpha_jes")
('alpha_jes', 'nom_alpha_jes', 'alpha_jesConstraint')
>>> WORKSPACE_NAME.format(name="nsbi"), PDF_NAME.format(name="nsbi")
('ws_nsbi', 'nsbi_nsbi')
"""

from __future__ import annotations

from typing import Sequence

__all__ = [
    "INITIAL_ATTR",
    "CATEGORY_NAME",
    "COLUMNS_METADATA",
    "DATA_NAME",
    "EVENT_INDEX_NAME",
    "GAMMA_NAME",
    "LOG_PREFIX",
    "MODELCONFIG_NAME",
    "MODEL_NAME",
    "MU_PRIME_NAME",
    "OBSERVABLE_NAME",
    "PARAM_DATA_NAME",
    "PARAM_PDF_NAME",
    "PDF_NAME",
    "POOL_MEASURE",
    "SIM_NAME",
    "SPREAD_SUFFIX",
    "WEIGHT_NAME",
    "WORKSPACE_NAME",
    "alpha",
    "channel_of_workspace",
    "RESERVED_NAMES",
    "coefficient_name",
    "constraint",
    "constraint_width",
    "gamma_constraint",
    "gamma_width",
    "nominal_yield_name",
    "normsys_name",
    "scale_name",
    "expected_yield_name",
    "nu_shift_name",
    "shape_norm_name",
    "yield_name",
    "global_observable",
    "nuisance_of_alpha",
    "parse_shape_column",
    "process_of_ratio",
    "ratio_column",
    "shape_columns",
]

# -- workspace objects of a channel called ``name`` --------------------------------------
WORKSPACE_NAME = "ws_{name}"
PDF_NAME = "nsbi_{name}"  #: RooNSBIPdf of an unbinned channel
MODEL_NAME = "model_{name}"  #: channel pdf times its constraint terms
PARAM_PDF_NAME = "pnsbi_{name}"  #: RooNSBIParamHistPdf of a parametrized channel
EVENT_INDEX_NAME = "event_{name}"  #: event-index observable of a store-form channel (row of its EventStore)
PARAM_DATA_NAME = "paramData_{name}"  #: RooNSBIParamDataHist of a parametrized channel
OBSERVABLE_NAME = "obs_{name}"  #: the binned optimal observable of a parametrized channel
MU_PRIME_NAME = "{poi}_prime"  #: the parameter mu' that selects the optimal observable
GAMMA_NAME = "gamma_stat_{name}_bin_{b}"  #: HistFactory's MC-statistics gammas
DATA_NAME = "obsData"
MODELCONFIG_NAME = "ModelConfig"
SIM_NAME = "simPdf"  #: the RooSimultaneous of a combination
CATEGORY_NAME = "channelCat"  #: its category

# -- columns -----------------------------------------------------------------------------
WEIGHT_NAME = "weight"  #: per-event weights (dataset weight variable, column files)
SPREAD_SUFFIX = "_std"  #: spread of an ensemble of networks, ``<column>_std``
COLUMNS_METADATA = "roonsbi_metadata"  #: the JSON metadata of a column file (a TObjString in ROOT files)
LOG_PREFIX = "log:"  #: event-store columns stored as logarithms
POOL_MEASURE = "pool_measure"  #: event-store column of the reference-pool measure m_k = u_k / sum_l u_l
#: names roonsbi gives to fixed objects of every workspace (no user name may equal them)
#: string attribute of a RooRealVar: the value it was built with (the declared start; exports read it)
INITIAL_ATTR = "roonsbi:initial"
RESERVED_NAMES = (WEIGHT_NAME, DATA_NAME, MODELCONFIG_NAME, SIM_NAME, CATEGORY_NAME)


def _in_channel(base: str, channel: str | None) -> str:
    return base if channel is None else f"{base}_{channel}"


def nominal_yield_name(process: str) -> str:
    """The constant nu_J of process ``process`` (``nu_<process>``)."""
    return f"nu_{process}"


def yield_name(process: str) -> str:
    """The yield N_J = f_J nu_J G_J of an unbinned channel (``N_<process>``)."""
    return f"N_{process}"


def expected_yield_name(process: str) -> str:
    """With renormalised shapes: the expected yield f_J nu_J G_J of a process (``Nexp_<process>``),
    while ``N_<process>`` also holds the shape normalisation factors."""
    return f"Nexp_{process}"


def shape_norm_name(process: str, nuisance: str) -> str:
    """The renormalisation factor 1/c_Jm(alpha) of a shape term (``shapenorm_<process>_<nuisance>``)."""
    return f"shapenorm_{process}_{nuisance}"


def nu_shift_name(channel: str) -> str:
    """With renormalised shapes: delta = sum_J (Nexp_J - N_J), which keeps nu = sum_J Nexp_J
    (``nushift_<channel>``)."""
    return f"nushift_{channel}"


def coefficient_name(process: str, channel: str | None = None) -> str:
    """The coefficient f_J(mu) (``f_<process>``; ``f_<process>_<channel>`` in a parametrized channel)."""
    return _in_channel(f"f_{process}", channel)


def normsys_name(process: str, channel: str | None = None) -> str:
    """The normalisation factor G_J(alpha) (``G_<process>``; ``G_<process>_<channel>`` parametrized)."""
    return _in_channel(f"G_{process}", channel)


def scale_name(process: str, channel: str) -> str:
    """The scale s_J = f_J G_J of a parametrized channel (``s_<process>_<channel>``)."""
    return f"s_{process}_{channel}"


def constraint_width(parameter: str) -> str:
    """The unit width of the Gaussian constraint of ``alpha_X`` (``sigma_alpha_X``)."""
    return f"sigma_{parameter}"


def gamma_width(gamma: str) -> str:
    """The relative MC uncertainty of a staterror gamma (``<gamma>_sigma``)."""
    return f"{gamma}_sigma"


def gamma_constraint(gamma: str) -> str:
    """The constraint term of a gamma (staterror Gaussian, shapesys Poisson: ``<gamma>_constraint``)."""
    return f"{gamma}_constraint"


def ratio_column(process: str) -> str:
    """Column of r_J = p_J/p_ref of process ``process``."""
    return f"r_{process}"


def shape_columns(process: str, nuisance: str) -> tuple[str, str]:
    """Columns of g_Jm(x, -1) and g_Jm(x, +1) of process ``process`` and nuisance parameter ``nuisance``."""
    return f"g_{process}_{nuisance}_lo", f"g_{process}_{nuisance}_hi"


def process_of_ratio(column: str) -> str | None:
    """The process of a ratio column ``r_<process>``, or None for another column."""
    prefix = ratio_column("")
    return column[len(prefix):] if column.startswith(prefix) and len(column) > len(prefix) else None


def parse_shape_column(column: str, processes: Sequence[str]) -> tuple[str, str, str] | None:
    """(process, nuisance, ``"lo"`` or ``"hi"``) of a shape column ``g_<process>_<nuisance>_lo/_hi``
    of one of ``processes`` (the longest matching process name wins: ``g_S_x_jes_lo`` is of ``S_x``
    if both ``S`` and ``S_x`` are processes), or None.

    >>> parse_shape_column("g_S_x_jes_lo", ["S", "S_x"]), parse_shape_column("r_S", ["S"])
    (('S_x', 'jes', 'lo'), None)
    """
    if not column.endswith(("_lo", "_hi")):
        return None
    for process in sorted(processes, key=len, reverse=True):
        prefix = shape_columns(process, "")[0][: -len("_lo")]  # "g_<process>_"
        if column.startswith(prefix) and len(column) > len(prefix) + len("_lo"):
            return process, column[len(prefix):-3], column[-2:]
    return None


def alpha(nuisance: str) -> str:
    """HistFactory's parameter of the systematic ``nuisance``."""
    return f"alpha_{nuisance}"


def nuisance_of_alpha(name: str) -> str:
    """The systematic's name of a parameter ``alpha_X`` (``X``), or ``name`` itself."""
    return name[len("alpha_"):] if name.startswith("alpha_") else name


def global_observable(parameter: str) -> str:
    """HistFactory's global observable of a constrained parameter (``alpha_X`` -> ``nom_alpha_X``,
    ``gamma_stat_c_bin_0`` -> ``nom_gamma_stat_c_bin_0``)."""
    return f"nom_{parameter}"


def constraint(parameter: str) -> str:
    """HistFactory's name of the constraint term of ``parameter`` (``alpha_X`` -> ``alpha_XConstraint``)."""
    return f"{parameter}Constraint"


def channel_of_workspace(workspace: str) -> str:
    """The channel name of a workspace name (without the ``ws_`` prefix)."""
    prefix = WORKSPACE_NAME.format(name="")
    return workspace[len(prefix):] if workspace.startswith(prefix) else workspace
