"""roonsbi: neural simulation-based inference (NSBI) in RooFit.

The facade: the names an analysis needs. ROOT and libRooNSBI load on first use of a name that
needs them (``build_model``, ``fit``, ...), not on ``import roonsbi``.

>>> import roonsbi
>>> sorted(roonsbi.__all__)[:3]
['NormSys', 'Process', 'ShapeSys']
"""

from __future__ import annotations

from importlib import import_module
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from .spec import NormSys, Process, ShapeSys

try:  # the version is pyproject.toml's (the C++ library gets the same one from CMake)
    __version__ = _metadata.version("roonsbi")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

#: facade name -> the module that defines it (imported on first use)
_LAZY = {
    "build_model": "roonsbi.models.unbinned",
    "load_model": "roonsbi.models.unbinned",
    "build_parametrized_model": "roonsbi.models.parametrized",
    "combine": "roonsbi.models.combined",
    "fit": "roonsbi.infer.fit",
    "profile_scan": "roonsbi.infer.scan",
    "impacts": "roonsbi.infer.impacts",
    "to_pyhf": "roonsbi.io.pyhf_json",
    "from_pyhf": "roonsbi.io.pyhf_json",
}

__all__ = [
    "NormSys",
    "Process",
    "ShapeSys",
    "__version__",
    "build_model",
    "build_parametrized_model",
    "combine",
    "fit",
    "from_pyhf",
    "impacts",
    "load_model",
    "profile_scan",
    "to_pyhf",
]

if TYPE_CHECKING:
    from .infer.fit import fit
    from .infer.impacts import impacts
    from .infer.scan import profile_scan
    from .io.pyhf_json import from_pyhf, to_pyhf
    from .models.combined import combine
    from .models.parametrized import build_parametrized_model
    from .models.unbinned import build_model, load_model


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'roonsbi' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
