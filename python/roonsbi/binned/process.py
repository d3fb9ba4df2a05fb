"""One process J of a parametrized (binned) NSBI channel: its yield, coefficient f_J and systematics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..spec import DEFAULT_HISTOSYS_CODE, ArrayLike, NormSys

__all__ = ["ArrayLike", "BinnedProcess"]



@dataclass
class BinnedProcess:
    """One process J of a parametrized (binned) NSBI channel.

    Args:
        name: process name; its ratio column is ``r_<name>``.
        nominal_yield: nu_J, the expected number of events at f_J = 1, alpha = 0.
        coefficient: f_J of the POIs: a RooFit formula in the POI names (``"sqrt(mu)"``,
            ``"mu - sqrt(mu)"``), as :class:`roonsbi.model.Process`, or a Python callable
            taking a dict of POI values.
        normsys: nuisance-parameter name -> :class:`~roonsbi.model.NormSys` or ``(lo, hi)``.
        histosys: nuisance-parameter names whose per-event columns ``g_<name>_<np>_lo/_hi`` are in
            the events; a mapping name -> PiecewiseInterpolation code for the binned histosys
            (default 4, HistFactory's histosys default), or a sequence of names.
    """

    name: str
    nominal_yield: float
    coefficient: Any = "1"
    normsys: Mapping[str, NormSys | tuple[float, float]] = field(default_factory=dict)
    histosys: Mapping[str, int] | Sequence[str] = field(default_factory=dict)

    def histosys_codes(self) -> dict[str, int]:
        if isinstance(self.histosys, Mapping):
            return {k: int(v) for k, v in self.histosys.items()}
        return dict.fromkeys(self.histosys, DEFAULT_HISTOSYS_CODE)

    def normsys_factors(self) -> dict[str, NormSys]:
        return {k: (v if isinstance(v, NormSys) else NormSys(*v)) for k, v in self.normsys.items()}

