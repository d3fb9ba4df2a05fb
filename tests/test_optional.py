"""Optional dependencies (roonsbi.optional): with a package made unimportable
(``sys.modules[name] = None``), the feature that needs it raises ImportError naming the feature,
the package and what to install."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from roonsbi.optional import install_hint, optional_module, optional_modules


def hide(monkeypatch, *names: str) -> None:
    """Make the modules ``names`` (and the submodules already imported) unimportable."""
    for name in names:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.setitem(sys.modules, loaded, None)
        monkeypatch.setitem(sys.modules, name, None)


def test_optional_module_names_feature_package_and_extra(monkeypatch) -> None:
    hide(monkeypatch, "uproot")
    with pytest.raises(ImportError, match=r"roonsbi: reading things needs uproot.*`pip install 'roonsbi\[io\]'`"):
        optional_module("uproot", "reading things")
    assert optional_module("json", "anything").dumps([1]) == "[1]"


def test_optional_modules_block(monkeypatch) -> None:
    hide(monkeypatch, "sklearn")
    with pytest.raises(ImportError, match=r"training needs sklearn.*roonsbi\[train\]"), optional_modules("training"):
        from sklearn.pipeline import make_pipeline  # noqa: F401


@pytest.mark.parametrize("module, hint", [
    ("uproot", "pip install 'roonsbi[io]'"),
    ("onnxruntime", "pip install 'roonsbi[io]'"),
    ("onnx", "pip install 'roonsbi[train]'"),
    ("sklearn.neural_network", "pip install 'roonsbi[train]'"),
    ("skl2onnx", "pip install 'roonsbi[train]'"),
    ("matplotlib.figure", "pip install matplotlib"),
    ("tqdm.auto", "pip install tqdm"),
])
def test_install_hints(module, hint) -> None:
    assert install_hint(module) == hint


def test_read_events_without_uproot(monkeypatch, tmp_path) -> None:
    from roonsbi.inputs.events import read_events

    path = tmp_path / "events.root"
    path.write_bytes(b"")
    hide(monkeypatch, "uproot")
    with pytest.raises(ImportError, match=r"reading ROOT files needs uproot.*roonsbi\[io\]"):
        read_events(str(path), ["x"])


def test_read_columns_without_uproot(monkeypatch, tmp_path) -> None:
    from roonsbi.inputs.column_files import read_columns

    path = tmp_path / "columns.root"
    path.write_bytes(b"")
    hide(monkeypatch, "uproot")
    with pytest.raises(ImportError, match=r"reading ROOT files needs uproot.*roonsbi\[io\]"):
        read_columns(path)


def test_ratio_model_without_onnxruntime(monkeypatch, tmp_path) -> None:
    from roonsbi.inputs.columns import evaluate_columns
    from roonsbi.inputs.networks import RatioModel

    net = tmp_path / "net.onnx"
    net.write_bytes(b"")
    hide(monkeypatch, "onnxruntime")
    with pytest.raises(ImportError, match=r"evaluating ONNX networks needs onnxruntime.*roonsbi\[io\]"):
        evaluate_columns({"x0": np.zeros(3)}, {"r_S": RatioModel(net)})


def test_set_feature_names_without_onnx(monkeypatch, tmp_path) -> None:
    from roonsbi.inputs.networks import set_feature_names

    hide(monkeypatch, "onnx")
    with pytest.raises(ImportError, match=r"needs onnx.*roonsbi\[train\]"):
        set_feature_names(tmp_path / "net.onnx", ["x0"])


def test_training_without_sklearn(monkeypatch) -> None:
    from roonsbi.inputs.training import train_classifier

    hide(monkeypatch, "sklearn")
    with pytest.raises(ImportError, match=r"training ratio networks needs sklearn.*roonsbi\[train\]"):
        train_classifier({"a": np.zeros((2, 1)), "b": np.ones((2, 1))})


def test_progress_bar_without_tqdm(monkeypatch) -> None:
    from roonsbi.inputs.events import read_events

    hide(monkeypatch, "tqdm")
    with pytest.raises(ImportError, match=r"the progress bar needs tqdm.*pip install tqdm"):
        read_events({"x": np.zeros(3)}, ["x"])


def test_plots_without_matplotlib(monkeypatch) -> None:
    from roonsbi.inputs.diagnostics import normalisation_closure
    from roonsbi.plot.diagnostics import plot_closure

    report = normalisation_closure({"r_S": np.ones(4)})
    hide(monkeypatch, "matplotlib")
    with pytest.raises(ImportError, match=r"drawing roonsbi's plots needs matplotlib.*pip install matplotlib"):
        plot_closure(report, "closure.png")
