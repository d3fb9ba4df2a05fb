r"""Data against model for binned channels: :class:`ChannelYields` (the numbers of one channel),
:func:`channel_yields` (them from any binned channel of a model: HistFactory, pyhf, a parametrized
NSBI channel, inside a combination or alone) and :func:`plot_data_vs_model` (stacked post-fit
samples, the pre-fit total, the data with Poisson errors :math:`\sqrt{n}`, and a ratio panel
data / post-fit).

Example (numbers only)::

    >>> import numpy as np
    >>> ch = ChannelYields("sr", np.array([0.0, 1.0, 2.0]), np.array([12.0, 7.0]),
    ...                    prefit={"bkg": np.array([10.0, 6.0])}, postfit={"bkg": np.array([11.0, 6.5])})
    >>> fig = plot_data_vs_model(ch)
    >>> len(fig.axes)  # the channel and its ratio panel
    2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..library import load
from ..spec import PathLike
from .figure import PlotOptions, plotting

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ChannelYields", "channel_yields", "plot_data_vs_model"]

_COLORS = ("lightsteelblue", "tab:red", "tab:orange", "tab:green", "tab:purple", "tab:olive", "tab:cyan")


@dataclass
class ChannelYields:
    """One binned channel: bin ``edges`` (B+1), observed ``data`` (B), and the expected yields per
    sample (sample -> (B,)) ``prefit`` and ``postfit`` (either may hold one entry, the total).
    ``xlabel`` names the observable; ``samples`` lists the samples to stack, bottom first
    (default: the order of ``postfit``)."""

    name: str
    edges: np.ndarray
    data: np.ndarray
    prefit: Mapping[str, np.ndarray]
    postfit: Mapping[str, np.ndarray]
    xlabel: str = ""
    samples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.edges = np.asarray(self.edges, dtype=float)
        self.data = np.asarray(self.data, dtype=float)
        n = self.edges.size - 1
        if self.edges.ndim != 1 or n < 1 or np.any(np.diff(self.edges) <= 0):
            raise ValueError(f"channel '{self.name}': edges must be increasing, at least 2, got {self.edges}")
        for what, arrays in (("data", {"data": self.data}), ("prefit", self.prefit), ("postfit", self.postfit)):
            for sample, values in arrays.items():
                if np.shape(values) != (n,):
                    raise ValueError(f"channel '{self.name}': {what} '{sample}' has shape {np.shape(values)}, "
                                     f"expected ({n},) for {n} bins")
        if not self.postfit:
            raise ValueError(f"channel '{self.name}': postfit needs at least one sample")
        self.samples = list(self.samples or self.postfit)

    @property
    def prefit_total(self) -> np.ndarray:
        return np.sum([np.asarray(v, float) for v in self.prefit.values()], axis=0) if self.prefit else \
            np.full(self.data.shape, np.nan)

    @property
    def postfit_total(self) -> np.ndarray:
        return np.sum([np.asarray(v, float) for v in self.postfit.values()], axis=0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "edges": self.edges.tolist(), "data": self.data.tolist(),
                "prefit": {k: np.asarray(v).tolist() for k, v in self.prefit.items()},
                "postfit": {k: np.asarray(v).tolist() for k, v in self.postfit.items()}}


# -- yields from a model --------------------------------------------------------------------------

def _binned_observable(channel: Any) -> Any:
    """The one observable of a binned channel (a RooRealVar of its observables the pdf depends on)."""
    obs = [o for o in channel.observables if o.InheritsFrom("RooRealVar") and channel.pdf.dependsOn(o)]
    if len(obs) != 1:
        raise ValueError(f"channel '{channel.name}' has the observables {[o.GetName() for o in obs]}; "
                         "channel_yields needs a binned channel with one observable")
    return obs[0]


def _sample_yields(channel: Any, obs: Any) -> dict[str, np.ndarray]:
    """Expected yields per bin: per sample of a RooRealSumPdf (HistFactory, pyhf: coefficient x
    function at the bin centre x bin width), else the channel's total (expected events x the
    density at the bin centre x bin width, exact for histogram pdfs)."""
    ROOT = load()
    binning = obs.getBinning()
    centres = [binning.binCenter(b) for b in range(binning.numBins())]
    widths = np.array([binning.binWidth(b) for b in range(binning.numBins())])
    sums = [c for c in channel.pdf.getComponents() if c.InheritsFrom("RooRealSumPdf") and c.dependsOn(obs)]
    out: dict[str, np.ndarray] = {}
    if sums:
        for func, coef in zip(sums[0].funcList(), sums[0].coefList()):
            values = []
            for x in centres:
                obs.setVal(x)
                values.append(func.getVal() * coef.getVal())
            name, suffix = str(func.GetName()), f"_{channel.name}_shapes"  # HistFactory's function names
            out[name[: -len(suffix)] if name.endswith(suffix) else name] = np.array(values) * widths
        return out
    pdfs = [c for c in channel.pdf.getComponents() if c.InheritsFrom("RooAbsPdf") and c.dependsOn(obs)
            and c.canBeExtended() and not c.InheritsFrom("RooProdPdf")]
    pdf = pdfs[0] if pdfs else channel.pdf
    norm = ROOT.RooArgSet(obs)
    values = []
    for x in centres:
        obs.setVal(x)
        values.append(pdf.getVal(norm))
    return {"model": np.array(values) * widths * pdf.expectedEvents(norm)}


def _data_counts(channel: Any, obs: Any) -> np.ndarray:
    """Observed (weighted) counts per bin of the observable's binning."""
    binning = obs.getBinning()
    edges = np.array([binning.binLow(b) for b in range(binning.numBins())] + [binning.highBound()])
    x, w = [], []
    name = obs.GetName()
    for i in range(channel.data.numEntries()):
        row = channel.data.get(i)
        x.append(row.getRealValue(name))
        w.append(channel.data.weight())
    return np.histogram(np.asarray(x), edges, weights=np.asarray(w))[0]


