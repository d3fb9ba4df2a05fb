r"""Parametrized NSBI: binned models of the per-mu' optimal observable, and their scans.

:func:`build_parametrized_model` turns :class:`~roonsbi.templates.Templates` into a RooFit
channel in a ``RooWorkspace``:

* the bin index of the optimal observable, ``obs_<name>`` (range [0, B], B unit bins);
* the scan parameter :math:`\mu'` (``<poi>_prime``, constant), shared by all channels;
* :class:`RooNSBIParamHistPdf` ``pnsbi_<name>``: per bin
  :math:`\nu_b = \gamma_b \sum_J f_J(\mu)\,G_J(\alpha)\,T_{Jb}(\alpha;\mu')`, with the
  normalisation systematics :math:`G_J` as HistFactory ``FlexibleInterpVar``
  (``G_<proc>_<name>``), the histosys shapes interpolated per bin as ``PiecewiseInterpolation``
  (positive definite, code 4 by default), the MC-statistics factors :math:`\gamma_b` as
  HistFactory staterror, and the vertical linear interpolation in :math:`\mu'` between grid
  points;
* the constraints, named as HistFactory's: ``alpha_XConstraint`` =
  ``RooGaussian(alpha_X, nom_alpha_X, 1)`` and, per bin,
  ``gamma_stat_<name>_bin_<b>_constraint`` = ``RooGaussian(nom_gamma_stat_<name>_bin_<b>,
  gamma_stat_<name>_bin_<b>, <sigma>)`` with the global observable at 1 (range [0, 10]) and
  the relative MC uncertainty of the bin as width (a ``RooConstVar`` for a single grid
  point, otherwise a :class:`RooNSBIGridFunc` of :math:`\mu'`); as in HistFactory, a gamma is
  constant when its width is below ``stat_threshold`` (0.05 by default: HistFactory's
  ``StatErrorConfig`` default) at every grid point, and its range is [0, 1 + 5 sigma];
* the data: :class:`RooNSBIParamDataHist` ``paramData_<name>`` (one histogram per grid point)
  and, for standard tools, the ``RooDataHist`` ``obsData`` of the grid point nearest to the
  reference;
* ``model_<name>`` (pdf times constraints) and a ``RooStats::ModelConfig``.

:func:`parametrized_scan` runs the profile-likelihood scan of DESIGN 1.3: at each scan point
:math:`\mu'` the observable is :math:`O_{\mu'}`, and with the data binned in it one fit with
:math:`\mu = \mu'` fixed and one unconditional fit give
:math:`t(\mu') = 2\,[\mathrm{NLL}_\mathrm{fixed} - \mathrm{NLL}_\mathrm{free}]`. For an unbinned
:class:`~roonsbi.model.NSBIModel` the same call is the ordinary profile scan, so both can be
plotted together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..binned import Templates
from ..checks import check_alpha_range, check_number, check_pois, check_unique, parametrized_names
from ..library import cpp_errors, load
from ..naming import (
    DATA_NAME,
    GAMMA_NAME,
    MODEL_NAME,
    MODELCONFIG_NAME,
    MU_PRIME_NAME,
    OBSERVABLE_NAME,
    PARAM_DATA_NAME,
    PARAM_PDF_NAME,
    WORKSPACE_NAME,
    coefficient_name,
    gamma_constraint,
    gamma_width,
    global_observable,
    normsys_name,
    scale_name,
)
from ..spec import check_shape_code
from .builders import coefficient_formula, gaussian_constraints, normsys_factor, real_var, with_constraints
from .workspace import WorkspaceModel, read_workspace

ROOT = load()

__all__ = [
    "HISTFACTORY_STAT_THRESHOLD",
    "ParametrizedModel",
    "as_param_data",
    "build_parametrized_model",
    "load_parametrized_model",
]

#: HistFactory's default relative MC-uncertainty threshold below which a gamma is constant.
HISTFACTORY_STAT_THRESHOLD = 0.05


def _vector(values: Any) -> Any:
    arr = np.ascontiguousarray(np.asarray(values, dtype=np.float64).ravel())
    vec = ROOT.std.vector["double"]()
    vec.reserve(arr.size)
    for v in arr:
        vec.push_back(float(v))
    return vec


@dataclass
class ParametrizedModel(WorkspaceModel):
    """A parametrized NSBI channel in a RooWorkspace (see the module doc).

    Offers the interface of :class:`~roonsbi.model.NSBIModel` used by
    :class:`~roonsbi.inference.Fitter` (``create_nll``, ``parameter``, ``pois``,
    ``nuisance_parameters``, ``total_yield``), where the data are those of the current
    value of :math:`\\mu'`.
    """

    _data_cache: dict = field(default_factory=dict, repr=False)

    @property
    def pdf(self) -> Any:
        """The RooNSBIParamHistPdf (without constraint terms)."""
        return self._owned(self.workspace.pdf(PARAM_PDF_NAME.format(name=self.name)))

    @property
    def observable(self) -> Any:
        return self.workspace.var(OBSERVABLE_NAME.format(name=self.name))

    @property
    def mu_prime(self) -> Any:
        """The scan parameter mu' (constant)."""
        return self.workspace.var(self.pdf.muPrime().GetName())

    @property
    def grid(self) -> np.ndarray:
        return np.array(list(self.pdf.grid()))

    @property
    def param_data(self) -> Any:
        """The RooNSBIParamDataHist with one data histogram per grid point."""
        return self.workspace.genobj(PARAM_DATA_NAME.format(name=self.name))

    @property
    def data(self) -> Any:
        """The data at the current mu' (exact at grid points; interpolated in between)."""
        return self.data_at(self.mu_prime.getVal(), interpolate=True)

    def set_mu_prime(self, value: float) -> None:
        """Select the templates (and the default data) of mu' = value."""
        self.mu_prime.setVal(float(value))

    def bin_yields(self) -> np.ndarray:
        """Expected yields of the bins at the current parameters and mu'."""
        return np.array(list(self.pdf.binYields()))

    # -- data and likelihood -----------------------------------------------------------
    def data_at(self, mu_prime: float, interpolate: bool = False, data: Any = None) -> Any:
        """RooDataHist of ``data`` (default: the channel's RooNSBIParamDataHist; or another one,
        or an array of counts (K, B)) at mu'. Exact at grid points; between them only with
        ``interpolate`` (linear), otherwise ValueError."""
        source = self.param_data if data is None else as_param_data(data, self.grid, self.pdf.numBins(), self.name)
        key = (id(source), float(mu_prime), bool(interpolate))
        if key not in self._data_cache:
            with cpp_errors():
                hist = source.dataHist(self.observable, float(mu_prime), bool(interpolate),
                                       f"data_{self.name}_at_{mu_prime:g}")
            if len(self._data_cache) > 64:
                self._data_cache.clear()
            self._data_cache[key] = (hist, source)  # the std::unique_ptr owns the RooDataHist
        return self._data_cache[key][0]

    def create_nll(self, data: Any = None, *, backend: str = "cpu", interpolate: bool = False) -> Any:
        """The extended NLL with constraint terms (no offset) at the current mu'; ``data``:
        a RooDataHist, or None for the channel's data at the current mu'."""
        if data is None:
            data = self.data_at(self.mu_prime.getVal(), interpolate)
        elif not isinstance(data, ROOT.RooAbsData):
            data = self.data_at(self.mu_prime.getVal(), interpolate, data)
        return self._extended_nll(data, backend)

    def nll(self, values: Mapping[str, float] | None = None, *, data: Any = None, backend: str = "cpu",
            mu_prime: float | None = None, interpolate: bool = False) -> float:
        r"""NLL at ``values`` and mu' (others unchanged): the Poisson NLL
        :math:`\sum_b [\nu_b - n_b \log \nu_b]` plus the normalised Gaussian constraints."""
        if mu_prime is not None:
            self.set_mu_prime(mu_prime)
        if values:
            self.set_parameters(values)
        return float(self.create_nll(data, backend=backend, interpolate=interpolate).getVal())


