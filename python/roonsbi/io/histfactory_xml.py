"""HistFactory XML configurations, read as ROOT's ConfigParser reads them, built with HistFactory.

The PyPI ROOT wheel's HistFactory has no XML parser (ConfigParser needs libxml2) and no
hist2workspace: the XML is read here, following ROOT's ConfigParser element by element,
and the workspace is built with the HistFactory classes in a subprocess (their Python
objects are not reliable at interpreter teardown), as MakeCombinedModel does, by
:func:`roonsbi.io.histfactory_build.build_histfactory_workspace` (the plain description of
:func:`read_histfactory_xml` is its input format).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Sequence

from ..models.workspace import read_workspace
from .histfactory_build import build_histfactory_workspace

__all__ = ["from_histfactory_xml", "histfactory_tutorial", "read_histfactory_xml"]

_TRUE_FALSE = {"True": True, "true": True, "False": False, "false": False}


def _bool(value: str, where: str) -> bool:
    if value not in _TRUE_FALSE:
        raise ValueError(f"HistFactory XML: {where} expects True or False, got '{value}'")
    return _TRUE_FALSE[value]


def _attributes(node: ET.Element, allowed: Sequence[str], where: str) -> dict[str, str]:
    unknown = sorted(set(node.attrib) - set(allowed))
    if unknown:
        raise ValueError(f"HistFactory XML: unknown attribute(s) {unknown} of <{node.tag}> in {where} "
                         f"(known: {list(allowed)})")
    return dict(node.attrib)


def _text_items(node: ET.Element, where: str) -> list[str]:
    items = (node.text or "").split()
    if not items:
        raise ValueError(f"HistFactory XML: <{node.tag}> in {where} has no text")
    return items


def _read_xml(path: Path) -> ET.Element:
    if not path.is_file():
        raise FileNotFoundError(f"HistFactory XML: no file {path}")
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"HistFactory XML: cannot parse {path}: {err}") from None


def _measurement(node: ET.Element, where: str) -> dict:
    # Mode (deprecated) and ExportOnly (whether hist2workspace also fits) do not change the workspace
    a = _attributes(node, ("Name", "Lumi", "LumiRelErr", "BinLow", "BinHigh", "Mode", "ExportOnly"), where)
    if "ExportOnly" in a:
        _bool(a["ExportOnly"], "Measurement ExportOnly")
    m: dict[str, Any] = {
        "name": a.get("Name", ""), "lumi": float(a.get("Lumi", 1.0)), "lumi_rel_err": float(a.get("LumiRelErr", 0.1)),
        "bin_low": int(a.get("BinLow", 0)), "bin_high": int(a.get("BinHigh", 1)),
        "pois": [], "constant": [], "values": {}, "constraints": []}
    for child in node:
        if child.tag == "POI":
            m["pois"] += _text_items(child, where)
        elif child.tag == "ParamSetting":
            p = _attributes(child, ("Const", "Val"), where)
            names = _text_items(child, where)
            if p.get("Const") == "True":
                m["constant"] += names
            if "Val" in p:
                m["values"].update(dict.fromkeys(names, float(p["Val"])))
        elif child.tag == "ConstraintTerm":
            c = _attributes(child, ("Type", "RelativeUncertainty"), where)
            kind = c.get("Type", "")
            if kind not in ("Gamma", "Uniform", "LogNormal", "NoConstraint"):
                raise ValueError(f"HistFactory XML: unknown ConstraintTerm Type '{kind}' in {where}")
            rel = float(c.get("RelativeUncertainty", 0.0))
            m["constraints"] += [[kind, n, rel] for n in _text_items(child, where)]
        else:
            raise ValueError(f"HistFactory XML: <{child.tag}> in the Measurement of {where} is not supported")
    return m


def _channel(path: Path) -> dict:
    where = str(path)
    root = _read_xml(path)
    if root.tag != "Channel":
        raise ValueError(f"HistFactory XML: {path} is a <{root.tag}>, not a <Channel>")
    a = _attributes(root, ("Name", "InputFile", "HistoPath", "HistoName"), where)
    if not a.get("Name"):
        raise ValueError(f"HistFactory XML: the Channel in {path} has no Name")
    ch: dict[str, Any] = {"name": a["Name"], "input_file": a.get("InputFile", ""), "histo_path": a.get("HistoPath", ""),
          "data": None, "stat_config": None, "samples": []}
    for node in root:
        file, hpath = ch["input_file"], ch["histo_path"]  # channel-wide defaults
        if node.tag == "Data":
            d = _attributes(node, ("InputFile", "HistoName", "HistoPath"), where)
            if ch["data"] is not None:
                raise ValueError(f"HistFactory XML: additional <Data> in {path} is not supported")
            if not d.get("HistoName"):
                raise ValueError(f"HistFactory XML: <Data> in {path} has no HistoName")
            ch["data"] = [d["HistoName"], d.get("InputFile", file), d.get("HistoPath", hpath)]
        elif node.tag == "StatErrorConfig":
            c = _attributes(node, ("RelErrorThreshold", "ConstraintType"), where)
            kind = {"Gaussian": "Gaussian", "Gauss": "Gaussian", "Poisson": "Poisson", "Pois": "Poisson"}.get(
                c.get("ConstraintType", "Poisson"))
            if kind is None:
                raise ValueError(f"HistFactory XML: unknown StatErrorConfig ConstraintType in {path}")
            ch["stat_config"] = [float(c.get("RelErrorThreshold", 0.05)), kind]
        elif node.tag == "Sample":
            ch["samples"].append(_sample(node, file, hpath, where))
        else:
            raise ValueError(f"HistFactory XML: <{node.tag}> in the Channel of {path} is not supported")
    if ch["data"] is None:
        raise ValueError(f"HistFactory XML: the Channel in {path} has no <Data>")
    return ch


def _sample(node: ET.Element, file: str, hpath: str, where: str) -> dict:
    a = _attributes(node, ("Name", "InputFile", "HistoName", "HistoPath", "NormalizeByTheory"), where)
    file, hpath = a.get("InputFile", file), a.get("HistoPath", hpath)
    s: dict[str, Any] = {"name": a.get("Name", ""), "histo": [a.get("HistoName", ""), file, hpath],
         "normalize_by_theory": _bool(a["NormalizeByTheory"], "Sample NormalizeByTheory")
         if "NormalizeByTheory" in a else True, "modifiers": []}
    if not s["name"] or not a.get("HistoName") or not file:
        raise ValueError(f"HistFactory XML: a Sample in {where} needs Name, HistoName and an InputFile")
    for child in node:
        kind, c = child.tag, None
        if kind == "NormFactor":
            c = _attributes(child, ("Name", "Val", "Low", "High"), where)
            val, low, high = float(c.get("Val", 1.0)), float(c.get("Low", 1.0)), float(c.get("High", 1.0))
            if not low < high or not low <= val <= high:
                raise ValueError(f"HistFactory XML: NormFactor '{c.get('Name')}' in {where} needs Low < High and Val "
                                 f"in [Low, High], got Val={val}, Low={low}, High={high}")
            s["modifiers"].append([kind, c["Name"], val, low, high])
        elif kind == "OverallSys":
            c = _attributes(child, ("Name", "High", "Low"), where)
            s["modifiers"].append([kind, c["Name"], float(c.get("Low", 0.0)), float(c.get("High", 0.0))])
        elif kind == "HistoSys":
            c = _attributes(child, ("Name", "HistoNameLow", "HistoFileLow", "HistoPathLow", "HistoNameHigh",
                                    "HistoFileHigh", "HistoPathHigh"), where)
            if not (c.get("HistoNameLow") and c.get("HistoNameHigh")):
                raise ValueError(f"HistFactory XML: HistoSys '{c.get('Name')}' in {where} needs HistoNameLow/High")
            s["modifiers"].append([kind, c["Name"], c["HistoNameLow"], c.get("HistoFileLow", file),
                                   c.get("HistoPathLow", hpath), c["HistoNameHigh"], c.get("HistoFileHigh", file),
                                   c.get("HistoPathHigh", hpath)])
        elif kind == "ShapeSys":
            c = _attributes(child, ("Name", "HistoName", "HistoPath", "InputFile", "ConstraintType"), where)
            ctype = {"Gaussian": "Gaussian", "Gauss": "Gaussian", "Poisson": "Poisson", "Pois": "Poisson"}.get(
                c.get("ConstraintType", "Gaussian"))
            if ctype is None or not c.get("HistoName"):
                raise ValueError(f"HistFactory XML: ShapeSys '{c.get('Name')}' in {where} needs a HistoName and a "
                                 "Gaussian or Poisson ConstraintType")
            s["modifiers"].append([kind, c["Name"], ctype, c["HistoName"], c.get("InputFile", file),
                                   c.get("HistoPath", hpath)])
        elif kind == "ShapeFactor":
            c = _attributes(child, ("Name", "Const"), where)
            s["modifiers"].append([kind, c["Name"], _bool(c.get("Const", "False"), "ShapeFactor Const")])
        elif kind == "StatError":
            c = _attributes(child, ("Activate", "HistoName", "HistoPath", "InputFile"), where)
            if _bool(c.get("Activate", "False"), "StatError Activate"):
                histo = c.get("HistoName", "")
                s["modifiers"].append([kind, histo, c.get("InputFile", file) if histo else "",
                                       c.get("HistoPath", hpath) if histo else ""])
        else:
            raise ValueError(f"HistFactory XML: <{kind}> in Sample '{s['name']}' of {where} is not supported")
        if c is not None and kind != "StatError" and not c.get("Name"):
            raise ValueError(f"HistFactory XML: a {kind} in Sample '{s['name']}' of {where} has no Name")
    return s


def read_histfactory_xml(xml_path: str | os.PathLike, measurement: str | None = None,
                         base_dir: str | os.PathLike | None = None) -> dict:
    """The measurement and channels of a HistFactory XML configuration as plain data, read as
    ROOT's ConfigParser reads them (same elements, attributes and defaults). A relative
    ``xml_path`` and the paths in the XML are relative to ``base_dir`` (default: the current
    directory, as hist2workspace resolves them)."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    xml_path = Path(xml_path)
    root = _read_xml(base / xml_path)  # an absolute xml_path stays as it is
    if root.tag != "Combination":
        raise ValueError(f"HistFactory XML: {xml_path} is a <{root.tag}>, not a top-level <Combination>")
    _attributes(root, ("OutputFilePrefix",), str(xml_path))
    inputs, measurements = [], []
    for node in root:
        if node.tag == "Input":
            inputs += _text_items(node, str(xml_path))
        elif node.tag == "Measurement":
            measurements.append(_measurement(node, str(xml_path)))
        else:
            raise ValueError(f"HistFactory XML: <{node.tag}> in {xml_path} is not supported")
    if not inputs:
        raise ValueError(f"HistFactory XML: {xml_path} lists no <Input> channel files")
    names = [m["name"] for m in measurements]
    if measurement is None:
        if len(measurements) != 1:
            raise ValueError(f"HistFactory XML: {xml_path} has the measurements {names}; pass measurement=<name>")
        chosen = measurements[0]
    elif measurement in names:
        chosen = measurements[names.index(measurement)]
    else:
        raise ValueError(f"HistFactory XML: no measurement '{measurement}' in {xml_path} (it has {names})")
    channels = [_channel(base / i) for i in inputs]
    return {"measurement": chosen, "channels": channels, "base_dir": str(base.resolve())}


