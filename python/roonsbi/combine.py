r"""Combine channels into one RooSimultaneous with one dataset and a ModelConfig.

Channels are NSBI channels (:class:`~roonsbi.model.NSBIModel`), parametrized-NSBI channels
(:class:`~roonsbi.parametrized.ParametrizedModel`, at their current mu') and binned
workspaces with a ModelConfig (e.g. HistFactory's ``combined`` workspace, whose
RooSimultaneous is split into its channels). As in HistFactory:

* parameters are correlated by name (after the optional ``rename`` map, e.g.
  ``{"mu_sig": "mu"}``); a parameter defined twice with different ranges is an error;
* each channel pdf is its bare pdf times the constraint terms of its parameters, and a
  constraint shared by several channels is one object (counted once in the likelihood);
  two different constraints of the same name are an error;
* the combined pdf is ``simPdf`` (RooSimultaneous over ``channelCat``), the data ``obsData``
  and the ModelConfig ``ModelConfig``.

The NLL of the combination is the sum of the channels' NLLs with each constraint counted
once (RooFit adds the parameter-independent sum_c N_c log(number of channels)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from . import _library

_library.load_library()
import ROOT  # noqa: E402

from .model import MODELCONFIG_NAME, WorkspaceModel  # noqa: E402

SIM_NAME = "simPdf"
CATEGORY_NAME = "channelCat"
DATA_NAME = "obsData"
WEIGHT_NAME = "weight"


@dataclass
class Channel:
    """One channel: its pdf (with constraint terms), data and ModelConfig sets."""

    name: str
    pdf: Any
    data: Any
    pois: Any
    nuisance_parameters: Any
    observables: Any
    global_observables: Any
    owner: Any = None  # keeps split datasets alive


def channels_of(source: Any, name: str | None = None, model_config: str = MODELCONFIG_NAME,
                data: str = DATA_NAME) -> list[Channel]:
    """The channels of a roonsbi model, or of a RooWorkspace with a ModelConfig (a
    RooSimultaneous, also of a model such as a pyhf import, is split into one channel per
    index state, named by the state)."""
    if isinstance(source, WorkspaceModel) and isinstance(source.model, ROOT.RooSimultaneous):
        channels = channels_of(source.workspace, name, model_config, data)  # e.g. a pyhf import
        for c in channels:
            c.owner = (c.owner, source)  # keep the model (and its workspace) alive
        return channels
    if isinstance(source, WorkspaceModel):
        mc = source.model_config
        return [Channel(name or source.name, source.model, source.data, mc.GetParametersOfInterest(),
                        source.nuisance_parameters, mc.GetObservables(), source.global_observables)]
    ws = source
    mc = ws.obj(model_config)
    if not mc:
        raise KeyError(f"workspace '{ws.GetName()}' has no ModelConfig '{model_config}'")
    dataset = ws.data(data)
    if not dataset:
        raise KeyError(f"workspace '{ws.GetName()}' has no dataset '{data}'")
    pdf = mc.GetPdf()
    sets = (mc.GetParametersOfInterest(), mc.GetNuisanceParameters() or ROOT.RooArgSet(),
            mc.GetObservables(), mc.GetGlobalObservables() or ROOT.RooArgSet())
    if not isinstance(pdf, ROOT.RooSimultaneous):
        return [Channel(name or ws.GetName(), pdf, dataset, *sets)]
    cat = pdf.indexCat()
    parts = dataset.split(cat, True)  # std::vector<std::unique_ptr<RooAbsData>>, named by state
    # the elements are typed RooAbsData: bind them as their actual class (RooDataSet's to_numpy)
    by_label = {str(p.GetName()): ROOT.bind_object(ROOT.addressof(p), p.ClassName()) for p in parts}
    out = []
    for state in cat:
        label = str(state.first)
        out.append(Channel(f"{name}_{label}" if name else label, pdf.getPdf(label), by_label[label], *sets,
                           owner=parts))
    return out


@dataclass
class CombinedModel(WorkspaceModel):
    """The combination: ``simPdf``, ``obsData`` and ``ModelConfig`` in :attr:`workspace`."""

    @property
    def pdf(self) -> Any:
        return self._owned(self.workspace.pdf(SIM_NAME))

    @property
    def data(self) -> Any:
        return self._owned(self.workspace.data(DATA_NAME))

    def total_yield(self) -> float:
        """Sum of the channels' expected numbers of events at the current parameters."""
        obs = self.model_config.GetObservables()
        cat = self.pdf.indexCat()
        return sum(self.pdf.getPdf(str(state.first)).expectedEvents(obs) for state in cat)

    def create_nll(self, data: Any = None, backend: str = "cpu") -> Any:
        return self._extended_nll(self.data if data is None else data, backend)

    def nll(self, values: Mapping[str, float] | None = None, backend: str = "cpu") -> float:
        if values:
            self.set_parameters(values)
        return self.create_nll(None, backend).getVal()