def as_param_data(data: Any, grid: np.ndarray, n_bins: int, name: str) -> Any:
    """``data`` as a RooNSBIParamDataHist: one itself, or counts of shape (grid points, bins)."""
    if isinstance(data, ROOT.RooNSBIParamDataHist):
        return data
    counts = np.asarray(data, dtype=float)
    if counts.shape != (grid.size, n_bins):
        raise ValueError(f"data counts must have shape ({grid.size}, {n_bins}) (grid points, bins), got {counts.shape}")
    obj = _param_data_hist(f"paramData_{name}_user", "user data", grid, counts, None)
    ROOT.SetOwnership(obj, True)
    return obj


def _param_data_hist(name: str, title: str, grid: np.ndarray, counts: np.ndarray, sumw2: np.ndarray | None) -> Any:
    with cpp_errors():
        if sumw2 is None:
            return ROOT.RooNSBIParamDataHist(name, title, _vector(grid), counts.shape[1], _vector(counts))
        return ROOT.RooNSBIParamDataHist(name, title, _vector(grid), counts.shape[1], _vector(counts), _vector(sumw2))


def build_parametrized_model(
    templates: Templates,
    pois: Mapping[str, tuple[float, float, float]] | None = None,
    data: str | np.ndarray | None = None,
    name: str = "pnsbi",
    staterror: bool = True,
    stat_threshold: float = HISTFACTORY_STAT_THRESHOLD,
    stat_hypothesis: Mapping[str, float] | float | None = None,
    renormalise_histosys: bool = False,
    positive_definite: bool = True,
    alpha_range: tuple[float, float] = (-5.0, 5.0),
    asimov_values: Mapping[str, float] | float | None = None,
) -> ParametrizedModel:
    """Build a parametrized NSBI channel from templates.

    Args:
        templates: from :func:`roonsbi.templates.build_templates`.
        pois: POI name -> (initial value, min, max); default ``{poi: (reference, 0, 10)}``.
        data: None (the templates' data if they have some, else Asimov), ``"asimov"``, or
            counts of shape (K, B).
        name: channel name (``ws_<name>``, ``pnsbi_<name>``, ``obs_<name>`` ...).
        staterror: add HistFactory staterror gammas (one per bin, shared by all processes).
        stat_threshold: gammas whose relative width is below this at every grid point are
            constant (HistFactory's RelErrorThreshold; 0 keeps all floating).
        stat_hypothesis: POI values at which the relative MC uncertainty of the bin totals is
            taken (default: the templates' reference).
        renormalise_histosys: scale each histosys variation so that its total equals nu_J
            (shape-only variations); default False keeps the templates' convention.
        positive_definite: clamp negative interpolated process contents to 0 (HistFactory).
        alpha_range: range of every nuisance parameter alpha_X.
        asimov_values: POI values of Asimov data (default: the reference).

    Raises:
        ValueError: template arrays of inconsistent shapes or with NaN/inf, unknown codes,
            bins with no expected events (no MC event of any process) or non-positive expected
            yield at the reference, data with NaN, negative counts or data in such bins.
    """
    t = templates
    _check_templates(t)
    pois = check_pois(pois if pois is not None else {t.poi: (t.reference, 0.0, 10.0)})
    alpha_range = check_alpha_range(alpha_range)
    if not check_number(stat_threshold, "stat_threshold") >= 0:
        raise ValueError(f"stat_threshold must be >= 0 (a relative MC uncertainty), got {stat_threshold}")
    if t.poi not in pois:
        raise ValueError(f"the templates are parametrized in '{t.poi}', which is not among the POIs {list(pois)}")
    check_unique(parametrized_names(pois, t.processes, name, t.poi, t.num_bins))
    counts, sumw2 = _data_arrays(t, data, asimov_values)
    _check_expected(t, counts)

    ws = ROOT.RooWorkspace(WORKSPACE_NAME.format(name=name), f"parametrized NSBI channel {name}")
    keep: list[Any] = []
    # POIs live in the workspace from the start, so that formulas point at workspace-owned variables
    poi_vars = {}
    for poi, (value, lo, hi) in pois.items():
        ws.Import(real_var(poi, value, lo, hi), ROOT.RooFit.Silence(True))
        poi_vars[poi] = ws.var(poi)
    # unbounded: outside the grid the pdf uses the first/last grid point
    mu_prime = real_var(MU_PRIME_NAME.format(poi=t.poi), float(t.reference))
    mu_prime.setConstant(True)
    obs = ROOT.RooRealVar(OBSERVABLE_NAME.format(name=name), f"bin of the optimal observable ({name})", 0.0,
                          float(t.num_bins))
    obs.setBins(t.num_bins)
    np_names = sorted({n for p in t.processes for n in list(p.normsys_factors()) + list(p.histosys_codes())})
    alphas, globs, constraints = gaussian_constraints(np_names, poi_vars, alpha_range, keep)

    scales = _scale_factors(t, name, poi_vars, alphas, keep)
    pdf = _param_pdf(t, name, obs, mu_prime, scales, alphas, renormalise_histosys, positive_definite)
    gammas: list[Any] = []
    if staterror:
        gammas = _staterror(t, name, pdf, mu_prime, stat_threshold, stat_hypothesis, globs, constraints, keep)
    model = with_constraints(pdf, constraints, MODEL_NAME.format(name=name), f"parametrized NSBI model of {name}")
    ws.Import(model, ROOT.RooFit.Silence(True))

    pdata = _param_data_hist(PARAM_DATA_NAME.format(name=name), f"data of {name}", t.grid, counts, sumw2)
    ws.Import(pdata, PARAM_DATA_NAME.format(name=name))
    k_ref = int(np.argmin(np.abs(t.grid - t.reference)))
    dh = pdata.dataHist(ws.var(obs.GetName()), float(t.grid[k_ref]), False, DATA_NAME)
    ws.Import(dh, ROOT.RooFit.Silence(True))  # cppyy passes the std::unique_ptr's RooDataHist

    mc = ROOT.RooStats.ModelConfig(MODELCONFIG_NAME, ws)
    mc.SetPdf(ws.pdf(model.GetName()))
    mc.SetParametersOfInterest(ROOT.RooArgSet(*[ws.var(p) for p in poi_vars]))
    nps = [ws.var(a.GetName()) for a in alphas.values()] + [ws.var(g.GetName()) for g in gammas if not g.isConstant()]
    mc.SetNuisanceParameters(ROOT.RooArgSet(*nps))
    mc.SetObservables(ROOT.RooArgSet(ws.var(obs.GetName())))
    mc.SetGlobalObservables(ROOT.RooArgSet(*[ws.var(g.GetName()) for g in globs]))
    ws.Import(mc)
    ws.var(mu_prime.GetName()).setConstant(True)
    return ParametrizedModel(ws, name)


