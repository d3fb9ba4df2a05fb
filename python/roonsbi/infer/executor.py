r"""Run the embarrassingly parallel loops of :mod:`roonsbi.infer` in-process, on a
``concurrent.futures`` executor or on a Dask cluster.

A loop (the toys of a Neyman construction, a coverage study or toy CLs, the fits of a scan or of
impacts) is a list of **work units**: small picklable records that name a saved model
(:class:`ModelSource`: a ROOT file and the model's kind), the parameters of the unit and, for a
toy, its seed. They hold no ROOT object. The worker that runs a unit opens the model file once per
process and keeps it (:func:`open_source`); before each unit it puts the model's variables back to
the state the unit carries (:func:`restore_state`: values, errors, constant flags), so a unit's
result depends on the unit only, not on the worker nor on what the worker ran before.

``executor`` is, everywhere in :mod:`roonsbi.infer`:

* ``None`` (default): in-process, in order, on the model in memory;
* a :class:`concurrent.futures.Executor` (e.g. ``ProcessPoolExecutor``);
* a ``dask.distributed.Client`` (a ``LocalCluster``, or an HTCondor/Slurm cluster of
  ``dask-jobqueue``): the units are Dask tasks.

Dask is imported only when a Client is used (``pip install 'roonsbi[dask]'``).

**Seeds.** Toy :math:`k` of point :math:`j` of a study with seed :math:`s` draws from
``numpy.random.SeedSequence(s, spawn_key=(j, k))``, which is the sequence
``SeedSequence(s).spawn(J)[j].spawn(K)[k]``: one independent stream per toy, so the toys are the
same whatever the number of workers and the order in which they finish.

>>> toy_seed(12345, (2, 7)).generate_state(2).tolist() == \
...     np.random.SeedSequence(12345).spawn(3)[2].spawn(8)[7].generate_state(2).tolist()
True
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import numpy as np

from ..models.protocol import FitModel
from ..optional import optional_module
from .state import ParameterState, model_variables

__all__ = ["MAX_OPEN", "ModelSource", "capture_state", "is_dask_client", "is_open", "local_client", "model_source",
           "open_source", "quiet_call", "restore_state", "run_units", "source_extra", "toy_seed"]

U = TypeVar("U")
R = TypeVar("R")

#: per process: the models opened from files (or registered in memory), by source
_OPEN: dict[ModelSource, Any] = {}

#: models opened from files kept per process (the oldest is dropped beyond: each study without
#: ``model_file=`` saves the model to a new temporary file)
MAX_OPEN = 4


@dataclass(frozen=True)
class ModelSource:
    """A saved model: ``path`` (a ROOT file written by the model's ``save``), ``kind`` (the class
    name: ``NSBIModel``, ``ParametrizedModel``, ``CombinedModel``) and ``workspace`` (None: the
    file's only one). An in-memory source (``path`` starting with ``memory:``) names a model
    registered in this process (the in-process default)."""

    path: str
    kind: str
    workspace: str | None = None

    @property
    def in_memory(self) -> bool:
        return self.path.startswith("memory:")


def _model_class(kind: str) -> Any:
    from ..models.combined import CombinedModel
    from ..models.parametrized import ParametrizedModel
    from ..models.unbinned import NSBIModel

    classes = {c.__name__: c for c in (NSBIModel, ParametrizedModel, CombinedModel)}
    if kind not in classes:
        raise ValueError(f"cannot open a model of kind {kind!r} on a worker (have {sorted(classes)})")
    return classes[kind]


def open_source(source: ModelSource) -> Any:
    """The model of ``source``, opened once per process and kept (the worker-side cache)."""
    model = _OPEN.get(source)
    if model is None:
        if source.in_memory:
            raise KeyError(f"no model registered in this process as {source.path}: an in-memory source runs "
                           "in-process only (pass model_file= or let roonsbi save the model for an executor)")
        from ..models.workspace import read_workspace

        model = _model_class(source.kind)(*read_workspace(source.path, source.workspace))
        files = [s for s in _OPEN if not s.in_memory]
        for old in files[:max(0, len(files) + 1 - MAX_OPEN)]:
            del _OPEN[old]
        _OPEN[source] = model
    return model


def is_open(source: ModelSource) -> bool:
    """Whether this process keeps the model of ``source`` (caches keyed by source drop theirs otherwise)."""
    return source in _OPEN


@contextmanager
def model_source(model: Any, executor: Any = None, model_file: str | os.PathLike | None = None,
                 extra: Any = None) -> Iterator[ModelSource]:
    """The source of ``model`` (a roonsbi model: a :class:`~roonsbi.models.workspace.WorkspaceModel`)
    for the units of one loop.

    In-process (``executor`` None, no ``model_file``): the model itself, registered under a
    ``memory:`` source for the duration of the block (``extra``, e.g. the ToyGenerator of a
    column-form model, is registered with it). With an executor: ``model_file`` (a file the
    model was saved to, on a file system the workers see), or else the model saved to a
    temporary folder for the duration of the block (enough for a local cluster; a cluster of
    other machines needs ``model_file`` on a shared file system)."""
    kind = type(model).__name__
    if executor is None and model_file is None:
        source = ModelSource(f"memory:{id(model)}", kind)
        _OPEN[source] = model
        if extra is not None:
            _OPEN[ModelSource(source.path + ":extra", kind)] = extra
        try:
            yield source
        finally:
            _OPEN.pop(source, None)
            _OPEN.pop(ModelSource(source.path + ":extra", kind), None)
        return
    if model_file is not None:
        path = Path(model_file)
        if not path.is_file():
            raise FileNotFoundError(f"model_file {path} does not exist: save the model there first (model.save(path))")
        yield ModelSource(str(path.resolve()), kind, model.workspace.GetName())
        return
    with tempfile.TemporaryDirectory(prefix="roonsbi-units-") as folder:
        path = Path(folder) / "model.root"
        model.save(path)
        yield ModelSource(str(path), kind, model.workspace.GetName())


def source_extra(source: ModelSource) -> Any:
    """What :func:`model_source` registered with an in-memory model (None otherwise)."""
    return _OPEN.get(ModelSource(source.path + ":extra", source.kind)) if source.in_memory else None


def capture_state(model: FitModel) -> dict[str, tuple[float, float, bool]]:
    """Name -> (value, error, constant) of the model's POIs, nuisance parameters, global
    observables (and mu'): the state a unit restores (:func:`restore_state`)."""
    return {name: (float(v.getVal()), float(v.getError()), bool(v.isConstant()))
            for name, v in model_variables(model).items()}


def restore_state(model: FitModel, state: Mapping[str, tuple[float, float, bool] | ParameterState]) -> None:
    """Put the variables of ``model`` back to ``state`` (:func:`capture_state`): Minuit's start
    values and step sizes (the errors) are then those of the unit, whatever ran before."""
    variables = model_variables(model)
    for name, saved in state.items():
        value, error, constant = (saved.value, saved.error, saved.constant) if isinstance(saved, ParameterState) \
            else saved
        var = variables[name]
        var.setVal(value)
        var.setError(error)
        var.setConstant(constant)


def toy_seed(entropy: int, key: Sequence[int]) -> np.random.SeedSequence:
    """The seed sequence of one toy: ``SeedSequence(entropy, spawn_key=key)`` (see the module doc)."""
    return np.random.SeedSequence(int(entropy), spawn_key=tuple(int(k) for k in key))


def is_dask_client(executor: Any) -> bool:
    """Whether ``executor`` is a ``dask.distributed.Client`` (checked without importing Dask)."""
    return type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "scheduler_info")


def quiet_call(function: Callable[[U], R], units: Sequence[U]) -> list[R]:
    """``function`` on each of ``units`` (one task) in a worker process, with RooFit's messages
    below WARNING silenced there (a fit prints a few INFO lines; thousands of toys would flood the
    workers' logs)."""
    from ..library import load

    ROOT = load()
    ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.WARNING)
    return [function(unit) for unit in units]


