"""roonsbi: neural simulation-based inference (NSBI) in RooFit.

The facade: the names an analysis needs. ROOT and libRooNSBI load on first use of a name that
needs them (``build_model``, ``fit``, ...), not on ``import roonsbi``.

>>> import roonsbi
>>> sorted(roonsbi.__all__)[:3]
['NormSys', 'Process', 'ShapeSys']
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .spec import NormSys, Process, ShapeSys

__version__ = "0.1.0"

#: facade name -> the module that defines it (imported on first use)
_LAZY = {
    "build_model": "roonsbi.models.unbinned",
    "load_model": "roonsbi.models.unbinned",
    "build_parametrized_model": "roonsbi.models.parametrized",
    "combine": "roonsbi.models.combined",
    "fit": "roonsbi.infer.fit",
    "profile_scan": "roonsbi.infer.scan",
    "impacts": "roonsbi.infer.impacts",
    "to_pyhf": "roonsbi.io.pyhf",
    "from_pyhf": "roonsbi.io.pyhf",
}

__all__ = ["NormSys", "Process", "ShapeSys", "__version__", *_LAZY]

if TYPE_CHECKING:
    from .infer.fit import fit
    from .infer.impacts import impacts
    from .infer.scan import profile_scan
    from .io.pyhf import from_pyhf, to_pyhf
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
