"""Statistical inference on roonsbi models: fits, profile-likelihood scans, pulls and impacts,
toys, the Neyman construction and coverage studies, asymptotic and toy CLs limits and discovery
significance, on one process or many (:mod:`.executor`, :mod:`.records`, :mod:`.sharded`).

Modules: :mod:`.fit` (Minuit2 fits), :mod:`.scan` (1-D, 2-D and parametrized scans),
:mod:`.impacts`, :mod:`.toys`, :mod:`.limits` (CLs, upper limits, significance),
:mod:`.intervals` (chi2 thresholds and crossings), :mod:`.normalisation` (the normalisation
drift of shape terms), :mod:`.results` (every result container), :mod:`.progress` (progress of loops
of fits) and :mod:`.state` (parameters restored after a loop of fits). A model is any
:class:`~roonsbi.models.protocol.FitModel`.
"""

from .fit import FitStatusWarning, Fitter, ParameterAtBoundWarning, fit
from .impacts import impacts, pulls
from .intervals import chi2_threshold, crossing_interval
from .limits import (
    BANDS,
    asimov_dataset,
    asymptotic_cls,
    cls_scan,
    discovery_significance,
    hypotest,
    toy_cls,
    upper_limit,
)
from .normalisation import shape_drift
from .results import (
    CLsResult,
    CoverageResult,
    FitResult,
    Impact,
    ImpactResult,
    NeymanResult,
    NuisanceProfile,
    ParametrizedScanResult,
    Pull,
    Scan2DResult,
    ScanResult,
    ShapeDrift,
    ShapeDriftTable,
    Significance,
    Toy,
    ToyCLsResult,
    UpperLimit,
)
from .scan import conditional_nuisances, parametrized_scan, profile_scan, profile_scan_2d
from .state import saved_parameters
from .toys import ToyGenerator, coverage, neyman_construction, t_statistic

__all__ = [
    "BANDS",
    "CLsResult",
    "CoverageResult",
    "FitResult",
    "FitStatusWarning",
    "Fitter",
    "Impact",
    "ImpactResult",
    "NeymanResult",
    "NuisanceProfile",
    "ParameterAtBoundWarning",
    "ParametrizedScanResult",
    "Pull",
    "Scan2DResult",
    "ScanResult",
    "ShapeDrift",
    "ShapeDriftTable",
    "Significance",
    "Toy",
    "ToyCLsResult",
    "ToyGenerator",
    "UpperLimit",
    "asimov_dataset",
    "asymptotic_cls",
    "chi2_threshold",
    "cls_scan",
    "conditional_nuisances",
    "coverage",
    "crossing_interval",
    "discovery_significance",
    "fit",
    "hypotest",
    "impacts",
    "neyman_construction",
    "parametrized_scan",
    "profile_scan",
    "profile_scan_2d",
    "pulls",
    "saved_parameters",
    "shape_drift",
    "t_statistic",
    "toy_cls",
    "upper_limit",
]
