/*
 * roonsbi: combination of channels into one RooSimultaneous (see RooNSBI/Combination.h).
 */
#include "RooNSBI/Combination.h"
#include "RooNSBI/RooNSBIParamDataHist.h"

#include <RooAbsCategoryLValue.h>
#include <RooAbsData.h>
#include <RooAbsPdf.h>
#include <RooCategory.h>
#include <RooDataSet.h>
#include <RooGlobalFunc.h>
#include <RooProdPdf.h>
#include <RooRealVar.h>
#include <RooSimultaneous.h>
#include <RooStats/ModelConfig.h>
#include <RooWorkspace.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <utility>

namespace {

const char *const kSimPdf = "simPdf";
const char *const kCategory = "channelCat";
const char *const kData = "obsData";
const char *const kWeight = "weight";
const char *const kModelConfig = "ModelConfig";

std::string number(double value)
{
   char buffer[32];
   std::snprintf(buffer, sizeof(buffer), "%.12g", value);
   return buffer;
}

std::string describe(const RooRealVar &v)
{
   std::string out = "[" + number(v.getMin()) + ", " + number(v.getMax()) + "]";
   if (v.isConstant())
      out += " constant at " + number(v.getVal());
   return out;
}

bool isParameter(const RooAbsArg &arg, const RooNSBI::Combination::Channel &ch)
{
   return ch.pois.find(arg.GetName()) || ch.nuisanceParameters.find(arg.GetName());
}

} // namespace

