/*
 * roonsbi: RooNSBIModel, the channel model "store-form RooNSBIPdf x its constraint pdfs",
 * whose standard createNLL() gives the fast likelihood (RooNSBINLL).
 */
#include "RooNSBI/RooNSBIModel.h"

#include "RooNSBI/RooNSBINLL.h"
#include "RooNSBI/RooNSBIPdf.h"

#include <RooAbsData.h>
#include <RooArgList.h>
#include <RooArgSet.h>
#include <RooCmdArg.h>
#include <RooConstraintSum.h>
#include <RooLinkedList.h>
#include <RooMsgService.h>
#include <RooRealVar.h>

#include <functional>
#include <sstream>
#include <stdexcept>

namespace {

std::string where(const char *name)
{
   return std::string("RooNSBIModel '") + name + "': ";
}

RooArgList factorsOf(RooNSBIPdf &pdf, const RooArgList &constraints)
{
   RooArgList factors(pdf);
   factors.add(constraints);
   return factors;
}

const char *validated(const char *name, const RooNSBIPdf &pdf, const RooArgList &constraints)
{
   RooNSBIModel::checkInputs(name, pdf, constraints);
   return name;
}

/// The createNLL() commands the fast likelihood acts on (RooFit's defaults otherwise).
struct Options {
   int extended = 2; // RooFit's default: extended if the pdf can be (this one must be)
   const RooArgSet *globalObservables = nullptr;
   bool hasGlobalObservables = false;
   std::string globalObservablesTag;
   bool hasGlobalObservablesTag = false;
   std::string globalObservablesSource = "data";
   const RooArgSet *constrain = nullptr;
   bool hasConstrain = false;
   const RooArgSet *externalConstraints = nullptr;
   int offset = 0;
   bool hasOffset = false;
   int numCPU = 0;
   bool hasNumCPU = false;
   bool hasModularL = false;
};

/// Read the commands (and their sub-commands, as RooCmdConfig does); "" or why the fast likelihood
/// does not handle them.
std::string parse(const RooLinkedList &cmdList, Options &opt)
{
   std::string reason;
   std::function<void(const RooCmdArg &)> visit = [&](const RooCmdArg &cmd) {
      const std::string name = cmd.GetName();
      if (!reason.empty())
         return;
      if (name.empty()) {
         // a command without opcode carries nothing itself
      } else if (name == "Extended") {
         opt.extended = cmd.getInt(0);
         if (opt.extended == 0)
            reason = "Extended(false) was asked for, but RooNSBIPdf must be extended";
      } else if (name == "GlobalObservables") {
         opt.globalObservables = cmd.getSet(0);
         opt.hasGlobalObservables = true;
      } else if (name == "GlobalObservablesTag") {
         opt.globalObservablesTag = cmd.getString(0) ? cmd.getString(0) : "";
         opt.hasGlobalObservablesTag = true;
      } else if (name == "GlobalObservablesSource") {
         opt.globalObservablesSource = cmd.getString(0) ? cmd.getString(0) : "";
         if (opt.globalObservablesSource != "data" && opt.globalObservablesSource != "model")
            reason = "GlobalObservablesSource(\"" + opt.globalObservablesSource + "\") is neither \"data\" nor \"model\"";
      } else if (name == "Constrain") {
         opt.constrain = cmd.getSet(0);
         opt.hasConstrain = true;
      } else if (name == "ExternalConstraints") {
         opt.externalConstraints = cmd.getSet(0);
      } else if (name == "OffsetLikelihood") {
         opt.offset = cmd.getInt(0);
         opt.hasOffset = true;
         if (opt.offset != 0 && opt.offset != 1)
            reason = "Offset(\"bin\") (bin-by-bin offsetting) is not done by the fast likelihood";
      } else if (name == "NumCPU") {
         opt.numCPU = cmd.getInt(0);
         opt.hasNumCPU = true;
      } else if (name == "CloneData" || name == "Verbose" || name == "Optimize" || name == "EvalBackend") {
         // no effect on RooNSBINLL
      } else if (name == "ProjectedObservables") {
         if (cmd.getSet(0) && !cmd.getSet(0)->empty())
            reason = "ConditionalObservables(...) is not supported by the fast likelihood";
      } else if (name == "ModularL") {
         opt.hasModularL = true;
         if (cmd.getInt(0))
            reason = "ModularL(true) asks for RooFit's test-statistics likelihood";
      } else if (name == "IntegrateBins") {
         if (cmd.getDouble(0) >= 0.0)
            reason = "IntegrateBins(...) is not supported by the fast likelihood";
      } else {
         reason = "command '" + name + "' is not supported by the fast likelihood";
      }
      for (TObject *sub : cmd.subArgs())
         visit(static_cast<const RooCmdArg &>(*sub));
   };
   for (TObject *obj : cmdList) {
      if (auto *cmd = dynamic_cast<const RooCmdArg *>(obj))
         visit(*cmd);
   }
   // RooFit's exclusive pairs (its createNLL refuses them)
   if (reason.empty() && opt.hasGlobalObservables && opt.hasGlobalObservablesTag)
      reason = "GlobalObservables and GlobalObservablesTag exclude each other";
   if (reason.empty() && opt.hasModularL && (opt.hasNumCPU || opt.hasOffset))
      reason = "ModularL excludes NumCPU and Offset";
   return reason;
}

} // namespace

