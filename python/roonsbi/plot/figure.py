r"""How roonsbi's plots get matplotlib, their HEP style and experiment label, and how they are written.

* :func:`new_figure`: a ``matplotlib.figure.Figure`` (no pyplot state, Agg renderer, constrained
  layout); :func:`hep_style`: the mplhep style the figures are drawn and written in (ROOT's by
  default, the experiment's with ``label="ATLAS"``, ``"CMS"``, ``"LHCb"``, ``"ALICE"``), applied
  with ``matplotlib.rc_context`` so that the caller's settings stay untouched;
* :class:`ExperimentLabel`: the optional experiment label (``label="ATLAS"``,
  ``label_text="Internal"``, ``lumi`` in fb^-1, ``energy`` in TeV), drawn by mplhep's ``exp_label``;
  off by default;
* :func:`save_figure`: the files of :func:`figure_paths` (PNG and/or PDF, from the suffix or
  ``formats``), each written atomically and never over an existing file without ``overwrite``
  (:func:`write_figure`, :mod:`roonsbi.atomic`);
* :class:`PlotOptions`: the keywords every plot function takes (the label, ``formats``,
  ``overwrite``), and :func:`plotting`, the figure of a plot function drawn in the style of its label,
  labelled and saved as they say.

matplotlib and mplhep are imported when a figure is drawn, not with this module.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence, TypedDict

from ..atomic import atomic_path, refuse_existing
from ..optional import optional_module
from ..spec import PathLike

__all__ = ["ExperimentLabel", "PlotOptions", "figure_paths", "hep_style", "new_figure", "plotting", "pyplot",
           "save_figure", "write_figure"]

#: mplhep style per experiment label (upper case); every other label (or none) gets ROOT's style
_STYLES = {"ATLAS": "ATLAS", "CMS": "CMS", "LHCB": "LHCb2", "ALICE": "ALICE"}
_FORMATS = (".png", ".pdf", ".svg")


def pyplot() -> Any:
    """``matplotlib.pyplot`` with the non-interactive Agg backend (files only, no display); a missing
    matplotlib is an ImportError saying what to install (:mod:`roonsbi.optional`)."""
    matplotlib = optional_module("matplotlib", "drawing roonsbi's plots")
    matplotlib.use("Agg")
    return optional_module("matplotlib.pyplot", "drawing roonsbi's plots")


class _NoMathtextNoise(logging.Filter):
    """Drops matplotlib's "No TeX to Unicode mapping" messages, which mplhep's sqrt(s) label triggers
    with the experiments' fonts (the symbol is drawn all the same)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No TeX to Unicode mapping" not in record.getMessage()


