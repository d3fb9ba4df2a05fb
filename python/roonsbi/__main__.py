"""The ``roonsbi`` command line: ``roonsbi demo``, ``roonsbi --libdir``, ``roonsbi --incdir``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="roonsbi", description="NSBI in RooFit")
    parser.add_argument("--libdir", action="store_true", help="print the directory of libRooNSBI and exit")
    parser.add_argument("--incdir", action="store_true", help="print the include directory and exit")
    parser.add_argument("--library", action="store_true", help="print the path of libRooNSBI and exit")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="run the end-to-end NSBI demo on the analytic off-shell toy")
    demo.add_argument("--out", default="roonsbi-demo", help="output folder (default: roonsbi-demo)")
    demo.add_argument("--quick", action="store_true", help="coarser scans (for CI)")
    demo.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    if args.libdir or args.incdir or args.library:
        from ._library import INCDIR, LIBDIR, LIBRARY

        for flag, path in ((args.libdir, LIBDIR), (args.incdir, INCDIR), (args.library, LIBRARY)):
            if flag:
                print(path)
        return 0
    if args.command == "demo":
        from . import demo as demo_module

        demo_module.run(args.out, quick=args.quick, seed=args.seed)
        return 0
    parser.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
