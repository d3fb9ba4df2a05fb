"""``roonsbi cls-toys``: CLs from toys at given POI values (:func:`roonsbi.infer.limits.toy_cls`).

    roonsbi cls-toys nsbi.root --mu 1,1.5,2 --n-toys 2000 --seed 1 --workers 8 --json
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from .cluster import add_study_arguments, executor_of, open_model, parse_list
from .common import Verb

__all__ = ["VERB"]


def _arguments(p: argparse.ArgumentParser) -> None:
    add_study_arguments(p)
    p.add_argument("--mu", required=True, help="the tested POI values, comma-separated (each > 0)")
    p.add_argument("--n-toys-b", type=int, default=None, help="background-only toys per value (default: --n-toys)")


def _run(args: argparse.Namespace, out: Callable[[str], None]) -> Any:
    from ..infer.limits import toy_cls

    values = parse_list(args.mu, "--mu")
    with executor_of(args) as executor:
        model = open_model(args)
        results = toy_cls(model, values, n_toys=args.n_toys, n_toys_b=args.n_toys_b, seed=args.seed, poi=args.poi,
                          executor=executor, results=args.results, first_toy=args.first_toy,
                          chunk_size=args.chunk_size, model_file=args.model)
    for r in results:
        out(f"{args.poi} = {r.mu:g}: CLs = {r.cls:.4g} +- {r.cls_error:.2g} (CLs+b {r.clsb:.4g}, CLb {r.clb:.4g})")
    return [r.to_dict() for r in results]


VERB = Verb("cls-toys", "CLs = CLs+b / CLb from toys (q-mu tilde) at given POI values", _arguments, _run,
            description="At each --mu, toys under signal + background and under background only (nuisance "
            "parameters at their conditional fits to the observed data, global observables drawn) give the "
            "distributions of q-mu tilde; CLs+b and CLb are their tails above the observed value (RooStats' "
            "FrequentistCalculator, pyhf's ToyCalculator).")
