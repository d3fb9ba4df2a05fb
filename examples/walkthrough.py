"""A walk-through of an NSBI analysis with roonsbi, from ROOT files of events to limits and plots.

1. **Events** (:func:`make_events`): ROOT files (uproot) of two features x0, x1 for a reference
   sample x ~ p_ref (the reference pool of the model), an independent calibration sample of p_ref,
   signal and background samples, and the observed data (Poisson numbers of signal and
   background events at mu = 1).
2. **Networks** (:func:`train_networks`): scikit-learn classifiers of signal vs reference and
   background vs reference (logistic regression on quadratic features: the exact family for
   Gaussian densities), exported by skl2onnx with its defaults (label output first, ZipMap).
3. **roonsbi evaluate** with the shipped configuration ``examples/evaluate.toml``: the ratio
   columns r_J = s_J/(1 - s_J) of the reference sample, calibrated on the calibration sample
   (each column divided by its mean there, recorded in the output's metadata), with the
   diagnostics; the same configuration for the data columns.
4. **Model**: the unbinned NSBI channel mu S + B (``build_model``, the reference sample as its pool),
   with the background normalisation systematic ``syst2`` of ROOT's HistFactory tutorial.
5. **Combination** with the HistFactory tutorial's model (``example.xml``, measurement GaussExample;
   its POI SigXsecOverSM renamed mu, ``alpha_syst2`` shared).
6. **Inference**: fit, profile scans (NSBI alone and combined), pulls and impacts, the asymptotic
   CLs scan and 95% CL upper limit.
7. **Plots** (:mod:`roonsbi.plot`): scan, pulls, ranking, data vs model of the tutorial's channel,
   the CLs "Brazil" plot.

Run: ``python examples/walkthrough.py --out walkthrough`` (about 30 s; ``--overwrite`` to run again
into the same folder). ``tests/test_examples.py`` runs it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

#: the toy: reference N(0, 1.6^2), signal N((1, 0.5), 0.7^2), background N((-0.3, 0), 1); expected events at mu = 1
REFERENCE, SIGNAL, BACKGROUND = ((0.0, 0.0), 1.6), ((1.0, 0.5), 0.7), ((-0.3, 0.0), 1.0)
YIELDS = {"S": 40.0, "B": 400.0}


def _sample(n: int, shape: tuple[tuple[float, float], float], rng: np.random.Generator) -> dict[str, np.ndarray]:
    (m0, m1), sigma = shape
    return {"x0": rng.normal(m0, sigma, n), "x1": rng.normal(m1, sigma, n)}


def _write(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    import uproot

    with uproot.recreate(str(path)) as f:
        f.mktree("events", dict.fromkeys(arrays, np.float64))
        f["events"].extend(arrays)
    return path


def make_events(folder: Path, seed: int = 1, n_mc: int = 20_000) -> dict[str, Path]:
    """Write ``events/{reference, calibration, signal, background, data}.root`` (TTree ``events``)."""
    rng = np.random.default_rng(seed)
    out = folder / "events"
    out.mkdir(parents=True, exist_ok=True)
    n_s, n_b = rng.poisson(YIELDS["S"]), rng.poisson(YIELDS["B"])
    signal, background = _sample(n_s, SIGNAL, rng), _sample(n_b, BACKGROUND, rng)
    data = {k: np.concatenate([signal[k], background[k]]) for k in signal}
    samples = {"reference": _sample(n_mc, REFERENCE, rng), "calibration": _sample(n_mc, REFERENCE, rng),
               "signal": _sample(n_mc, SIGNAL, rng), "background": _sample(n_mc, BACKGROUND, rng), "data": data}
    return {name: _write(out / f"{name}.root", arrays) for name, arrays in samples.items()}


def train_networks(folder: Path, seed: int = 2, n_train: int = 20_000) -> dict[str, Path]:
    """Classifiers process (label 1) vs reference (label 0), equal class sizes, written as
    ``nets/{signal, background}.onnx`` by skl2onnx with its default options."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    rng = np.random.default_rng(seed)
    nets = folder / "nets"
    nets.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, shape in (("signal", SIGNAL), ("background", BACKGROUND)):
        ref, proc = _sample(n_train, REFERENCE, rng), _sample(n_train, shape, rng)
        x = np.column_stack([np.concatenate([ref["x0"], proc["x0"]]), np.concatenate([ref["x1"], proc["x1"]])])
        y = np.concatenate([np.zeros(n_train), np.ones(n_train)]).astype(np.int64)
        clf = make_pipeline(PolynomialFeatures(2), StandardScaler(), LogisticRegression(C=100.0, max_iter=2000))
        clf.fit(x, y)
        onnx_model = to_onnx(clf, x[:1].astype(np.float32))
        written[name] = nets / f"{name}.onnx"
        written[name].write_bytes(onnx_model.SerializeToString())
    return written


