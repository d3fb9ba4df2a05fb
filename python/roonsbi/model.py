r"""Build unbinned NSBI models (:class:`RooNSBIPdf`) from numpy arrays.

The model of one NSBI channel is the master formula

.. math::

    \frac{p(x|\mu,\alpha)}{p_\mathrm{ref}(x)} = \frac{1}{\nu(\mu,\alpha)}
        \sum_J f_J(\mu)\,\nu_J\,G_J(\alpha)\,r_J(x) \prod_m g_{Jm}(x,\alpha_m),
    \qquad \nu(\mu,\alpha) = \sum_J f_J(\mu)\,\nu_J\,G_J(\alpha),

with Gaussian constraints on the nuisance parameters as in HistFactory
(``alpha_X`` with global observable ``nom_alpha_X`` and the factor
``alpha_XConstraint``). Everything lives in one ``RooWorkspace`` together with a
``RooStats::ModelConfig``, so the model can be saved, combined and read by any
RooFit tool once the roonsbi library is loaded.

Interpolation codes are ROOT's own numbers:

* normalisation systematics (:class:`NormSys`): ``FlexibleInterpVar`` codes
  0 (linear), 1 (exponential), 2 (parabolic), 4 (6th-order polynomial inside
  :math:`|\alpha|<1`, exponential outside; HistFactory's normsys default, pyhf ``code4``);
* per-event shape systematics (:class:`ShapeSys`): ``PiecewiseInterpolation``
  codes 0, 1, 2, 4, 5, 6; default 5 (multiplicative polynomial/exponential, as
  the ATLAS off-shell analysis). Shapes are not renormalised (see ``RooNSBIPdf``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np

from . import _library

_library.load_library()
import ROOT  # noqa: E402

ArrayLike = Union[np.ndarray, Sequence[float]]

NORMSYS_CODES = (0, 1, 2, 4, 5)
SHAPESYS_CODES = (0, 1, 2, 4, 5, 6)

#: Names of objects in the workspace of a channel called ``name``.
PDF_NAME = "nsbi_{name}"
MODEL_NAME = "model_{name}"
DATA_NAME = "obsData"
MODELCONFIG_NAME = "ModelConfig"
WEIGHT_NAME = "weight"


@dataclass(frozen=True)
class NormSys:
    """Normalisation systematic: yield factors at alpha = -1 and +1 (nominal 1)."""

    lo: float
    hi: float
    code: int = 4


@dataclass(frozen=True)
class ShapeSys:
    """Per-event shape systematic: columns g(x_i, -1) and g(x_i, +1) (nominal 1)."""

    lo: ArrayLike
    hi: ArrayLike
    code: int = 5


@dataclass
class Process:
    """One process J of an NSBI channel.

    Args:
        name: process name (used in object names: ``r_<name>``, ``N_<name>`` ...).
        nominal_yield: nu_J, the expected number of events at f_J = 1, alpha = 0.
        ratio: r_J(x_i) = p_J(x_i)/p_ref(x_i) per event (e.g. a network output).
        coefficient: f_J of the POIs: a RooFit formula in the POI names
            (``"mu"``, ``"sqrt(mu)"``, ``"mu - sqrt(mu)"``) or a RooAbsReal.
        normsys: nuisance-parameter name -> :class:`NormSys` or ``(lo, hi)``.
        shapesys: nuisance-parameter name -> :class:`ShapeSys` or ``(lo_array, hi_array)``.
    """

    name: str
    nominal_yield: float
    ratio: ArrayLike
    coefficient: Any = "1"
    normsys: Mapping[str, NormSys | tuple[float, float]] = field(default_factory=dict)
    shapesys: Mapping[str, ShapeSys | tuple[ArrayLike, ArrayLike]] = field(default_factory=dict)


def check_shape_code(kind: str, code: int, np_name: str, process: str) -> None:
    """ValueError unless ``code`` is a PiecewiseInterpolation code (per-event shapes, histosys)."""
    if code not in SHAPESYS_CODES:
        raise ValueError(f"unknown {kind} interpolation code {code} for '{np_name}' of process '{process}' "
                         f"(PiecewiseInterpolation codes {SHAPESYS_CODES})")


def check_normsys(sys: NormSys, np_name: str, process: str) -> None:
    """ValueError unless the normalisation systematic has a FlexibleInterpVar code and positive
    finite factors."""
    if sys.code not in NORMSYS_CODES:
        raise ValueError(f"unknown normalisation interpolation code {sys.code} for '{np_name}' of process "
                         f"'{process}' (FlexibleInterpVar codes {NORMSYS_CODES})")
    if not (sys.lo > 0 and sys.hi > 0 and np.isfinite(sys.lo) and np.isfinite(sys.hi)):
        raise ValueError(f"normalisation systematic '{np_name}' of process '{process}' needs positive finite "
                         f"factors, got lo={sys.lo}, hi={sys.hi}")


def _as_normsys(value: NormSys | tuple[float, float]) -> NormSys:
    return value if isinstance(value, NormSys) else NormSys(*value)


def _as_shapesys(value: ShapeSys | tuple[ArrayLike, ArrayLike]) -> ShapeSys:
    return value if isinstance(value, ShapeSys) else ShapeSys(*value)


def check_column(column: str, role: str, values: np.ndarray, strictly_positive: bool = False) -> None:
    """Raise ValueError if a column has NaN/inf or negative (or, if asked, zero) values.

    The check itself is ``RooNSBIPdf::checkColumnValues``, shared with the C++
    ``RooNSBIPdf::checkColumns`` for datasets.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.size == 0:
        return
    try:
        ROOT.RooNSBIPdf.checkColumnValues(column, role, values, values.size, strictly_positive)
    except Exception as err:  # cppyy raises the C++ std::invalid_argument
        raise ValueError(_what(err)) from None


