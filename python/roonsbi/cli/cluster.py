"""What the toy verbs (``roonsbi toys``, ``roonsbi neyman``, ``roonsbi cls-toys``) share: where the
toys run (``--workers N``: a local Dask cluster; ``--scheduler ADDRESS``: a running one; neither:
in-process), the seeded-study options and the model; the verbs themselves are :class:`~.common.Verb` objects
(``--json``, ``--quiet``, errors as one line: :mod:`.common`).

The model file is read by every worker (it must be on a file system they all see, e.g. the
shared file system of an HTCondor or Slurm cluster); toy results go to ``--results DIR`` (JSON-lines
chunks: a run with the same folder resumes, see :mod:`roonsbi.infer.records`).
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from .common import parse_assignments

__all__ = ["add_study_arguments", "executor_of", "open_model", "parse_list", "parse_values"]


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every toy verb takes."""
    parser.add_argument("model", help="a saved store-form NSBI channel with a reference pool (ROOT file)")
    parser.add_argument("--poi", default=None, help="the parameter of interest (default: the model's only one)")
    parser.add_argument("--n-toys", type=int, required=True, help="toys per tested value")
    parser.add_argument("--seed", type=int, required=True, help="the study's seed: toy k of point j uses "
                        "numpy.random.SeedSequence(seed, spawn_key=(j, k))")
    parser.add_argument("--first-toy", type=int, default=0, help="run toys FIRST .. FIRST + N - 1 (split a study "
                        "into jobs; merge their --results folders)")
    parser.add_argument("--results", default=None, metavar="DIR", help="write the toys to DIR in JSON-lines chunks; "
                        "a run with the same DIR resumes where it stopped")
    parser.add_argument("--chunk-size", type=int, default=100, help="toys per chunk file (default: 100)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run the toys on a local Dask cluster of N worker processes")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the toys on the Dask cluster of this scheduler (e.g. tcp://host:8786)")


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what C++ (Minuit, RooFit) and Python print to stdout to stderr for the block, so that
    stdout holds the JSON alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def executor_of(args: argparse.Namespace) -> Iterator[Any]:
    """None (in-process), or a Dask client of ``--workers``/``--scheduler``; with ``--json`` the
    block prints to stderr (stdout is for the JSON)."""
    with _stdout_to_stderr() if args.json else _nothing():
        if args.workers is None and args.scheduler is None:
            yield None
            return
        from ..infer.executor import local_client

        with local_client(args.workers, args.scheduler) as client:
            yield client


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def open_model(args: argparse.Namespace) -> Any:
    """The NSBI channel of ``args.model``; ``args.poi`` set to its only POI if not given (RooFit's messages
    are :mod:`.common`'s)."""
    from ..infer.fit import single_poi
    from ..models.unbinned import load_model

    model = load_model(args.model)
    args.poi = single_poi(model, args.poi, hint="pass --poi")
    return model


def parse_values(text: str, option: str) -> dict[str, float]:
    """``name=value,name=value`` as a dict (:func:`~.common.parse_assignments`); ValueError naming ``option``
    and the bad entry."""
    return parse_assignments([item.strip() for item in text.split(",") if item.strip()], option)


def parse_list(text: str, option: str) -> list[float]:
    """``1,1.5,2`` as a list of floats; ValueError naming ``option``."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option}: '{text}' is not a comma-separated list of numbers") from None
