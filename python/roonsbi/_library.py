"""Locate and load the compiled RooNSBI library into ROOT."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
LIBDIR = _HERE / "lib"
INCDIR = _HERE / "include"
LIBRARY = LIBDIR / ("libRooNSBI.dylib" if sys.platform == "darwin" else "libRooNSBI.so")

_loaded = False


def load_library() -> None:
    """Load libRooNSBI (classes, dictionary, rootmap) into the running ROOT.

    Also adds the installed headers to the interpreter's include path, so that
    the classes can be used from interpreted C++ (``ROOT.gInterpreter``, macros).
    """
    global _loaded
    if _loaded:
        return
    import ROOT

    if not LIBRARY.exists():
        raise ImportError(
            f"roonsbi: the compiled library {LIBRARY} is missing; reinstall the package "
            "(pip install .) so that CMake builds it"
        )
    ROOT.gInterpreter.AddIncludePath(str(INCDIR))
    if ROOT.gSystem.Load(str(LIBRARY)) < 0:
        raise ImportError(f"roonsbi: ROOT could not load {LIBRARY}")
    _loaded = True
