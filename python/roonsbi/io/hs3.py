r"""HS3 JSON files of roonsbi models, with large per-event data in checked side files.

:func:`write_hs3` writes the HS3 document of ``RooNSBI::exportJSON`` (standard HS3 plus the
``roonsbi::`` plugin types; see the README section "HS3 JSON"). Unbinned data with more than
``inline_limit`` numbers (entries times axes, plus weights) would make a JSON file that editors and
JSON parsers handle badly (:data:`INLINE_LIMIT` = :math:`10^6` numbers, ~20 MB of text), so they go
to ``.npy`` side files next to the JSON (float64, C order), referenced by name and SHA-256:

.. code-block:: json

    {"type": "roonsbi::unbinned_npy", "name": "obsData_nsbi", "axes": [...],
     "entries_file": "model.obsData_nsbi.entries.npy", "entries_sha256": "...", "entries_shape": [n, d],
     "weights_file": "model.obsData_nsbi.weights.npy", "weights_sha256": "..."}

``axes`` are those of the HS3 unbinned data (numeric ranges); ``weights_*`` only for weighted data.
The event store of a store-form NSBI channel (``build_model``'s default) is the side file
``<stem>.<pdf>.store`` in ``RooNSBI::EventStore``'s own format (what ``EventStore::write`` writes and
``EventStore::open`` maps), referenced from its ``roonsbi::nsbi_dist`` as
``"store": {"file", "rows", "columns", "sha256"}``; ``RooNSBI::importJSON`` checks its rows and SHA-256.
:func:`read_hs3` checks every side file (its SHA-256 and shape; an error names the file) and imports
the document with ``RooNSBI::importJSON``, which reads the ``roonsbi::`` types and the per-mu' data of
parametrized channels (``misc.roonsbi.param_data_hists``). Files without side files are plain HS3:
``RooJSONFactoryWSTool`` reads them once libRooNSBI is loaded.

>>> import tempfile, numpy as np
>>> from roonsbi.inputs.toy import OffShellToy
>>> from roonsbi.models.unbinned import build_model
>>> toy = OffShellToy()
>>> model = build_model(toy.processes(toy.generate(1.0, np.random.default_rng(1))[:200]), form="columns")
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = write_hs3(model, f"{tmp}/nsbi.json", label="nsbi", inline_limit=100)
...     sorted(p.name for p in path.parent.iterdir())
...     ws = read_hs3(path)
...     ws.data("obsData").numEntries()
...     store_model = build_model(toy.processes(toy.generate(1.0, np.random.default_rng(2))[:100]))
...     path = write_hs3(store_model, f"{tmp}/store.json", label="nsbi")
...     sorted(p.name for p in path.parent.iterdir() if p.stem.startswith("store"))
...     read_hs3(path).pdf("nsbi_nsbi").usesStore()
['nsbi.json', 'nsbi.obsData_nsbi.entries.npy']
200
['store.json', 'store.nsbi_nsbi.store']
True
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import refuse_existing, write_bytes, write_text
from ..library import cpp_errors, load

__all__ = ["EXTERNAL_DATA_TYPE", "INLINE_LIMIT", "npy_bytes", "read_hs3", "write_hs3"]

#: numbers of an unbinned dataset (entries x axes + weights) above which it goes to side files
INLINE_LIMIT = 1_000_000
#: the HS3 data type of unbinned data kept in ``.npy`` side files
EXTERNAL_DATA_TYPE = "roonsbi::unbinned_npy"


def write_hs3(source: Any, path: str | os.PathLike, *, overwrite: bool = False, label: str = "",
              inline_limit: int | None = INLINE_LIMIT) -> Path:
    """Write the HS3 JSON of ``source`` (a roonsbi model or a RooWorkspace with a ``ModelConfig``) to
    ``path``; unbinned data with more than ``inline_limit`` numbers (None: no limit) go to side files
    ``<stem>.<data>.entries.npy`` (and ``.weights.npy``) next to it. ``label``: the channel name of a
    single model (exported as its one-channel combination). Nothing is replaced without ``overwrite``."""
    ROOT = load()
    path = Path(path)
    ws = getattr(source, "workspace", source)
    if not isinstance(ws, ROOT.RooWorkspace):
        raise TypeError(f"write_hs3: source must be a roonsbi model or a RooWorkspace, got {type(source).__name__}")
    with cpp_errors():
        doc = json.loads(str(ROOT.RooNSBI.exportJSONtoString(ws, label, f"{path.stem}.")))
    stores = {path.with_name(d["store"]["file"]): d["name"] for d in doc.get("distributions", []) if "store" in d}
    sides: dict[Path, bytes] = {}
    for k, data in enumerate(doc.get("data", [])):
        size = len(data.get("entries", [])) * len(data.get("axes", [])) + len(data.get("weights", []))
        if data.get("type") == "unbinned" and inline_limit is not None and size > inline_limit:
            doc["data"][k] = _to_side_files(data, path, sides)
    for side in [*sides, *stores]:
        refuse_existing(side, overwrite)
    refuse_existing(path, overwrite)
    for side, payload in sides.items():
        write_bytes(side, payload, overwrite)
    for side, pdf in stores.items():  # EventStore::write: atomic, the bytes the document's sha256 is of
        with cpp_errors():
            ws.pdf(pdf).store().write(str(side), overwrite)
    return write_text(path, json.dumps(doc, indent=1), overwrite)


def read_hs3(path: str | os.PathLike, name: str | None = None) -> Any:
    """The RooWorkspace (named ``name``, default the file's stem) of an HS3 JSON file, with the side files
    of :func:`write_hs3` checked (SHA-256, shape) and read. ValueError names a missing or altered side file."""
    ROOT = load()
    path = Path(path)
    with open(path) as f:
        doc = json.load(f)
    doc["data"] = [_from_side_files(d, path) if d.get("type") == EXTERNAL_DATA_TYPE else d
                   for d in doc.get("data", [])]
    for dist in doc.get("distributions", []):
        if isinstance(dist.get("store"), dict):  # checked (rows, sha256) by RooNSBI::importJSON
            side = _side_file(path, f"the distribution '{dist['name']}'", dist["store"].get("file", ""))
            dist["store"]["file"] = str(side.resolve())
    ws = ROOT.RooWorkspace(name or path.stem, str(path))
    with cpp_errors():
        if not ROOT.RooNSBI.importJSONfromString(ws, json.dumps(doc)):
            raise ValueError(f"RooJSONFactoryWSTool could not import the HS3 JSON file {path}")
    return ws


def npy_bytes(array: np.ndarray) -> bytes:
    """The bytes of the ``.npy`` file of ``array`` as float64 (little endian, C order; no pickles)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype="<f8"), allow_pickle=False)
    return buffer.getvalue()


