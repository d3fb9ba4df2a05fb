"""Shared test set-up: ``tests/`` importable (``reference``, ``support``), ROOT in batch mode and
RooFit quiet below warnings for the tests that use it."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config: pytest.Config) -> None:
    try:
        import ROOT
    except ImportError:  # the ROOT-free layers are tested without it too
        return
    import roonsbi.library

    roonsbi.library.load()
    ROOT.gROOT.SetBatch(True)
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(20261123)
