"""The ``roonsbi`` command line: one verb per stage on saved models (``inspect``, ``fit``, ``scan``,
``impacts``, ``limit``, ``significance``, ``combine``, ``export``: :mod:`.fits`, :mod:`.workspaces`,
sharing :mod:`.common`), the toy studies ``toys``, ``neyman``, ``cls-toys`` (:mod:`.cluster`), plus
``demo``, ``evaluate``, ``env`` and ``--libdir``.

A thin argparse shell: ROOT (and onnxruntime ...) is imported only when a command runs, so
``roonsbi --help`` and ``roonsbi --libdir`` work without it.
"""

from __future__ import annotations

import argparse
import sys

from . import cls_toys, evaluate, fits, neyman, toys, workspaces
from .common import cli_words, register, silence_root_import

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``roonsbi``."""
    top = argparse.ArgumentParser(prog="roonsbi", description="NSBI in RooFit. Every model verb takes a model file "
                                  "(ROOT, HS3 JSON, pyhf JSON, HistFactory XML), --json, --quiet and --verbose; "
                                  "see roonsbi VERB --help.")
    top.add_argument("--libdir", action="store_true", help="print the directory of libRooNSBI and exit")
    top.add_argument("--incdir", action="store_true", help="print the include directory and exit")
    top.add_argument("--library", action="store_true", help="print the path of libRooNSBI and exit")
    sub = top.add_subparsers(dest="command", metavar="VERB")
    register(sub, workspaces.VERBS[:1] + fits.VERBS + workspaces.VERBS[1:] + (toys.VERB, neyman.VERB, cls_toys.VERB))
    sub.add_parser("env", help="print the shell lines with which ROOT finds roonsbi by itself: "
                   'eval "$(roonsbi env)"',
                   description="Print export lines for LD_LIBRARY_PATH (libRooNSBI and its rootmap: ROOT then loads "
                   "the library when a file or macro needs a roonsbi class) and ROOT_INCLUDE_PATH (the headers). "
                   'Use: eval "$(roonsbi env)". Without them, opening a roonsbi workspace in a process that did not '
                   "load the library fails.")
    demo = sub.add_parser("demo", help="run the end-to-end NSBI demo on the analytic off-shell toy")
    demo.add_argument("--out", default="roonsbi-demo", help="output folder (default: roonsbi-demo)")
    demo.add_argument("--quick", action="store_true", help="coarser scans (for CI)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--networks", action="store_true", help="also NSBI with ratios from a trained network "
                      "(scikit-learn -> ONNX -> onnxruntime; needs roonsbi[train])")
    demo.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in --out")
    evaluate.add_arguments(sub.add_parser(
        "evaluate",
        help="evaluate ONNX ratio networks on ROOT events into per-event columns (+ diagnostics)",
        description="Evaluate the ONNX networks of a TOML/JSON configuration on the events of ROOT files and "
        "write the per-event ratio columns (r_<proc>, g_<proc>_<np>_lo/_hi, <column>_std, weight) to a ROOT "
        "file, an .npz or a folder of .npy files. See roonsbi.inputs.evaluate for the configuration format.",
    ))
    return top


def main(argv: list[str] | None = None) -> int:
    """Run ``roonsbi`` with the arguments ``argv`` (default: the command line); returns the exit status."""
    silence_root_import()
    top = parser()
    args = top.parse_args(argv)
    if args.libdir or args.incdir or args.library:
        from ..library import INCDIR, LIBDIR, LIBRARY

        for flag, path in ((args.libdir, LIBDIR), (args.incdir, INCDIR), (args.library, LIBRARY)):
            if flag:
                print(path)
        return 0
    if args.command == "env":
        from ..library import shell_environment

        print(shell_environment(), end="")
        return 0
    if args.command == "demo":
        from ..demo.run import run

        try:
            run(args.out, quick=args.quick, seed=args.seed, networks=args.networks, overwrite=args.overwrite)
        except FileExistsError as err:
            print(f"roonsbi demo: error: {cli_words(str(err))}", file=sys.stderr)
            return 2
        return 0
    if args.command == "evaluate":
        return evaluate.command(args)
    if getattr(args, "handler", None) is not None:
        return int(args.handler(args))
    top.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
