"""The ``roonsbi`` command line: ``roonsbi demo``, ``roonsbi evaluate``, ``roonsbi --libdir``, ``roonsbi --incdir``."""

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
    demo.add_argument("--networks", action="store_true", help="also NSBI with ratios from a trained network "
                      "(scikit-learn -> ONNX -> onnxruntime; needs roonsbi[train])")
    ev = sub.add_parser(
        "evaluate",
        help="evaluate ONNX ratio networks on ROOT events into per-event columns (+ diagnostics)",
        description="Evaluate the ONNX networks of a TOML/JSON configuration on the events of ROOT files and "
        "write the per-event ratio columns (r_<proc>, g_<proc>_<np>_lo/_hi, <column>_std, weight) to a ROOT "
        "file, an .npz or a folder of .npy files. See roonsbi.pipeline for the configuration format.",
    )
    ev.add_argument("config", help="configuration file (.toml or .json)")
    ev.add_argument("-o", "--output", help="output file (.root, .npz or a folder); overrides [output] path")
    ev.add_argument("--dtype", choices=("float32", "float64"), help="column type (default: float32)")
    ev.add_argument("--chunk-size", type=int, help="entries per chunk (bounds the memory; default 100000)")
    ev.add_argument("--threads", type=int, help="onnxruntime threads per network (default: one per core)")
    ev.add_argument("--overwrite", action="store_true", help="replace an existing output")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.add_argument("--diagnostics", metavar="DIR", help="run the diagnostics on the evaluated (reference) "
                    "sample and write them to DIR; overrides [diagnostics] output")
    ev.add_argument("--formats", help="plot formats, comma-separated (default: png)")
    ev.add_argument("--strict", action="store_true", help="exit with status 1 when a diagnostic is flagged")
    args = parser.parse_args(argv)

    if args.libdir or args.incdir or args.library:
        from ..library import INCDIR, LIBDIR, LIBRARY

        for flag, path in ((args.libdir, LIBDIR), (args.incdir, INCDIR), (args.library, LIBRARY)):
            if flag:
                print(path)
        return 0
    if args.command == "demo":
        from ..demo.run import run

        run(args.out, quick=args.quick, seed=args.seed, networks=args.networks)
        return 0
    if args.command == "evaluate":
        from ..inputs.evaluate import run_evaluate

        try:
            summary = run_evaluate(
                args.config, output=args.output, dtype=args.dtype, chunk_size=args.chunk_size,
                overwrite=args.overwrite, progress=False if args.no_progress else None, threads=args.threads,
                diagnostics=args.diagnostics, formats=args.formats.split(",") if args.formats else None,
            )
        except (ValueError, KeyError, OSError, ImportError) as err:
            print(f"roonsbi evaluate: error: {err}", file=sys.stderr)
            return 2
        report = summary.get("diagnostics")
        if args.strict and report is not None and not report.passed:
            print("roonsbi evaluate: diagnostics flagged (see above)", file=sys.stderr)
            return 1
        return 0
    parser.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
