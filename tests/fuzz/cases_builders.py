"""Fuzz cases of the unbinned builder: build_model, Process, NormSys, ShapeSys, POIs, names (against the
names roonsbi generates, roonsbi.naming), weights, pool= and pool_weights=, forms; a hypothesis property
over random columns and systematics checked against the numpy reference NLL (tests/reference.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from common import HI, LO, RATIO, N, channel, jes, nll_matches, ref_processes
from harness import Case, close, error, result

import reference
from roonsbi.models.unbinned import build_model
from roonsbi.spec import NormSys, Process, ShapeSys

MU = {"mu": (1.0, 0.0, 10.0)}
AT = {"mu": 1.7, "alpha_lumi": 0.3}


def build(*args: Any, **kwargs: Any):
    return lambda tmp: build_model(*args, **kwargs)


def nll_at(values: dict[str, float], *args: Any, **kwargs: Any):
    return lambda tmp: build_model(*args, **kwargs).nll(values)


def columns_nll_at(values: dict[str, float], *args: Any, **kwargs: Any):
    return lambda tmp: build_model(*args, form="columns", **kwargs).nll(values)


CASES: list[Case] = []
add = CASES.append

# -- POIs --------------------------------------------------------------------------------------------
for i, (value, kind, words) in enumerate(
    [
        ((1.0, 10.0, 0.0), ValueError, r"pois\['mu'\].*min 10 >= max 0"),
        ((5.0, 3.0, 3.0), ValueError, r"pois\['mu'\].*min 3 >= max 3"),
        ((11.0, 0.0, 10.0), ValueError, r"pois\['mu'\].*start 11 outside \[0, 10\]"),
        ((-0.5, 0.0, 10.0), ValueError, r"start -0.5 outside"),
        ((math.nan, 0.0, 10.0), ValueError, r"pois\['mu'\].*NaN or infinite"),
        ((1.0, 0.0, math.inf), ValueError, r"NaN or infinite"),
        ((1.0, 0.0), TypeError, r"pois\['mu'\].*must be a triple"),
        ((1.0, 0.0, 10.0, 3.0), TypeError, r"must be a triple"),
        (1.0, TypeError, r"pois\['mu'\] = 1.0 must be a triple"),
        (None, TypeError, r"pois\['mu'\] = None must be a triple"),
        ("abc", TypeError, r"must be a triple"),
        ((1.0, None, 10.0), TypeError, r"must hold numbers"),
        ((True, 0.0, 10.0), TypeError, r"must hold numbers"),
        ((1.0, "0", 10.0), TypeError, r"must hold numbers"),
        (np.array([1.0, 0.0, 10.0]), TypeError, r"pois\['mu'\].*must be a triple"),
        ((1.0, np.nan, 10.0), ValueError, r"NaN or infinite"),
        ({"start": 1.0}, TypeError, r"must be a triple"),
    ]
):
    add(error(f"poi-range-{i}", build(channel(), pois={"mu": value}), kind, words))
add(error("pois-list", build(channel(), pois=[("mu", 1.0, 0.0, 10.0)]), TypeError, r"pois must be a mapping"))
add(error("pois-string", build(channel(), pois="mu"), TypeError, r"pois must be a mapping.*got str"))
add(
    error(
        "poi-unused-coefficient",
        build(channel(), pois={"k": (1.0, 0.0, 10.0)}),
        ValueError,
        r"coefficient 'mu' of process 'S' names 'mu', which is not a POI \(POIs \['k'\]\)",
    )
)
# valid POIs: numpy scalars, integers, a second POI, a negative range; the NLL is the reference's
add(
    result(
        "poi-numpy-scalars",
        nll_at(AT, channel(), pois={"mu": (np.float32(1.0), np.int64(0), np.float64(10))}),
        nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}),
    )
)
add(
    result(
        "poi-integers",
        nll_at(AT, channel(), pois={"mu": (1, 0, 10)}),
        nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}),
    )
)
add(
    result(
        "poi-two",
        nll_at({**AT, "k": 3.0}, channel(), pois={"mu": (1.0, 0.0, 10.0), "k": (1.0, -5.0, 5.0)}),
        nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}),
    )
)
add(
    result(
        "poi-start-at-edge",
        nll_at(AT, channel(), pois={"mu": (10.0, 0.0, 10.0)}),
        nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}),
    )
)


def kept_range(tmp: Path) -> tuple[float, float, float]:
    par = build_model(channel(), pois={"mu": (2.5, -1.0, 7.0)}).parameter("mu")
    return par.getVal(), par.getMin(), par.getMax()


add(result("poi-range-kept", kept_range, lambda v: None if v == (2.5, -1.0, 7.0) else f"{v} != (2.5, -1, 7)"))

# -- names: invalid and reserved ---------------------------------------------------------------------
SHAPED = channel(jes=jes())
for poi, words in [
    ("nu_S", r"the nominal yield 'nu_S' of process 'S'"),
    ("N_S", r"the yield 'N_S'"),
    ("f_S", r"coefficient 'f_S'"),
    ("G_B", r"the normsys factor 'G_B' of process 'B'"),
    ("r_B", r"the ratio column 'r_B'"),
    ("g_S_jes_hi", r"the shape column 'g_S_jes_hi'"),
    ("alpha_lumi", r"the parameter 'alpha_lumi'"),
    ("nom_alpha_jes", r"global observable 'nom_alpha_jes'"),
    ("alpha_jesConstraint", r"constraint 'alpha_jesConstraint'"),
    ("sigma_alpha_lumi", r"the width 'sigma_alpha_lumi'"),
    ("weight", r"reserved name 'weight'"),
    ("obsData", r"reserved name 'obsData'"),
    ("ModelConfig", r"reserved name 'ModelConfig'"),
    ("simPdf", r"reserved name 'simPdf'"),
    ("channelCat", r"reserved name 'channelCat'"),
    ("event_nsbi", r"the object 'event_nsbi' of channel 'nsbi'"),
    ("model_nsbi", r"the object 'model_nsbi'"),
    ("ws_nsbi", r"the object 'ws_nsbi'"),
    ("nsbi_nsbi", r"the object 'nsbi_nsbi'"),
]:
    add(
        error(
            f"poi-name-{poi}",
            build(SHAPED, pois={"mu": (1.0, 0.0, 10.0), poi: (1.0, 0.0, 2.0)}),
            ValueError,
            rf"name collision: POI '{poi}' \(pois\) and .*{words}",
        )
    )
for i, (poi, words) in enumerate(
    [
        ("m u", r"POI name 'm u' in pois is not a valid RooFit name \(first bad character ' '\)"),
        ("mu-1", r"first bad character '-'"),
        ("2mu", r"POI name '2mu'"),
        ("", r"POI name '' in pois"),
        ("mü", r"first bad character 'ü'"),
        ("x[0]", r"first bad character '\['"),
        ("a.b", r"first bad character '\.'"),
        ("a\nb", r"first bad character '\\n'"),
    ]
):
    add(error(f"poi-invalid-{i}", build(channel(), pois={poi: (1.0, 0.0, 10.0)}), ValueError, words))
add(
    error(
        "poi-name-int", build(channel(), pois={1: (1.0, 0.0, 10.0)}), TypeError, r"POI name 1 in pois must be a string"
    )
)
for i, (name, words) in enumerate(
    [("S B", r"process name 'S B' in processes\[0\]"), ("", r"process name ''"), ("1S", r"process name '1S'")]
):
    add(error(f"process-invalid-{i}", build([Process(name, 10.0, RATIO, "mu")]), ValueError, words))
add(
    error(
        "process-name-none",
        build([Process(None, 10.0, RATIO, "mu")]),
        TypeError,
        r"process name None in processes\[0\] must be a string",
    )
)
add(
    error(
        "process-duplicate",
        build([Process("S", 10.0, RATIO, "mu"), Process("S", 5.0, RATIO)]),
        ValueError,
        r"process names must be unique",
    )
)
# a process whose generated names collide with another object's
add(
    error(
        "process-named-weight-like",
        build([*channel(), Process("lumi", 1.0, RATIO)], pois={"mu": (1.0, 0.0, 10.0), "r_lumi": (1.0, 0.0, 2.0)}),
        ValueError,
        r"POI 'r_lumi'.*ratio column 'r_lumi'",
    )
)
add(
    error(
        "process-vs-np-alpha",
        build(
            [Process("S", 10.0, RATIO, "mu", normsys={"x": (0.9, 1.1)}), Process("alpha_x", 5.0, RATIO)],
            pois={"mu": (1.0, 0.0, 10.0), "nu_alpha_x": (1.0, 0.0, 2.0)},
        ),
        ValueError,
        r"nu_alpha_x",
    )
)
add(
    error(
        "shape-columns-collide",
        build(
            [
                Process("a", 10.0, RATIO, "mu", shapesys={"b_c": jes()}),
                Process("a_b", 40.0, np.ones(N), shapesys={"c": jes()}),
            ]
        ),
        ValueError,
        r"shape column 'g_a_b_c_lo' of nuisance parameter 'b_c' of process 'a'.*would both be named 'g_a_b_c_lo'",
    )
)
add(
    error(
        "np-is-poi",
        build([Process("S", 10.0, RATIO, "mu", normsys={"mu": (0.9, 1.1)})]),
        ValueError,
        r"'mu' is both a POI and a nuisance parameter",
    )
)
add(
    error(
        "np-invalid-name",
        build([Process("S", 10.0, RATIO, "mu", shapesys={"j-s": jes()})]),
        ValueError,
        r"nuisance-parameter name 'j-s' in processes\[0\].shapesys",
    )
)
add(
    error(
        "np-name-int",
        build([Process("S", 10.0, RATIO, "mu", normsys={3: (0.9, 1.1)})]),
        TypeError,
        r"nuisance-parameter name 3 in processes\[0\].normsys must be a string",
    )
)
add(
    error(
        "np-alpha-vs-poi",
        build(channel(), pois={"mu": (1.0, 0.0, 10.0), "alpha_lumi": (0.0, -1.0, 1.0)}),
        ValueError,
        r"POI 'alpha_lumi'.*parameter 'alpha_lumi' of nuisance parameter 'lumi'",
    )
)
for i, (name, words) in enumerate(
    [("my chan", r"channel name 'my chan' in name"), ("", r"channel name ''"), ("c.1", r"first bad character '\.'")]
):
    add(error(f"channel-invalid-{i}", build(channel(), name=name), ValueError, words))
add(error("channel-name-int", build(channel(), name=7), TypeError, r"channel name 7 in name must be a string"))
add(
    error(
        "channel-vs-poi",
        build(channel(), name="c", pois={"mu": (1.0, 0.0, 10.0), "event_c": (1.0, 0.0, 2.0)}),
        ValueError,
        r"POI 'event_c'.*the object 'event_c' of channel 'c'",
    )
)
# names RooFormula could read as its own constants or functions
for poi in ("e", "pi", "x", "y", "sqrt", "TMath", "exp", "ln10", "c"):
    refs = [
        reference.RefProcess(10.0, RATIO, lambda p, poi=poi: p[poi]),
        reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
    ]
    add(
        result(
            f"poi-formula-name-{poi}",
            lambda tmp, poi=poi: build_model(
                [Process("S", 10.0, RATIO, poi), Process("B", 40.0, np.ones(N))], pois={poi: (1.0, 0.0, 10.0)}
            ).nll({poi: 2.5}),
            nll_matches(refs, {poi: 2.5}, {}),
        )
    )
for const in ("k", "e", "pi", "c", "g", "x"):
    add(
        error(
            f"coefficient-tformula-constant-{const}",
            build([Process("S", 10.0, RATIO, f"{const}*mu"), Process("B", 40.0, np.ones(N))]),
            ValueError,
            rf"coefficient '{const}\*mu' of process 'S' names '{const}', which is not a POI \(POIs \['mu'\]\)",
        )
    )

# -- processes, yields, coefficients -----------------------------------------------------------------
add(error("processes-empty", build([]), ValueError, r"build_model needs at least one process"))
add(
    error(
        "processes-one",
        build(Process("S", 10.0, RATIO, "mu")),
        TypeError,
        r"processes must be a sequence of Process.*got Process",
    )
)
add(
    error(
        "processes-not-process",
        build([("S", 10.0, RATIO)]),
        TypeError,
        r"processes\[0\] must be a roonsbi.Process, got tuple",
    )
)
add(error("processes-dict", build({"S": Process("S", 10.0, RATIO, "mu")}), TypeError, r"processes must be a sequence"))
for i, (value, kind, words) in enumerate(
    [
        (math.nan, ValueError, r"nominal yield of process 'S' is nan"),
        (math.inf, ValueError, r"nominal yield of process 'S' is inf"),
        (np.array([1.0, 2.0]), TypeError, r"nominal yield of process 'S' must be a number, got ndarray"),
        ("10", TypeError, r"nominal yield of process 'S' must be a number, got str"),
        (None, TypeError, r"nominal yield of process 'S' must be a number, got NoneType"),
        (True, TypeError, r"nominal yield of process 'S' must be a number, got bool"),
    ]
):
    add(error(f"yield-{i}", build([Process("S", value, RATIO, "mu"), Process("B", 40.0, np.ones(N))]), kind, words))
add(
    result(
        "yield-zero-one-process",
        nll_at({"mu": 2.0}, [Process("S", 0.0, RATIO, "mu"), Process("B", 40.0, np.ones(N))]),
        nll_matches(
            [
                reference.RefProcess(0.0, RATIO, lambda p: p["mu"]),
                reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
            ],
            {"mu": 2.0},
            {},
        ),
    )
)
add(
    result(
        "yield-numpy-scalar",
        nll_at({"mu": 2.0}, [Process("S", np.float32(10.0), RATIO, "mu"), Process("B", np.int64(40), np.ones(N))]),
        nll_matches(
            [
                reference.RefProcess(10.0, RATIO, lambda p: p["mu"]),
                reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
            ],
            {"mu": 2.0},
            {},
        ),
    )
)
for i, (coef, kind, words) in enumerate(
    [
        ("mu +", ValueError, r"coefficient 'mu \+' of process 'S' is not a valid formula"),
        ("k*mu", ValueError, r"coefficient 'k\*mu' of process 'S' names 'k', which is not a POI"),
        (math.nan, ValueError, r"coefficient of process 'S' is nan"),
        (True, TypeError, r"coefficient of process 'S' must be a formula string of the POIs .* got bool"),
        (
            None,
            TypeError,
            r"coefficient of process 'S' must be a formula string of the POIs .* or a RooAbsReal, got NoneType",
        ),
        (
            np.ones(3),
            TypeError,
            r"coefficient of process 'S' must be a formula string of the POIs .* or a RooAbsReal, got ndarray",
        ),
        ("", ValueError, r"coefficient '' of process 'S'"),
    ]
):
    add(
        error(f"coefficient-{i}", build([Process("S", 10.0, RATIO, coef), Process("B", 40.0, np.ones(N))]), kind, words)
    )
# a negative nominal yield (e.g. an interference term) is allowed while nu > 0 and F_i > 0
add(
    result(
        "yield-negative",
        nll_at({"mu": 2.0}, [Process("S", -5.0, RATIO, "mu"), Process("B", 40.0, np.ones(N))]),
        nll_matches(
            [
                reference.RefProcess(-5.0, RATIO, lambda p: p["mu"]),
                reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
            ],
            {"mu": 2.0},
            {},
        ),
    )
)
add(
    result(
        "coefficient-number",
        nll_at({"mu": 2.0}, [Process("S", 10.0, RATIO, 2.0), Process("B", 40.0, np.ones(N))]),
        nll_matches(
            [reference.RefProcess(10.0, RATIO, lambda p: 2.0), reference.RefProcess(40.0, np.ones(N), lambda p: 1.0)],
            {"mu": 2.0},
            {},
        ),
    )
)
add(
    error(
        "nu-negative-start",
        build([Process("S", 10.0, RATIO, "mu - 2")], pois={"mu": (1.0, -5.0, 10.0)}),
        ValueError,
        r"nu = -10 is not positive at the initial POI values",
    )
)
add(
    result(
        "coefficient-sqrt",
        nll_at({"mu": 2.0}, [Process("S", 10.0, RATIO, "sqrt(mu)"), Process("B", 40.0, np.ones(N))]),
        nll_matches(
            [
                reference.RefProcess(10.0, RATIO, lambda p: math.sqrt(p["mu"])),
                reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
            ],
            {"mu": 2.0},
            {},
        ),
    )
)

# -- ratio columns ------------------------------------------------------------------------------------
for i, (ratio, kind, words) in enumerate(
    [
        (["0.5"] * N, TypeError, r"ratio column 'r_S' has dtype <U3"),
        (np.array([1.0 + 1j] * N), TypeError, r"ratio column 'r_S' has dtype complex128"),
        (np.ones(N, dtype=bool), TypeError, r"ratio column 'r_S' has dtype bool"),
        (np.array([1.0] * (N - 1) + [None], dtype=object), TypeError, r"ratio column 'r_S' has dtype object"),
        (np.ones((N // 2, 2)), ValueError, r"ratio column 'r_S' must be 1-D, got shape \(6, 2\)"),
        (np.float64(1.0), ValueError, r"ratio column 'r_S' must be 1-D, got shape \(\)"),
        ([[1.0, 2.0], [1.0]], ValueError, r"ratio column 'r_S' is not a 1-D array of numbers"),
        (
            np.r_[RATIO[:3], np.nan, RATIO[4:]],
            ValueError,
            r"ratio column 'r_S' has 1 of 12 entries .*first: entry 3 = nan",
        ),
        (np.r_[RATIO[:5], -1e-9, RATIO[6:]], ValueError, r"'r_S' .*entry 5 = -1e-09"),
        (np.r_[np.inf, RATIO[1:]], ValueError, r"'r_S' .*entry 0 = inf"),
        (np.ones(N + 1), ValueError, r"has 13 entries but the other columns have 12"),
        (None, TypeError, r"ratio column 'r_S' has dtype object"),
        ("abc", TypeError, r"ratio column 'r_S' has dtype <U3"),
    ]
):
    add(error(f"ratio-{i}", build([Process("B", 40.0, np.ones(N)), Process("S", 10.0, ratio, "mu")]), kind, words))
add(
    result(
        "ratio-float32",
        nll_at(
            {"mu": 2.0},
            [Process("S", 10.0, RATIO.astype(np.float32), "mu"), Process("B", 40.0, np.ones(N, np.float32))],
        ),
        nll_matches(
            [
                reference.RefProcess(10.0, RATIO.astype(np.float32).astype(float), lambda p: p["mu"]),
                reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
            ],
            {"mu": 2.0},
            {},
        ),
    )
)
add(
    result(
        "ratio-integers",
        nll_at({"mu": 2.0}, [Process("S", 10.0, np.arange(1, N + 1), "mu"), Process("B", 40.0, [1] * N)]),
        nll_matches(
            [
                reference.RefProcess(10.0, np.arange(1.0, N + 1), lambda p: p["mu"]),
                reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
            ],
            {"mu": 2.0},
            {},
        ),
    )
)
add(
    result(
        "ratio-list",
        nll_at({"mu": 2.0}, [Process("S", 10.0, list(RATIO), "mu"), Process("B", 40.0, list(np.ones(N)))]),
        nll_matches(
            [
                reference.RefProcess(10.0, RATIO, lambda p: p["mu"]),
                reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
            ],
            {"mu": 2.0},
            {},
        ),
    )
)
add(
    result(
        "ratio-strided",
        nll_at(
            {"mu": 2.0}, [Process("S", 10.0, np.repeat(RATIO, 2)[::2], "mu"), Process("B", 40.0, np.ones(2 * N)[::2])]
        ),
        nll_matches(
            [
                reference.RefProcess(10.0, RATIO, lambda p: p["mu"]),
                reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
            ],
            {"mu": 2.0},
            {},
        ),
    )
)
add(
    result(
        "events-zero",
        nll_at({"mu": 1.5}, [Process("S", 10.0, np.ones(0), "mu")]),
        lambda v: close(v, 15.0, what="NLL of no events"),
    )
)
add(
    error(
        "event-zero-density",
        build([Process("S", 10.0, np.r_[0.0, RATIO[1:]], "mu"), Process("B", 40.0, np.r_[0.0, np.ones(N - 1)])]),
        ValueError,
        r"event 0 has r_J = 0 for every process \(r_S, r_B; 1 such events\)",
    )
)
add(
    error(
        "event-zero-density-store",
        build(
            [
                Process("S", 10.0, np.r_[RATIO[:4], 0.0, RATIO[5:]], "mu"),
                Process("B", 40.0, np.r_[np.ones(4), 0.0, np.ones(N - 5)]),
            ],
            form="columns",
        ),
        ValueError,
        r"event 4 has r_J = 0 for every process",
    )
)
# zero density of some events under every process is fine in a pool (no data at those rows)

# -- shape systematics ---------------------------------------------------------------------------------
for i, (shape, kind, words) in enumerate(
    [
        (ShapeSys(LO, HI, 3), ValueError, r"unknown shape interpolation code 3 for 'jes' of process 'S'"),
        (ShapeSys(LO, HI, "5"), ValueError, r"unknown shape interpolation code '5' for 'jes'"),
        (ShapeSys(LO, HI, 5.0), ValueError, r"unknown shape interpolation code"),
        (ShapeSys(np.r_[LO[:2], 0.0, LO[3:]], HI), ValueError, r"'g_S_jes_lo' .*entry 2 = 0"),
        (ShapeSys(LO, np.r_[HI[:7], -1.0, HI[8:]]), ValueError, r"'g_S_jes_hi' .*entry 7 = -1"),
        (ShapeSys(LO, np.r_[HI[:7], np.nan, HI[8:]]), ValueError, r"'g_S_jes_hi' .*entry 7 = nan"),
        (ShapeSys(LO[:-1], HI), ValueError, r"'g_S_jes_lo' has 11 entries but the other columns have 12"),
        (ShapeSys(LO, HI.reshape(3, 4)), ValueError, r"'g_S_jes_hi' must be 1-D, got shape \(3, 4\)"),
        (ShapeSys(LO.astype(str), HI), TypeError, r"'g_S_jes_lo' has dtype <U"),
        (
            (LO,),
            TypeError,
            r"shape systematic 'jes' of process 'S' must be a ShapeSys or a pair \(lo, hi\), got tuple of 1",
        ),
        ((LO, HI, 5, 1), TypeError, r"shape systematic 'jes' of process 'S' must be a ShapeSys or a pair"),
        (LO, TypeError, r"shape systematic 'jes' of process 'S' must be a ShapeSys or a pair \(lo, hi\), got ndarray"),
        (NormSys(0.9, 1.1), TypeError, r"shape systematic 'jes' of process 'S' must be a ShapeSys.*got NormSys"),
    ]
):
    add(error(f"shapesys-{i}", build(channel(jes=shape)), kind, words))
add(
    error(
        "shapesys-not-mapping",
        build([Process("S", 10.0, RATIO, "mu", shapesys=[jes()])]),
        TypeError,
        r"shapesys of process 'S' \(processes\[0\]\) must be a mapping",
    )
)
for code in (0, 1, 2, 4, 5, 6):
    refs = [
        reference.RefProcess(10.0, RATIO, lambda p: p["mu"], shapesys={"jes": (LO, HI, code)}),
        reference.RefProcess(40.0, np.ones(N), lambda p: 1.0, normsys={"lumi": (0.95, 1.05, 4)}),
    ]
    for form in ("store", "columns"):
        add(
            result(
                f"shapesys-code{code}-{form}",
                lambda tmp, code=code, form=form: build_model(channel(jes=ShapeSys(LO, HI, code)), form=form).nll(
                    {"mu": 1.3, "alpha_lumi": -0.4, "alpha_jes": 0.7}
                ),
                # the store form holds float32 columns: 1e-6 relative
                nll_matches(refs, {"mu": 1.3}, {"lumi": -0.4, "jes": 0.7}, rtol=1e-6 if form == "store" else 1e-9),
            )
        )

# -- normalisation systematics ------------------------------------------------------------------------
for i, (value, kind, words) in enumerate(
    [
        (NormSys(0.9, 1.1, 3), ValueError, r"unknown normalisation interpolation code 3 for 'lumi' of process 'S'"),
        ((0.0, 1.1), ValueError, r"normalisation systematic 'lumi' of process 'S' needs positive finite factors"),
        ((0.9, math.nan), ValueError, r"'lumi' of process 'S' needs positive finite factors, got lo=0.9, hi=nan"),
        ((0.9,), TypeError, r"normalisation systematic 'lumi' of process 'S' must be a NormSys or a pair \(lo, hi\)"),
        ((0.9, 1.1, 4, 0), TypeError, r"normalisation systematic 'lumi' of process 'S' must be a NormSys or a pair"),
        (("0.9", "1.1"), TypeError, r"normalisation systematic 'lumi' of process 'S' needs numbers"),
        ((np.ones(2), np.ones(2)), TypeError, r"normalisation systematic 'lumi' of process 'S' needs numbers"),
        (0.9, TypeError, r"normalisation systematic 'lumi' of process 'S' must be a NormSys or a pair"),
        (NormSys(0.9, 1.1, "4"), ValueError, r"unknown normalisation interpolation code '4'"),
    ]
):
    add(error(f"normsys-{i}", build([Process("S", 10.0, RATIO, "mu", normsys={"lumi": value})]), kind, words))
for code in (0, 1, 2, 4):
    refs = [
        reference.RefProcess(10.0, RATIO, lambda p: p["mu"], normsys={"x": (0.8, 1.3, code)}),
        reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
    ]
    add(
        result(
            f"normsys-code{code}",
            nll_at(
                {"mu": 1.3, "alpha_x": -1.6},
                [
                    Process("S", 10.0, RATIO, "mu", normsys={"x": NormSys(0.8, 1.3, code)}),
                    Process("B", 40.0, np.ones(N)),
                ],
            ),
            nll_matches(refs, {"mu": 1.3}, {"x": -1.6}),
        )
    )

# -- weights --------------------------------------------------------------------------------------------
W = np.linspace(0.5, 1.5, N)
for i, (weights, kind, words) in enumerate(
    [
        (-W, ValueError, r"weights sum to -12 \(<= 0\)"),
        (np.zeros(N), ValueError, r"weights sum to 0"),
        (np.r_[np.nan, W[1:]], ValueError, r"weights have 1 NaN or infinite entries \(first: entry 0 = nan\)"),
        (W[:-1], ValueError, r"weights have shape \(11,\) but the columns have 12 entries"),
        (W.reshape(3, 4), ValueError, r"weights have shape \(3, 4\)"),
        (["1"] * N, TypeError, r"weights have dtype <U1"),
        (1.0, ValueError, r"weights have shape \(\)"),
        (np.ones(N, bool), TypeError, r"weights have dtype bool"),
    ]
):
    add(error(f"weights-{i}", build(channel(), weights=weights), kind, words))
for form in ("store", "columns"):
    wn = W.copy()
    wn[3] = -0.2
    add(
        result(
            f"weights-negative-entry-{form}",
            nll_at(AT, channel(), weights=wn, form=form),
            nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}, weights=wn),
        )
    )
    add(
        result(
            f"weights-{form}",
            nll_at(AT, channel(), weights=W, form=form),
            nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}, weights=W),
        )
    )

# -- alpha_range, forms, with_data ------------------------------------------------------------------
for i, (rng, kind, words) in enumerate(
    [
        ((5.0, -5.0), ValueError, r"alpha_range = \(5.0, -5.0\) must be \(min, max\) with min < 0 < max"),
        ((0.0, 5.0), ValueError, r"alpha_range = \(0.0, 5.0\) must be \(min, max\) with min < 0 < max"),
        ((-5.0, math.nan), ValueError, r"alpha_range .* must be \(min, max\)"),
        ((-5.0,), TypeError, r"alpha_range must be a pair \(min, max\) of numbers"),
        ("-5,5", TypeError, r"alpha_range must be a pair"),
    ]
):
    add(error(f"alpha-range-{i}", build(channel(), alpha_range=rng), kind, words))
add(
    result(
        "alpha-range-narrow",
        nll_at(AT, channel(), alpha_range=(-0.5, 0.5)),
        nll_matches(ref_processes(), {"mu": 1.7}, {"lumi": 0.3}),
    )
)
add(
    error(
        "form-unknown", build(channel(), form="column"), ValueError, r"form must be 'store' or 'columns', got 'column'"
    )
)
add(
    error(
        "form-columns-pool",
        build(channel(), form="columns", pool_weights=np.ones(N)),
        ValueError,
        r"pool and pool_weights need form='store'",
    )
)


def no_data_fit(tmp: Path) -> Any:
    from roonsbi.infer.fit import fit

    return fit(build_model(channel(), with_data=False))


def no_data_fast_fit(tmp: Path) -> Any:
    from roonsbi.infer.fit import fit

    return fit(build_model(channel(), with_data=False), fast=True)


def no_data_columns_fast_fit(tmp: Path) -> Any:
    from roonsbi.infer.fit import fit

    return fit(build_model(channel(), with_data=False, form="columns"), fast=True)


add(error("no-data-fit", no_data_fit, ValueError, r"model 'nsbi' has no dataset \(built with with_data=False\)"))
add(
    error(
        "no-data-fast-fit", no_data_fast_fit, ValueError, r"model 'nsbi' has no dataset \(built with with_data=False\)"
    )
)
add(
    error(
        "no-data-columns-fast-fit",
        no_data_columns_fast_fit,
        ValueError,
        r"model 'nsbi' has no dataset \(built with with_data=False\).*fast_nll\(model, store\)",
    )
)

# -- pool= and pool_weights= -----------------------------------------------------------------------------
POOL = [
    Process("S", 10.0, np.linspace(0.3, 1.1, 7), "mu"),
    Process("B", 40.0, np.ones(7), normsys={"lumi": (0.95, 1.05)}),
]
for i, (kwargs, kind, words) in enumerate(
    [
        ({"pool_weights": -np.ones(N)}, ValueError, r"pool_weights sum to -12|pool_weights must be >= 0"),
        ({"pool_weights": np.r_[-1.0, np.ones(N - 1)]}, ValueError, r"pool_weights must be >= 0 .*entry 0 = -1"),
        ({"pool_weights": np.zeros(N)}, ValueError, r"pool_weights sum to 0"),
        ({"pool_weights": np.ones(N + 2)}, ValueError, r"pool_weights have shape \(14,\) but the columns have 12"),
        ({"pool_weights": np.ones((N, 1))}, ValueError, r"pool_weights have shape \(12, 1\)"),
        ({"pool_weights": np.r_[np.inf, np.ones(N - 1)]}, ValueError, r"pool_weights have 1 NaN or infinite"),
        ({"pool": POOL[:1]}, ValueError, r"pool processes \['S'\] must be those of processes \['S', 'B'\]"),
        ({"pool": POOL[::-1]}, ValueError, r"pool processes \['B', 'S'\] must be those of processes \['S', 'B'\]"),
        (
            {
                "pool": [
                    Process("S", 10.0, np.linspace(0.3, 1.1, 7), "mu", shapesys={"jes": (np.ones(7), np.ones(7))}),
                    POOL[1],
                ]
            },
            ValueError,
            r"pool and processes must have the same columns; they differ in \['g_S_jes_hi', 'g_S_jes_lo'\]",
        ),
        (
            {"pool": [Process("S", 10.0, np.r_[-1.0, np.ones(6)], "mu"), POOL[1]]},
            ValueError,
            r"ratio column 'r_S' .*entry 0 = -1",
        ),
        (
            {"pool": [Process("S", 10.0, np.ones(6), "mu"), POOL[1]]},
            ValueError,
            r"'r_B' has 7 entries but the other columns have 6",
        ),
        (
            {"pool": POOL, "pool_weights": np.ones(N)},
            ValueError,
            r"pool_weights have shape \(12,\) but the columns have 7",
        ),
        ({"pool": POOL[0]}, TypeError, r"pool must be a sequence of Process"),
        ({"pool": "S"}, TypeError, r"pool must be a sequence of Process"),
    ]
):
    add(error(f"pool-{i}", build(channel(), **kwargs), kind, words))
add(
    error(
        "pool-name-event-index",
        build(channel(), pool_weights=np.ones(N), pois={"mu": (1.0, 0.0, 10.0), "event_nsbi": (1.0, 0.0, 2.0)}),
        ValueError,
        r"POI 'event_nsbi'.*event_nsbi",
    )
)
# pool_measure is a column of the store only: no RooFit object has this name, so a POI may have it
add(
    result(
        "pool-measure-as-poi",
        lambda tmp: build_model(
            [Process("S", 10.0, RATIO, "pool_measure"), Process("B", 40.0, np.ones(N))],
            pool_weights=W,
            pois={"pool_measure": (1.0, 0.0, 10.0)},
        ).nll({"pool_measure": 2.0}),
        lambda v: close(
            v,
            reference.nll(
                [
                    reference.RefProcess(10.0, RATIO, lambda p: p["m"]),
                    reference.RefProcess(40.0, np.ones(N), lambda p: 1.0),
                ],
                {"m": 2.0},
                {},
            )
            - float(np.sum(np.log(W / W.sum()))),
            rtol=1e-6,
            what="NLL",
        ),
    )
)


def pool_data_part(kwargs: dict[str, Any]):
    """The NLL of a pool model minus that of the same channel without a pool: the pool measure's
    constant -sum_i w_i log m_{k_i} when the data are the pool rows (pool_weights only), else 0."""

    def run(tmp: Path) -> float:
        a = build_model(channel(), **kwargs).nll(AT)
        b = build_model(channel()).nll(AT)
        return a - b

    return run


for label, kwargs, expected in (
    ("pool-weights-only", {"pool_weights": W}, float(-np.sum(np.log(W / W.sum())))),
    ("pool", {"pool": POOL}, 0.0),
    ("pool-and-weights", {"pool": POOL, "pool_weights": np.linspace(1, 2, 7)}, 0.0),
):
    add(
        result(
            f"{label}-data-part",
            pool_data_part(kwargs),
            lambda v, expected=expected: close(v, expected, rtol=1e-7, atol=1e-7, what="pool NLL - plain NLL"),
        )
    )


# -- hypothesis: random columns, systematics and weights ---------------------------------------------
def property_random_channels(tmp: Path) -> int:
    """build_model of random channels (1-3 processes, 0-2 shape and normsys terms each, random codes, random
    weights, both forms) gives the reference NLL at a random point, or one of the documented errors."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seen = {"built": 0}

    @settings(max_examples=60, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(
        seed=st.integers(0, 2**32 - 1),
        n_proc=st.integers(1, 3),
        n=st.integers(0, 20),
        form=st.sampled_from(["store", "columns"]),
        weighted=st.booleans(),
        bad=st.sampled_from([None, "neg_ratio", "nan_shape", "zero_shape", "neg_weights", "short"]),
    )
    def prop(seed: int, n_proc: int, n: int, form: str, weighted: bool, bad: str | None) -> None:
        rng = np.random.default_rng(seed)
        procs, refs = [], []
        point = {"mu": float(rng.uniform(0.2, 3.0))}
        alphas: dict[str, float] = {}
        for j in range(n_proc):
            ratio = rng.uniform(0.05, 3.0, n)
            shapes, rshapes, norms, rnorms = {}, {}, {}, {}
            for m in range(int(rng.integers(0, 3))):
                code = int(rng.choice([0, 1, 2, 4, 5, 6]))
                lo, hi = rng.uniform(0.7, 0.99, n), rng.uniform(1.01, 1.3, n)
                shapes[f"s{m}"], rshapes[f"s{m}"] = ShapeSys(lo, hi, code), (lo, hi, code)
                alphas[f"s{m}"] = float(rng.uniform(-0.9, 0.9))
            for m in range(int(rng.integers(0, 3))):
                code = int(rng.choice([0, 1, 2, 4]))
                lo, hi = float(rng.uniform(0.8, 0.99)), float(rng.uniform(1.01, 1.2))
                norms[f"n{m}"], rnorms[f"n{m}"] = NormSys(lo, hi, code), (lo, hi, code)
                alphas[f"n{m}"] = float(rng.uniform(-1.5, 1.5))
            coef = "mu" if j == 0 else "1"
            procs.append(Process(f"P{j}", float(rng.uniform(1, 50)), ratio, coef, normsys=norms, shapesys=shapes))
            refs.append(
                reference.RefProcess(
                    procs[-1].nominal_yield,
                    ratio,
                    (lambda p: p["mu"]) if j == 0 else (lambda p: 1.0),
                    normsys=rnorms,
                    shapesys=rshapes,
                )
            )
        weights = rng.uniform(0.1, 2.0, n) if weighted else None
        expect: Any = None
        if bad == "neg_ratio" and n:
            procs[0].ratio[int(rng.integers(n))] = -0.5
            expect = "ratio column 'r_P0'"
        elif bad in ("nan_shape", "zero_shape") and n and procs[-1].shapesys:
            first = next(iter(procs[-1].shapesys))
            procs[-1].shapesys[first].hi[0] = np.nan if bad == "nan_shape" else 0.0
            expect = f"g_P{n_proc - 1}_{first}_hi"
        elif bad == "neg_weights" and n:
            weights = -rng.uniform(0.1, 2.0, n)
            expect = "weights sum to"
        elif weighted and n == 0:
            expect = "weights sum to 0"
        elif bad == "short" and n:
            procs[-1].ratio = procs[-1].ratio[:-1]
            alone = n_proc == 1 and not procs[0].shapesys and not weighted
            expect = None if alone else ("entries but the other columns have", "but the columns have")
        try:
            model = build_model(procs, weights=weights, form=form)
        except ValueError as err:
            alternatives = (expect,) if isinstance(expect, str) else expect or ()
            assert any(a in str(err) for a in alternatives), f"unexpected error: {err}"
            return
        assert expect is None, f"no error, expected one containing {expect!r}"
        seen["built"] += 1
        values = {**point, **{f"alpha_{k}": v for k, v in alphas.items()}}
        value = model.nll(values)
        refs_now = (
            refs
            if bad != "short"
            else [
                reference.RefProcess(r.nominal_yield, procs[k].ratio, r.coefficient, r.normsys, r.shapesys)
                for k, r in enumerate(refs)
            ]
        )
        ref = reference.nll(refs_now, point, alphas, weights)
        rtol = 1e-6 if form == "store" else 1e-9  # the store form holds float32 columns
        assert abs(value - ref) <= rtol * max(1.0, abs(ref)), f"NLL {value} != reference {ref} ({form} form)"

    prop()
    return seen["built"]


add(
    result(
        "property-random-channels",
        property_random_channels,
        lambda built: None if built >= 10 else f"only {built} models were built",
    )
)
