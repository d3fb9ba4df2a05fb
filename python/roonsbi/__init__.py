"""roonsbi: neural simulation-based inference (NSBI) in RooFit."""

from __future__ import annotations

from ._library import INCDIR, LIBDIR, LIBRARY, load_library

load_library()

__version__ = "0.1.0"
__all__ = ["INCDIR", "LIBDIR", "LIBRARY", "load_library"]
