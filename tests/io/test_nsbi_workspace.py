r"""nsbi-common-utils workspaces (:mod:`roonsbi.io.nsbi_workspace`) against an independent numpy NLL.

The workspace follows the toolkit's schema (``WorkspaceBuilder``: binned and unbinned channels,
``ratios`` / ``weights`` / ``hi_ratio`` / ``lo_ratio`` as ``.npy`` files, normfactor, vandermonde
and normplusshape modifiers, a measurement with ``inits`` / ``bounds`` and ``errordef``). The
reference is the toolkit's likelihood written out in numpy: the Poisson terms of the binned
channel, the extended unbinned term nu_U - sum_i w_i log(sum_J f_J nu_J G_J r_J g_J), and the
constraint term c sum alpha^2 with c = 1/2 (``constraints="histfactory"``) or c = 1 (``"toolkit"``,
errordef LIKELIHOOD); the interpolation's 6th-order polynomial is found by solving its six
boundary conditions (value, first and second derivative of hi^alpha / lo^-alpha at alpha = +-1).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from roonsbi.io.nsbi_workspace import from_nsbi_workspace

N_EVENTS, N_BINS = 300, 4


def _poly6(hi: float, lo: float) -> np.ndarray:
    """a_1..a_6 of 1 + sum a_k alpha^k matching hi^alpha (alpha >= 1) and lo^-alpha (alpha <= -1)
    to second order at alpha = +-1."""
    rows, rhs = [], []
    for x, target, log in ((1.0, hi, np.log(hi)), (-1.0, lo, -np.log(lo))):
        rows.append([x ** k for k in range(1, 7)])
        rhs.append(target - 1.0)
        rows.append([k * x ** (k - 1) for k in range(1, 7)])
        rhs.append(target * log)
        rows.append([k * (k - 1) * x ** (k - 2) for k in range(1, 7)])
        rhs.append(target * log ** 2)
    return np.linalg.solve(np.array(rows), np.array(rhs))


def _interp(alpha: float, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """The multiplicative factor at alpha of +-1 sigma ratios hi, lo (elementwise)."""
    hi, lo = np.atleast_1d(hi).astype(float), np.atleast_1d(lo).astype(float)
    if alpha >= 1.0:
        return hi ** alpha
    if alpha <= -1.0:
        return lo ** (-alpha)
    out = np.empty_like(hi)
    for i, (h, lw) in enumerate(zip(hi, lo)):
        out[i] = 1.0 + np.polyval(np.r_[_poly6(h, lw)[::-1], 0.0], alpha)
    return out


def _workspace(tmp_path: Path, errordef: str = "LIKELIHOOD") -> tuple[Path, dict]:
    """A small workspace in the toolkit's format: an unbinned SR (S: mu, I: vandermonde in kl,
    B: mu_B) and a binned CR (S: mu, B: mu_B), normplusshape JES on every sample; and its arrays."""
    rng = np.random.default_rng(5)
    z = rng.normal(size=N_EVENTS)
    arrays = {
        "r_S": np.exp(0.6 * z - 0.18), "r_I": np.exp(-0.3 * z - 0.045), "r_B": np.exp(0.1 * z - 0.005),
        "g_S_up": np.exp(0.05 * z), "g_S_dn": np.exp(-0.04 * z),
        "g_I_up": np.exp(0.02 * z), "g_I_dn": np.exp(-0.03 * z),
        "g_B_up": np.exp(0.08 * z), "g_B_dn": np.exp(-0.07 * z),
        "weights": rng.uniform(0.5, 1.5, N_EVENTS),
    }
    for k, v in arrays.items():
        np.save(tmp_path / f"{k}.npy", v)
    yields = {"S": 30.0, "I": 20.0, "B": 200.0}
    norm = {"S": ([1.04], [0.97]), "I": ([1.02], [0.99]), "B": ([1.06], [0.95])}
    coefficient = {"S": {"name": "mu", "type": "normfactor", "data": None},
                   "I": {"name": "kl", "type": "vandermonde", "coeff": [0.5, -1.0, 1.0]},
                   "B": {"name": "mu_B", "type": "normfactor", "data": None}}
    sr = {"name": "SR", "type": "unbinned", "weights": "weights.npy", "samples": [
        {"name": p, "data": [yields[p]], "ratios": f"r_{p}.npy", "modifiers": [
            coefficient[p],
            {"name": "JES", "type": "normplusshape", "data": {
                "hi_data": norm[p][0], "lo_data": norm[p][1],
                "hi_ratio": f"g_{p}_up.npy", "lo_ratio": f"g_{p}_dn.npy"}}]}
        for p in ("S", "I", "B")]}
    cr = {"name": "CR", "type": "binned", "samples": [
        {"name": "S", "data": [3.0, 2.0, 1.0, 0.5], "modifiers": [coefficient["S"]]},
        {"name": "I", "data": [1.0, 1.0, 1.0, 1.0], "modifiers": [coefficient["I"]]},
        {"name": "B", "data": [80.0, 60.0, 40.0, 20.0], "modifiers": [
            coefficient["B"], {"name": "JES", "type": "normplusshape",
                               "data": {"hi_data": [1.03, 1.05, 1.08, 1.1], "lo_data": [0.98, 0.96, 0.93, 0.9]}}]}]}
    spec = {
        "channels": [sr, cr],
        "observations": [{"name": "CR", "data": [88.0, 61.0, 45.0, 19.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "errordef": errordef, "parameters": [
            {"name": "mu", "inits": [1.0], "bounds": [[0.0, 5.0]]},
            {"name": "kl", "inits": [1.0], "bounds": [[-5.0, 5.0]]},
            {"name": "mu_B", "inits": [1.0], "bounds": [[0.5, 1.5]]},
            {"name": "JES", "inits": [0.0], "bounds": [[-5.0, 5.0]]}]}}],
        "version": "1.0.0",
    }
    path = tmp_path / "workspace.json"
    path.write_text(json.dumps(spec))
    arrays.update({f"nu_{p}": np.array(yields[p]) for p in yields})
    return path, {"spec": spec, **arrays}


def _numpy_nll(ref: dict, values: dict, c: float) -> float:
    """The toolkit's NLL (-log L, errordef LIKELIHOOD) of the workspace, with constraint c alpha^2."""
    mu, kl, mu_b, jes = values["mu"], values["kl"], values["mu_B"], values["alpha_JES"]
    f = {"S": mu, "I": np.polyval([0.5, -1.0, 1.0], kl), "B": mu_b}
    spec = ref["spec"]
    # unbinned SR: nu_U - sum_i w_i log(sum_J f_J nu_J G_J r_J g_J)
    density, nu_u = np.zeros(N_EVENTS), 0.0
    for s in spec["channels"][0]["samples"]:
        p, d = s["name"], s["modifiers"][1]["data"]
        rate = f[p] * float(ref[f"nu_{p}"]) * _interp(jes, np.array(d["hi_data"]), np.array(d["lo_data"]))[0]
        nu_u += rate
        density += rate * ref[f"r_{p}"] * _interp(jes, ref[f"g_{p}_up"], ref[f"g_{p}_dn"])
    nll = nu_u - float(np.sum(ref["weights"] * np.log(density)))
    # binned CR: sum_b nu_b - n_b log nu_b
    nu_b = np.zeros(N_BINS)
    for s in spec["channels"][1]["samples"]:
        shape = np.ones(N_BINS)
        if len(s["modifiers"]) > 1:
            d = s["modifiers"][1]["data"]
            shape = _interp(jes, np.array(d["hi_data"]), np.array(d["lo_data"]))
        nu_b += f[s["name"]] * np.array(s["data"]) * shape
    n = np.array(spec["observations"][0]["data"])
    nll += float(np.sum(nu_b - n * np.log(nu_b)))
    return nll + c * jes ** 2


