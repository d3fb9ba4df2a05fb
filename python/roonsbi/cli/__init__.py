"""The ``roonsbi`` command line (:func:`main`): ``roonsbi demo``, ``roonsbi evaluate``, ``--libdir``/``--incdir``."""

from .main import main

__all__ = ["main"]
