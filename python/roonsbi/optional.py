"""Optional dependencies: import them on first use, with an error that says what to install.

roonsbi's core needs only numpy (and ROOT for the RooFit models). Reading ROOT files (uproot),
evaluating networks (onnxruntime), training them (scikit-learn, skl2onnx, onnx), progress bars
(tqdm) and plots (matplotlib, mplhep) are imported where they are used, through :func:`optional_module`
or the :func:`optional_modules` block, so that a missing package fails with

    ImportError: roonsbi: reading ROOT files needs uproot, which does not import (...);
    install it with `pip install 'roonsbi[io]'`

rather than with a bare ``No module named 'uproot'`` from deep inside roonsbi.

>>> numpy = optional_module("numpy", "the tests")
>>> with optional_modules("the tests"):
...     import json
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

__all__ = ["INSTALL", "install_hint", "optional_module", "optional_modules"]

#: top-level module -> what to install for it
INSTALL = {
    "uproot": "pip install 'roonsbi[io]'",
    "onnxruntime": "pip install 'roonsbi[io]'",
    "tomli": "pip install 'roonsbi[io]'",
    "jsonschema": "pip install 'roonsbi[io]'",
    "onnx": "pip install 'roonsbi[train]'",
    "sklearn": "pip install 'roonsbi[train]'",
    "skl2onnx": "pip install 'roonsbi[train]'",
    "threadpoolctl": "pip install 'roonsbi[train]'",
    "matplotlib": "pip install matplotlib",
    "mplhep": "pip install mplhep",
    "tqdm": "pip install tqdm",
    "dask": "pip install 'roonsbi[dask]'",
    "distributed": "pip install 'roonsbi[dask]'",
    "dask_jobqueue": "pip install dask-jobqueue",
    "iminuit": "pip install 'roonsbi[dask]'",
}


def install_hint(module: str) -> str:
    """The command that installs the top-level package of ``module`` (``sklearn.pipeline`` -> scikit-learn's extra)."""
    top = module.split(".")[0]
    return INSTALL.get(top, f"pip install {top}")


def _error(module: str, feature: str, err: ImportError) -> ImportError:
    top = module.split(".")[0]
    return ImportError(
        f"roonsbi: {feature} needs {top}, which does not import ({err}); install it with `{install_hint(top)}`"
    )


def optional_module(name: str, feature: str) -> ModuleType:
    """Import and return the module ``name``, needed by ``feature`` (a phrase: "reading ROOT files").

    Raises:
        ImportError: the module does not import; the message names ``feature``, the package and
            the command that installs it (:data:`INSTALL`).
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise _error(name, feature, err) from err


@contextmanager
def optional_modules(feature: str) -> Iterator[None]:
    """A block of imports needed by ``feature``: an ImportError inside it is re-raised naming the
    feature, the missing package and what to install (as :func:`optional_module`)."""
    try:
        yield
    except ImportError as err:
        raise _error(err.name or "a package", feature, err) from err