def _check_templates(t: Templates) -> None:
    """ValueError unless the template arrays have consistent shapes, finite values and known codes."""
    K, B, J = t.num_grid_points, t.num_bins, len(t.processes)
    _check_array("nominal templates", t.nominal, (K, J, B))
    _check_array("sums of squared weights", t.sumw2, (K, J, J, B))
    _check_array("grid", t.grid, (K,))
    for (proc, np_name), (lo, hi) in t.histosys.items():
        if proc not in t.process_names:
            raise ValueError(f"histosys '{np_name}' refers to unknown process '{proc}'")
        _check_array(f"histosys '{np_name}' (-1 sigma) of '{proc}'", lo, (K, B))
        _check_array(f"histosys '{np_name}' (+1 sigma) of '{proc}'", hi, (K, B))
    for p in t.processes:
        for np_name, code in p.histosys_codes().items():
            check_shape_code("histosys", code, np_name, p.name)
            if (p.name, np_name) not in t.histosys:
                raise ValueError(f"process '{p.name}' declares histosys '{np_name}' but the templates have none")


def _check_expected(t: Templates, counts: np.ndarray) -> None:
    """ValueError for a bin with no MC event of any process or a non-positive expected yield at the reference."""
    empty = np.all(t.nominal == 0.0, axis=1)  # (K, B): no expected events of any process
    ref_expected = t.expected()
    for k, b in zip(*np.nonzero(empty | ~(ref_expected > 0))):
        why = ("no MC event of any process" if empty[k, b]
               else f"a non-positive expected yield {ref_expected[k, b]:.6g} at the reference")
        raise ValueError(
            f"bin {b} at {t.poi}' = {t.grid[k]:g} has {why} (data: {counts[k, b]:g}); a bin with zero expected yield "
            "makes the likelihood undefined or useless: use fewer bins, other edges, or Quantiles binning")


