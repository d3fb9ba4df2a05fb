"""The images of the README's "Plots" section (docs/images/), one of each kind of roonsbi.plot, from a
small analysis of the analytic off-shell toy (NSBI channel with a reference pool) combined with a
binned control region (pyhf JSON).

Run from the repository: ``python examples/make_readme_figures.py [--out docs/images] [--overwrite]``
(about a minute).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import roonsbi
from roonsbi.infer import ToyGenerator, cls_scan, profile_scan_2d, upper_limit
from roonsbi.inputs.diagnostics import normalisation_closure
from roonsbi.inputs.toy import OffShellToy
from roonsbi.plot import (
    PlotOptions,
    channel_yields,
    plot_data_vs_model,
    plot_limit_bands,
    plot_pulls,
    plot_ranking,
    plot_scan,
    plot_scan_2d,
)
from roonsbi.plot.diagnostics import plot_closure

CONTROL = {
    "channels": [{"name": "cr", "samples": [
        {"name": "bkg", "data": [300.0, 420.0, 380.0, 250.0], "modifiers": [
            {"name": "lumi", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}]},
        {"name": "sig", "data": [4.0, 9.0, 12.0, 6.0],
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
    "observations": [{"name": "cr", "data": [310, 440, 381, 262]}],
    "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}


def limit_bands(toy: OffShellToy, path: Path, options: PlotOptions) -> None:
    """The CLs scan of a linear model mu S + B (the toy's S and B, a luminosity systematic) on
    background-only data (the off-shell toy's sqrt(mu) interference makes CLs non-monotonic at small
    mu, see "Limits and significance"), with a label of its own (and the other ``options``)."""
    def processes(x: np.ndarray) -> list[roonsbi.Process]:
        r, nu = toy.ratios(x), toy.basis_yields()
        return [roonsbi.Process("S", nu["S"], r["S"], "mu", normsys={"lumi": (0.95, 1.05)}),
                roonsbi.Process("B", nu["B"], r["B"], "1", normsys={"lumi": (0.95, 1.05)})]

    x = toy.generate(0.0, np.random.default_rng(4))
    linear = roonsbi.build_model(processes(x), name="linear",
                                 pool=processes(toy.sample_ref(20_000, np.random.default_rng(5))))
    limit = upper_limit(linear)
    points = cls_scan(linear, np.linspace(0.05, 1.6 * float(limit.expected[-1]), 15))
    plot_limit_bands(points, path, **options, label="roonsbi", label_text="toy")
    print(f"95% CL upper limit on mu: {limit.observed:.3f} (expected {limit.median:.3f})")


def make(out: Path, overwrite: bool = False) -> list[Path]:
    toy = OffShellToy(nu_s=60.0, nu_b=600.0, eff_slope=0.2, lumi_kappa=1.05)
    x = toy.generate(1.0, np.random.default_rng(1))
    pool = toy.processes(toy.sample_ref(20_000, np.random.default_rng(2)))
    nsbi = roonsbi.build_model(toy.processes(x), pool=pool, name="nsbi")
    combined = roonsbi.combine([nsbi, roonsbi.from_pyhf(CONTROL)])
    grid = np.linspace(0.05, 2.5, 25)
    asimov = ToyGenerator(nsbi).asimov({"mu": 1.0, "alpha_eff": 0.0, "alpha_lumi": 0.0})
    scans = {"NSBI": roonsbi.profile_scan(nsbi, "mu", grid),
             "NSBI + control region": roonsbi.profile_scan(combined, "mu", grid),
             "NSBI, expected (Asimov, mu = 1)": roonsbi.profile_scan(nsbi, "mu", grid, data=asimov.data)}
    files = [out / name for name in ("scan.png", "scan_2d.png", "pulls.png", "ranking.png", "data_vs_model.png",
                                     "limit_bands.png", "closure.png")]
    options = PlotOptions(overwrite=overwrite)  # the keywords common to every plot
    plot_scan(scans, files[0], xlabel=r"signal strength $\mu$", **options)
    scan_2d = {"NSBI": profile_scan_2d(nsbi, ("mu", "alpha_lumi"), np.linspace(0.05, 2.0, 11),
                                       np.linspace(-2.5, 2.5, 11)),
               "NSBI + control region": profile_scan_2d(combined, ("mu", "alpha_lumi"), np.linspace(0.05, 2.0, 11),
                                                        np.linspace(-2.5, 2.5, 11))}
    plot_scan_2d(scan_2d, files[1], xlabel=r"$\mu$", ylabel=r"$\alpha_\mathrm{lumi}$", reference=(1.0, 0.0),
                 **options)
    ranking = {"NSBI": roonsbi.impacts(nsbi), "NSBI + control region": roonsbi.impacts(combined)}
    plot_pulls(ranking, files[2], **options)
    plot_ranking(ranking["NSBI + control region"], files[3], **options)
    best = roonsbi.fit(combined)
    plot_data_vs_model(channel_yields(combined, "cr", best, prefit={"mu": 1.0}, xlabel="bin"), files[4],
                       ratio_range=(0.8, 1.2), **options)
    limit_bands(toy, files[5], options)
    columns = toy.ratio_columns(toy.sample_ref(20_000, np.random.default_rng(3)))
    plot_closure(normalisation_closure(columns), files[6], overwrite=overwrite)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "images"))
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in make(out, args.overwrite):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
