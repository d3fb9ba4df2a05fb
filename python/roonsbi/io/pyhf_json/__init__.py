r"""pyhf JSON (schema 1.0.0): export of binned channels, patchsets over the mu' grid, import.

Modules: :mod:`.export` (RooFit -> pyhf), :mod:`.channels` (the walk over one channel's RooFit
objects), :mod:`.read` (pyhf -> RooFit), :mod:`.names` (RooFit <-> pyhf names), :mod:`.expression`
(the pyhf modifier of route (a) and its loader), :mod:`.recipe` (scans of non-linear POIs in
pyhf), :mod:`.patchset` (patchsets over mu or the mu' grid).

**Export** (:func:`to_pyhf`): every binned channel of a roonsbi model becomes a pyhf channel:

* parametrized-NSBI channels (:class:`~roonsbi.models.parametrized.ParametrizedModel`, or a
  ``RooNSBIParamHistPdf`` in a combination) at one grid point :math:`\mu'_k`: one sample per
  process with the templates :math:`T_{Jkb}` of that grid point;
* HistFactory channels (``RooRealSumPdf`` of ``RooProduct`` samples, as made by ROOT's
  HistFactory or :func:`from_pyhf`).

RooFit objects map to pyhf modifiers exactly as HistFactory's XML maps to pyhf
(``pyhf xml2json``), and only where the maths is identical:

==============================================  ==========================================
RooFit                                          pyhf
==============================================  ==========================================
``FlexibleInterpVar`` code 4 or 5 (alpha_X)     ``normsys`` X (pyhf default ``code4``)
``PiecewiseInterpolation`` code 4 (alpha_X)     ``histosys`` X (pyhf default ``code4p``)
``ParamHistFunc`` gamma_stat_<c>_bin_b with     ``staterror`` staterror_<c>:
Gaussian constraints of width sigma_b           sqrt(sum_s delta_sb^2) / sum_s nu_sb = sigma_b
``ParamHistFunc`` with Poisson constraints      ``shapesys`` X, delta_b = nu_b / sqrt(tau_b)
(tau_b) on gamma_X_bin_b
``ParamHistFunc`` without constraints           ``shapefactor`` X
``Lumi`` with a Gaussian constraint             ``lumi`` (auxdata, sigmas in the measurement)
a free ``RooRealVar`` factor                    ``normfactor`` (its range as bounds)
a constant factor (``RooConstVar``, f_J = c)    multiplies the sample data
a fixed ``Lumi`` beside a nuisance parameter    multiplies the sample data (pyhf's name "lumi"
``alpha_lumi`` (pyhf name "lumi" as well)       is then the normsys / histosys)
==============================================  ==========================================

Everything else is refused with a ValueError naming the object: other interpolation codes
(a pyhf workspace has no place for interpolation codes, so only pyhf's defaults, which are
HistFactory's defaults, are exact), staterror with a Poisson constraint (ROOT 6.40's
``StatErrorConfig`` default; pyhf's staterror is Gaussian), Gaussian-constrained shapesys,
constrained normalisation factors other than ``Lumi``, unbinned ``RooNSBIPdf`` channels,
mu' between grid points, and unknown classes. HistFactory's positive-definite clamp of a
process's interpolated histosys content has no pyhf counterpart; it only acts where the pyhf
yield would be negative (where pyhf's likelihood is undefined).

**Staterror of parametrized NSBI.** The MC uncertainty of a parametrized channel is one relative
width sigma_b per bin (from the per-process-pair sums of squared weights, which pyhf cannot
hold); it is written as per-sample uncertainties proportional to the sample contents,
:math:`\delta_{sb} = \sigma_b\,\nu_{sb}\,\sum_s\nu_{sb}/\sqrt{\sum_s\nu_{sb}^2}`, for which pyhf's
:math:`\sqrt{\sum_s\delta_{sb}^2}/\sum_s\nu_{sb}` is exactly sigma_b. Bins whose gamma is constant
(below the threshold) get delta = 0, which pyhf fixes.

**Non-linear POI dependence.** pyhf has only linear normalisation factors. A process whose
coefficient is proportional to the POI (``mu``, ``2*mu``) gets the normfactor named like the POI
(the factor scales the data); a constant coefficient scales the sample data; any other
coefficient f_J(mu) (``sqrt(mu)``, ``mu - sqrt(mu)``) makes the plain :func:`to_pyhf` raise,
naming the coefficients and the exact routes (a workspace whose POI means something else is
never written):

* (a) ``nonlinear="expression"``: a ``roonsbi_expression`` modifier ``{"expr": "mu - sqrt(mu)"}``
  per such sample (:mod:`.expression`), evaluated by pyhf's custom-modifier mechanism;
  :func:`load_pyhf_model` is the one-line loader, :func:`pyhf_expression_scan` the scan;
* (b) ``nonlinear="fixed"`` (``at={"mu": value}``): the model at fixed POIs, every f_J a fixed
  normfactor named like the RooFit coefficient (``f_<process>_<channel>``) at f_J(mu), bounded by
  f_J over the POI range, POI-less measurement; :func:`to_patchset` with ``mu=[...]`` writes one
  such workspace per mu as a patchset, and :func:`pyhf_profile_scan` is the same recipe in Python
  (``init_pars`` / ``fixed_params`` per mu, -2 log L(mu) minus its minimum is t(mu));
* ``reparametrize=(kappa, g)``: where every coefficient is b_J g(mu), normfactors of the new POI
  kappa = g(mu) (the refusal says when this is possible).

:func:`poi_relation` returns the relations f_J(mu) (``{"poi": "mu", "normfactors":
{"f_S_pnsbi": "mu - sqrt(mu)"}, ...}``); the patchset metadata hold them.

**Patchsets** (:func:`to_patchset`): the model over values of mu (route (b)), or a parametrized
channel over its whole mu' grid, one JSON patch per point replacing the data that differ from
the workspace of the first point.

**Import** (:func:`from_pyhf`): a pyhf workspace becomes a RooFit model with HistFactory's
structure and names (``RooRealSumPdf`` ``<c>_model`` of ``RooProduct`` samples,
``FlexibleInterpVar`` code 4, ``PiecewiseInterpolation`` code 4, ``ParamHistFunc`` gammas,
``alpha_X`` / ``nom_alpha_X`` / ``alpha_XConstraint``, ``gamma_stat_<c>_bin_b``, ``Lumi``),
``simPdf`` over ``channelCat``, the dataset ``obsData`` and a ``ModelConfig`` (one measurement:
its POI, parameter settings and, as the snapshot, the initial values), usable by
:func:`roonsbi.models.combined.combine`. The global observables of staterror, shapesys and lumi have
unbounded ranges, so their constraint terms are exactly pyhf's normalised Normal and
(continuous) Poisson densities; ``nom_alpha_X`` has HistFactory's range [-10, 10] (so that
nuisance parameters shared with HistFactory or roonsbi channels combine), which normalises
``alpha_XConstraint`` by P(|N(alpha, 1)| <= 10), a factor 1 - 3e-7 at |alpha| = 5 and 1 to
double precision for |alpha| < 2.5. RooFit's binned NLL includes the log n! terms, so for one
channel the RooFit NLL equals pyhf's ``-logpdf`` up to these truncation terms (a RooSimultaneous
of several channels adds a parameter-independent constant). Exporting an imported
workspace gives back the same JSON (the modifier order and the keys of the measurement's
parameter configurations are kept as string attributes of the RooFit objects), for one
measurement and observations listed in the order of the channels. As in pyhf, the POI may be
any one-parameter modifier (a normsys ``X`` -> ``alpha_X``, a one-bin shapesys -> its gamma) or
none (``"poi": ""``). Refused on import (pyhf accepts them, HistFactory cannot hold them): a
staterror shared by several channels; channel names that are not identifiers.
"""
from __future__ import annotations

from .errors import PyhfExportError
from .export import poi_relation, to_pyhf, write_json
from .expression import EXPRESSION_TYPE, expression_modifier_set, load_pyhf_model
from .names import pyhf_parameters, roofit_names
from .patchset import to_patchset
from .read import PyhfModel, from_pyhf
from .recipe import PyhfScan, pyhf_expression_scan, pyhf_profile_scan

__all__ = [
    "EXPRESSION_TYPE",
    "PyhfExportError",
    "PyhfModel",
    "PyhfScan",
    "expression_modifier_set",
    "from_pyhf",
    "load_pyhf_model",
    "poi_relation",
    "pyhf_expression_scan",
    "pyhf_parameters",
    "pyhf_profile_scan",
    "roofit_names",
    "to_patchset",
    "to_pyhf",
    "write_json",
]