def _scale_factors(t: Templates, name: str, poi_vars: Mapping[str, Any], alphas: Mapping[str, Any],
                   keep: list[Any]) -> Any:
    """s_J = f_J(mu) G_J(alpha) per process, as RooProducts."""
    scales = ROOT.RooArgList()
    for p in t.processes:
        if not isinstance(p.coefficient, str):
            raise ValueError(f"process '{p.name}': the model needs the coefficient as a RooFit formula string")
        coef = coefficient_formula(coefficient_name(p.name, name), p.coefficient, poi_vars, p.name)
        factors = ROOT.RooArgList(coef)
        norm = p.normsys_factors()
        if norm:
            g = normsys_factor(normsys_name(p.name, name), norm, alphas, p.name)
            factors.add(g)
            keep.append(g)
        s = ROOT.RooProduct(scale_name(p.name, name), scale_name(p.name, name), factors)
        keep += [coef, s]
        scales.add(s)
    return scales


def _param_pdf(t: Templates, name: str, obs: Any, mu_prime: Any, scales: Any, alphas: Mapping[str, Any],
               renormalise_histosys: bool, positive_definite: bool) -> Any:
    """The RooNSBIParamHistPdf of the templates with its histosys terms."""
    with cpp_errors():
        pdf = ROOT.RooNSBIParamHistPdf(PARAM_PDF_NAME.format(name=name), f"parametrized NSBI pdf of {name}", obs,
                                       mu_prime, _vector(t.grid), t.num_bins, scales, _vector(t.nominal))
        for j, p in enumerate(t.processes):
            for np_name, code in p.histosys_codes().items():
                lo, hi = t.histosys[(p.name, np_name)]
                if renormalise_histosys:
                    tot_lo, tot_hi = t.histosys_totals[(p.name, np_name)]
                    lo = lo * (p.nominal_yield / tot_lo)
                    hi = hi * (p.nominal_yield / tot_hi)
                pdf.addHistoSys(j, alphas[np_name], _vector(lo), _vector(hi), code)
        pdf.setPositiveDefinite(positive_definite)
    return pdf