@pytest.mark.parametrize("constraints, c", [("histfactory", 0.5), ("toolkit", 1.0)])
def test_nll_equals_the_toolkits_likelihood_in_numpy(tmp_path: Path, constraints: str, c: float) -> None:
    """roonsbi's NLL of the read workspace changes between 8 points (mu, kl, mu_B, alpha_JES over
    both sides of |alpha| = 1) exactly as the numpy NLL of the toolkit's formula (1e-8 absolute; the
    constant parts differ: log n!, the reference density, the Gaussians' normalisation), with the
    constraint term alpha^2/2 (histfactory) or alpha^2 (toolkit)."""
    path, ref = _workspace(tmp_path)
    model = from_nsbi_workspace(path, constraints=constraints, form="columns")
    assert [p.GetName() for p in model.pois] == ["mu"]
    assert sorted(p.GetName() for p in model.nuisance_parameters) == ["alpha_JES", "kl", "mu_B"]
    rng = np.random.default_rng(2)
    points = [{"mu": 1.0, "kl": 1.0, "mu_B": 1.0, "alpha_JES": 0.0}]
    points += [{"mu": rng.uniform(0.2, 3), "kl": rng.uniform(-2, 4), "mu_B": rng.uniform(0.6, 1.4),
                "alpha_JES": a} for a in (-2.3, -1.0, -0.4, 0.3, 0.9, 1.0, 1.7)]
    ours = np.array([model.nll(v) for v in points])
    theirs = np.array([_numpy_nll(ref, v, c) for v in points])
    np.testing.assert_allclose(ours - ours[0], theirs - theirs[0], atol=1e-8)


