"""The one way roonsbi's plots get matplotlib: ``pyplot`` with the non-interactive Agg backend."""

from __future__ import annotations

from typing import Any

from ..optional import optional_module

__all__ = ["pyplot"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the non-interactive Agg backend (files only, no display); a missing
    matplotlib is an ImportError saying what to install (:mod:`roonsbi.optional`)."""
    matplotlib = optional_module("matplotlib", "drawing roonsbi's plots")
    matplotlib.use("Agg")
    return optional_module("matplotlib.pyplot", "drawing roonsbi's plots")
