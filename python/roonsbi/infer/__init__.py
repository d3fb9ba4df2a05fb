"""Statistical inference on roonsbi models: fits, profile-likelihood scans, pulls and impacts,
toys and the Neyman construction.

Modules: :mod:`.fit` (Minuit2 fits), :mod:`.scan` (1-D, 2-D and parametrized scans),
:mod:`.impacts`, :mod:`.toys`, :mod:`.intervals` (chi2 thresholds and crossings),
:mod:`.results` (every result container) and :mod:`.state` (parameters restored after a loop
of fits). A model is any :class:`~roonsbi.models.protocol.FitModel`.
"""

from .fit import Fitter, fit
from .impacts import impacts, pulls
from .intervals import chi2_threshold, crossing_interval
from .results import (
    FitResult,
    Impact,
    ImpactResult,
    NeymanResult,
    ParametrizedScanResult,
    Pull,
    Scan2DResult,
    ScanResult,
    Toy,
)
from .scan import parametrized_scan, profile_scan, profile_scan_2d
from .state import saved_parameters
from .toys import ToyGenerator, neyman_construction, t_statistic

__all__ = [
    "FitResult",
    "Fitter",
    "Impact",
    "ImpactResult",
    "NeymanResult",
    "ParametrizedScanResult",
    "Pull",
    "Scan2DResult",
    "ScanResult",
    "Toy",
    "ToyGenerator",
    "chi2_threshold",
    "crossing_interval",
    "fit",
    "impacts",
    "neyman_construction",
    "parametrized_scan",
    "profile_scan",
    "profile_scan_2d",
    "pulls",
    "saved_parameters",
    "t_statistic",
]
