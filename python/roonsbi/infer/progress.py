"""Progress of long loops of fits (scans, impacts): a tqdm bar on a terminal, one-line reports in logs.

:func:`progress` wraps the iterable of a loop. With ``show=None`` (the default of every scan) it
draws a tqdm bar when stderr is a terminal; when it is not (a batch job, a log file), it prints
nothing, unless :func:`report_lines` switched on periodic one-line reports (the command line does,
every 10 s by default), such as::

    roonsbi: scan of mu: 7/21 (33%), 12.0 s, about 24 s left

``show=True`` always draws the bar, ``show=False`` never reports. :func:`step` reports a step
without items (reading a large workspace, a limit's root finding) in the same log mode: a line
when it starts and one when it ends.

>>> list(progress(range(3), desc="doc", show=False))
[0, 1, 2]
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, TypeVar

__all__ = ["progress", "report_lines", "step"]

T = TypeVar("T")

#: Seconds between one-line reports when stderr is not a terminal (None: no reports).
_interval: float | None = None


def report_lines(every: float | None) -> None:
    """One-line reports every ``every`` seconds (and one at the end of the loop) from the loops
    whose stderr is not a terminal; ``None`` switches them off (the default of the library)."""
    global _interval
    _interval = None if every is None else max(0.0, float(every))


def _lines(items: list[T], desc: str, every: float) -> Iterator[T]:
    start = last = time.monotonic()
    n = len(items)
    for k, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= every or k == n:
            last = now
            elapsed = now - start
            left = f", about {elapsed / k * (n - k):.0f} s left" if k < n else ", done"
            print(f"roonsbi: {desc}: {k}/{n} ({100 * k // max(n, 1)}%), {elapsed:.1f} s{left}", file=sys.stderr,
                  flush=True)


def progress(iterable: Iterable[T], *, desc: str, show: bool | None = None) -> Iterator[T]:
    """The items of ``iterable``, reporting the progress (see the module doc)."""
    if show is False:
        return iter(iterable)
    terminal = sys.stderr.isatty()
    if show is None and not terminal:
        return iter(iterable) if _interval is None else _lines(list(iterable), desc, _interval)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iter(iterable)
    bar: Any = tqdm(list(iterable), desc=desc, leave=False)
    return iter(bar)


@contextmanager
def step(desc: str) -> Iterator[None]:
    """Report the start and the end (with its duration) of the block, when one-line reports are on
    and stderr is not a terminal (see the module doc); otherwise nothing."""
    if _interval is None or sys.stderr.isatty():
        yield
        return
    start = time.monotonic()
    print(f"roonsbi: {desc} ...", file=sys.stderr, flush=True)
    yield
    print(f"roonsbi: {desc}: done, {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