def channel_yields(
    model: Any,
    channel: str | None = None,
    postfit: Any = None,
    prefit: Mapping[str, float] | None = None,
    *,
    xlabel: str | None = None,
) -> ChannelYields:
    r"""The :class:`ChannelYields` of a binned channel of ``model`` (any roonsbi model or a RooWorkspace
    with a ModelConfig; ``channel``: its name, needed when the model has several channels).

    ``postfit``: a :class:`~roonsbi.infer.results.FitResult` or parameter values (None: the model's
    current values). ``prefit``: parameter values; the nuisance parameters not given are set to
    the nominal values of their Gaussian constraints (HistFactory's ``alpha_X = 0``), the others keep
    their current values. Yields are per sample for HistFactory/pyhf channels (RooRealSumPdf:
    coefficient x function at the bin centre x bin width), else the total of the channel
    ("model"). The model's parameters are restored afterwards.
    """
    from ..infer.impacts import gaussian_constraints_of
    from ..models.combined import channels_of

    channels = channels_of(model)
    names = [c.name for c in channels]
    if channel is None and len(channels) != 1:
        raise ValueError(f"the model has the channels {names}; pass channel= one of them")
    chosen = [c for c in channels if channel is None or c.name == channel]
    if not chosen:
        raise KeyError(f"no channel '{channel}' in the model (channels: {names})")
    ch = chosen[0]
    obs = _binned_observable(ch)
    values = getattr(postfit, "values", postfit)
    nominal = {k: v[0] for k, v in gaussian_constraints_of(model).items()} if hasattr(model, "global_observables") \
        else {}
    variables = {v.GetName(): v for v in ch.pdf.getVariables() if v.InheritsFrom("RooRealVar")}
    start = {name: v.getVal() for name, v in variables.items()}

    def at(params: Mapping[str, float] | None) -> dict[str, np.ndarray]:
        for name, value in (params or {}).items():
            if name in variables:
                variables[name].setVal(float(value))
        return _sample_yields(ch, obs)

    try:
        post = at(values)
        pre = at({**nominal, **(prefit or {})})
    finally:
        for name, value in start.items():
            variables[name].setVal(value)
    title = str(obs.GetTitle()) or str(obs.GetName())
    edges = np.array([obs.getBinning().binLow(b) for b in range(obs.getBins())] + [obs.getMax()])
    return ChannelYields(ch.name, edges, _data_counts(ch, obs), pre, post, xlabel=xlabel or title)


