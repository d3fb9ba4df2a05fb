"""roonsbi.plot.figure.write_figure, through which every plot is written: the format from the
suffix, no overwrite without overwrite=True, and a failed savefig keeps the old file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from roonsbi.plot import plot_scan
from roonsbi.plot.figure import pyplot, write_figure


def _figure():
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return plt, fig


def test_write_figure_format_refusal_and_overwrite(tmp_path: Path) -> None:
    plt, fig = _figure()
    png = write_figure(fig, tmp_path / "a.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = write_figure(fig, tmp_path / "a.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    # no suffix: matplotlib's default format, its suffix appended (as Figure.savefig does)
    assert write_figure(fig, tmp_path / "b") == tmp_path / "b.png"
    before = png.read_bytes()
    with pytest.raises(FileExistsError, match=r"a\.png exists; pass overwrite=True"):
        write_figure(fig, png)
    assert png.read_bytes() == before
    fig.set_size_inches(3, 3)
    write_figure(fig, png, overwrite=True)
    assert png.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png", "b.png"]
    plt.close(fig)


def test_a_failed_savefig_keeps_the_old_plot_and_closes_the_figure(tmp_path: Path, monkeypatch) -> None:
    plt, fig = _figure()
    path = write_figure(fig, tmp_path / "scan.png")
    before = path.read_bytes()
    real = fig.savefig

    def half_savefig(fname, **kwargs):
        real(fname, **kwargs)
        with open(fname, "r+b") as f:
            f.truncate(Path(fname).stat().st_size // 2)
        raise OSError("simulated: no space left on device")

    monkeypatch.setattr(fig, "savefig", half_savefig)
    with pytest.raises(OSError, match="no space left"):
        write_figure(fig, path, overwrite=True, close=True)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["scan.png"]
    assert fig.number not in plt.get_fignums()


def test_plots_refuse_to_overwrite(tmp_path: Path) -> None:
    """A plot function writes only with overwrite=True onto an existing file, and leaves no pyplot figure open."""
    grid = np.linspace(0.0, 2.0, 11)
    scans = {"exact likelihood": (grid, (grid - 1.0) ** 2 / 0.25)}
    path = tmp_path / "scan_mu.png"
    path.write_bytes(b"user plot")
    n_open = len(pyplot().get_fignums())
    with pytest.raises(FileExistsError, match="scan_mu.png exists"):
        plot_scan(scans, path)
    assert path.read_bytes() == b"user plot" and len(pyplot().get_fignums()) == n_open
    plot_scan(scans, path, overwrite=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(pyplot().get_fignums()) == n_open
