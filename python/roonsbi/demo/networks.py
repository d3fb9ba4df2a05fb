"""The demo's NSBI channel with learned ratios (``roonsbi demo --networks``): train, evaluate, build."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..inputs.columns import processes_from_columns
from ..inputs.diagnostics import normalisation_closure
from ..inputs.toy import COEFFICIENTS, OffShellToy
from ..inputs.training import TrainedRatios, train_toy_ratios
from ..models.unbinned import build_model
from ..spec import PathLike

__all__ = ["toy_network_model"]



def toy_network_model(toy: OffShellToy, x: np.ndarray, folder: PathLike, *, seed: int = 0, n_closure: int = 60_000,
                      name: str = "nsbi_networks", overwrite: bool = False,
                      step: Callable[[str], None] | None = None, **options: Any) -> tuple[Any, Any, TrainedRatios]:
    """The NSBI model of events ``x`` with learned ratios (no systematics), for ``roonsbi demo --networks``.

    Trains the network (:func:`train_toy_ratios`, written to ``folder/ratios.onnx``; an existing
    file is replaced only with ``overwrite``), evaluates the
    columns ``r_J`` of ``x`` with onnxruntime, builds the model and runs the normalisation closure
    on an independent reference sample of ``n_closure`` events.

    Returns:
        (model, closure report, trained network).
    """

    trained = train_toy_ratios(toy, Path(folder) / "ratios.onnx", seed=seed, overwrite=overwrite, **options)
    if step:
        step(f"trained the ratio network ({'x'.join(map(str, options.get('hidden', (32, 32))))} MLP, "
             f"{sum(trained.n_train.values())} events, {trained.seconds:.1f} s), exported it to {trained.path}; "
             f"normalisation calibration c_J = " + ", ".join(f"{p} {c:.4f}" for p, c in trained.calibration.items()))
    columns = trained.evaluate(x)
    procs = processes_from_columns(columns, yields=toy.basis_yields(), coefficients=COEFFICIENTS)
    model = build_model(procs, name=name)
    closure = normalisation_closure(trained.evaluate(trained.sample_reference(
        toy, n_closure, np.random.default_rng(seed + 7919))))
    return model, closure, trained