def from_histfactory_xml(xml_path: str | os.PathLike, measurement: str | None = None,
                         base_dir: str | os.PathLike | None = None) -> Any:
    """The RooWorkspace ``combined`` that hist2workspace makes of a HistFactory XML
    configuration (top-level measurement XML, its channel XMLs and ROOT files with the
    histograms): ``simPdf``, ``obsData``, ``ModelConfig``, ready for :func:`combine`.

    ``measurement`` names one of the XML's measurements (needed if it has several); a
    relative ``xml_path`` and the paths in the XML are resolved from ``base_dir`` (default:
    the current directory, as for hist2workspace). Elements ROOT's ConfigParser knows but roonsbi does
    not read (Function, Asimov, additional Data) are errors, never ignored. Nothing is
    written outside a temporary directory."""
    spec = read_histfactory_xml(xml_path, measurement, base_dir)
    with tempfile.TemporaryDirectory(prefix="roonsbi_hf_") as tmp:
        out = build_histfactory_workspace(spec, Path(tmp) / "histfactory.root", what=str(xml_path))
        return read_workspace(out, "combined")[0]


def histfactory_tutorial(folder: str | os.PathLike) -> Path:
    """Set up ROOT's HistFactory tutorial in ``folder`` (created) as its ``prepareHistFactory`` does:
    ``config/example.xml``, ``config/example_channel.xml``, the other examples in
    ``config/examples/`` and the DTD from the ROOT installation, and the histogram file
    ``data/example.root`` made by the tutorial's own ``makeExample.C`` (in a subprocess). Returns
    ``folder``; then ``from_histfactory_xml(folder / "config/example.xml", "GaussExample",
    base_dir=folder)`` is the tutorial's model (POI ``SigXsecOverSM`` in [0, 3]).

    Raises:
        FileNotFoundError: the ROOT installation has no HistFactory tutorial files.
        RuntimeError: makeExample.C failed (with the end of its error output).
    """
    from ..library import load

    ROOT = load()
    base = Path(folder)
    tutorials = Path(str(ROOT.gROOT.GetTutorialDir())) / "roofit" / "histfactory"
    etc = Path(str(ROOT.gROOT.GetEtcDir()))
    if not (tutorials / "example.xml").exists():
        raise FileNotFoundError(f"ROOT's HistFactory tutorial files are not installed (no {tutorials / 'example.xml'})")
    (base / "config" / "examples").mkdir(parents=True, exist_ok=True)
    (base / "data").mkdir(exist_ok=True)
    for src in (tutorials / "example.xml", tutorials / "example_channel.xml", etc / "HistFactorySchema.dtd"):
        shutil.copy(src, base / "config" / src.name)
    for src in [*tutorials.glob("example_*.xml"), etc / "HistFactorySchema.dtd"]:
        shutil.copy(src, base / "config" / "examples" / src.name)
    script = (f"import ROOT; ROOT.gROOT.SetBatch(True); ROOT.gROOT.ProcessLine('.L {tutorials / 'makeExample.C'}'); "
              "ROOT.makeExample()")
    proc = subprocess.run([sys.executable, "-c", script], cwd=base / "data", capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0 or not (base / "data" / "example.root").exists():
        raise RuntimeError(f"ROOT's makeExample.C failed in {base / 'data'}: {proc.stderr[-2000:]}")
    return base