def _split_constraints(channel: Channel) -> tuple[list[Any], list[Any]]:
    """Factors of the channel pdf that depend on its observables, and the constraint terms."""
    factors = list(channel.pdf.pdfList()) if isinstance(channel.pdf, ROOT.RooProdPdf) else [channel.pdf]
    obs = channel.observables
    bare = [f for f in factors if f.dependsOn(obs)]
    constraints = [f for f in factors if not f.dependsOn(obs)]
    return bare, constraints


def _check_compatible(ws: Any, leaves: Any, rename: Mapping[str, str], channel: str) -> None:
    for leaf in leaves:
        if not isinstance(leaf, ROOT.RooRealVar):
            continue
        target = rename.get(leaf.GetName(), leaf.GetName())
        existing = ws.var(target)
        if not existing:
            continue
        same = (existing.getMin() == leaf.getMin() and existing.getMax() == leaf.getMax()
                and existing.isConstant() == leaf.isConstant())
        if not same:
            raise ValueError(
                f"parameter '{target}' of channel '{channel}' conflicts with its earlier definition: range "
                f"[{leaf.getMin()}, {leaf.getMax()}]{' constant' if leaf.isConstant() else ''} vs "
                f"[{existing.getMin()}, {existing.getMax()}]{' constant' if existing.isConstant() else ''}"
            )


def _same_constraint(a: Any, b: Any) -> bool:
    """Same class, same variables (by name) and same constants (by value, e.g. the width)."""
    if a.ClassName() != b.ClassName():
        return False

    def key(pdf: Any) -> list[str]:
        return sorted(s.GetName() if isinstance(s, ROOT.RooRealVar) else repr(round(s.getVal(), 12))
                      for s in pdf.servers())

    return key(a) == key(b)


def _combined_data(channels: Sequence[Channel], observables: Any, cat: Any, rename: Mapping[str, str]) -> Any:
    """One weighted RooDataSet of all channels with the index category, built column-wise with
    numpy (observables a channel does not have are set to their current value)."""
    import numpy as np

    columns: dict[str, list] = {o.GetName(): [] for o in observables}
    index, weights = [], []
    for ch in channels:
        n = ch.data.numEntries()
        if isinstance(ch.data, ROOT.RooDataHist):  # e.g. a parametrized channel: one entry per bin
            names = [v.GetName() for v in ch.data.get()]
            arrays = {k: np.empty(n) for k in names}
            w = np.empty(n)
            for i in range(n):
                row = ch.data.get(i)
                for k in names:
                    arrays[k][i] = row.getRealValue(k)
                w[i] = ch.data.weight()
        else:
            arrays = ch.data.to_numpy()
            w = (np.asarray(arrays[ch.data.weightVar().GetName()], dtype=np.float64) if ch.data.isWeighted()
                 else np.ones(n))
        renamed = {rename.get(k, k): v for k, v in arrays.items()}
        for name, parts in columns.items():
            parts.append(np.asarray(renamed[name], dtype=np.float64) if name in renamed
                         else np.full(n, observables.find(name).getVal()))
        index.append(np.full(n, cat.lookupIndex(ch.name), dtype=np.int32))
        weights.append(w)
    data = {k: np.concatenate(v) for k, v in columns.items()}
    data[CATEGORY_NAME] = np.concatenate(index)
    data[WEIGHT_NAME] = np.concatenate(weights)
    wvar = ROOT.RooRealVar(WEIGHT_NAME, WEIGHT_NAME, 1.0)
    variables = ROOT.RooArgSet(observables)
    variables.add(cat)
    variables.add(wvar)
    out = ROOT.RooDataSet.from_numpy(data, variables, name=DATA_NAME, title=DATA_NAME, weight_name=WEIGHT_NAME)
    if out.numEntries() != len(data[WEIGHT_NAME]):
        raise RuntimeError(f"combine: the combined dataset kept {out.numEntries()} of {len(data[WEIGHT_NAME])} entries")
    return out