def _workers(executor: Any) -> int:
    if is_dask_client(executor):
        return max(1, len(executor.scheduler_info().get("workers", {})))
    return max(1, int(getattr(executor, "_max_workers", 1) or 1))


def run_units(function: Callable[[U], R], units: Sequence[U], executor: Any = None, *,
              batch: int | None = None) -> Iterator[tuple[int, R]]:
    """Run ``function`` on every unit; yields (index of the unit, result) as units finish (in order
    in-process). ``function`` must be a module-level function (workers import it by name). On an
    executor the units go in tasks of ``batch`` units (default: enough for about 8 tasks per
    worker, at most 16 units a task; a task's overhead is paid once per batch) through
    :func:`quiet_call`. An exception of a unit propagates (the remaining tasks are cancelled)."""
    if executor is None:
        for i, unit in enumerate(units):
            yield i, function(unit)
        return
    n = len(units)
    size = int(batch) if batch else min(16, max(1, -(-n // (8 * _workers(executor)))))
    starts = list(range(0, n, size))
    batches = [list(units[a:a + size]) for a in starts]
    if is_dask_client(executor):
        distributed = optional_module("distributed", "running roonsbi units on a Dask cluster")
        futures = executor.map(quiet_call, [function] * len(batches), batches, pure=False)
        first = {f.key: a for a, f in zip(starts, futures)}
        try:
            for future, results in distributed.as_completed(futures, with_results=True):
                for k, result in enumerate(results):
                    yield first[future.key] + k, result
        finally:
            executor.cancel(futures)
        return
    if not hasattr(executor, "submit"):
        raise TypeError(f"executor must be None, a concurrent.futures.Executor or a dask.distributed.Client, "
                        f"got {type(executor).__name__}")
    import concurrent.futures

    pending = {executor.submit(quiet_call, function, b): a for a, b in zip(starts, batches)}
    try:
        for future in concurrent.futures.as_completed(pending):
            for k, result in enumerate(future.result()):
                yield pending[future] + k, result
    finally:
        for future in pending:
            future.cancel()


@contextmanager
def local_client(n_workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``dask.distributed.Client``: connected to ``scheduler`` (an address such as
    ``tcp://host:8786``), or to a new ``LocalCluster`` of ``n_workers`` processes with one thread
    each (closed at the end of the block)."""
    distributed = optional_module("distributed", "running roonsbi on a Dask cluster")
    if scheduler is not None:
        with distributed.Client(scheduler) as client:
            yield client
        return
    n = int(n_workers or 1)
    if n < 1:
        raise ValueError(f"the number of workers must be >= 1, got {n_workers}")
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        yield client
