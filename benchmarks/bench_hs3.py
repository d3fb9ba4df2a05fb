"""HS3 JSON of a column-form NSBI channel: the file sizes and the write and read times of
roonsbi.io.write_hs3 / read_hs3 with the per-event data inline against in ``.npy`` side files, in the
same run and the same folder.

    python benchmarks/bench_hs3.py [--events 100000] [--repeat 2] [--dir /tmp]

The off-shell toy's channel (three processes, one shape systematic: 9 columns) of --events events is
written twice: inline (``inline_limit=None``, the whole dataset in the JSON text) and with side files
(``inline_limit=0``: the entries in ``<stem>.obsData_nsbi.entries.npy``, sha256-checked on reading).
Printed: the sizes (JSON, side files), the best of --repeat write and read times, and the ratios
side/inline. Both reads go through RooFit's JSON import of the whole document (read_hs3 puts the
side file's entries back into it), so the read ratio is the cost of the check and of numpy's load.
Not run by pytest.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from roonsbi.inputs.toy import OffShellToy
from roonsbi.io import read_hs3, write_hs3
from roonsbi.models.unbinned import build_model


def _best(repeat: int, work: Callable[..., object], *args: object, **kwargs: object) -> float:
    """The shortest of ``repeat`` runs of ``work(*args, **kwargs)``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dir", default=None, help="folder for the files (default: a temporary one)")
    args = parser.parse_args()

    toy = OffShellToy()
    x = toy.sample_ref(args.events, np.random.default_rng(1))  # events of the reference density
    model = build_model(toy.processes(x, systematics=True), form="columns")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        out = {}
        for kind, limit in (("inline", None), ("side files", 0)):
            path = Path(tmp) / f"{kind.replace(' ', '_')}.json"
            write = _best(args.repeat, write_hs3, model, path, label="nsbi", inline_limit=limit, overwrite=True)
            read = _best(args.repeat, read_hs3, path)
            sides = sum(p.stat().st_size for p in Path(tmp).glob(f"{path.stem}.*.npy"))
            out[kind] = (path.stat().st_size / 1e6, sides / 1e6, write, read)
            print(f"{kind:>10}: JSON {out[kind][0]:8.2f} MB, side files {out[kind][1]:8.2f} MB, "
                  f"write {write:6.2f} s, read {read:6.2f} s")
        (j0, _, w0, r0), (j1, s1, w1, r1) = out["inline"], out["side files"]
        print(f"side/inline: JSON size {j1 / j0:.4f}, total size {(j1 + s1) / j0:.3f}, write {w1 / w0:.2f}, "
              f"read {r1 / r0:.2f} ({args.events} events x 9 columns)")


if __name__ == "__main__":
    main()
