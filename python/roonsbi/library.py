"""The compiled RooNSBI library: where it is, loading it into ROOT on first use, and its errors.

Nothing here imports ROOT at import time, so ``roonsbi --libdir`` works without it. Modules that
use RooFit call :func:`load` (which imports ROOT, loads ``libRooNSBI`` and returns the ``ROOT``
module) and wrap calls into roonsbi's C++ in :func:`cpp_errors`, which turns the C++
``std::invalid_argument`` (how the C++ reports bad input) into :class:`ValueError` and lets every
other exception through unchanged. :func:`nll_macro` writes a plain ROOT macro that reads a saved
workspace's NLL in a process that finds the library by itself (:func:`environment`).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

__all__ = ["INCDIR", "LIBDIR", "LIBRARY", "cpp_errors", "environment", "load", "macro_nll", "nll_macro",
           "shell_environment"]

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


def nll_macro(name: str, path: str | os.PathLike[str], workspace: str, values: Mapping[str, float]) -> str:
    """The text of a ROOT macro ``name()`` that uses nothing of roonsbi but its library, which ROOT
    finds by itself (:func:`environment`): it reads the RooWorkspace ``workspace`` from the ROOT file
    ``path``, sets the variables ``values`` and prints ``NLL <value>`` (17 digits; :func:`macro_nll`
    reads it) of the ModelConfig's pdf on ``obsData``: ``createNLL`` extended, with the global
    observables of the ModelConfig, no offset (the NLL of roonsbi's ``model.nll``).

    >>> nll_macro("read", "ws.root", "ws_nsbi", {"mu": 1.5}).splitlines()[2:4]
    ['  auto *ws = TFile::Open("ws.root")->Get<RooWorkspace>("ws_nsbi");', '  ws->var("mu")->setVal(1.5);']
    """
    sets = "".join(f'ws->var("{k}")->setVal({float(v)!r});' for k, v in values.items())
    return (f"void {name}() {{\n"
            "  RooMsgService::instance().setGlobalKillBelow(RooFit::WARNING);\n"
            f'  auto *ws = TFile::Open("{path}")->Get<RooWorkspace>("{workspace}");\n'
            f"  {sets}\n"
            '  auto *mc = static_cast<RooStats::ModelConfig *>(ws->obj("ModelConfig"));\n'
            '  std::unique_ptr<RooAbsReal> nll{mc->GetPdf()->createNLL(*ws->data("obsData"), RooFit::Extended(true),\n'
            '      RooFit::GlobalObservables(*mc->GetGlobalObservables()), RooFit::Offset("none"))};\n'
            '  printf("NLL %.17g\\n", nll->getVal());\n'
            "}\n")


def macro_nll(output: str) -> float | None:
    """The value that a macro of :func:`nll_macro` printed in ``output`` (the standard output of its
    ROOT process); None if it printed none.

    >>> macro_nll("Processing read.C...\\nNLL 12.5\\n")
    12.5
    """
    line = next((x for x in output.splitlines() if x.startswith("NLL ")), None)
    return float(line.split()[1]) if line is not None else None


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
