"""The verbs on model files: ``roonsbi inspect`` (what a model holds), ``combine`` (channels of
several files into one workspace) and ``export`` (pyhf JSON or HS3 JSON). Files are read with
:func:`roonsbi.io.open_model`; outputs are written atomically and replace a file only with
``--overwrite`` (:mod:`roonsbi.atomic`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from .common import Verb, parse_assignments

__all__ = ["VERBS"]

Out = Callable[[str], None]


def _bound(value: float | None) -> str:
    return "inf" if value is None else f"{value:g}"


# -- inspect ----------------------------------------------------------------------------------
def _inspect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file (ROOT, HS3 JSON, pyhf JSON, HistFactory XML)")
    parser.add_argument("--workspace", help="the workspace to read, if the ROOT file has several")


def _inspect(args: argparse.Namespace, out: Out) -> Any:
    from ..infer.progress import step
    from ..io.sources import open_model
    from ..models.summary import describe

    with step(f"reading {args.model}"):
        model = open_model(args.model, args.workspace)
    info = {"file": str(args.model), "kind": type(model).__name__, **describe(model)}
    out(f"{args.model}: {info['kind']} '{model.name}', {len(info['channels'])} channel(s)")
    for kind in ("pois", "nuisance_parameters"):
        out(f"{'POIs' if kind == 'pois' else 'nuisance parameters'} ({len(info[kind])}):")
        for name, p in info[kind].items():
            out(f"  {name} = {p['value']:.6g} in [{_bound(p['min'])}, {_bound(p['max'])}]"
                f"{' (constant)' if p['constant'] else ''}")
    for ch in info["channels"]:
        out(f"channel {ch['name']}: {ch['entries']} entries (sum of weights {ch['sum_weights']:.6g}), "
            f"expected {ch['expected']:.6g}")
        for proc, y in ch["processes"].items():
            out(f"  {proc}: {y:.6g}")
    return info


# -- combine ----------------------------------------------------------------------------------
def _combine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="model files to combine (ROOT, HS3 JSON, pyhf JSON, HistFactory XML)")
    parser.add_argument("-o", "--output", required=True, help="output file: .root (workspace) or .json (HS3)")
    parser.add_argument("--rename", action="append", metavar="OLD=NEW",
                        help="rename a parameter before correlating by name (repeatable), e.g. SigXsecOverSM=mu")
    parser.add_argument("--poi-range", nargs=2, type=float, metavar=("LO", "HI"),
                        help="range of the POI in the combination (default: the union of the channels' ranges "
                        "where they differ)")
    parser.add_argument("--name", default="combined", help="name of the combined workspace (default: combined)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _output_format(path: Path | str, formats: tuple[str, ...] = (".root", ".json")) -> None:
    """ValueError unless the output ``path`` ends in one of ``formats`` (.root: a ROOT workspace, .json: HS3)."""
    if Path(path).suffix not in formats:
        raise ValueError(f"-o/--output {path}: the file name must end in {' or '.join(formats)} (.root: a ROOT "
                         "workspace, .json: HS3 JSON), which sets the format")


def _write_workspace(model: Any, path: Path, overwrite: bool) -> None:
    """``model`` to a ROOT file or, for ``.json``, HS3 JSON (``RooNSBI::exportJSONtoString``)."""
    _output_format(path)
    if path.suffix == ".json":
        from ..atomic import refuse_existing, write_text
        from ..library import cpp_errors, load

        refuse_existing(path, overwrite)
        with cpp_errors():
            text = str(load().RooNSBI.exportJSONtoString(model.workspace, model.name))
        write_text(path, text, overwrite)
    else:
        model.save(path, overwrite=overwrite)


def _combine(args: argparse.Namespace, out: Out) -> Any:
    from ..atomic import refuse_existing
    from ..infer.progress import step
    from ..io.sources import open_model
    from ..models.combined import combine
    from ..models.summary import describe_parameter

    _output_format(args.output)  # before the work
    output = refuse_existing(args.output, args.overwrite)
    with step(f"reading {len(args.inputs)} files"):
        sources = [open_model(path) for path in args.inputs]
    rename = parse_assignments(args.rename, "--rename", number=False)
    comb = combine(sources, name=args.name, rename=rename, poi_range=tuple(args.poi_range) if args.poi_range else None)
    for note in comb.notes:
        out(f"note: {note}")
    _write_workspace(comb, output, args.overwrite)
    channels = [str(s.first) for s in comb.pdf.indexCat()]
    pois = {p.GetName(): describe_parameter(p) for p in comb.pois}
    out(f"wrote {output}: {len(channels)} channels ({', '.join(channels)}), POIs {sorted(pois)}, "
        f"{len(comb.nuisance_parameters)} nuisance parameters")
    return {"output": str(output), "channels": channels, "pois": pois,
            "nuisance_parameters": sorted(p.GetName() for p in comb.nuisance_parameters), "notes": comb.notes}


# -- export -----------------------------------------------------------------------------------
def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file (ROOT, HS3 JSON, pyhf JSON, HistFactory XML)")
    parser.add_argument("--to", required=True, choices=("pyhf", "hs3"), help="output format")
    parser.add_argument("-o", "--output", required=True, help="output JSON file")
    parser.add_argument("--workspace", help="the workspace to read, if the ROOT file has several")
    parser.add_argument("--channel", action="append", dest="channels", metavar="NAME",
                        help="pyhf: export only these channels (repeatable; default: all, which must be binned)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _export(args: argparse.Namespace, out: Out) -> Any:
    from ..atomic import refuse_existing
    from ..infer.progress import step
    from ..io.pyhf_json import to_pyhf, write_json
    from ..io.sources import open_model

    if args.to == "hs3":
        _output_format(args.output, (".json",))
    output = refuse_existing(args.output, args.overwrite)
    with step(f"reading {args.model}"):
        model = open_model(args.model, args.workspace)
    if args.to == "pyhf":
        spec = to_pyhf(model, channels=args.channels)
        write_json(output, spec, args.overwrite)
        channels = [c["name"] for c in spec["channels"]]
    else:
        if args.channels:
            raise ValueError("--channel selects pyhf channels; HS3 exports the whole model")
        _write_workspace(model, output, args.overwrite)
        channels = []
    out(f"wrote {output} ({args.to}{': ' + ', '.join(channels) if channels else ''})")
    return {"output": str(output), "format": args.to, "channels": channels}


VERBS = (
    Verb("inspect", "channels, POIs, nuisance parameters, processes, events and yields of a model file",
         _inspect_arguments, _inspect),
    Verb("combine", "combine model files into one workspace (parameters correlated by name)", _combine_arguments,
         _combine),
    Verb("export", "export a model file to pyhf JSON (binned channels) or HS3 JSON", _export_arguments, _export),
)
