"""The compiled RooNSBI library: where it is, loading it into ROOT on first use, and its errors.

Nothing here imports ROOT at import time, so ``roonsbi --libdir`` works without it. Modules that
use RooFit call :func:`load` (which imports ROOT, loads ``libRooNSBI`` and returns the ``ROOT``
module) and wrap calls into roonsbi's C++ in :func:`cpp_errors`, which turns the C++
``std::invalid_argument`` (how the C++ reports bad input) into :class:`ValueError` and lets every
other exception through unchanged.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["INCDIR", "LIBDIR", "LIBRARY", "cpp_errors", "environment", "load", "shell_environment"]

_HERE = Path(__file__).resolve().parent
LIBDIR = _HERE / "lib"
INCDIR = _HERE / "include"
LIBRARY = LIBDIR / ("libRooNSBI.dylib" if sys.platform == "darwin" else "libRooNSBI.so")

_ROOT: Any = None

#: the search path of shared libraries, where ROOT also looks for rootmap files (autoloading)
_LIBRARY_PATH = "DYLD_LIBRARY_PATH" if sys.platform == "darwin" else "LD_LIBRARY_PATH"


def environment() -> dict[str, str]:
    """The environment variables (name -> folder to put first) with which any ROOT process finds
    roonsbi's classes by itself: the library folder on the library path (ROOT reads the rootmap there
    and loads libRooNSBI when a file or macro needs one of its classes) and the headers on
    ``ROOT_INCLUDE_PATH``.

    >>> sorted(environment().values()) == sorted([str(LIBDIR), str(INCDIR)])
    True
    """
    return {_LIBRARY_PATH: str(LIBDIR), "ROOT_INCLUDE_PATH": str(INCDIR)}


def shell_environment() -> str:
    """``export`` lines (POSIX shell) for :func:`environment`, keeping what the variables held:
    ``eval "$(roonsbi env)"``."""
    return "".join(f'export {name}="{folder}${{{name}:+:${name}}}"\n' for name, folder in environment().items())


def load() -> Any:
    """Load libRooNSBI (classes, dictionary, rootmap) into ROOT once; returns the ``ROOT`` module.

    Also adds the installed headers to the interpreter's include path, so that the classes can be
    used from interpreted C++ (``ROOT.gInterpreter``, macros).

    Raises:
        ImportError: ROOT is not installed, or the library is missing or does not load.
    """
    global _ROOT
    if _ROOT is not None:
        return _ROOT
    try:
        import ROOT
    except ImportError as err:
        raise ImportError(
            f"roonsbi: this part of roonsbi needs ROOT (PyROOT), which does not import ({err}); "
            "install it with `pip install ROOT`"
        ) from err
    if not LIBRARY.exists():
        raise ImportError(
            f"roonsbi: the compiled library {LIBRARY} is missing; reinstall the package "
            "(pip install .) so that CMake builds it"
        )
    ROOT.gInterpreter.AddIncludePath(str(INCDIR))
    if ROOT.gSystem.Load(str(LIBRARY)) < 0:
        raise ImportError(f"roonsbi: ROOT could not load {LIBRARY}")
    _ROOT = ROOT
    return ROOT


def _message(err: BaseException) -> str:
    what = getattr(err, "what", None)
    msg = what() if callable(what) else str(err)
    return msg.decode() if isinstance(msg, bytes) else str(msg)


def _overload_invalid_argument(err: TypeError) -> str | None:
    """The message of a ``std::invalid_argument`` that cppyy folded into the TypeError it raises when
    every overload of a call failed (its lines read ``<signature> =>`` / ``invalid_argument: <message>``)."""
    for line in str(err).splitlines():
        head, sep, message = line.strip().partition("invalid_argument: ")
        if sep and not head:
            return message
    return None


@contextmanager
def cpp_errors() -> Iterator[None]:
    """Translate the C++ ``std::invalid_argument`` raised inside the block into ValueError (its
    message unchanged); any other exception passes through as it is. For an overloaded C++
    function cppyy reports the failure of every overload as one TypeError: when one of them failed
    with ``std::invalid_argument``, that is the error translated.

    >>> import numpy as np
    >>> ROOT = load()
    >>> with cpp_errors():
    ...     ROOT.RooNSBIPdf.checkColumnValues("r_S", "ratio", np.array([1.0, -1.0]), 2, False)
    Traceback (most recent call last):
    ...
    ValueError: ratio column 'r_S' has 1 of 2 entries that are NaN, infinite or negative (first: entry 1 = -1)
    """
    ROOT = load()
    try:
        yield
    except ROOT.std.invalid_argument as err:
        raise ValueError(_message(err)) from None
    except TypeError as err:
        message = _overload_invalid_argument(err)
        if message is None:
            raise
        raise ValueError(message) from None
