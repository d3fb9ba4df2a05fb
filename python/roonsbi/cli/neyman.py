"""``roonsbi neyman``: a Neyman construction with toys (:func:`roonsbi.infer.toys.neyman_construction`).

    roonsbi neyman nsbi.root --grid 0.5,1,1.5,2 --n-toys 500 --seed 1 --scheduler tcp://host:8786 --json
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from .cluster import add_study_arguments, executor_of, open_model, parse_list
from .common import Verb

__all__ = ["VERB"]


def _arguments(p: argparse.ArgumentParser) -> None:
    add_study_arguments(p)
    p.add_argument("--grid", required=True, help="the tested POI values, comma-separated (e.g. 0.5,1,1.5)")
    p.add_argument("--cl", type=float, default=0.6827, help="confidence level (default: 0.6827)")


def _run(args: argparse.Namespace, out: Callable[[str], None]) -> Any:
    from ..infer.toys import neyman_construction

    grid = parse_list(args.grid, "--grid")
    with executor_of(args) as executor:
        model = open_model(args)
        belt = neyman_construction(model, None, args.poi, grid, n_toys=args.n_toys, seed=args.seed, cl=args.cl,
                                   executor=executor, results=args.results, first_toy=args.first_toy,
                                   chunk_size=args.chunk_size, model_file=args.model)
    lo, hi = belt.interval()
    out(f"Neyman {belt.cl:g} interval of {belt.poi}: [{lo:.4g}, {hi:.4g}]")
    return {"poi": belt.poi, "cl": belt.cl, "values": belt.values.tolist(), "critical": belt.critical.tolist(),
            "critical_error": belt.critical_error.tolist(), "t_observed": belt.t_observed.tolist(),
            "interval": [lo, hi], "n_toys": [int(len(t)) for t in belt.toys]}


VERB = Verb("neyman", "Neyman construction of the POI's interval with toys", _arguments, _run,
            description="At each --grid value of the POI, toys at the conditional fit to the observed data give the "
            "--cl quantile of t(mu) (the critical value); the interval is where the observed t is below it. Runs "
            "in-process, on a local Dask cluster (--workers) or on a running one (--scheduler); --results makes it "
            "resumable.")
