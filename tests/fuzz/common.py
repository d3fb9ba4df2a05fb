"""Inputs and independent references shared by the fuzz cases (run inside the fuzz worker)."""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from harness import close

import reference
from roonsbi.spec import Process, ShapeSys

N = 12
RATIO = np.linspace(0.2, 1.2, N)
LO, HI = np.linspace(0.8, 0.95, N), np.linspace(1.05, 1.3, N)


def channel(n: int = N, **shapes: Any) -> list[Process]:
    """S (coefficient mu, optional shape systematics) and B (1, normsys lumi)."""
    return [
        Process("S", 10.0, RATIO[:n] if n <= N else np.linspace(0.2, 1.2, n), "mu", shapesys=shapes),
        Process("B", 40.0, np.ones(n), normsys={"lumi": (0.95, 1.05)}),
    ]


def ref_processes(n: int = N, shape: bool = False) -> list[reference.RefProcess]:
    """The reference of :func:`channel` (with the shape ``jes`` of code 5 if ``shape``)."""
    ratio = RATIO[:n] if n <= N else np.linspace(0.2, 1.2, n)
    s_shapes = {"jes": (LO[:n], HI[:n], 5)} if shape else {}
    return [
        reference.RefProcess(10.0, ratio, lambda p: p["mu"], shapesys=s_shapes),
        reference.RefProcess(40.0, np.ones(n), lambda p: 1.0, normsys={"lumi": (0.95, 1.05, 4)}),
    ]


def nll_matches(
    refs: Sequence[reference.RefProcess],
    pois: Mapping[str, float],
    alphas: Mapping[str, float],
    weights: np.ndarray | None = None,
    rtol: float = 1e-9,
) -> Callable[[float], str | None]:
    """A check: the value equals the numpy reference NLL (tests/reference.py) at the point."""
    ref = reference.nll(refs, pois, alphas, weights)
    return lambda value: close(float(value), ref, rtol=rtol, atol=1e-9, what="NLL")


def jes() -> ShapeSys:
    return ShapeSys(LO, HI)


def finite(value: float) -> str | None:
    return None if math.isfinite(value) else f"{value} is not finite"