def evaluate(folder: Path, overwrite: bool = False) -> dict[str, Any]:
    """``roonsbi evaluate evaluate.toml`` (the shipped example configuration) for the reference
    sample, then the same configuration for the data (``[events] files`` replaced, no diagnostics)."""
    from roonsbi.cli.evaluate import run_evaluate
    from roonsbi.inputs.evaluate import evaluate_config, load_config

    config_path = folder / "evaluate.toml"
    (folder / "columns").mkdir(exist_ok=True)
    shutil.copy(HERE / "evaluate.toml", config_path)
    reference = run_evaluate(config_path, overwrite=overwrite, progress=False)
    config = load_config(config_path)
    config["events"]["files"] = ["events/data.root"]
    del config["diagnostics"]
    data = evaluate_config(config_path, config, output=folder / "columns" / "data.npz", overwrite=overwrite,
                           progress=False)
    return {"reference": reference, "data": data.summary}


def build_nsbi(folder: Path) -> Any:
    """The unbinned NSBI channel mu S + B on the data columns, the reference columns as its pool."""
    import roonsbi
    from roonsbi.inputs import processes_from_columns, read_columns

    def processes(name: str) -> list:
        cols = read_columns(folder / "columns" / f"{name}.npz")
        return processes_from_columns(cols, yields=YIELDS, coefficients={"S": "mu", "B": "1"},
                                      normsys={"B": {"syst2": (0.95, 1.05)}})

    return roonsbi.build_model(processes("data"), pois={"mu": (1.0, 0.0, 3.0)}, name="nsbi",
                               pool=processes("reference"))


def tutorial_model(folder: Path) -> Any:
    """ROOT's HistFactory tutorial model (example.xml, GaussExample), built from its XML."""
    from roonsbi.io import from_histfactory_xml, histfactory_tutorial

    base = histfactory_tutorial(folder / "histfactory")
    return from_histfactory_xml(base / "config" / "example.xml", "GaussExample", base_dir=base)


def run(out: str | Path = "walkthrough", overwrite: bool = False, seed: int = 1) -> dict[str, Any]:
    """The whole walk-through into the folder ``out``; returns (and writes to ``out/summary.json``)
    the numbers."""
    import roonsbi
    from roonsbi.atomic import write_text
    from roonsbi.infer import cls_scan, upper_limit
    from roonsbi.plot import (
        channel_yields,
        plot_data_vs_model,
        plot_limit_bands,
        plot_pulls,
        plot_ranking,
        plot_scan,
    )

    t0 = time.perf_counter()

    def step(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:5.1f} s] {msg}", flush=True)

    folder = Path(out)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder} is not empty (an earlier walk-through?); pass --overwrite to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    make_events(folder, seed)
    step("wrote the events (reference, calibration, signal, background, data) as ROOT files")
    train_networks(folder, seed + 1)
    step("trained the classifiers and exported them with skl2onnx")
    evaluated = evaluate(folder, overwrite)
    calibration = evaluated["reference"]["calibration"]
    step(f"roonsbi evaluate: calibration factors {calibration['factors']}; diagnostics in {folder / 'diagnostics'}")

    nsbi = build_nsbi(folder)
    tutorial = tutorial_model(folder)
    combined = roonsbi.combine([nsbi, tutorial], rename={"SigXsecOverSM": "mu"})
    step("built the NSBI channel and combined it with ROOT's HistFactory tutorial (SigXsecOverSM -> mu)")

    grid = np.linspace(0.0, 3.0, 16)
    best = roonsbi.fit(combined)
    scans = {"NSBI": roonsbi.profile_scan(nsbi, "mu", grid), "NSBI + HistFactory tutorial":
             roonsbi.profile_scan(combined, "mu", grid)}
    ranking = roonsbi.impacts(combined)
    limit = upper_limit(combined, cl=0.95)
    cls_points = cls_scan(combined, np.linspace(0.05, 1.6, 14))
    step(f"fit mu = {best.values['mu']:.3f} +- {best.errors['mu']:.3f}; 95% CL upper limit {limit.observed:.3f} "
         f"(expected {limit.median:.3f})")

    plots = folder / "plots"
    files = []
    files += [plots / "scan_mu.png"]
    plot_scan(scans, files[-1], overwrite=overwrite)
    files += [plots / "pulls.png"]
    plot_pulls(ranking, files[-1], overwrite=overwrite)
    files += [plots / "ranking.png"]
    plot_ranking(ranking, files[-1], overwrite=overwrite)
    files += [plots / "data_vs_model.png"]
    plot_data_vs_model(channel_yields(combined, "channel1", best, prefit={"mu": 1.0}), files[-1],
                       overwrite=overwrite)
    files += [plots / "cls.png"]
    plot_limit_bands(cls_points, files[-1], overwrite=overwrite)
    step(f"wrote the plots {', '.join(p.name for p in files)}")

    summary = {
        "calibration": calibration,
        "fit": {"values": best.values, "errors": best.errors, "status": best.status},
        "intervals68": {label: list(s.interval(0.6827)) for label, s in scans.items()},
        "upper_limit": limit.to_dict(),
        "cls": [p.to_dict() for p in cls_points],
        "impacts": ranking.to_dict(),
        "plots": [str(p) for p in files],
        "seconds": time.perf_counter() - t0,
    }
    write_text(folder / "summary.json", json.dumps(summary, indent=1, default=float) + "\n", overwrite)
    step(f"done; outputs in {folder}/")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="walkthrough", help="output folder (default: walkthrough)")
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        run(args.out, args.overwrite, args.seed)
    except FileExistsError as err:
        print(f"walkthrough: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
