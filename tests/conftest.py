"""Shared test set-up: ROOT in batch mode, RooFit quiet below warnings."""

import pytest

import roonsbi  # noqa: F401  (loads libRooNSBI into ROOT)
import ROOT

ROOT.gROOT.SetBatch(True)
ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(20261123)
