"""Validation at the boundary of the model builders (roonsbi.checks): every bad input class gives a
ValueError/TypeError naming the argument and the first bad entry, before any RooFit object is made;
a hypothesis property test shows that random POI names and ranges never crash build_model."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roonsbi.binned.templates import BinnedProcess, Templates
from roonsbi.models.parametrized import build_parametrized_model
from roonsbi.models.unbinned import build_model
from roonsbi.spec import NormSys, Process, ShapeSys

N = 8
RATIO = np.linspace(0.2, 1.0, N)  # r_S in [0, 1] and r_B = 1: F_i > 0 wherever nu > 0


def channel(**shapes: Any) -> list[Process]:
    return [Process("S", 10.0, RATIO, "mu", shapesys=shapes), Process("B", 40.0, np.ones(N))]


# -- POI ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize("value, error, words", [
    ((1.0, 10.0, 0.0), ValueError, r"pois\['mu'\] = \(1.0, 10.0, 0.0\) has min 10 >= max 0: give \(start, min, max\)"),
    ((1.0, 2.0, 2.0), ValueError, r"pois\['mu'\].*min 2 >= max 2"),
    ((20.0, 0.0, 10.0), ValueError, r"pois\['mu'\].*start 20 outside \[0, 10\]: choose a start inside"),
    ((-1.0, 0.0, 10.0), ValueError, r"start -1 outside \[0, 10\]"),
    ((1.0, 0.0, math.nan), ValueError, r"pois\['mu'\].*NaN or infinite entry"),
    ((1.0, -math.inf, 10.0), ValueError, r"NaN or infinite entry"),
    ((1.0, 0.0), TypeError, r"pois\['mu'\] = \(1.0, 0.0\) must be a triple \(start, min, max\)"),
    ("1,0,10", TypeError, r"must be a triple"),
    ((1.0, "0", 10.0), TypeError, r"pois\['mu'\].*must hold numbers"),
])
def test_bad_poi_ranges_are_refused(value: Any, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        build_model(channel(), pois={"mu": value})


def test_pois_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match=r"pois must be a mapping name -> \(start, min, max\), got list"):
        build_model(channel(), pois=[("mu", 1.0, 0.0, 10.0)])  # type: ignore[arg-type]


def test_valid_range_and_start_are_kept() -> None:
    """A start inside the range is not clamped, the range is (min, max) as given."""
    model = build_model(channel(), pois={"mu": (2.5, -1.0, 7.0)})
    mu = model.parameter("mu")
    assert (mu.getVal(), mu.getMin(), mu.getMax()) == (2.5, -1.0, 7.0)


# -- reserved and colliding names ----------------------------------------------------------


@pytest.mark.parametrize("poi, words", [
    ("nu_S", r"the nominal yield 'nu_S' of process 'S' \(processes\[0\]\)"),
    ("N_B", r"the yield 'N_B' of process 'B' \(processes\[1\]\)"),
    ("f_S", r"the coefficient 'f_S' of process 'S'"),
    ("r_S", r"the ratio column 'r_S' of process 'S'"),
    ("weight", r"roonsbi's reserved name 'weight'"),
    ("obsData", r"roonsbi's reserved name 'obsData'"),
    ("ModelConfig", r"roonsbi's reserved name 'ModelConfig'"),
    ("nsbi_nsbi", r"the object 'nsbi_nsbi' of channel 'nsbi'"),
    ("alpha_jes", r"the parameter 'alpha_jes' of nuisance parameter 'jes'"),
    ("nom_alpha_jes", r"the global observable 'nom_alpha_jes' of nuisance parameter 'jes'"),
    ("g_S_jes_lo", r"the shape column 'g_S_jes_lo' of nuisance parameter 'jes' of process 'S'"),
])
def test_poi_named_like_an_internal_object_is_refused(poi: str, words: str) -> None:
    shapes = {"jes": ShapeSys(np.full(N, 0.9), np.full(N, 1.1))}
    with pytest.raises(ValueError, match=rf"name collision: POI '{poi}' \(pois\) and {words}.* would both be named"):
        build_model(channel(**shapes), pois={"mu": (1.0, 0.0, 10.0), poi: (1.0, 0.0, 10.0)})


def test_process_producing_an_internal_name_is_refused() -> None:
    """A process with normalisation systematics produces G_<process>, which a POI must not be named."""
    procs = [*channel(), Process("x", 5.0, np.ones(N), normsys={"lumi": NormSys(0.9, 1.1)})]
    with pytest.raises(ValueError, match=r"POI 'G_x' \(pois\) and the normsys factor 'G_x' of process 'x'"):
        build_model(procs, pois={"mu": (1.0, 0.0, 10.0), "G_x": (1.0, 0.0, 2.0)})


def test_colliding_shape_columns_are_refused() -> None:
    """Process a with NP b_c and process a_b with NP c both give g_a_b_c_lo."""
    shape = ShapeSys(np.full(N, 0.9), np.full(N, 1.1))
    procs = [Process("a", 10.0, RATIO, "mu", shapesys={"b_c": shape}),
             Process("a_b", 40.0, np.ones(N), shapesys={"c": shape})]
    with pytest.raises(ValueError, match=r"the shape column 'g_a_b_c_lo' of nuisance parameter 'b_c' of process 'a' "
                                         r"\(processes\[0\]\) and the shape column 'g_a_b_c_lo' of nuisance parameter "
                                         r"'c' of process 'a_b' \(processes\[1\]\) would both be named 'g_a_b_c_lo'"):
        build_model(procs)


@pytest.mark.parametrize("where, kwargs, words", [
    ("POI", {"pois": {"m u": (1.0, 0.0, 10.0)}}, r"POI name 'm u' in pois .*first bad character ' '"),
    ("POI", {"pois": {"mu*2": (1.0, 0.0, 10.0)}}, r"POI name 'mu\*2' in pois .*'\*'.*RooFormula"),
    ("POI", {"pois": {"2mu": (1.0, 0.0, 10.0)}}, r"POI name '2mu' in pois is not a valid RooFit name"),
    ("channel", {"name": "my-chan"}, r"channel name 'my-chan' in name .*first bad character '-'"),
])
def test_invalid_roofit_names_are_refused(where: str, kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        build_model(channel(), **kwargs)


def test_invalid_process_and_nuisance_names_are_refused() -> None:
    with pytest.raises(ValueError, match=r"process name 'S\+B' in processes\[0\] is not a valid RooFit name"):
        build_model([Process("S+B", 10.0, RATIO, "mu")])
    norm = Process("S", 10.0, RATIO, "mu", normsys={"lu.mi": NormSys(0.9, 1.1)})
    with pytest.raises(ValueError, match=r"nuisance-parameter name 'lu.mi' in processes\[0\].normsys .*'\.'"):
        build_model([norm])
    with pytest.raises(TypeError, match=r"POI name 3 in pois must be a string, got int"):
        build_model(channel(), pois={3: (1.0, 0.0, 10.0)})  # type: ignore[dict-item]


# -- shapes, dtypes, weights ---------------------------------------------------------------


def test_string_ratio_names_the_column() -> None:
    with pytest.raises(TypeError, match=r"ratio column 'r_S' has dtype <U3 \(first entry \['0.5'\]\): give a 1-D"):
        build_model([Process("S", 10.0, ["0.5"] * N, "mu")])


def test_object_and_ragged_shapes_name_the_column() -> None:
    lo = np.array([0.9] * (N - 1) + [None], dtype=object)
    with pytest.raises(TypeError, match=r"shape \(-1 sigma\) column 'g_S_jes_lo' has dtype object"):
        build_model(channel(jes=ShapeSys(lo, np.full(N, 1.1))))
    with pytest.raises(ValueError, match=r"ratio column 'r_S' is not a 1-D array of numbers"):
        build_model([Process("S", 10.0, [[1.0, 2.0], [1.0]], "mu")])


def test_two_dimensional_shape_names_the_column() -> None:
    hi = np.full((N // 2, 2), 1.1)
    with pytest.raises(ValueError, match=r"shape \(\+1 sigma\) column 'g_S_jes_hi' must be 1-D, got shape \(4, 2\)"):
        build_model(channel(jes=ShapeSys(np.full(N, 0.9), hi)))


def test_shape_of_another_length_names_the_column() -> None:
    with pytest.raises(ValueError, match=r"column 'g_S_jes_lo' has 7 entries but the other columns have 8"):
        build_model(channel(jes=ShapeSys(np.full(N - 1, 0.9), np.full(N, 1.1))))


@pytest.mark.parametrize("weights, words", [
    (np.full(N, -1.0), r"weights sum to -8 \(<= 0\): the data need a positive total weight; check the sign"),
    (np.zeros(N), r"weights sum to 0 \(<= 0\)"),
    (np.array([1.0, -3.0] + [0.0] * (N - 2)), r"weights sum to -2"),
])
def test_weights_with_non_positive_total_are_refused(weights: np.ndarray, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        build_model(channel(), weights=weights)


def test_string_weights_are_refused() -> None:
    with pytest.raises(TypeError, match=r"weights have dtype <U1: give a 1-D array of real numbers"):
        build_model(channel(), weights=["1"] * N)


def test_single_negative_weights_with_positive_total_are_accepted() -> None:
    w = np.ones(N)
    w[0] = -0.5
    model = build_model(channel(), weights=w)
    assert model.data.sumEntries() == pytest.approx(w.sum())


# -- parametrized builder ------------------------------------------------------------------


def templates() -> Templates:
    nom = np.array([[[5.0, 4.0, 3.0], [50.0, 60.0, 70.0]]])  # (K=1, J=2, B=3)
    procs = [BinnedProcess("S", 12.0, "mu"), BinnedProcess("B", 180.0, "1")]
    sumw2 = np.zeros((1, 2, 2, 3))
    sumw2[0, 0, 0], sumw2[0, 1, 1] = nom[0, 0] * 0.01, nom[0, 1] * 0.01
    return Templates("mu", 1.0, {"mu": 1.0}, np.array([1.0]), np.array([[0.0, 1.0, 2.0, 3.0]]), procs, nom, {}, {},
                     sumw2, np.full((1, 2), 100.0), np.ones(1), 200)


def test_parametrized_builder_checks_pois_and_names() -> None:
    assert build_parametrized_model(templates()).nll() == pytest.approx(build_parametrized_model(templates()).nll())
    with pytest.raises(ValueError, match=r"pois\['mu'\] = \(1.0, 10.0, 0.0\) has min 10 >= max 0"):
        build_parametrized_model(templates(), pois={"mu": (1.0, 10.0, 0.0)})
    with pytest.raises(ValueError, match=r"POI 'gamma_stat_pnsbi_bin_1' \(pois\) and the staterror object "
                                         r"'gamma_stat_pnsbi_bin_1' of bin 1"):
        build_parametrized_model(templates(), pois={"mu": (1.0, 0.0, 10.0), "gamma_stat_pnsbi_bin_1": (1, 0, 2)})
    with pytest.raises(ValueError, match=r"POI 'mu_prime' \(pois\) and the scan parameter 'mu_prime'"):
        build_parametrized_model(templates(), pois={"mu": (1.0, 0.0, 10.0), "mu_prime": (1.0, 0.0, 2.0)})


# -- property: random POI names and ranges never crash -------------------------------------

_NAMES = st.one_of(
    st.sampled_from(["mu", "k", "nu_S", "N_B", "r_S", "weight", "obsData", "alpha_jes", "g_S_jes_hi", "m u", "mu*2",
                     "2mu", "", "sqrt", "pi", "e", "x[0]", "mu.1", "a:b"]),
    st.text(alphabet="abmu_01 *+-.", min_size=1, max_size=5),
)
_NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-20.0, 20.0), st.integers(-5, 15))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pois=st.dictionaries(_NAMES, st.tuples(_NUMBERS, _NUMBERS, _NUMBERS), min_size=1, max_size=2))
def test_random_pois_build_a_finite_model_or_raise(pois: dict[str, tuple[float, float, float]]) -> None:
    """build_model (in this process) either gives a model whose NLL is finite at the start values, with
    the POIs as given, or raises ValueError/TypeError; the coefficient of S is the first POI."""
    first = next(iter(pois))
    procs = [Process("S", 10.0, RATIO, first, shapesys={"jes": ShapeSys(np.full(N, 0.9), np.full(N, 1.1))}),
             Process("B", 40.0, np.ones(N))]
    try:
        model = build_model(procs, pois=pois)
    except (ValueError, TypeError):
        return
    for poi, (start, lo, hi) in pois.items():
        par = model.parameter(poi)
        assert (par.getVal(), par.getMin(), par.getMax()) == (float(start), float(lo), float(hi))
    assert math.isfinite(model.nll())