def gaussian_parts(constraint: Any, param: str) -> tuple[Any, float] | None:
    r"""(other argument, sigma) of a Gaussian constraint term on the parameter ``param``: a
    ``RooGaussian`` whose x or mean is ``param`` (the other argument is its global observable,
    theta_0) and whose width does not depend on it; None for any other term."""
    if not isinstance(constraint, ROOT.RooGaussian):
        return None
    x, mean, sigma = constraint.getX(), constraint.getMean(), constraint.getSigma()
    for par, other in ((x, mean), (mean, x)):
        if par.GetName() == param and not sigma.dependsOn(par):
            return other, float(sigma.getVal())
    return None


def _what(err: Exception) -> str:
    what = getattr(err, "what", None)
    msg = what() if callable(what) else str(err)
    return msg.decode() if isinstance(msg, bytes) else str(msg)


def _real(name: str, value: float = 0.0, lo: float | None = None, hi: float | None = None) -> Any:
    inf = ROOT.RooNumber.infinity()
    return ROOT.RooRealVar(name, name, value, -inf if lo is None else lo, inf if hi is None else hi)


@dataclass
class WorkspaceModel:
    """A channel in a RooWorkspace with a ``RooStats::ModelConfig``: the interface that
    fits, scans and exports use (``parameter``, ``pois``, ``nuisance_parameters``,
    ``create_nll`` in subclasses). All RooFit objects are owned by :attr:`workspace`."""

    workspace: Any
    name: str

    def _owned(self, obj: Any) -> Any:
        """``obj`` (a workspace object) keeping this model, and so the workspace, alive: the
        objects the properties return stay valid even if the model itself is not kept."""
        if obj:
            obj._roonsbi_model = self
        return obj

    @property
    def model_config(self) -> Any:
        return self._owned(self.workspace.obj(MODELCONFIG_NAME))

    @property
    def model(self) -> Any:
        """The full pdf: the channel pdf times its constraint terms."""
        return self._owned(self.model_config.GetPdf())

    @property
    def pois(self) -> Any:
        return self.model_config.GetParametersOfInterest()

    @property
    def nuisance_parameters(self) -> Any:
        nps = self.model_config.GetNuisanceParameters()
        return nps if nps else ROOT.RooArgSet()

    @property
    def global_observables(self) -> Any:
        globs = self.model_config.GetGlobalObservables()
        return globs if globs else ROOT.RooArgSet()

    def parameter(self, name: str) -> Any:
        var = self.workspace.var(name)
        if not var:
            raise KeyError(f"no parameter '{name}' in workspace '{self.workspace.GetName()}'")
        return self._owned(var)

    def parameters(self) -> dict[str, float]:
        """Current values of the POIs and nuisance parameters."""
        out = {}
        for collection in (self.pois, self.nuisance_parameters):
            for p in collection:
                out[p.GetName()] = p.getVal()
        return out

    def set_parameters(self, values: Mapping[str, float] | None = None, **kwargs: float) -> None:
        for name, value in {**(values or {}), **kwargs}.items():
            self.parameter(name).setVal(float(value))

    def total_yield(self) -> float:
        r"""The expected number of events nu at the current parameters."""
        return self.pdf.totalYield()

    def _extended_nll(self, data: Any, backend: str) -> Any:
        """RooFit's extended NLL of the full model on ``data``, constraints normalised over the
        global observables, without offset."""
        return self.model.createNLL(
            data,
            ROOT.RooFit.Extended(True),
            ROOT.RooFit.GlobalObservables(self.global_observables),
            ROOT.RooFit.Offset("none"),
            ROOT.RooFit.EvalBackend(backend),
        )

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the workspace (pdf, data, ModelConfig) to a ROOT file."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        if self.workspace.writeToFile(str(path), True):
            return path
        raise OSError(f"could not write workspace to {path}")


