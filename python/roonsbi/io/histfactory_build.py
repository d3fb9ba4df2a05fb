r"""Build a HistFactory workspace from one plain JSON description, in a subprocess.

``python -m roonsbi.io.histfactory_build <spec.json> <out.root> [--overwrite]`` builds the workspace
``combined`` (``simPdf``, ``obsData``, ``asimovData``, ``ModelConfig``) with ROOT's
HistFactory classes, as ``hist2workspace`` does (``MakeCombinedModel``), and writes it to
``out.root`` (an existing file only with ``--overwrite``; atomically, :mod:`roonsbi.atomic`: the
TFile is written under a temporary name and renamed when complete).
:func:`build_histfactory_workspace` runs it: HistFactory's Python objects are not
reliable at PyROOT teardown (they keep raw pointers to the histograms), so the build never
runs in the calling process, and the subprocess leaves with ``os._exit``.

**The spec** is what :func:`roonsbi.io.histfactory_xml.read_histfactory_xml` returns::

    {"measurement": {"name", "lumi", "lumi_rel_err", "bin_low", "bin_high",
                     "pois": [...], "constant": [...], "values": {name: value},
                     "constraints": [[type, name, rel_uncertainty], ...]},
     "channels": [{"name", "input_file", "histo_path", "data": HISTO, "stat_config": null | [threshold, type],
                   "edges": [...] (only for inline histograms),
                   "samples": [{"name", "histo": HISTO, "normalize_by_theory": bool,
                                "modifiers": [MODIFIER, ...]}]}],
     "base_dir": folder the file names are relative to (optional)}

with the modifiers, as in ConfigParser's order of arguments,
``["NormFactor", name, val, low, high]``, ``["OverallSys", name, low, high]``,
``["HistoSys", name, HISTO_LOW, HISTO_HIGH]``, ``["ShapeSys", name, "Gaussian" | "Poisson", histo, file, path]``,
``["ShapeFactor", name, const]`` and ``["StatError", histo, file, path]`` (empty ``histo``: the
sample's own MC errors). A histogram ``HISTO`` is a reference ``[histo_name, input_file, histo_path]``
to a histogram in a ROOT file (the XML form; a HistoSys then has the six entries
``low_name, low_file, low_path, high_name, high_file, high_path``), or, as an extension of the XML
format, **inline**: ``{"contents": [n_1, ..., n_B]}``, bin contents in the channel's ``"edges"``
(B+1 increasing numbers; equally spaced edges make a fixed-width histogram, as
``TH1D(name, name, B, low, high)``). A spec uses one form throughout (HistFactory's
``CollectHistograms`` reads the file references of all channels at once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

from ..atomic import atomic_path, refuse_existing

__all__ = ["EXIT_EXISTS", "EXIT_NOT_WRITTEN", "EXIT_WRITTEN", "build_histfactory_workspace", "main",
           "uses_inline_histograms"]


def _is_inline(histo: Any) -> bool:
    return isinstance(histo, Mapping)


def _histograms(spec: Mapping[str, Any]) -> list[Any]:
    """All histogram entries (references or inline) of a spec."""
    out = []
    for c in spec["channels"]:
        out.append(c["data"])
        for s in c["samples"]:
            out.append(s["histo"])
            out += [h for mod in s["modifiers"] if mod[0] == "HistoSys" and len(mod) == 4 for h in mod[2:]]
    return out


def uses_inline_histograms(spec: Mapping[str, Any]) -> bool:
    """Whether the histograms of ``spec`` are inline bin contents (else ROOT-file references);
    ValueError if the spec mixes both."""
    inline = [_is_inline(h) for h in _histograms(spec)]
    if any(inline) and not all(inline):
        raise ValueError("HistFactory spec: the histograms are partly inline ({'contents': [...]}) and partly "
                         "file references ([name, file, path]); use one form throughout")
    return bool(inline) and all(inline)


def _check_inline(spec: Mapping[str, Any]) -> None:
    for c in spec["channels"]:
        edges = c.get("edges")
        if not edges or len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"HistFactory spec: channel '{c['name']}' has inline histograms and needs 'edges', "
                             f"at least 2 increasing numbers, got {edges}")
        for s in c["samples"]:
            for mod in s["modifiers"]:
                if mod[0] in ("ShapeSys", "StatError") and mod[1 if mod[0] == "StatError" else 3]:
                    raise ValueError(f"HistFactory spec: {mod[0]} '{mod[1]}' of sample '{s['name']}' in channel "
                                     f"'{c['name']}' reads a histogram from a file; with inline histograms it is "
                                     "not supported")
        bins = len(edges) - 1
        named = [("data", c["data"])] + [(s["name"], s["histo"]) for s in c["samples"]]
        for name, histo in named:
            if len(histo["contents"]) != bins:
                raise ValueError(f"HistFactory spec: histogram of '{name}' in channel '{c['name']}' has "
                                 f"{len(histo['contents'])} bins, the edges {bins}")


# ---------------------------------------------------------------------------------------
# The build (runs in the subprocess)
# ---------------------------------------------------------------------------------------
class _Builder:
    """HistFactory objects of a spec; keeps every histogram and object alive until the workspace is written."""

    def __init__(self, ROOT: Any) -> None:
        self.ROOT = ROOT
        self.HF = ROOT.RooStats.HistFactory
        self.keep: list[Any] = []
        self.constraint = {"Gaussian": self.HF.Constraint.Gaussian, "Poisson": self.HF.Constraint.Poisson}

    def hist(self, name: str, contents: list[float], edges: list[float]) -> Any:
        """A TH1D of bin contents in ``edges`` (fixed-width if the edges are equally spaced)."""
        n = len(edges) - 1
        width = (edges[-1] - edges[0]) / n
        if all(abs(b - a - width) <= 1e-9 * width for a, b in zip(edges, edges[1:])):
            h = self.ROOT.TH1D(name, name, n, edges[0], edges[-1])
        else:
            import array

            h = self.ROOT.TH1D(name, name, n, array.array("d", edges))
        for i, v in enumerate(contents):
            h.SetBinContent(i + 1, v)
        self.keep.append(h)
        return h

    def measurement(self, m: Mapping[str, Any]) -> Any:
        meas = self.HF.Measurement(m["name"], m["name"])
        for poi in m["pois"]:
            meas.AddPOI(poi)
        meas.SetLumi(m["lumi"])
        meas.SetLumiRelErr(m["lumi_rel_err"])
        meas.SetBinLow(m["bin_low"])
        meas.SetBinHigh(m["bin_high"])
        for name in m["constant"]:
            meas.AddConstantParam(name)
        for name, value in m["values"].items():
            meas.SetParamValue(name, value)
        for kind, name, rel in m["constraints"]:
            if kind == "Gamma" and rel != 0:
                meas.AddGammaSyst(name, rel)
            elif kind == "Uniform" and rel != 0:
                meas.AddUniformSyst(name)
            elif kind == "LogNormal" and rel != 0:
                meas.AddLogNormSyst(name, rel)
            elif kind == "NoConstraint":
                meas.AddNoSyst(name)
        return meas

    def channel(self, c: Mapping[str, Any]) -> Any:
        chan = self.HF.Channel(c["name"], c["input_file"])
        chan.SetHistoPath(c["histo_path"])
        edges = c.get("edges") or []
        if _is_inline(c["data"]):
            chan.SetData(self.hist("data", c["data"]["contents"], edges))
        else:
            chan.SetData(*c["data"])
        if c["stat_config"]:
            chan.SetStatErrorConfig(c["stat_config"][0], self.constraint[c["stat_config"][1]])
        for s in c["samples"]:
            chan.AddSample(self.sample(s, c["name"], edges))
        self.keep.append(chan)
        return chan

    def sample(self, s: Mapping[str, Any], channel: str, edges: list[float]) -> Any:
        if _is_inline(s["histo"]):
            sample = self.HF.Sample(s["name"])
            sample.SetHisto(self.hist(s["name"], s["histo"]["contents"], edges))
        else:
            sample = self.HF.Sample(s["name"], *s["histo"])
        self.keep.append(sample)
        sample.SetNormalizeByTheory(s["normalize_by_theory"])
        sample.SetChannelName(channel)
        for mod in s["modifiers"]:
            self.modifier(sample, s["name"], mod, edges)
        return sample

    def modifier(self, sample: Any, name: str, mod: list[Any], edges: list[float]) -> None:
        kind, args = mod[0], mod[1:]
        if kind == "NormFactor":
            sample.AddNormFactor(*args)
        elif kind == "OverallSys":
            sample.AddOverallSys(*args)
        elif kind == "HistoSys" and len(args) == 3:  # inline low and high histograms
            hs = self.HF.HistoSys()
            hs.SetName(args[0])
            hs.SetHistoLow(self.hist(f"{name}_{args[0]}_lo", args[1]["contents"], edges))
            hs.SetHistoHigh(self.hist(f"{name}_{args[0]}_hi", args[2]["contents"], edges))
            self.keep.append(hs)
            sample.AddHistoSys(hs)
        elif kind == "HistoSys":
            sample.AddHistoSys(*args)
        elif kind == "ShapeSys":
            sample.AddShapeSys(args[0], self.constraint[args[1]], *args[2:])
        elif kind == "ShapeFactor":
            factor = self.HF.ShapeFactor()
            factor.SetName(args[0])
            factor.SetConstant(args[1])
            self.keep.append(factor)
            sample.GetShapeFactorList().push_back(factor)
        elif kind == "StatError":
            if args[0]:
                sample.ActivateStatError(*args)
            else:
                sample.ActivateStatError()
        else:
            raise ValueError(f"HistFactory spec: unknown modifier '{kind}' of sample '{name}'")


def _build(spec: Mapping[str, Any], out: str) -> tuple[bool, _Builder]:
    """Build and write the workspace (in this process: only for the subprocess of :func:`main`).
    Returns whether it was written and the builder, which holds every HistFactory object: they must
    stay alive until ``os._exit`` (freeing them crashes)."""
    import ROOT

    ROOT.gROOT.SetBatch(True)
    ROOT.TH1.AddDirectory(False)
    inline = uses_inline_histograms(spec)
    if spec.get("base_dir"):
        os.chdir(spec["base_dir"])
    builder = _Builder(ROOT)
    meas = builder.measurement(spec["measurement"])
    for c in spec["channels"]:
        meas.AddChannel(builder.channel(c))
    if not inline:
        meas.CollectHistograms()
    ws = builder.HF.HistoToWorkspaceFactoryFast.MakeCombinedModel(meas)
    builder.keep += [meas, ws]
    return bool(ws.writeToFile(out, True)), builder


#: exit codes of :func:`main`: the workspace was written / writing it failed / the output exists
EXIT_WRITTEN, EXIT_NOT_WRITTEN, EXIT_EXISTS = 0, 3, 4


def main(argv: list[str] | None = None) -> None:
    """``python -m roonsbi.io.histfactory_build <spec.json> <out.root> [--overwrite]``; leaves with
    ``os._exit`` (exit code 0 when the workspace is written, 3 when writing failed, 4 when
    ``out.root`` exists and ``--overwrite`` was not given)."""
    args = sys.argv[1:] if argv is None else list(argv)
    overwrite = "--overwrite" in args
    args = [a for a in args if a != "--overwrite"]
    if len(args) != 2:
        sys.exit("usage: python -m roonsbi.io.histfactory_build <spec.json> <out.root> [--overwrite]")
    spec = json.loads(Path(args[0]).read_text())
    out = Path(args[1]).resolve()  # before _build changes to the spec's base_dir
    code, _builder = EXIT_WRITTEN, None  # _builder: every HistFactory object, alive until os._exit
    try:
        with atomic_path(out, overwrite) as tmp:
            ok, _builder = _build(spec, str(tmp))
            if not ok:
                raise OSError(f"ROOT could not write the workspace to {out}")
    except FileExistsError as err:
        print(f"roonsbi.io.histfactory_build: error: {err}", file=sys.stderr)
        code = EXIT_EXISTS
    except OSError as err:
        print(f"roonsbi.io.histfactory_build: error: {err}", file=sys.stderr)
        code = EXIT_NOT_WRITTEN
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# ---------------------------------------------------------------------------------------
# The caller's side
# ---------------------------------------------------------------------------------------
def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines()
            if "ERROR" in line or "Error:" in line or "Error" in line.split(":")[0]]


def build_histfactory_workspace(spec: Mapping[str, Any], path: str | os.PathLike, what: str = "the spec",
                                overwrite: bool = False) -> Path:
    """Build the HistFactory workspace ``combined`` of ``spec`` (see the module doc) in a
    subprocess and write it to ``path`` (atomically; an existing file only with ``overwrite``);
    returns ``path``.

    Raises:
        FileExistsError: ``path`` exists and not ``overwrite``.
        ValueError: the spec mixes inline and file histograms or has bad inline histograms, or
            HistFactory failed (the message quotes its last error lines; ``what`` names the input).
    """
    if uses_inline_histograms(spec):
        _check_inline(spec)
    path = refuse_existing(Path(path).resolve(), overwrite)
    python_dir = str(Path(__file__).resolve().parents[2])  # the folder holding the roonsbi package
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (python_dir, env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="roonsbi_hf_") as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run([sys.executable, "-m", "roonsbi.io.histfactory_build", str(spec_path), str(path),
                               *(["--overwrite"] if overwrite else [])],
                              capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode == EXIT_EXISTS:  # path appeared after the check above
        raise FileExistsError(proc.stderr.strip().splitlines()[-1])
    if proc.returncode != 0 or not path.exists():
        lines = _error_lines(proc.stdout + proc.stderr)
        raise ValueError(f"HistFactory could not build the workspace of {what}: "
                         + ("; ".join(lines[-5:]) or proc.stderr[-1500:] or proc.stdout[-1500:]))
    return path


if __name__ == "__main__":
    main()
