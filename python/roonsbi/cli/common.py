"""What every model verb of the command line shares: the options ``--json``, ``--quiet``,
``--verbose``, ``--progress-every``, ``--overwrite``; RooFit's INFO messages and ROOT's "alpha stage"
warning silenced; Python warnings as one line each; user errors as one line naming the file or
argument (exit status 2, no traceback); and the output, as text or as JSON on stdout.

A verb is a :class:`Verb`: its name, help, a function adding its arguments and a function
``run(args, out) -> payload`` returning the JSON-able result (``out`` prints a text line: to
stdout, to stderr with ``--json``, nowhere with ``--quiet``). :func:`register` adds verbs to the ``roonsbi`` parser.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..atomic import OVERWRITE_HINT

__all__ = ["CLI_WORDS", "USER_ERRORS", "Verb", "add_common", "as_json", "cli_words", "parse_assignments", "register",
           "silence_root_import"]

#: The Python API's words in error messages -> the command line's.
CLI_WORDS = {OVERWRITE_HINT: "--overwrite", "overwrite=True": "--overwrite", "bracket=(lo, hi)": "--bracket LO HI",
             "pass poi=": "pass --poi", "mu_signal = ": "--mu-signal ", "workspace=": "--workspace "}

def cli_words(message: str) -> str:
    """``message`` with the Python API's words replaced by the command line's (:data:`CLI_WORDS`).

    >>> cli_words("x.root exists; pass overwrite=True (on the command line: --overwrite) to replace it")
    'x.root exists; pass --overwrite to replace it'
    """
    for python, cli in CLI_WORDS.items():
        message = message.replace(python, cli)
    return message


#: The exceptions that are the user's (a bad file, argument or model; a fit that fails on it): one line, exit
#: status 2. Others (a bug) keep their traceback.
USER_ERRORS = (ValueError, KeyError, OSError, TypeError, ImportError, RuntimeError)


@dataclass(frozen=True)
class Verb:
    """One command: ``roonsbi <name> ...``."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Callable[[str], None]], Any]
    description: str | None = None


def silence_root_import() -> None:
    """Ignore ROOT's "alpha stage" UserWarning of the PyPI wheel (printed when ROOT is imported)."""
    warnings.filterwarnings("ignore", message=r"[\s\S]*alpha stage", category=UserWarning)  # starts with "\n"


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options every model verb has."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout (the numbers of "
                        "the Python API); text and progress go to stderr or nowhere")
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="print only the result (and warnings, errors)")
    loud.add_argument("-v", "--verbose", action="store_true", help="also RooFit's INFO messages and Minuit's output")
    parser.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS",
                        help="when stderr is not a terminal: one progress line every SECONDS of a long step "
                        "(default 10; on a terminal: a progress bar)")


def parse_assignments(items: Sequence[str] | None, option: str, number: bool = True) -> dict[str, Any]:
    """``["a=1", "b=2"]`` -> ``{"a": 1.0, "b": 2.0}`` (strings with ``number=False``); ValueError
    naming ``option`` and the first bad item."""
    out: dict[str, Any] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"{option} takes NAME=VALUE, got '{item}'")
        if number:
            try:
                out[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"{option} {item}: '{value}' is not a number") from None
        else:
            out[name.strip()] = value.strip()
    return out


def as_json(value: Any) -> Any:
    """``value`` with numpy arrays and scalars as lists and floats, non-finite floats as None
    (JSON has no NaN), tuple keys as "i,j"."""
    import numpy as np

    if isinstance(value, dict):
        return {(",".join(map(str, k)) if isinstance(k, tuple) else str(k)): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return as_json(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _quiet_root(verbose: bool, quiet: bool) -> None:
    """RooFit's messages below WARNING (ERROR with ``quiet``) silenced unless ``verbose``."""
    import ROOT

    ROOT.gROOT.SetBatch(True)
    if not verbose:
        ROOT.RooMsgService.instance().setGlobalKillBelow(ROOT.RooFit.ERROR if quiet else ROOT.RooFit.WARNING)


def _one_line_warnings(verb: str) -> None:
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        print(f"roonsbi {verb}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    silence_root_import()


def _command(verb: Verb) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        _one_line_warnings(verb.name)
        from ..infer.progress import report_lines

        report_lines(None if args.quiet else args.progress_every)

        def out(line: str) -> None:  # with --json, stdout holds the JSON alone
            if not args.quiet:
                print(line, file=sys.stderr if args.json else sys.stdout)

        try:
            _quiet_root(args.verbose, args.quiet)
            payload = verb.run(args, out)
        except USER_ERRORS as err:
            # a KeyError's str() is the repr of its message (quoted): the message itself
            text = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str) \
                else str(err)
            message = cli_words(text.strip())
            print(f"roonsbi {verb.name}: error: {message}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(as_json(payload), indent=2, sort_keys=True))
        return 0

    return command


def register(sub: Any, verbs: Sequence[Verb]) -> None:
    """Add ``verbs`` to the subparsers ``sub`` of ``roonsbi`` (``args.handler`` runs the verb)."""
    for verb in verbs:
        parser = sub.add_parser(verb.name, help=verb.help,
                                description=verb.description or verb.help.replace("%%", "%"))
        verb.arguments(parser)
        add_common(parser)
        parser.set_defaults(handler=_command(verb))