@dataclass
class NSBIModel(WorkspaceModel):
    """An unbinned NSBI channel: RooNSBIPdf, constraints, data and ModelConfig.

    Use :func:`build_model` to create one and :func:`load_model` to read one back.
    """

    @property
    def pdf(self) -> Any:
        """The RooNSBIPdf (without constraint terms)."""
        return self._owned(self.workspace.pdf(PDF_NAME.format(name=self.name)))

    @property
    def data(self) -> Any:
        return self._owned(self.workspace.data(DATA_NAME))

    # -- likelihood -----------------------------------------------------------
    def create_nll(self, data: Any = None, backend: str = "cpu") -> Any:
        """The extended NLL with constraint terms, as a RooAbsReal (no offset)."""
        data = self.data if data is None else data
        check_dataset(self.pdf, data)
        return self._extended_nll(data, backend)

    def nll(self, values: Mapping[str, float] | None = None, data: Any = None, backend: str = "cpu") -> float:
        r"""NLL at ``values`` (others unchanged):

        .. math:: \nu - \sum_i w_i \log F_i + \sum_m (\alpha_m - a_m)^2/2 + \tfrac12\log 2\pi

        with :math:`F_i = \sum_J N_J r_J(x_i)\prod_m g_{Jm}`: RooFit's extended NLL of
        the self-normalised pdf and the normalised Gaussian constraints.
        """
        if values:
            self.set_parameters(values)
        nll = self.create_nll(data, backend)
        return nll.getVal()


def check_dataset(pdf: Any, data: Any) -> None:
    """Raise ValueError unless ``data`` has every column of ``pdf`` with valid values."""
    try:
        pdf.checkColumns(data)
    except Exception as err:
        raise ValueError(_what(err)) from None