def test_store_form_and_combination(tmp_path: Path) -> None:
    """The default (float32 store) form agrees with the double-precision columns to 1e-5 in NLL
    differences, and the read model fits (mu-hat of both forms to 1e-3)."""
    from roonsbi.infer.fit import Fitter

    path, ref = _workspace(tmp_path)
    store = from_nsbi_workspace(path)
    columns = from_nsbi_workspace(path, form="columns")
    a = {"mu": 1.3, "kl": 0.4, "mu_B": 1.1, "alpha_JES": 0.6}
    b = {"mu": 0.7, "kl": 2.0, "mu_B": 0.9, "alpha_JES": -1.4}
    assert store.nll(a) - store.nll(b) == pytest.approx(columns.nll(a) - columns.nll(b), abs=1e-5)
    mu_store = Fitter(store).fit(hesse=False).values["mu"]
    mu_columns = Fitter(columns).fit(hesse=False).values["mu"]
    assert mu_store == pytest.approx(mu_columns, abs=1e-3)


def test_bad_files_are_named(tmp_path: Path) -> None:
    path, ref = _workspace(tmp_path)
    (tmp_path / "g_I_up.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"sample 'I' of channel 'SR', modifier 'JES' hi_ratio names "
                                                r"'g_I_up\.npy', which does not exist"):
        from_nsbi_workspace(path)
    path, ref = _workspace(tmp_path)
    np.save(tmp_path / "r_B.npy", np.ones(N_EVENTS - 1))
    with pytest.raises(ValueError, match=r"sample 'B' of channel 'SR' ratios .*r_B\.npy' has 299 entries, "
                                         r"expected 300"):
        from_nsbi_workspace(path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json is not JSON"):
        from_nsbi_workspace(bad)
    path, ref = _workspace(tmp_path)
    spec = ref["spec"]
    spec["channels"][0]["samples"][0]["modifiers"][1]["type"] = "histosys"
    with pytest.raises(ValueError, match=r"modifier 'JES' of sample 'S' in channel 'SR' has type 'histosys'"):
        from_nsbi_workspace(spec, base_dir=tmp_path)
    with pytest.raises(ValueError, match="constraints must be one of"):
        from_nsbi_workspace(path, constraints="half")


def _writer_processes() -> tuple[list, np.ndarray]:
    """S (mu; normsys and shape JES), I (mu^2 - mu: a vandermonde; shape JES only), B (2: a constant;
    normsys JES and lumi) and the events' weights."""
    from roonsbi import NormSys, Process, ShapeSys

    rng = np.random.default_rng(9)
    z = rng.normal(size=N_EVENTS)
    procs = [
        Process("S", 30.0, np.exp(0.6 * z - 0.18), "mu", {"JES": NormSys(0.97, 1.04)},
                {"JES": ShapeSys(np.exp(-0.04 * z), np.exp(0.05 * z))}),
        Process("I", 20.0, np.exp(-0.3 * z - 0.045), "mu^2 - mu", {}, {"JES": ShapeSys(np.exp(-0.03 * z),
                                                                                      np.exp(0.02 * z))}),
        Process("B", 100.0, np.exp(0.1 * z - 0.005), 2.0, {"JES": NormSys(0.95, 1.06), "lumi": NormSys(0.98, 1.02)}),
    ]
    return procs, rng.uniform(0.5, 1.5, N_EVENTS)


def _toolkit_nll_of_files(path: Path, values: dict) -> float:
    """The toolkit's -log L of a written unbinned workspace, read from its JSON and .npy files with numpy:
    nu_U - sum_i w_i log(sum_J f_J nu_J G_J r_J g_J) + sum_X X^2 (its constraint)."""
    spec = json.loads(path.read_text())
    (ch,) = spec["channels"]
    w = np.load(path.with_name(ch["weights"]))
    density, nu_u, alphas = np.zeros(w.size), 0.0, set()
    for s in ch["samples"]:
        rate, shape = float(np.sum(s["data"])), np.ones(w.size)
        for m in s["modifiers"]:
            if m["type"] == "normfactor":
                rate *= values[m["name"]]
            elif m["type"] == "vandermonde":
                rate *= np.polyval(m["coeff"], values[m["name"]])
            else:
                a, d = values[f"alpha_{m['name']}"], m["data"]
                alphas.add(m["name"])
                rate *= _interp(a, np.array(d["hi_data"]), np.array(d["lo_data"]))[0]
                shape *= _interp(a, np.load(path.with_name(d["hi_ratio"])), np.load(path.with_name(d["lo_ratio"])))
        nu_u += rate
        density += rate * np.load(path.with_name(s["ratios"])) * shape
    return nu_u - float(np.sum(w * np.log(density))) + sum(values[f"alpha_{x}"] ** 2 for x in alphas)


def test_writer_round_trip_and_the_toolkits_likelihood(tmp_path: Path) -> None:
    """to_nsbi_workspace writes the toolkit's format (normfactor, vandermonde, normplusshape, .npy files); read
    back (constraints="histfactory") it is the model of build_model on the same processes (NLL to 1e-10), and
    with constraints="toolkit" its NLL changes as the numpy NLL of the toolkit's formula on the files (1e-8)."""
    from roonsbi import build_model
    from roonsbi.io import to_nsbi_workspace

    procs, w = _writer_processes()
    pois = {"mu": (1.0, 0.0, 5.0)}
    path = to_nsbi_workspace(procs, tmp_path / "ws.json", weights=w, pois=pois)
    spec = json.loads(path.read_text())
    mods = {s["name"]: s["modifiers"] for s in spec["channels"][0]["samples"]}
    assert mods["S"][0] == {"name": "mu", "type": "vandermonde", "coeff": [1.0, 0.0]}  # as I's: one type per parameter
    assert mods["I"][0]["type"] == "vandermonde" and np.allclose(mods["I"][0]["coeff"], [1.0, -1.0, 0.0], atol=1e-12)
    assert [m["type"] for m in mods["B"]] == ["normplusshape", "normplusshape"]
    assert spec["channels"][0]["samples"][2]["data"] == [200.0]  # the constant 2 folded into nu_B
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "ws.SR.B.JES.hi_ratio.npy"

    direct = build_model(procs, pois, weights=w, form="columns")
    back = from_nsbi_workspace(path, form="columns")
    toolkit = from_nsbi_workspace(path, constraints="toolkit", form="columns")
    rng = np.random.default_rng(4)
    points = [{"mu": rng.uniform(0.2, 3), "alpha_JES": a, "alpha_lumi": rng.uniform(-2, 2)}
              for a in (0.0, -2.1, -0.6, 0.4, 1.0, 1.8)]
    assert [back.nll(v) for v in points] == pytest.approx([direct.nll(v) for v in points], rel=1e-10)
    ours = np.array([toolkit.nll(v) for v in points])
    theirs = np.array([_toolkit_nll_of_files(path, v) for v in points])
    np.testing.assert_allclose(ours - ours[0], theirs - theirs[0], atol=1e-8)


def test_writer_refusals(tmp_path: Path) -> None:
    from roonsbi import NormSys, Process
    from roonsbi.io import to_nsbi_workspace

    procs, w = _writer_processes()
    to_nsbi_workspace(procs, tmp_path / "ws.json", weights=w)
    written = sorted(tmp_path.iterdir())
    with pytest.raises(FileExistsError):
        to_nsbi_workspace(procs, tmp_path / "ws.json", weights=w)
    assert sorted(tmp_path.iterdir()) == written
    sqrt = [Process("SBI", 10.0, np.ones(N_EVENTS), "sqrt(mu)")]
    with pytest.raises(ValueError, match=r"process 'SBI'.*'sqrt\(mu\)' is not a polynomial.*reparametrise"):
        to_nsbi_workspace(sqrt, tmp_path / "sqrt.json")
    code1 = [Process("B", 10.0, np.ones(N_EVENTS), "mu", {"lumi": NormSys(0.9, 1.1, 1)})]
    with pytest.raises(ValueError, match=r"process 'B'.*'lumi' has normsys code 1"):
        to_nsbi_workspace(code1, tmp_path / "code1.json")
    assert sorted(tmp_path.iterdir()) == written
