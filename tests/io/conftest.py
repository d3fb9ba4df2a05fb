"""Fixtures of the pyhf JSON tests."""

from __future__ import annotations

from typing import Any

import pytest

from support import pnsbi_channel


@pytest.fixture(scope="module")
def pnsbi() -> Any:
    """The synthetic parametrized-NSBI channel (:func:`support.pnsbi_channel`), one per test module."""
    return pnsbi_channel()