def coefficient_formula(name: str, expression: str, poi_vars: Mapping[str, Any], process: str) -> Any:
    """RooFormulaVar f_J of the POIs that ``expression`` uses (only those: RooFit's vectorised
    RooFormula evaluation expects every listed variable to be a server of the formula)."""
    used = ROOT.RooArgList()
    for poi, var in poi_vars.items():
        if re.search(rf"(?<![\w.]){re.escape(poi)}(?![\w(])", expression):
            used.add(var)
    try:
        return ROOT.RooFormulaVar(name, expression, expression, used)
    except Exception:  # cppyy: TypeError or the C++ std::runtime_error
        raise ValueError(
            f"coefficient '{expression}' of process '{process}' is not a valid formula of the POIs {list(poi_vars)}"
        ) from None


def gaussian_constraints(np_names: Sequence[str], poi_vars: Mapping[str, Any], alpha_range: tuple[float, float],
                         keep: list[Any]) -> tuple[dict[str, Any], list[Any], list[Any]]:
    r"""HistFactory's constraint terms for nuisance parameters ``X``: ``alpha_X`` (range
    ``alpha_range``, error 1), the global observable ``nom_alpha_X`` (constant 0) and
    ``Gaussian::alpha_XConstraint(alpha_X, nom_alpha_X, 1)``. Returns the alphas by name,
    the global observables and the constraint pdfs; helper objects are appended to ``keep``."""
    alphas, globs, constraints = {}, [], []
    for np_name in np_names:
        if np_name in poi_vars:
            raise ValueError(f"'{np_name}' is both a POI and a nuisance parameter")
        alpha = _real(f"alpha_{np_name}", 0.0, *alpha_range)
        alpha.setError(1.0)
        nom = _real(f"nom_alpha_{np_name}", 0.0, -10.0, 10.0)
        nom.setConstant(True)
        sigma = ROOT.RooConstVar(f"sigma_alpha_{np_name}", "1", 1.0)
        cons = ROOT.RooGaussian(f"alpha_{np_name}Constraint", f"alpha_{np_name}Constraint", alpha, nom, sigma)
        alphas[np_name] = alpha
        globs.append(nom)
        constraints.append(cons)
        keep.append(sigma)
    return alphas, globs, constraints


def with_constraints(pdf: Any, constraints: Sequence[Any], name: str, title: str) -> Any:
    """The channel pdf times its constraint terms (a RooProdPdf), or the pdf if there are none."""
    if not constraints:
        return pdf
    factors = ROOT.RooArgList(pdf)
    for c in constraints:
        factors.add(c)
    return ROOT.RooProdPdf(name, title, factors)