def _to_side_files(data: dict, path: Path, sides: dict[Path, bytes]) -> dict:
    """The unbinned ``data`` as a roonsbi::unbinned_npy entry; its arrays' .npy bytes added to ``sides``."""
    out = {"type": EXTERNAL_DATA_TYPE, "name": data["name"], "axes": data["axes"]}
    entries = np.asarray(data["entries"], dtype=float).reshape(-1, len(data["axes"]))
    arrays = {"entries": entries}
    if "weights" in data:
        arrays["weights"] = np.asarray(data["weights"], dtype=float)
    for key, array in arrays.items():
        side = path.with_name(f"{path.stem}.{data['name']}.{key}.npy")
        payload = npy_bytes(array)
        sides[side] = payload
        out[f"{key}_file"] = side.name
        out[f"{key}_sha256"] = hashlib.sha256(payload).hexdigest()
    out["entries_shape"] = list(entries.shape)
    return out


def _side_file(path: Path, owner: str, name: str) -> Path:
    """The side file ``name`` of ``owner`` (an object of the JSON file ``path``): next to the JSON, existing."""
    if not name or Path(name).name != name:
        raise ValueError(f"{path}: {owner} names the side file '{name}' outside its folder; side files must be "
                         "next to the JSON")
    side = path.parent / name
    if not side.is_file():
        raise ValueError(f"{path}: the side file {side} of {owner} is missing (copy it next to the JSON file)")
    return side


def _from_side_files(data: dict, path: Path) -> dict:
    """The roonsbi::unbinned_npy entry ``data`` as HS3 unbinned data, its side files checked."""
    out = {"type": "unbinned", "name": data["name"], "axes": data["axes"]}
    for key in ("entries", "weights"):
        if f"{key}_file" not in data:
            continue
        side = _side_file(path, f"the data '{data['name']}'", data[f"{key}_file"])
        payload = side.read_bytes()
        digest = hashlib.sha256(payload).hexdigest()
        if digest != data.get(f"{key}_sha256"):
            raise ValueError(f"{path}: the side file {side} of the data '{data['name']}' has sha256 {digest}, the "
                             f"JSON file expects {data.get(f'{key}_sha256')} (the file was altered or replaced)")
        array = np.load(io.BytesIO(payload), allow_pickle=False)
        if key == "entries":
            shape = tuple(data.get("entries_shape", ()))
            if array.shape != shape or array.ndim != 2 or array.shape[1] != len(data["axes"]):
                raise ValueError(f"{path}: the side file {side} has shape {array.shape}, expected {shape} "
                                 f"(entries x {len(data['axes'])} axes)")
        out[key] = array.tolist()
    if "entries" not in out:
        raise ValueError(f"{path}: the data '{data['name']}' of type {EXTERNAL_DATA_TYPE} names no entries_file")
    if "weights" in out and len(out["weights"]) != len(out["entries"]):
        raise ValueError(f"{path}: the data '{data['name']}' has {len(out['weights'])} weights for "
                         f"{len(out['entries'])} entries")
    return out