@contextmanager
def hep_style(label: str | None = None) -> Iterator[None]:
    """Draw (and write) inside this block in the mplhep style of the experiment ``label`` (ROOT's
    style without one): ``matplotlib.rc_context``, so nothing changes outside the block."""
    matplotlib = optional_module("matplotlib", "drawing roonsbi's plots")
    mplhep = optional_module("mplhep", "roonsbi's plot style")
    style = getattr(mplhep.style, _STYLES.get((label or "").upper(), "ROOT"))
    noise = _NoMathtextNoise()
    logger = logging.getLogger("matplotlib.mathtext")
    logger.addFilter(noise)
    try:
        with matplotlib.rc_context(style):
            # the styles are made for 10 x 10 inch figures; roonsbi's are smaller
            matplotlib.rcParams.update({"font.size": 11, "axes.labelsize": 12, "legend.fontsize": 9,
                                        "xtick.labelsize": 10, "ytick.labelsize": 10, "axes.titlesize": 11})
            yield
    finally:
        logger.removeFilter(noise)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches with constrained layout, outside pyplot
    (nothing to close; it is freed with its last reference)."""
    Figure = optional_module("matplotlib.figure", "drawing roonsbi's plots").Figure
    return Figure(figsize=(width, height), layout="constrained")


@dataclass(frozen=True)
class ExperimentLabel:
    r"""The experiment label of a plot: ``name`` in bold (e.g. ``"ATLAS"``), ``text`` in italics
    (``"Internal"``, ``"Preliminary"``), and :math:`\sqrt{s}` = ``energy`` TeV, ``lumi``
    :math:`\mathrm{fb}^{-1}` when given. ``name`` None: no label (the default of every plot)."""

    name: str | None = None
    text: str = ""
    lumi: float | str | None = None
    energy: float | str | None = None

    def draw(self, ax: Any) -> None:
        """Draw the label in the top left corner of ``ax`` (nothing without :attr:`name`)."""
        if not self.name:
            return
        mplhep = optional_module("mplhep", "the experiment label of roonsbi's plots")
        mplhep.label.exp_label(exp=self.name, text=self.text, lumi=self.lumi, com=self.energy, data=True,
                               loc=4 if self.name.upper() == "ATLAS" else 0, ax=ax)


class PlotOptions(TypedDict, total=False):
    r"""The keywords that every plot function of :mod:`roonsbi.plot` takes besides its own, all optional.

    * ``label``: the experiment (``"ATLAS"``, ``"CMS"``, ``"LHCb"``, ...), drawn in bold in the top
      left corner (:class:`ExperimentLabel`); it also selects that experiment's mplhep style (ROOT's
      without one). No label by default;
    * ``label_text``: the text after it, in italics (``"Internal"``, ``"Preliminary"``);
    * ``lumi``: the integrated luminosity in :math:`\mathrm{fb}^{-1}`; ``energy``: :math:`\sqrt{s}`
      in TeV (both shown with the label);
    * ``formats``: the formats to write ``path`` in, e.g. ``("png", "pdf")`` (default: from its
      suffix, PNG without one; :func:`figure_paths`);
    * ``overwrite``: replace existing files (refused otherwise, before any is written).

    A ``PlotOptions`` is a dict, so one set serves several plots::

        atlas = PlotOptions(label="ATLAS", label_text="Internal", lumi=140, energy=13)
        plot_scan(scan, "scan.pdf", **atlas)
        plot_pulls(impacts, "pulls.pdf", **atlas)
    """

    label: str | None
    label_text: str
    lumi: float | str | None
    energy: float | str | None
    formats: Sequence[str] | None
    overwrite: bool


@contextmanager
def plotting(function: str, path: PathLike | None, options: PlotOptions, width: float, height: float) -> Iterator[Any]:
    """The figure of the plot function named ``function``: a :func:`new_figure` of ``width`` x
    ``height`` inches, drawn inside the :func:`hep_style` of the options' ``label``; when the block
    ends, the :class:`ExperimentLabel` is drawn on its first axes and the figure saved to ``path``
    (:func:`save_figure`; nothing is written without a path or when the block fails).

    An option that is not one of :class:`PlotOptions` is a TypeError, as an unknown keyword would be.

    >>> with plotting("my_plot", None, PlotOptions(label="ATLAS", label_text="Internal"), 4, 3) as fig:
    ...     _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> [t.get_text() for t in fig.axes[0].texts][:2]
    ['ATLAS', 'Internal']
    """
    unknown = [key for key in options if key not in PlotOptions.__optional_keys__]
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument '{unknown[0]}' (the options of every plot: "
                        f"{', '.join(PlotOptions.__annotations__)})")
    label = ExperimentLabel(options.get("label"), options.get("label_text", ""), options.get("lumi"),
                            options.get("energy"))
    with hep_style(label.name):
        fig = new_figure(width, height)
        yield fig
        label.draw(fig.axes[0])
        save_figure(fig, path, options.get("formats"), options.get("overwrite", False))


def figure_paths(path: PathLike, formats: Sequence[str] | None = None) -> list[Path]:
    """The files :func:`save_figure` writes for ``path``: ``path`` itself (format from its suffix)
    or, without suffix or with ``formats``, ``path.<fmt>`` per format (default PNG).

    >>> [p.name for p in figure_paths("scan.png")], [p.name for p in figure_paths("scan", ["png", "pdf"])]
    (['scan.png'], ['scan.png', 'scan.pdf'])
    """
    path = Path(path)
    if path.suffix and formats is None:
        return [path]
    stem = path.with_suffix("") if path.suffix.lower() in _FORMATS else path
    return [stem.with_name(f"{stem.name}.{fmt.lstrip('.')}") for fmt in (formats or ("png",))]


def save_figure(fig: Any, path: PathLike | None, formats: Sequence[str] | None = None, overwrite: bool = False,
                dpi: float = 120) -> list[Path]:
    """Save ``fig`` as the files of :func:`figure_paths` (creating their folder; none if ``path`` is
    None); an existing file is replaced only with ``overwrite`` (all are checked before any is
    written), each atomically."""
    if path is None:
        return []
    targets = figure_paths(path, formats)
    for target in targets:
        refuse_existing(target, overwrite)
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    for target in targets:
        write_figure(fig, target, overwrite=overwrite, dpi=dpi)
    return targets


def write_figure(fig: Any, path: PathLike, *, overwrite: bool = False, dpi: float = 120, close: bool = False) -> Path:
    """Save the matplotlib figure ``fig`` as ``path`` and return the file written.

    The format comes from the suffix of ``path``; without one it is matplotlib's default
    (``savefig.format``, PNG) and its suffix is appended, as ``Figure.savefig`` does. An existing
    file is replaced only with ``overwrite``; the file is written under a temporary name and
    renamed when complete (:mod:`roonsbi.atomic`). With ``close`` the figure is closed in
    pyplot afterwards, also when writing failed.
    """
    path = Path(path)
    try:
        matplotlib = optional_module("matplotlib", "drawing roonsbi's plots")
        fmt = path.suffix[1:].lower() or str(matplotlib.rcParams["savefig.format"])
        if not path.suffix:
            path = path.with_name(f"{path.name}.{fmt}")
        with atomic_path(path, overwrite) as tmp:
            fig.savefig(tmp, dpi=dpi, format=fmt)
    finally:
        if close:
            pyplot().close(fig)
    return path
