"""``roonsbi toys``: a coverage study of the asymptotic interval with toys (:func:`roonsbi.infer.toys.coverage`).

    roonsbi toys nsbi.root --truth mu=1 --n-toys 1000 --seed 1 --workers 4 --results toys/ --json
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from .cluster import add_study_arguments, executor_of, open_model, parse_values
from .common import Verb

__all__ = ["VERB"]


def _arguments(p: argparse.ArgumentParser) -> None:
    add_study_arguments(p)
    p.add_argument("--truth", default="", help="NAME=VALUE,... the parameters of the toys (default: the saved values)")
    p.add_argument("--cl", type=float, default=0.6827, help="confidence level of the interval (default: 0.6827)")


def _run(args: argparse.Namespace, out: Callable[[str], None]) -> Any:
    from ..infer.toys import coverage

    truth = parse_values(args.truth, "--truth")
    with executor_of(args) as executor:
        model = open_model(args)
        result = coverage(model, args.poi, truth, n_toys=args.n_toys, seed=args.seed, cl=args.cl, executor=executor,
                          results=args.results, first_toy=args.first_toy, chunk_size=args.chunk_size,
                          model_file=args.model)
    out(f"coverage of the {args.cl:g} interval of {args.poi} at {result.value:g}: {result.coverage:.4f} +- "
        f"{result.error:.4f} ({result.t.size} toys)")
    return result.to_dict()


VERB = Verb("toys", "toys at the truth: t(mu_true) per toy and the coverage of the asymptotic interval", _arguments,
            _run, description="Generate toys at --truth (other parameters at their saved values, global observables "
            "drawn), fit t(mu_true) on each and report the coverage of the asymptotic interval {t < chi2 "
            "quantile(--cl)}. Runs in-process, on a local Dask cluster (--workers) or on a running one (--scheduler).")
