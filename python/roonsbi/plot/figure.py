"""The one way roonsbi's plots get matplotlib (``pyplot`` with the non-interactive Agg backend)
and are written to files (:func:`write_figure`: atomic, no overwrite without asking)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..optional import optional_module
from ..spec import PathLike

__all__ = ["pyplot", "write_figure"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the non-interactive Agg backend (files only, no display); a missing
    matplotlib is an ImportError saying what to install (:mod:`roonsbi.optional`)."""
    matplotlib = optional_module("matplotlib", "drawing roonsbi's plots")
    matplotlib.use("Agg")
    return optional_module("matplotlib.pyplot", "drawing roonsbi's plots")


def write_figure(fig: Any, path: PathLike, *, overwrite: bool = False, dpi: float = 120, close: bool = False) -> Path:
    """Save the matplotlib figure ``fig`` as ``path`` and return the file written.

    The format comes from the suffix of ``path``; without one it is matplotlib's default
    (``savefig.format``, PNG) and its suffix is appended, as ``Figure.savefig`` does. An existing
    file is replaced only with ``overwrite``; the file is written under a temporary name and
    renamed when complete (:mod:`roonsbi.atomic`). With ``close`` the figure is closed in
    pyplot afterwards, also when writing failed.
    """
    path = Path(path)
    try:
        matplotlib = optional_module("matplotlib", "drawing roonsbi's plots")
        fmt = path.suffix[1:].lower() or str(matplotlib.rcParams["savefig.format"])
        if not path.suffix:
            path = path.with_name(f"{path.name}.{fmt}")
        with atomic_path(path, overwrite) as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt)
    finally:
        if close:
            pyplot().close(fig)
    return path
