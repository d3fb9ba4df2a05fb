"""The spec checks of roonsbi.io.histfactory_build (before any subprocess runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roonsbi.demo.control_region import CR_EDGES, control_region_data, control_region_spec
from roonsbi.demo.run import demo_toy
from roonsbi.io.histfactory_build import build_histfactory_workspace, uses_inline_histograms


def _spec() -> dict:
    return control_region_spec(demo_toy(), 1.0, np.random.default_rng(5))


def test_control_region_spec_is_inline() -> None:
    spec = _spec()
    assert uses_inline_histograms(spec)
    edges, data = control_region_data(spec)
    assert edges == CR_EDGES.tolist() and len(data) == len(edges) - 1


def test_mixed_histogram_forms_are_refused(tmp_path: Path) -> None:
    spec = _spec()
    spec["channels"][0]["data"] = ["data", "file.root", ""]
    with pytest.raises(ValueError, match="partly inline"):
        build_histfactory_workspace(spec, tmp_path / "ws.root")


def test_inline_histograms_need_matching_edges(tmp_path: Path) -> None:
    spec = _spec()
    spec["channels"][0]["samples"][0]["histo"]["contents"].append(1.0)
    with pytest.raises(ValueError, match="histogram of 'bkg_cr' in channel 'cr' has 15 bins, the edges 14"):
        build_histfactory_workspace(spec, tmp_path / "ws.root")
    del spec["channels"][0]["edges"]
    with pytest.raises(ValueError, match="channel 'cr' has inline histograms and needs 'edges'"):
        build_histfactory_workspace(spec, tmp_path / "ws.root")


def test_an_existing_file_needs_overwrite_and_a_failed_build_keeps_it(tmp_path: Path) -> None:
    """The workspace file is refused before the subprocess starts; with overwrite, a build that fails
    in the subprocess leaves the old file and no temporary, and one that succeeds replaces it."""
    path = tmp_path / "ws.root"
    path.write_bytes(b"user file")
    with pytest.raises(FileExistsError, match=r"ws\.root exists; pass overwrite=True"):
        build_histfactory_workspace(_spec(), path)
    bad = _spec()
    bad["channels"][0]["samples"][0]["modifiers"].append(["NoSuchModifier", "x"])
    with pytest.raises(ValueError, match="unknown modifier 'NoSuchModifier'"):
        build_histfactory_workspace(bad, path, overwrite=True)
    assert path.read_bytes() == b"user file" and sorted(p.name for p in tmp_path.iterdir()) == ["ws.root"]
    assert build_histfactory_workspace(_spec(), path, overwrite=True) == path
    assert path.read_bytes()[:4] == b"root" and sorted(p.name for p in tmp_path.iterdir()) == ["ws.root"]