RooNSBIModel::RooNSBIModel(const char *name, const char *title, RooNSBIPdf &pdf, const RooArgList &constraints)
   : RooProdPdf(validated(name, pdf, constraints), title, factorsOf(pdf, constraints))
{
}

RooNSBIModel::RooNSBIModel(const RooNSBIModel &other, const char *name) : RooProdPdf(other, name) {}

void RooNSBIModel::checkInputs(const char *name, const RooNSBIPdf &pdf, const RooArgList &constraints)
{
   const std::string self = where(name);
   if (!pdf.usesStore()) {
      throw std::invalid_argument(self + "pdf '" + pdf.GetName() +
                                  "' is a column-form RooNSBIPdf: the model needs the store form (an event index "
                                  "observable); use a RooProdPdf for the column form");
   }
   const RooAbsReal *index = pdf.indexVariable();
   for (RooAbsArg *arg : constraints) {
      auto *cons = dynamic_cast<RooAbsPdf *>(arg);
      if (!cons)
         throw std::invalid_argument(self + "constraint '" + arg->GetName() + "' is not a pdf (RooAbsPdf)");
      if (cons == &pdf || dynamic_cast<RooNSBIPdf *>(cons))
         throw std::invalid_argument(self + "constraint '" + arg->GetName() + "' is an NSBI pdf, not a constraint");
      if (cons->dependsOn(*index)) {
         throw std::invalid_argument(self + "constraint '" + arg->GetName() + "' depends on the event index '" +
                                     index->GetName() + "': a constraint is a function of parameters and global "
                                     "observables only");
      }
   }
}

RooNSBIPdf *RooNSBIModel::nsbiPdf() const
{
   for (RooAbsArg *factor : pdfList()) {
      if (auto *pdf = dynamic_cast<RooNSBIPdf *>(factor))
         return pdf;
   }
   return nullptr;
}

std::string RooNSBIModel::fastNLLUnsupportedReason(const RooAbsData &data, const RooLinkedList &cmdList) const
{
   Options opt;
   std::string reason = parse(cmdList, opt);
   if (!reason.empty())
      return reason;
   const RooNSBIPdf *pdf = nsbiPdf();
   if (!pdf)
      return "the model has no RooNSBIPdf factor";
   if (!pdf->usesStore() || !pdf->store())
      return std::string("pdf '") + pdf->GetName() + "' is not a store-form RooNSBIPdf with its event store";
   const char *index = pdf->indexVariable()->GetName();
   if (!data.get() || !data.get()->find(index))
      return std::string("dataset '") + data.GetName() + "' has no event index '" + index + "' (column-form data?)";
   RooArgSet observables;
   getObservables(data.get(), observables);
   for (RooAbsArg *obs : observables) {
      if (std::string(obs->GetName()) != index) {
         return std::string("'") + obs->GetName() + "' of dataset '" + data.GetName() +
                "' is an observable of the model besides the event index";
      }
   }
   for (RooAbsArg *factor : pdfList()) {
      if (factor != pdf && factor->dependsOn(observables)) {
         return std::string("factor '") + factor->GetName() + "' of the model depends on the event index";
      }
   }
   return "";
}