def _staterror(t: Templates, name: str, pdf: Any, mu_prime: Any, stat_threshold: float,
               stat_hypothesis: Mapping[str, float] | float | None, globs: list[Any], constraints: list[Any],
               keep: list[Any]) -> list[Any]:
    """HistFactory's staterror: one gamma per bin shared by all processes, with a Gaussian constraint of the
    relative MC uncertainty (a function of mu' when it varies over the grid). Appends the global observables
    and constraints; returns the gammas."""
    rel = t.stat_uncertainty(stat_hypothesis)  # (K, B)
    if not np.all(np.isfinite(rel)):
        k, b = np.argwhere(~np.isfinite(rel))[0]
        raise ValueError(f"relative MC uncertainty of bin {b} at {t.poi}' = {t.grid[k]:g} is {rel[k, b]}")
    gammas: list[Any] = []
    gamma_list = ROOT.RooArgList()
    for b in range(t.num_bins):
        gname = GAMMA_NAME.format(name=name, b=b)
        gamma = real_var(gname, 1.0, 0.0, 10.0)
        gamma_list.add(gamma)
        gammas.append(gamma)
        width = rel[:, b]
        if np.all(width <= 0):
            gamma.setConstant(True)  # as HistFactory: no constraint term for a zero width
            continue
        gamma.setMax(1.0 + 5.0 * float(width.max()))
        gamma.setError(float(width[int(np.argmin(np.abs(t.grid - t.reference)))]))
        if np.all(width < stat_threshold):
            gamma.setConstant(True)
        nom = real_var(global_observable(gname), 1.0, 0.0, 10.0)
        nom.setConstant(True)
        if t.num_grid_points == 1 or np.all(width == width[0]):
            sigma = ROOT.RooConstVar(gamma_width(gname), gamma_width(gname), float(width[0]))
        else:
            sigma = ROOT.RooNSBIGridFunc(gamma_width(gname), f"relative MC uncertainty of bin {b} vs {t.poi}'",
                                         mu_prime, _vector(t.grid), _vector(width))
        keep.append(sigma)
        globs.append(nom)
        constraints.append(ROOT.RooGaussian(gamma_constraint(gname), gamma_constraint(gname), nom, gamma, sigma))
    pdf.setGammas(gamma_list)
    return gammas


def _check_array(what: str, arr: Any, shape: tuple[int, ...]) -> None:
    a = np.asarray(arr)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{what} have dtype {a.dtype}: give real numbers of shape {shape}")
    a = a.astype(float)
    if a.shape != shape:
        raise ValueError(f"{what} have shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{what} have {np.count_nonzero(~np.isfinite(a))} NaN or infinite entries (first at {idx})")


def _data_arrays(t: Templates, data: Any, asimov_values: Any) -> tuple[np.ndarray, np.ndarray | None]:
    K, B = t.num_grid_points, t.num_bins
    if data is None:
        data = "asimov" if t.data is None else "templates"
    if isinstance(data, str):
        if data == "asimov":
            return t.asimov(asimov_values), None
        if data == "templates":
            if t.data is None:
                raise ValueError("the templates have no data; pass data='asimov' or counts")
            return np.asarray(t.data, dtype=float), t.data_sumw2
        raise ValueError(f"data must be None, 'asimov', 'templates' or counts of shape ({K}, {B}), got '{data}'")
    _check_array("data counts", data, (K, B))
    counts = np.asarray(data, dtype=float)
    if np.any(counts < 0):
        first = tuple(int(i) for i in np.argwhere(counts < 0)[0])
        raise ValueError(f"data counts must not be negative (first: {counts[first]:g} at {first})")
    return counts, None


def load_parametrized_model(path: str | os.PathLike, workspace: str | None = None) -> ParametrizedModel:
    """Read a parametrized channel written by :meth:`ParametrizedModel.save`."""
    ws, name = read_workspace(path, workspace)
    model = ParametrizedModel(ws, name)
    if not model.pdf:
        raise ValueError(f"workspace '{ws.GetName()}' has no RooNSBIParamHistPdf '{PARAM_PDF_NAME.format(name=name)}'")
    return model