def build_model(
    processes: Sequence[Process],
    pois: Mapping[str, tuple[float, float, float]] | None = None,
    weights: ArrayLike | None = None,
    name: str = "nsbi",
    alpha_range: tuple[float, float] = (-5.0, 5.0),
    with_data: bool = True,
) -> NSBIModel:
    """Build an NSBI channel from numpy arrays.

    Args:
        processes: the processes J (all arrays must have one entry per event).
        pois: POI name -> (initial value, min, max); default ``{"mu": (1, 0, 10)}``.
        weights: per-event weights w_i (MC weights for expected data); None for data.
        name: channel name (workspace ``ws_<name>``, pdf ``nsbi_<name>``).
        alpha_range: range of every nuisance parameter alpha_X.
        with_data: create the RooDataSet ``obsData`` from the columns. Without it the
            arrays only name the columns (placeholders of any common length will do),
            for the fast likelihood on an EventStore (:mod:`roonsbi.fast`).

    Returns:
        :class:`NSBIModel` with the pdf, the constraints, the dataset ``obsData``
        and the ``ModelConfig``.

    Raises:
        ValueError: arrays of different lengths, NaN/inf or negative ratios,
            non-positive shape columns or normsys factors, unknown interpolation
            codes, duplicated names, or nu <= 0 at the initial POI values.
    """
    if not processes:
        raise ValueError("build_model needs at least one process")
    pois = dict(pois or {"mu": (1.0, 0.0, 10.0)})
    names = [p.name for p in processes]
    if len(set(names)) != len(names):
        raise ValueError(f"process names must be unique, got {names}")

    # -- columns: shapes and values ------------------------------------------
    columns: dict[str, np.ndarray] = {}

    def add_column(col: str, values: ArrayLike, role: str, strictly_positive: bool) -> None:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"{role} column '{col}' must be 1-D, got shape {arr.shape}")
        n_first = next(iter(columns.values())).size if columns else arr.size
        if arr.size != n_first:
            raise ValueError(
                f"{role} column '{col}' has {arr.size} entries but the other columns have {n_first}"
            )
        check_column(col, role, arr, strictly_positive)
        columns[col] = arr

    for p in processes:
        add_column(f"r_{p.name}", p.ratio, "ratio", False)
        for np_name, sys in p.shapesys.items():
            sys = _as_shapesys(sys)
            check_shape_code("shape", sys.code, np_name, p.name)
            add_column(f"g_{p.name}_{np_name}_lo", sys.lo, "shape (-1 sigma)", True)
            add_column(f"g_{p.name}_{np_name}_hi", sys.hi, "shape (+1 sigma)", True)
    n_events = next(iter(columns.values())).size
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n_events,):
            raise ValueError(f"weights have shape {w.shape} but the columns have {n_events} entries")
        if not np.all(np.isfinite(w)):
            raise ValueError(f"weights have {np.count_nonzero(~np.isfinite(w))} NaN or infinite entries")

    ws = ROOT.RooWorkspace(f"ws_{name}", f"NSBI channel {name}")
    keep: list[Any] = []  # Python-side owners until the import into the workspace

    # -- parameters ---------------------------------------------------------------
    # POIs live in the workspace from the start: formulas then point at workspace-owned
    # variables, also for POIs a coefficient does not use.
    poi_vars = {}
    for poi, (value, lo, hi) in pois.items():
        ws.Import(_real(poi, value, lo, hi), ROOT.RooFit.Silence(True))
        poi_vars[poi] = ws.var(poi)
    np_names = sorted({n for p in processes for n in list(p.normsys) + list(p.shapesys)})
    alphas, globs, constraints = gaussian_constraints(np_names, poi_vars, alpha_range, keep)

    # -- per-process yields N_J = f_J * nu_J * G_J --------------------------------
    yields, ratio_vars = ROOT.RooArgList(), ROOT.RooArgList()
    col_vars = {col: _real(col, 1.0) for col in columns}
    for p in processes:
        if not np.isfinite(p.nominal_yield):
            raise ValueError(f"nominal yield of process '{p.name}' is {p.nominal_yield}")
        if isinstance(p.coefficient, str):
            coef = coefficient_formula(f"f_{p.name}", p.coefficient, poi_vars, p.name)
        else:
            coef = p.coefficient
        nominal = ROOT.RooConstVar(f"nu_{p.name}", f"nu_{p.name}", float(p.nominal_yield))
        factors = ROOT.RooArgList(coef, nominal)
        if p.normsys:
            par, lo, hi, codes = ROOT.RooArgList(), [], [], []
            for np_name, sys in p.normsys.items():
                sys = _as_normsys(sys)
                check_normsys(sys, np_name, p.name)
                par.add(alphas[np_name])
                lo.append(float(sys.lo))
                hi.append(float(sys.hi))
                codes.append(int(sys.code))
            norm = ROOT.RooStats.HistFactory.FlexibleInterpVar(f"G_{p.name}", f"G_{p.name}", par, 1.0, lo, hi, codes)
            factors.add(norm)
            keep.append(norm)
        yld = ROOT.RooProduct(f"N_{p.name}", f"N_{p.name}", factors)
        keep += [coef, nominal, yld]
        yields.add(yld)
        ratio_vars.add(col_vars[f"r_{p.name}"])

    pdf = ROOT.RooNSBIPdf(PDF_NAME.format(name=name), f"NSBI pdf of {name}", yields, ratio_vars)
    for j, p in enumerate(processes):
        for np_name, sys in p.shapesys.items():
            sys = _as_shapesys(sys)
            pdf.addShapeSystematic(
                j,
                alphas[np_name],
                col_vars[f"g_{p.name}_{np_name}_lo"],
                col_vars[f"g_{p.name}_{np_name}_hi"],
                sys.code,
            )
    model = with_constraints(pdf, constraints, MODEL_NAME.format(name=name), f"NSBI model of {name}")
    nu0 = pdf.totalYield()
    if not (nu0 > 0 and np.isfinite(nu0)):
        detail = ", ".join(f"{y.GetName()} = {y.getVal():.6g}" for y in yields)
        raise ValueError(
            f"the expected number of events nu = {nu0:.6g} is not positive at the initial POI values "
            f"{ {k: v[0] for k, v in pois.items()} } ({detail}); choose coefficients f_J(mu) and yields "
            "that keep nu > 0"
        )

    ws.Import(model, ROOT.RooFit.Silence(True), ROOT.RooFit.RecycleConflictNodes(True))

    if with_data:
        # -- dataset --------------------------------------------------------------------
        obs = ROOT.RooArgSet()
        for col in columns:
            obs.add(ws.var(col))
        data_columns = dict(columns)
        if weights is not None:
            wvar = _real(WEIGHT_NAME, 1.0)
            keep.append(wvar)
            obs_w = ROOT.RooArgSet(obs)
            obs_w.add(wvar)
            data_columns[WEIGHT_NAME] = np.asarray(weights, dtype=np.float64)
            data = ROOT.RooDataSet.from_numpy(data_columns, obs_w, name=DATA_NAME, title=DATA_NAME, weight_name=WEIGHT_NAME)
        else:
            data = ROOT.RooDataSet.from_numpy(data_columns, obs, name=DATA_NAME, title=DATA_NAME)
        if data.numEntries() != n_events:
            raise RuntimeError(f"RooDataSet kept {data.numEntries()} of {n_events} events")
        ws.Import(data, ROOT.RooFit.Silence(True))

    # -- ModelConfig ---------------------------------------------------------------
    mc = ROOT.RooStats.ModelConfig(MODELCONFIG_NAME, ws)
    mc.SetPdf(ws.pdf(MODEL_NAME.format(name=name)) if constraints else ws.pdf(pdf.GetName()))
    mc.SetParametersOfInterest(ROOT.RooArgSet(*[ws.var(p) for p in poi_vars]))
    mc.SetNuisanceParameters(ROOT.RooArgSet(*[ws.var(a.GetName()) for a in alphas.values()]))
    mc.SetObservables(ROOT.RooArgSet(*[ws.var(c) for c in columns]))
    mc.SetGlobalObservables(ROOT.RooArgSet(*[ws.var(g.GetName()) for g in globs]))
    ws.Import(mc)
    return NSBIModel(ws, name)


def read_workspace(path: str | os.PathLike, workspace: str | None = None) -> tuple[Any, str]:
    """The RooWorkspace in a ROOT file (the only one, or the one named) and its channel name
    (the workspace name without the ``ws_`` prefix)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    f = ROOT.TFile.Open(str(path))
    if not f or f.IsZombie():
        raise OSError(f"cannot open {path}")
    if workspace is None:
        names = [k.GetName() for k in f.GetListOfKeys() if k.GetClassName() == "RooWorkspace"]
        if len(names) != 1:
            raise ValueError(f"{path} holds workspaces {names}; pass workspace=<name>")
        workspace = names[0]
    ws = f.Get(workspace)
    if not ws:
        raise KeyError(f"no workspace '{workspace}' in {path}")
    ROOT.SetOwnership(ws, True)
    f.Close()
    return ws, workspace[3:] if workspace.startswith("ws_") else workspace


def load_model(path: str | os.PathLike, workspace: str | None = None) -> NSBIModel:
    """Read an NSBI channel written by :meth:`NSBIModel.save`."""
    return NSBIModel(*read_workspace(path, workspace))