# -- the plot ---------------------------------------------------------------------------------------

def _draw_channel(ax: Any, rax: Any, ch: ChannelYields, ratio_range: tuple[float, float]) -> None:
    edges, data = ch.edges, ch.data
    centres = 0.5 * (edges[1:] + edges[:-1])
    bottom = np.zeros_like(data)
    for k, sample in enumerate(ch.samples):
        values = np.asarray(ch.postfit[sample], float)
        ax.stairs(bottom + values, edges, baseline=bottom.copy(), fill=True, color=_COLORS[k % len(_COLORS)],
                  alpha=0.85, label=f"{sample} (post-fit)")
        bottom = bottom + values
    total = ch.postfit_total
    if ch.prefit:
        ax.stairs(ch.prefit_total, edges, baseline=None, color="black", ls="--", lw=1.3, label="pre-fit total")
    ax.errorbar(centres, data, yerr=np.sqrt(np.maximum(data, 0)), fmt="ko", ms=4, label="data")
    ax.set_ylabel("events / bin")
    ax.set_title(ch.name, loc="right")
    ax.set_ylim(0, 1.45 * max(float(np.max(data + np.sqrt(np.maximum(data, 0)))), float(np.max(total))))
    ax.legend(loc="upper right")
    with np.errstate(divide="ignore", invalid="ignore"):
        rax.errorbar(centres, data / total, yerr=np.sqrt(np.maximum(data, 0)) / total, fmt="ko", ms=4)
        if ch.prefit:
            rax.stairs(ch.prefit_total / total, edges, baseline=None, color="black", ls="--", lw=1.3)
    rax.axhline(1.0, color="grey", lw=0.8)
    rax.set_ylim(*ratio_range)
    rax.set_ylabel("data / post-fit")
    rax.set_xlabel(ch.xlabel or "observable")


def plot_data_vs_model(
    channels: ChannelYields | Sequence[ChannelYields],
    path: PathLike | None = None,
    *,
    ratio_range: tuple[float, float] | Sequence[tuple[float, float]] = (0.5, 1.5),
    **options: Unpack[PlotOptions],
) -> Any:
    r"""Data against the model of binned channels, one column per channel: the post-fit samples
    stacked, the pre-fit total (dashed), the data with :math:`\sqrt{n}` errors, and below a ratio
    panel with data / post-fit and pre-fit / post-fit.

    Args:
        channels: one :class:`ChannelYields` (e.g. from :func:`channel_yields`) or several.
        ratio_range: y range of the ratio panels (one for all, or one per channel).
        Other arguments as in :func:`roonsbi.plot.plot_scan`.

    Returns:
        the ``Figure``: per channel a main axes (stairs: the stacked samples, then the pre-fit total;
        one errorbar: the data) and its ratio axes below, in the order main, ratio, main, ratio, ...
    """
    chans = [channels] if isinstance(channels, ChannelYields) else list(channels)
    if not chans:
        raise ValueError("plot_data_vs_model needs at least one channel")
    ranges = [ratio_range] * len(chans) if np.ndim(ratio_range) == 1 else list(ratio_range)
    with plotting("plot_data_vs_model", path, options, 5.6 * len(chans), 5.6) as fig:
        grid = fig.add_gridspec(2, len(chans), height_ratios=(3, 1))
        for k, (ch, rr) in enumerate(zip(chans, ranges)):
            ax = fig.add_subplot(grid[0, k])
            rax = fig.add_subplot(grid[1, k], sharex=ax)
            ax.tick_params(labelbottom=False)
            _draw_channel(ax, rax, ch, tuple(rr))  # type: ignore[arg-type]
    return fig