def combine(sources: Sequence[Any], name: str = "combined", rename: Mapping[str, str] | None = None) -> CombinedModel:
    """Combine channels (see the module doc). ``sources``: roonsbi models, RooWorkspaces with a
    ModelConfig, or :class:`Channel` objects; ``rename``: parameter name -> name in the combination."""
    rename = dict(rename or {})
    channels: list[Channel] = []
    for src in sources:
        channels += [src] if isinstance(src, Channel) else channels_of(src)
    labels = [c.name for c in channels]
    if len(set(labels)) != len(labels):
        raise ValueError(f"channel names must be unique, got {labels}")

    ws = ROOT.RooWorkspace(name, name)
    cat = ROOT.RooCategory(CATEGORY_NAME, CATEGORY_NAME)
    for label in labels:
        cat.defineType(label)
    ws.Import(cat, ROOT.RooFit.Silence(True))
    sets = {k: ROOT.RooArgSet() for k in ("pois", "nps", "obs", "globs")}
    channel_pdfs = {}
    for ch in channels:
        bare, constraints = _split_constraints(ch)
        leaves = ROOT.RooArgSet()
        for f in bare + constraints:
            f.leafNodeServerList(leaves)
        _check_compatible(ws, leaves, rename, ch.name)
        renames = [(old, new) for old, new in rename.items() if leaves.find(old)]
        args = [ROOT.RooFit.Silence(True), ROOT.RooFit.RenameConflictNodes(f"_{ch.name}", True)]
        if renames:
            args.append(ROOT.RooFit.RenameVariable(",".join(o for o, _ in renames), ",".join(n for _, n in renames)))
        factors = ROOT.RooArgList()
        for f in bare:
            ws.Import(f, *args)  # a name taken by an earlier channel gets the suffix _<channel>
            factors.add(ws.pdf(f.GetName() + f"_{ch.name}") or ws.pdf(f.GetName()))
        for c in constraints:
            existing = ws.pdf(c.GetName())
            if existing:
                if not _same_constraint(existing, c):
                    raise ValueError(f"constraint '{c.GetName()}' of channel '{ch.name}' differs from its earlier "
                                     "definition")
            else:
                rargs = [ROOT.RooFit.Silence(True), ROOT.RooFit.RecycleConflictNodes(True)]
                if renames:
                    rargs.append(args[-1])
                ws.Import(c, *rargs)
            factors.add(ws.pdf(c.GetName()))
        pdf = ROOT.RooProdPdf(f"model_{ch.name}", f"channel {ch.name}", factors)
        ws.Import(pdf, ROOT.RooFit.Silence(True), ROOT.RooFit.RecycleConflictNodes(True))
        channel_pdfs[ch.name] = ws.pdf(f"model_{ch.name}")
        if not channel_pdfs[ch.name]:
            raise RuntimeError(f"combine: the pdf of channel '{ch.name}' was not imported ({[f.GetName() for f in factors]})")
        for key, coll in (("pois", ch.pois), ("nps", ch.nuisance_parameters), ("obs", ch.observables),
                          ("globs", ch.global_observables)):
            for a in coll:
                if a.GetName() == CATEGORY_NAME:
                    continue
                var = ws.var(rename.get(a.GetName(), a.GetName())) or ws.cat(a.GetName())
                if var and not sets[key].find(var.GetName()):
                    sets[key].add(var)

    sim = ROOT.RooSimultaneous(SIM_NAME, "combined pdf", ws.cat(CATEGORY_NAME))
    for label, pdf in channel_pdfs.items():
        sim.addPdf(pdf, label)
    ws.Import(sim, ROOT.RooFit.Silence(True), ROOT.RooFit.RecycleConflictNodes(True))

    ws.Import(_combined_data(channels, sets["obs"], ws.cat(CATEGORY_NAME), rename), ROOT.RooFit.Silence(True))

    mc = ROOT.RooStats.ModelConfig(MODELCONFIG_NAME, ws)
    mc.SetPdf(ws.pdf(SIM_NAME))
    mc.SetParametersOfInterest(sets["pois"])
    mc.SetNuisanceParameters(sets["nps"])
    obs = ROOT.RooArgSet(sets["obs"])
    obs.add(ws.cat(CATEGORY_NAME))
    mc.SetObservables(obs)
    mc.SetGlobalObservables(sets["globs"])
    ws.Import(mc)
    return CombinedModel(ws, name)