std::unique_ptr<RooAbsReal> RooNSBIModel::createNLLImpl(RooAbsData &data, const RooLinkedList &cmdList)
{
   const std::string reason = fastNLLUnsupportedReason(data, cmdList);
   if (!reason.empty()) {
      oocoutI(this, Fitting) << "RooNSBIModel::createNLL(" << GetName() << "): " << reason
                             << "; using RooFit's generic NLL" << std::endl;
      return RooProdPdf::createNLLImpl(data, cmdList);
   }
   Options opt;
   parse(cmdList, opt);
   RooNSBIPdf &pdf = *nsbiPdf();
   const std::string baseName = std::string("nll_") + GetName() + "_" + data.GetName();

   // The constraint pdfs, as RooFit's createConstraintTerm() finds them.
   const RooArgSet &observables = *data.get();
   RooArgSet constrained;
   bool stripDisconnected = false;
   if (opt.hasConstrain) {
      if (opt.constrain)
         constrained.add(*opt.constrain);
   } else {
      getParameters(&observables, constrained, false);
      stripDisconnected = true;
   }
   RooArgSet constraints;
   if (!constrained.empty()) {
      std::unique_ptr<RooArgSet> internal{getAllConstraints(observables, constrained, stripDisconnected)};
      constraints.add(*internal);
   }
   if (opt.externalConstraints)
      constraints.add(*opt.externalConstraints);

   // Their normalisation set: the global observables (or the constrained parameters).
   std::unique_ptr<RooArgSet> globals;
   if (opt.hasGlobalObservables) {
      globals = std::make_unique<RooArgSet>();
      if (opt.globalObservables)
         globals->add(*opt.globalObservables);
   } else {
      const char *tag = opt.hasGlobalObservablesTag ? opt.globalObservablesTag.c_str()
                                                    : getStringAttribute("DefaultGlobalObservablesTag");
      if (tag) {
         std::unique_ptr<RooArgSet> variables{getVariables()};
         globals.reset(static_cast<RooArgSet *>(variables->selectByAttrib(tag, true)));
      }
   }
   const RooArgSet *dataGlobals = data.getGlobalObservables();
   const bool fromData = opt.globalObservablesSource == "data" && dataGlobals && !dataGlobals->empty();
   if (fromData && !globals)
      globals = std::make_unique<RooArgSet>(*dataGlobals);
   const RooArgSet &normSet = globals ? *globals : constrained;

   // Global observables stored in the dataset take its values: copies (constant, owned by the NLL) that
   // clones of the constraints read instead of the model's variables; RooNSBINLL::setData() updates them.
   RooArgSet copies; // owning
   if (fromData) {
      dataGlobals->snapshot(copies, false);
      for (RooAbsArg *copy : copies) {
         if (auto *var = dynamic_cast<RooRealVar *>(copy))
            var->setConstant(true);
      }
   }
   RooArgList owned; // cloned constraint trees and the terms, owned by the NLL
   RooArgList terms;
   for (RooAbsArg *arg : constraints) {
      RooAbsArg *cons = arg;
      if (fromData && arg->dependsOn(copies)) {
         std::unique_ptr<RooArgSet> leaves{arg->getVariables()};
         RooArgSet modelLeaves;
         for (RooAbsArg *leaf : *leaves) {
            if (!copies.find(leaf->GetName()))
               modelLeaves.add(*leaf);
         }
         auto *clone = arg->cloneTree((std::string(arg->GetName()) + "_" + data.GetName()).c_str());
         clone->recursiveRedirectServers(modelLeaves); // parameters: the model's own
         clone->recursiveRedirectServers(copies);      // global observables: the dataset's values
         owned.addOwned(std::unique_ptr<RooAbsArg>{clone});
         cons = clone;
      }
      const std::string termName = baseName + "_constr_" + arg->GetName();
      auto term = std::make_unique<RooConstraintSum>(termName.c_str(), "-log of a constraint pdf", RooArgSet(*cons),
                                                     normSet, false);
      terms.add(*term);
      owned.addOwned(std::move(term));
   }

   RooNSBINLL::checkData(baseName.c_str(), pdf, data, terms); // bad values throw, naming the first
   auto nll = std::make_unique<RooNSBINLL>(baseName.c_str(), "-log(likelihood)", pdf, data, terms);
   nll->addOwnedComponents(std::move(owned));
   if (!copies.empty()) {
      RooArgSet refs(copies);
      nll->addOwnedComponents(std::move(copies));
      nll->setGlobalObservablesFromData(refs);
   }
   if (opt.offset == 1)
      nll->enableOffsetting(true);
   if (opt.numCPU > 0)
      nll->setNumThreads(static_cast<unsigned>(opt.numCPU));
   oocoutI(this, Fitting) << "RooNSBIModel::createNLL(" << GetName() << "): fast likelihood RooNSBINLL on "
                          << nll->numEvents() << " events of dataset '" << data.GetName() << "' with "
                          << terms.size() << " constraint terms" << std::endl;
   return nll;
}
