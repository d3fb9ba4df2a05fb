"""roonsbi.plot's public functions: each writes a non-empty PNG (and PDF) and draws what it should,
checked on the returned Figure against independent numbers (scipy's chi2 quantiles, an analytic
2-D Gaussian, pyhf's expected yields per sample, the inputs themselves)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("matplotlib")
pytest.importorskip("mplhep")

from roonsbi.infer import CLsResult, FitResult, Impact, ImpactResult, Pull, Scan2DResult, ScanResult, UpperLimit
from roonsbi.naming import nuisance_of_alpha
from roonsbi.plot import (
    ChannelYields,
    PlotOptions,
    channel_yields,
    plot_data_vs_model,
    plot_limit_bands,
    plot_pulls,
    plot_ranking,
    plot_scan,
    plot_scan_2d,
)

PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"


def _written(path: Path, magic: bytes) -> None:
    assert path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[: len(magic)] == magic


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def _scan(sigma: float, mu_hat: float = 1.0) -> ScanResult:
    mu = np.linspace(0.0, 3.0, 61)
    nll = 0.5 * (mu - mu_hat) ** 2 / sigma**2
    return ScanResult("mu", mu, nll, FitResult({"mu": mu_hat}, {"mu": sigma}, 0.0, 0, 3))


def test_plot_scan_curves_thresholds_and_formats(tmp_path: Path) -> None:
    scans = {"observed": _scan(0.5), "expected": _scan(0.6)}
    fig = plot_scan(scans, tmp_path / "scan", formats=("png", "pdf"))
    _written(tmp_path / "scan.png", PNG)
    _written(tmp_path / "scan.pdf", PDF)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4 and _legend(ax) == ["observed", "expected"]
    for line, scan in zip(lines[:2], scans.values()):  # t = (mu - 1)^2 / sigma^2
        assert np.allclose(line.get_ydata(), (scan.values - 1.0) ** 2 / scan.best.errors["mu"] ** 2)
    # the 68% and 95% CL lines at the chi2 (1 dof) quantiles
    assert [line.get_ydata()[0] for line in lines[2:]] == pytest.approx(stats.chi2.ppf([0.6827, 0.95], 1), rel=1e-9)
    assert "68% CL" in _texts(fig) and "95% CL" in _texts(fig)
    # a pair (values, t) is a curve too; no overwrite without asking
    fig = plot_scan({"exact": (np.linspace(0, 2, 5), np.array([4.0, 1, 0, 1, 4]))}, tmp_path / "scan.png",
                    overwrite=True)
    assert len(fig.axes[0].get_lines()) == 3
    with pytest.raises(FileExistsError, match=r"scan\.pdf exists; pass overwrite=True"):
        plot_scan(_scan(0.5), tmp_path / "scan.pdf")


def test_experiment_label_is_off_by_default_and_drawn_on_request(tmp_path: Path) -> None:
    assert "ATLAS" not in _texts(plot_scan(_scan(0.5)))
    fig = plot_scan(_scan(0.5), tmp_path / "atlas.pdf", label="ATLAS", label_text="Internal", lumi=140, energy=13)
    _written(tmp_path / "atlas.pdf", PDF)
    text = _texts(fig)
    assert "ATLAS" in text and "Internal" in text and "140" in text and "13" in text
    assert "CMS" in _texts(plot_scan(_scan(0.5), label="CMS", label_text="Preliminary"))


def test_plot_options_serve_every_plot_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    cms = PlotOptions(label="CMS", label_text="Preliminary", lumi=138, formats=("png", "pdf"))
    result = _impacts()
    for name, fig in (("pulls", plot_pulls(result, tmp_path / "pulls", **cms)),
                      ("ranking", plot_ranking(result, tmp_path / "ranking", **cms))):
        _written(tmp_path / f"{name}.png", PNG)
        _written(tmp_path / f"{name}.pdf", PDF)
        text = " ".join(t.get_text() for t in fig.axes[0].texts)  # the label is on the first axes
        assert "CMS" in text and "Preliminary" in text and "138" in text
    with pytest.raises(FileExistsError, match=r"pulls\.png exists; pass overwrite=True"):
        plot_pulls(result, tmp_path / "pulls", **cms)
    plot_pulls(result, tmp_path / "pulls", **cms, overwrite=True)
    with pytest.raises(TypeError, match=r"plot_scan\(\) got an unexpected keyword argument 'lables' \(the options "
                                        r"of every plot: label, label_text, lumi, energy, formats, overwrite\)"):
        plot_scan(_scan(0.5), lables="ATLAS")  # type: ignore[call-arg]


def test_plot_scan_2d_contours_are_the_chi2_2dof_regions(tmp_path: Path) -> None:
    # t(x, y) of a correlated 2-D Gaussian: the 68% / 95% contours are its ellipses t = 2.30 / 5.99
    x, y = np.linspace(-3, 5, 81), np.linspace(-4, 4, 81)
    sx, sy, rho = 1.0, 1.5, 0.4
    X, Y = np.meshgrid(x - 1.0, y, indexing="ij")
    t = (X**2 / sx**2 + Y**2 / sy**2 - 2 * rho * X * Y / (sx * sy)) / (1 - rho**2)
    best = FitResult({"mu": 1.0, "alpha": 0.0}, {"mu": sx, "alpha": sy}, 0.0, 0, 3)
    scan = Scan2DResult(("mu", "alpha"), x, y, 0.5 * t, best)
    fig = plot_scan_2d({"observed": scan}, tmp_path / "contours.png", reference=(1.0, 0.0))
    _written(tmp_path / "contours.png", PNG)
    ax = fig.axes[0]
    (contours,) = [c for c in ax.collections if hasattr(c, "levels")]
    levels = stats.chi2.ppf([0.6827, 0.95], 2)
    assert list(contours.levels) == pytest.approx(levels, rel=1e-9)
    for path, level in zip(contours.get_paths(), levels):
        px, py = path.vertices[:, 0] - 1.0, path.vertices[:, 1]
        t_path = (px**2 / sx**2 + py**2 / sy**2 - 2 * rho * px * py / (sx * sy)) / (1 - rho**2)
        assert np.allclose(t_path, level, rtol=2e-2)
    assert _legend(ax) == ["observed: best fit", "68% CL", "95% CL", "reference"]
    assert ax.get_xlabel() == "mu" and ax.get_ylabel() == "alpha"


def _impacts() -> ImpactResult:
    best = FitResult({"mu": 1.2, "alpha_a": 0.4, "alpha_b": -1.1, "gamma_c": 1.02},
                     {"mu": 0.3, "alpha_a": 0.9, "alpha_b": 0.5, "gamma_c": 0.05}, 0.0, 0, 3)
    pulls = [Pull("alpha_a", 0.4, 0.9, 0.0, 1.0), Pull("alpha_b", -1.1, 0.5, 0.0, 1.0),
             Pull("gamma_c", 1.02, 0.05, 1.0, 0.1)]
    impacts = [Impact("alpha_b", 0.12, -0.10, 0.20, -0.18), Impact("gamma_c", -0.05, 0.04, -0.09, 0.08),
               Impact("alpha_a", 0.01, -0.02, 0.011, -0.021)]
    return ImpactResult("mu", best, pulls, impacts)


def test_plot_pulls(tmp_path: Path) -> None:
    result = _impacts()
    fig = plot_pulls({"fit": result, "fit again": result.pulls}, tmp_path / "pulls.png")
    _written(tmp_path / "pulls.png", PNG)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "gamma_c"]  # alpha_X shown as X
    assert _legend(ax) == ["fit", "fit again"]
    for container in ax.containers:
        xs = container.lines[0].get_xdata()
        assert np.allclose(xs, [(0.4 - 0) / 1, (-1.1 - 0) / 1, (1.02 - 1.0) / 0.1])
        # the x error bars span pull -+ sigma-hat / sigma_0
        segments = container.lines[2][0].get_segments()
        assert np.allclose([s[1][0] - s[0][0] for s in segments], 2 * np.array([0.9, 0.5, 0.05 / 0.1]))


def test_plot_ranking_orders_by_impact_and_shows_pulls(tmp_path: Path) -> None:
    result = _impacts()
    fig = plot_ranking(result, tmp_path / "ranking.pdf")
    _written(tmp_path / "ranking.pdf", PDF)
    ax, top = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "gamma_c", "a"]
    widths = [b.get_width() for b in ax.patches]
    n = len(result.impacts)
    expected = [[getattr(i, a) for i in result.impacts] for a in ("prefit_up", "prefit_down", "postfit_up",
                                                                   "postfit_down")]
    assert widths == pytest.approx([w for row in expected for w in row])
    # largest at the top: the bars' y decrease along the ranking
    ys = [b.get_y() for b in ax.patches[:n]]
    assert ys == sorted(ys, reverse=True)
    assert np.allclose(top.containers[0].lines[0].get_xdata(), [-1.1, 0.2, 0.4])  # pulls, in ranking order
    assert len(plot_ranking(result, top=2, show_pulls=False).axes[0].patches) == 4 * 2


def _pyhf_spec() -> dict:
    return {
        "channels": [{"name": "sr", "samples": [
            {"name": "sig", "data": [3.0, 6.0, 2.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "bkg", "data": [20.0, 25.0, 15.0], "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}]}]}],
        "observations": [{"name": "sr", "data": [24.0, 33.0, 14.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}], "version": "1.0.0"}


def test_channel_yields_and_plot_data_vs_model_against_pyhf(tmp_path: Path) -> None:
    import pyhf

    import roonsbi

    spec = _pyhf_spec()
    model = roonsbi.from_pyhf(spec)
    best = roonsbi.fit(model)
    ch = channel_yields(model, "sr", best, prefit={"mu": 1.0})
    pmodel = pyhf.Workspace(spec).model()

    def pyhf_by_sample(values: dict) -> dict[str, np.ndarray]:
        pars = pmodel.config.suggested_init()
        for name, value in values.items():
            name = nuisance_of_alpha(name)  # roonsbi's alpha_X is pyhf's X
            if name in pmodel.config.parameters:
                pars[pmodel.config.par_slice(name)] = [value]
        by_sample = pmodel.main_model.expected_data(np.asarray(pars), return_by_sample=True)
        return {s: by_sample[i] for i, s in enumerate(pmodel.config.samples)}

    assert ch.data == pytest.approx([24.0, 33.0, 14.0])
    for ours, theirs in ((ch.postfit, pyhf_by_sample(best.values)), (ch.prefit, pyhf_by_sample({"mu": 1.0}))):
        assert set(ours) == set(theirs)
        for sample in ours:
            assert ours[sample] == pytest.approx(theirs[sample], rel=1e-9)

    other = ChannelYields("cr", [0.0, 1.0, 3.0], [50.0, 40.0], prefit={"bkg": np.array([48.0, 41.0])},
                          postfit={"bkg": np.array([49.0, 40.5])}, xlabel="m [GeV]")
    fig = plot_data_vs_model([ch, other], tmp_path / "dvm", formats=("png", "pdf"), label="ATLAS",
                             label_text="Internal")
    _written(tmp_path / "dvm.png", PNG)
    _written(tmp_path / "dvm.pdf", PDF)
    ax, rax = fig.axes[0], fig.axes[1]
    stairs = [p for p in ax.patches if type(p).__name__ == "StepPatch"]
    assert len(stairs) == len(ch.samples) + 1  # the stacked samples and the pre-fit total
    cumulative = np.cumsum([ch.postfit[s] for s in ch.samples], axis=0)
    for patch, top in zip(stairs, cumulative):
        assert np.allclose(patch.get_data().values, top)
    assert np.allclose(stairs[-1].get_data().values, sum(ch.prefit.values()))
    data_points = ax.containers[0].lines[0]
    assert np.allclose(data_points.get_ydata(), ch.data)
    assert np.allclose(rax.containers[0].lines[0].get_ydata(), ch.data / sum(ch.postfit.values()))
    assert _legend(ax) == [*(f"{s} (post-fit)" for s in ch.samples), "pre-fit total", "data"]
    assert fig.axes[3].get_xlabel() == "m [GeV]"
    with pytest.raises(ValueError, match=r"channel 'x': postfit 'b' has shape \(3,\), expected \(2,\)"):
        ChannelYields("x", [0, 1, 2], [1, 2], prefit={}, postfit={"b": np.ones(3)})
    with pytest.raises(KeyError, match=r"no channel 'cr' in the model \(channels: \['sr'\]\)"):
        channel_yields(model, "cr")


def _cls(mu: float, scale: float) -> float:
    return math.exp(-mu / scale)


def test_plot_limit_bands_fills_between_the_expected_bands(tmp_path: Path) -> None:
    scales = np.array([0.6, 0.8, 1.0, 1.3, 1.7])  # the expected CLs of the bands -2..+2 sigma
    mus = np.linspace(0.2, 5.0, 13)
    points = [CLsResult("mu", float(m), 0.0, 0.0, 0.0, 0.0, _cls(m, 1.1), np.exp(-m / scales)) for m in mus]
    limit = UpperLimit("mu", 0.95, 1.1 * math.log(20), 1.0 * math.log(20) * np.array([0.6, 0.8, 1, 1.3, 1.7]),
                       points[::-1])
    fig = plot_limit_bands(limit, tmp_path / "brazil.png")
    _written(tmp_path / "brazil.png", PNG)
    ax = fig.axes[0]
    assert _legend(ax) == ["observed", "expected", r"expected $\pm 1\sigma$", r"expected $\pm 2\sigma$",
                           r"$\mathrm{CL}_s$ = 0.05"]
    observed, median, cl_line = ax.get_lines()[:3]
    assert np.allclose(observed.get_xdata(), mus) and np.allclose(observed.get_ydata(), np.exp(-mus / 1.1))
    assert np.allclose(median.get_ydata(), np.exp(-mus / 1.0))
    assert cl_line.get_ydata()[0] == pytest.approx(0.05)
    one, two = (c for c in ax.collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection"))
    for band, (lo, hi) in ((one, (0.8, 1.3)), (two, (0.6, 1.7))):
        v = band.get_paths()[0].vertices
        inside = (v[:, 0] > mus[0] + 1e-9) & (v[:, 0] < mus[-1] - 1e-9)
        lower = np.interp(v[inside, 0], mus, np.exp(-mus / lo))
        upper = np.interp(v[inside, 0], mus, np.exp(-mus / hi))
        assert np.all(np.isclose(v[inside, 1], lower) | np.isclose(v[inside, 1], upper))
        assert np.isclose(v[inside, 1], lower).any() and np.isclose(v[inside, 1], upper).any()
    # the limits as vertical lines: observed and expected median
    verticals = [line.get_xdata()[0] for line in ax.get_lines()[3:]]
    assert verticals == pytest.approx([limit.observed, limit.median])
    blinded = plot_limit_bands(points, show_observed=False, logy=True)
    assert len(blinded.axes[0].get_lines()) == 2 and blinded.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="at least 2 points"):
        plot_limit_bands(points[:1])