namespace RooNSBI {

Combination::Combination(std::map<std::string, std::string> rename) : fRename(std::move(rename)) {}

std::string Combination::renamed(const std::string &name) const
{
   auto it = fRename.find(name);
   return it == fRename.end() ? name : it->second;
}

void Combination::addChannel(const std::string &label, RooAbsPdf &pdf, RooAbsData &data, const RooArgSet &pois,
                             const RooArgSet &nuisanceParameters, const RooArgSet &observables,
                             const RooArgSet &globalObservables)
{
   if (label.empty())
      throw std::invalid_argument("combine: a channel needs a non-empty label");
   for (const auto &ch : fChannels) {
      if (ch.label == label)
         throw std::invalid_argument("combine: channel labels must be unique, '" + label + "' appears twice");
   }
   for (auto *obs : observables) {
      if (!data.get()->find(obs->GetName()))
         throw std::invalid_argument("combine: the dataset '" + std::string(data.GetName()) + "' of channel '" + label +
                                     "' has no column for the observable '" + obs->GetName() + "'");
   }
   fChannels.push_back({label, &pdf, &data, RooArgSet(pois), RooArgSet(nuisanceParameters), RooArgSet(observables),
                        RooArgSet(globalObservables)});
}

void Combination::addParamData(RooWorkspace &ws)
{
   for (TObject *obj : ws.allGenericObjects()) {
      if (auto *pdh = dynamic_cast<const RooNSBIParamDataHist *>(obj))
         fParamData.push_back(pdh);
   }
}

void Combination::addWorkspace(RooWorkspace &ws, const std::string &label, const std::string &modelConfig,
                               const std::string &data)
{
   addParamData(ws);
   auto *mc = dynamic_cast<RooStats::ModelConfig *>(ws.obj(modelConfig.c_str()));
   if (!mc)
      throw std::invalid_argument("combine: workspace '" + std::string(ws.GetName()) + "' has no ModelConfig '" +
                                  modelConfig + "'");
   RooAbsData *dataset = ws.data(data.c_str());
   if (!dataset)
      throw std::invalid_argument("combine: workspace '" + std::string(ws.GetName()) + "' has no dataset '" + data +
                                  "'");
   RooAbsPdf *pdf = mc->GetPdf();
   if (!pdf)
      throw std::invalid_argument("combine: the ModelConfig '" + modelConfig + "' of workspace '" + ws.GetName() +
                                  "' has no pdf");
   const RooArgSet empty;
   auto orEmpty = [&](const RooArgSet *set) -> const RooArgSet & { return set ? *set : empty; };
   const RooArgSet &pois = orEmpty(mc->GetParametersOfInterest());
   const RooArgSet &nps = orEmpty(mc->GetNuisanceParameters());
   const RooArgSet &globs = orEmpty(mc->GetGlobalObservables());
   RooArgSet observables(orEmpty(mc->GetObservables()));

   auto *sim = dynamic_cast<RooSimultaneous *>(pdf);
   if (!sim) {
      addChannel(label.empty() ? ws.GetName() : label, *pdf, *dataset, pois, nps, observables, globs);
      return;
   }
   const RooAbsCategoryLValue &cat = sim->indexCat();
   if (auto *inObs = observables.find(cat.GetName()))
      observables.remove(*inObs);
   std::vector<std::unique_ptr<RooAbsData>> parts = dataset->split(cat, true);
   for (const auto &state : cat) {
      RooAbsPdf *channelPdf = sim->getPdf(state.first.c_str());
      if (!channelPdf)
         continue;
      RooAbsData *part = nullptr;
      for (auto &p : parts) {
         if (state.first == p->GetName())
            part = p.get();
      }
      if (!part)
         throw std::invalid_argument("combine: no data of state '" + state.first + "' in '" + data + "' of workspace '" +
                                     ws.GetName() + "'");
      addChannel(label.empty() ? state.first : label + "_" + state.first, *channelPdf, *part, pois, nps, observables,
                 globs);
   }
   for (auto &p : parts)
      fOwnedData.push_back(std::move(p));
}

namespace {

/// Structure of a constraint term in the combination's names: classes and servers in order,
/// parameters by (renamed) name, global observables and constants by value.
std::string signature(const RooAbsArg &arg, const Combination::Channel &ch,
                      const std::map<std::string, std::string> &rename)
{
   auto renamedName = [&](const char *name) {
      auto it = rename.find(name);
      return it == rename.end() ? std::string(name) : it->second;
   };
   if (arg.servers().empty()) {
      auto *real = dynamic_cast<const RooAbsReal *>(&arg);
      if (ch.globalObservables.find(arg.GetName()))
         return "glob=" + number(real ? real->getVal() : 0.0);
      auto *var = dynamic_cast<const RooRealVar *>(&arg);
      if (var && (!var->isConstant() || isParameter(arg, ch)))
         return "par:" + renamedName(arg.GetName());
      if (real)
         return "const=" + number(real->getVal());
      return std::string(arg.ClassName()) + ":" + arg.GetName();
   }
   std::string out = std::string(arg.ClassName()) + "(";
   for (const RooAbsArg *server : arg.servers())
      out += signature(*server, ch, rename) + ",";
   return out + ")";
}

/// The (renamed) parameters a constraint term constrains: its variables that are not global
/// observables and either float or are POIs/nuisance parameters of the channel.
std::set<std::string> constrainedParameters(const RooAbsPdf &constraint, const Combination::Channel &ch,
                                            const std::map<std::string, std::string> &rename)
{
   RooArgSet leaves;
   constraint.leafNodeServerList(&leaves);
   std::set<std::string> out;
   for (const RooAbsArg *leaf : leaves) {
      auto *var = dynamic_cast<const RooRealVar *>(leaf);
      if (!var || ch.globalObservables.find(leaf->GetName()) || (var->isConstant() && !isParameter(*leaf, ch)))
         continue;
      auto it = rename.find(leaf->GetName());
      out.insert(it == rename.end() ? leaf->GetName() : it->second);
   }
   return out;
}

} // namespace

std::unique_ptr<RooWorkspace> Combination::build(const std::string &name) const
{
   using namespace RooFit;
   if (fChannels.empty())
      throw std::invalid_argument("combine: no channels to combine");

   auto ws = std::make_unique<RooWorkspace>(name.c_str(), name.c_str());
   {
      RooCategory cat(kCategory, kCategory);
      for (const auto &ch : fChannels)
         cat.defineType(ch.label.c_str());
      ws->import(cat, Silence());
   }
   RooCategory *cat = ws->cat(kCategory);

   RooArgSet pois, nps, obs, globs; // workspace objects
   std::vector<RooAbsPdf *> channelPdfs;
   std::map<std::string, RooAbsPdf *> constraintOf;  // constrained parameter -> constraint in ws
   std::map<std::string, std::string> signatureOf;   // constraint in ws -> its signature

   for (const auto &ch : fChannels) {
      // factors depending on the observables, and the constraint terms
      std::vector<RooAbsPdf *> bare, constraints;
      auto *prod = dynamic_cast<RooProdPdf *>(ch.pdf);
      std::vector<RooAbsPdf *> factors;
      if (prod) {
         for (auto *f : prod->pdfList())
            factors.push_back(static_cast<RooAbsPdf *>(f));
      } else {
         factors.push_back(ch.pdf);
      }
      for (auto *f : factors)
         (f->dependsOn(ch.observables) ? bare : constraints).push_back(f);

      // parameters: correlated by (renamed) name, with the same definition
      RooArgSet leaves;
      for (auto *f : factors)
         f->leafNodeServerList(&leaves);
      std::string oldNames, newNames;
      for (auto *leaf : leaves) {
         const std::string target = renamed(leaf->GetName());
         if (target != leaf->GetName()) {
            if (leaves.find(target.c_str()))
               throw std::invalid_argument("combine: renaming '" + std::string(leaf->GetName()) + "' to '" + target +
                                           "' in channel '" + ch.label + "' clashes with its own '" + target + "'");
            oldNames += (oldNames.empty() ? "" : ",") + std::string(leaf->GetName());
            newNames += (newNames.empty() ? "" : ",") + target;
         }
         auto *var = dynamic_cast<RooRealVar *>(leaf);
         RooAbsArg *existing = ws->arg(target.c_str());
         if (!var || !existing)
            continue;
         auto *old = dynamic_cast<RooRealVar *>(existing);
         if (!old)
            throw std::invalid_argument("combine: parameter '" + target + "' of channel '" + ch.label +
                                        "' has the name of a " + existing->ClassName() + " of an earlier channel");
         const bool same = old->getMin() == var->getMin() && old->getMax() == var->getMax() &&
                           old->isConstant() == var->isConstant() &&
                           (!var->isConstant() || old->getVal() == var->getVal());
         if (!same)
            throw std::invalid_argument("combine: parameter '" + target + "' of channel '" + ch.label +
                                        "' conflicts with its earlier definition: range " + describe(*var) + " vs " +
                                        describe(*old));
      }
      const RooCmdArg renameArg = oldNames.empty() ? RooCmdArg::none()
                                                   : RenameVariable(oldNames.c_str(), newNames.c_str());

      RooArgList channelFactors;
      const std::string suffix = "_" + ch.label;
      for (auto *f : bare) {
         const bool clash = ws->arg(f->GetName()) != nullptr; // then imported as <name>_<label>
         if (ws->import(*f, Silence(), RenameConflictNodes(suffix.c_str()), renameArg))
            throw std::runtime_error("combine: importing '" + std::string(f->GetName()) + "' of channel '" + ch.label +
                                     "' failed");
         const std::string importedName = clash ? f->GetName() + suffix : f->GetName();
         RooAbsPdf *imported = ws->pdf(importedName.c_str());
         if (!imported)
            throw std::runtime_error("combine: '" + importedName + "' of channel '" + ch.label + "' was not imported");
         channelFactors.add(*imported);
      }
      for (auto *c : constraints) {
         const std::string sig = signature(*c, ch, fRename);
         const std::set<std::string> params = constrainedParameters(*c, ch, fRename);
         RooAbsPdf *shared = nullptr;
         for (const auto &p : params) {
            auto it = constraintOf.find(p);
            if (it == constraintOf.end())
               continue;
            if (signatureOf.at(it->second->GetName()) != sig)
               throw std::invalid_argument("combine: the constraint '" + std::string(c->GetName()) + "' of channel '" +
                                           ch.label + "' on parameter '" + p + "' differs from the constraint '" +
                                           it->second->GetName() + "' of an earlier channel");
            shared = it->second;
            break;
         }
         if (!shared) {
            if (RooAbsArg *same = ws->arg(c->GetName())) {
               auto it = signatureOf.find(c->GetName());
               if (it == signatureOf.end() || it->second != sig)
                  throw std::invalid_argument("combine: the constraint '" + std::string(c->GetName()) +
                                              "' of channel '" + ch.label + "' differs from its earlier definition");
               shared = static_cast<RooAbsPdf *>(same);
            }
         }
         if (!shared) {
            if (ws->import(*c, Silence(), RecycleConflictNodes(), renameArg))
               throw std::runtime_error("combine: importing the constraint '" + std::string(c->GetName()) +
                                        "' of channel '" + ch.label + "' failed");
            shared = ws->pdf(c->GetName());
            signatureOf[c->GetName()] = sig;
            for (const auto &p : params)
               constraintOf[p] = shared;
         }
         if (!channelFactors.find(*shared))
            channelFactors.add(*shared);
      }

      if (channelFactors.size() == 1) {
         channelPdfs.push_back(static_cast<RooAbsPdf *>(&channelFactors[0]));
      } else {
         const std::string pdfName = "model_" + ch.label;
         if (ws->arg(pdfName.c_str()))
            throw std::invalid_argument("combine: the name '" + pdfName + "' for the pdf of channel '" + ch.label +
                                        "' is taken by an object of an earlier channel");
         RooProdPdf product(pdfName.c_str(), ("channel " + ch.label).c_str(), channelFactors);
         ws->import(product, Silence(), RecycleConflictNodes());
         channelPdfs.push_back(ws->pdf(pdfName.c_str()));
      }

      auto collect = [&](RooArgSet &target, const RooArgSet &source) {
         for (auto *a : source) {
            const std::string n = renamed(a->GetName());
            RooAbsArg *inWs = n == kCategory ? nullptr : ws->arg(n.c_str());
            if (inWs && !target.find(n.c_str()))
               target.add(*inWs);
         }
      };
      collect(pois, ch.pois);
      collect(nps, ch.nuisanceParameters);
      collect(obs, ch.observables);
      collect(globs, ch.globalObservables);
   }
   nps.remove(pois, /*silent=*/true, /*matchByNameOnly=*/true);
   if (obs.find(kWeight))
      throw std::invalid_argument(std::string("combine: an observable is called '") + kWeight +
                                  "', the name of the combined dataset's weight");

   {
      RooSimultaneous sim(kSimPdf, "combined pdf", *cat);
      for (std::size_t k = 0; k < fChannels.size(); ++k)
         sim.addPdf(*channelPdfs[k], fChannels[k].label.c_str());
      ws->import(sim, Silence(), RecycleConflictNodes());
   }

   // one weighted dataset: the channels' events with their state of channelCat; observables
   // that a channel does not have keep their current value
   {
      RooRealVar weight(kWeight, kWeight, 1.0);
      RooArgSet vars(obs);
      vars.add(*cat);
      vars.add(weight);
      RooDataSet combined(kData, kData, vars, WeightVar(weight));
      std::unique_ptr<RooArgSet> row{vars.snapshot(false)};
      auto *rowCat = static_cast<RooCategory *>(row->find(kCategory));
      for (const auto &ch : fChannels) {
         const RooArgSet *source = ch.data->get();
         std::vector<std::pair<RooAbsArg *, const RooAbsArg *>> copy;
         for (auto *s : *source) {
            RooAbsArg *target = row->find(renamed(s->GetName()).c_str());
            if (target && target != rowCat && std::string(target->GetName()) != kWeight)
               copy.emplace_back(target, s);
         }
         rowCat->setIndex(cat->lookupIndex(ch.label));
         for (int i = 0; i < ch.data->numEntries(); ++i) {
            ch.data->get(i);
            for (auto &[target, from] : copy) {
               if (auto *real = dynamic_cast<RooRealVar *>(target)) {
                  const double value = static_cast<const RooAbsReal *>(from)->getVal();
                  if (!real->inRange(value, nullptr))
                     throw std::invalid_argument("combine: event " + std::to_string(i) + " of channel '" + ch.label +
                                                 "' has " + real->GetName() + " = " + number(value) +
                                                 " outside its range " + describe(*real));
                  real->setVal(value);
               } else if (auto *category = dynamic_cast<RooAbsCategoryLValue *>(target)) {
                  category->setIndex(static_cast<const RooAbsCategory *>(from)->getCurrentIndex());
               }
            }
            combined.add(*row, ch.data->weight());
         }
      }
      ws->import(combined, Silence());
   }

   for (const RooNSBIParamDataHist *pdh : fParamData) {
      if (ws->genobj(pdh->GetName()))
         throw std::invalid_argument("combine: two channels have per-mu' data (RooNSBIParamDataHist) named '" +
                                     std::string(pdh->GetName()) + "'; give the parametrized channels distinct names");
      ws->import(*pdh, pdh->GetName());
   }

   RooStats::ModelConfig mc(kModelConfig, ws.get());
   mc.SetPdf(kSimPdf);
   mc.SetParametersOfInterest(pois);
   mc.SetNuisanceParameters(nps);
   RooArgSet observables(obs);
   observables.add(*cat);
   mc.SetObservables(observables);
   mc.SetGlobalObservables(globs);
   ws->import(mc);
   return ws;
}

std::unique_ptr<RooWorkspace>
combine(const std::vector<WorkspaceChannel> &channels, const std::map<std::string, std::string> &rename,
        const std::string &name)
{
   Combination combination(rename);
   for (const auto &ch : channels) {
      if (!ch.workspace)
         throw std::invalid_argument("combine: a channel has no workspace");
      combination.addWorkspace(*ch.workspace, ch.label, ch.modelConfig, ch.data);
   }
   return combination.build(name);
}

std::map<std::string, std::string> parseRenames(const std::string &spec)
{
   auto trim = [](std::string s) {
      const auto first = s.find_first_not_of(" \t\n");
      const auto last = s.find_last_not_of(" \t\n");
      return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
   };
   std::map<std::string, std::string> out;
   std::size_t start = 0;
   while (start <= spec.size()) {
      const std::size_t end = std::min(spec.find(',', start), spec.size());
      const std::string item = trim(spec.substr(start, end - start));
      start = end + 1;
      if (item.empty())
         continue;
      const auto eq = item.find('=');
      const std::string from = eq == std::string::npos ? "" : trim(item.substr(0, eq));
      const std::string to = eq == std::string::npos ? "" : trim(item.substr(eq + 1));
      if (from.empty() || to.empty())
         throw std::invalid_argument("combine: rename '" + item + "' is not of the form old=new");
      if (!out.emplace(from, to).second)
         throw std::invalid_argument("combine: '" + from + "' is renamed twice");
   }
   return out;
}

} // namespace RooNSBI
