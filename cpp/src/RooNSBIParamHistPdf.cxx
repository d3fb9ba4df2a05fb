/*
 * roonsbi: RooNSBIParamHistPdf, the "parametrized RooHistPdf" of parametrized NSBI.
 */
#include "RooNSBI/RooNSBIParamHistPdf.h"
#include "RooNSBI/BinnedMathFuncs.h"
#include "RooNSBI/ProcessGroups.h"

#include "Checks.h"

#include <RooAbsRealLValue.h>
#include <RooFit/EvalContext.h>
#include <TBuffer.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace {

std::string where(const char *cls, const RooAbsArg &self)
{
   return std::string(cls) + " '" + self.GetName() + "': ";
}

void requireReals(const std::string &prefix, const RooArgList &list, const char *what)
{
   for (RooAbsArg *arg : list) {
      if (!dynamic_cast<RooAbsReal *>(arg)) {
         throw std::invalid_argument(prefix + what + " '" + arg->GetName() + "' is not a RooAbsReal");
      }
   }
}

/// Index and value of the first non-finite entry, or -1.
long firstNonFinite(const std::vector<double> &v)
{
   for (std::size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i]))
         return static_cast<long>(i);
   }
   return -1;
}

template <class Scalar>
void gather(const RooListProxy &list, Scalar const &scalar, std::vector<double> &out)
{
   for (std::size_t i = 0; i < list.size(); ++i) {
      out[i] = scalar(list[i]); // sized by groupShapeTerms()
   }
}

/// Evaluate the templates with parameter values from `scalar(arg)` into tmpl.yieldScratch
/// (no allocation: the scratch is sized by groupShapeTerms()).
template <class Scalar>
const std::vector<double> &evaluateTemplates(const RooNSBIParamHistTemplates &tmpl, const RooAbsReal &muPrime,
                                             const RooListProxy &scales, const RooListProxy &shapeParams,
                                             const RooListProxy &gammas, Scalar const &scalar)
{
   gather(scales, scalar, tmpl.scaleScratch);
   gather(shapeParams, scalar, tmpl.paramScratch);
   gather(gammas, scalar, tmpl.gammaScratch);
   tmpl.compute(scalar(muPrime), tmpl.scaleScratch.data(), tmpl.paramScratch.data(),
                gammas.empty() ? nullptr : tmpl.gammaScratch.data(), tmpl.yieldScratch.data());
   return tmpl.yieldScratch;
}

} // namespace

// -- RooNSBIParamHistTemplates ------------------------------------------------------

void RooNSBIParamHistTemplates::groupShapeTerms(std::size_t nShapeParams)
{
   const std::size_t nProc = nProcesses;
   const std::size_t nTerms = shapeProcess.size();
   RooNSBI::groupByProcess(shapeProcess, nProc, groupFirst, groupedTerms);
   termScratch.assign(nTerms, {});
   procScratch.assign(nProc, {});
   scaleScratch.assign(nProc, 0.0);
   paramScratch.assign(nShapeParams, 0.0);
   gammaScratch.assign(nBins, 0.0);
   yieldScratch.assign(nBins, 0.0);
}

void RooNSBIParamHistTemplates::compute(double muPrime, const double *scales, const double *shapeParams,
                                        const double *gammas, double *out) const
{
   using namespace RooNSBI::BinnedMathFuncs;
   const std::size_t nGrid = grid.size();
   const std::size_t nProc = nProcesses;
   const std::size_t nB = nBins;

   std::fill(out, out + nB, 0.0);
   const GridPosition pos = locate(grid.data(), nGrid, muPrime);

   HistoSysTerm *terms = termScratch.data();
   ProcessTemplate *procs = procScratch.data();
   for (int side = 0; side < 2; ++side) {
      const double weight = side ? pos.t : 1.0 - pos.t;
      if (weight == 0.0) {
         continue;
      }
      const std::size_t k = pos.k + side;
      // shape terms grouped by process (groupShapeTerms), in the order they were added
      for (std::size_t j = 0; j < nProc; ++j) {
         for (std::size_t s = groupFirst[j]; s < groupFirst[j + 1]; ++s) {
            const std::size_t t = groupedTerms[s];
            const std::size_t offset = (t * nGrid + k) * nB;
            terms[s] = {shapeCode[t], shapeParams[shapeParamIndex[t]], shapeLow.data() + offset,
                        shapeHigh.data() + offset};
         }
         procs[j] = {scales[j], nominal.data() + (k * nProc + j) * nB, terms + groupFirst[j],
                     groupFirst[j + 1] - groupFirst[j]};
      }
      addGridPointYields(nB, procs, nProc, positiveDefinite, weight, out);
   }
   if (gammas) {
      applyGammas(nB, gammas, out);
   }
}

// -- RooNSBIParamHistPdf -----------------------------------------------------------

RooNSBIParamHistPdf::RooNSBIParamHistPdf(const char *name, const char *title, RooAbsReal &observable,
                                         RooAbsReal &muPrime, const std::vector<double> &grid, int nBins,
                                         const RooArgList &scales, const std::vector<double> &nominal)
   : RooAbsPdf(name, title),
     _x("x", "bin-index observable", this, observable),
     _muPrime("muPrime", "parameter selecting the templates (mu')", this, muPrime),
     _scales("scales", "scale factors s_J = f_J G_J of the processes", this),
     _shapeParams("shapeParams", "nuisance parameters of the histosys terms", this),
     _gammas("gammas", "MC-statistics factors gamma_b", this)
{
   const std::string prefix = where("RooNSBIParamHistPdf", *this);
   RooNSBI::Checks::checkGrid(prefix, grid, nBins);
   if (scales.empty()) {
      throw std::invalid_argument(prefix + "needs at least one process");
   }
   requireReals(prefix, scales, "scale factor");
   const std::size_t expected = grid.size() * scales.size() * static_cast<std::size_t>(nBins);
   if (nominal.size() != expected) {
      std::ostringstream msg;
      msg << prefix << "got " << nominal.size() << " nominal bin contents but " << grid.size() << " grid points x "
          << scales.size() << " processes x " << nBins << " bins = " << expected << " are needed";
      throw std::invalid_argument(msg.str());
   }
   const long bad = firstNonFinite(nominal);
   if (bad >= 0) {
      const std::size_t b = bad % nBins, j = (bad / nBins) % scales.size(), k = bad / nBins / scales.size();
      std::ostringstream msg;
      msg << prefix << "nominal content of process '" << scales[j].GetName() << "' in bin " << b << " at grid point "
          << k << " is " << nominal[bad];
      throw std::invalid_argument(msg.str());
   }
   if (auto *lv = dynamic_cast<RooAbsRealLValue *>(&observable)) {
      if (lv->getMin() != 0.0 || lv->getMax() != static_cast<double>(nBins) || lv->numBins() != nBins) {
         std::ostringstream msg;
         msg << prefix << "the observable '" << observable.GetName() << "' must be the bin index: range [0, " << nBins
             << "] with " << nBins << " bins, but it has range [" << lv->getMin() << ", " << lv->getMax() << "] with "
             << lv->numBins() << " bins";
         throw std::invalid_argument(msg.str());
      }
   }
   _scales.add(scales);
   _templates.grid = grid;
   _templates.nBins = nBins;
   _templates.nProcesses = static_cast<int>(scales.size());
   _templates.nominal = nominal;
   _templates.groupShapeTerms(_shapeParams.size());
}

RooNSBIParamHistPdf::RooNSBIParamHistPdf(const RooNSBIParamHistPdf &other, const char *name)
   : RooAbsPdf(other, name),
     _x("x", this, other._x),
     _muPrime("muPrime", this, other._muPrime),
     _scales("scales", this, other._scales),
     _shapeParams("shapeParams", this, other._shapeParams),
     _gammas("gammas", this, other._gammas),
     _templates(other._templates),
     _fixedObservableAccepted(other._fixedObservableAccepted)
{
}

std::unique_ptr<RooAbsArg>
RooNSBIParamHistPdf::compileForNormSet(RooArgSet const &normSet, RooFit::Detail::CompileContext &ctx) const
{
   if (!_fixedObservableAccepted) {
      std::ostringstream msg;
      msg << where("RooNSBIParamHistPdf", *this) << "this parametrized-NSBI channel's data and templates are the "
          << "optimal observable of " << _muPrime.arg().GetName() << " = " << static_cast<double>(_muPrime)
          << "; a likelihood over the POIs with that one observable is not the parametrized-NSBI scan, "
          << "which uses the observable of each scan point. Run roonsbi.infer.parametrized_scan("
          << "roonsbi.load_model(<file>)) for the parametrized scan. To compute the profile likelihood of the "
          << "fixed observable instead (a valid but different interval), call acceptFixedObservable() on "
          << "this pdf first (in C++: static_cast<RooNSBIParamHistPdf *>(ws->pdf(\"" << GetName()
          << "\"))->acceptFixedObservable();).";
      throw std::invalid_argument(msg.str());
   }
   return RooAbsPdf::compileForNormSet(normSet, ctx);
}

void RooNSBIParamHistPdf::Streamer(TBuffer &buffer)
{
   if (buffer.IsReading()) {
      buffer.ReadClassBuffer(RooNSBIParamHistPdf::Class(), this);
      _templates.groupShapeTerms(_shapeParams.size());
   } else {
      buffer.WriteClassBuffer(RooNSBIParamHistPdf::Class(), this);
   }
}

void RooNSBIParamHistPdf::addHistoSys(std::size_t process, RooAbsReal &alpha, const std::vector<double> &low,
                                      const std::vector<double> &high, int code)
{
   const std::string prefix = where("RooNSBIParamHistPdf", *this);
   if (process >= _scales.size()) {
      std::ostringstream msg;
      msg << prefix << "histosys '" << alpha.GetName() << "' refers to process " << process << " but the pdf has "
          << _scales.size() << " processes";
      throw std::invalid_argument(msg.str());
   }
   const std::string what = std::string("histosys '") + alpha.GetName() + "' of process '" +
                            _scales[process].GetName() + "'";
   if (!RooNSBI::Codes::isShapeCode(code)) {
      std::ostringstream msg;
      msg << prefix << "unknown interpolation code " << code << " for " << what << " (PiecewiseInterpolation codes "
          << RooNSBI::Codes::shapeCodesText << " are supported)";
      throw std::invalid_argument(msg.str());
   }
   const std::size_t expected = _templates.grid.size() * static_cast<std::size_t>(_templates.nBins);
   for (const auto *side : {&low, &high}) {
      const char *name = side == &low ? "low (-1 sigma)" : "high (+1 sigma)";
      if (side->size() != expected) {
         std::ostringstream msg;
         msg << prefix << what << ": got " << side->size() << " " << name << " bin contents but "
             << _templates.grid.size() << " grid points x " << _templates.nBins << " bins = " << expected
             << " are needed";
         throw std::invalid_argument(msg.str());
      }
      const long bad = firstNonFinite(*side);
      if (bad >= 0) {
         std::ostringstream msg;
         msg << prefix << what << ": " << name << " content in bin " << bad % _templates.nBins << " at grid point "
             << bad / _templates.nBins << " is " << (*side)[bad];
         throw std::invalid_argument(msg.str());
      }
   }
   for (std::size_t t = 0; t < _templates.shapeProcess.size(); ++t) {
      if (_templates.shapeProcess[t] == static_cast<int>(process) &&
          &_shapeParams[_templates.shapeParamIndex[t]] == &alpha) {
         throw std::invalid_argument(prefix + what + " was already added");
      }
   }
   int index = _shapeParams.index(&alpha);
   if (index < 0) {
      _shapeParams.add(alpha);
      index = _shapeParams.size() - 1;
   }
   _templates.shapeProcess.push_back(static_cast<int>(process));
   _templates.shapeParamIndex.push_back(index);
   _templates.shapeCode.push_back(code);
   _templates.shapeLow.insert(_templates.shapeLow.end(), low.begin(), low.end());
   _templates.shapeHigh.insert(_templates.shapeHigh.end(), high.begin(), high.end());
   _templates.groupShapeTerms(_shapeParams.size());
   setValueDirty();
}

void RooNSBIParamHistPdf::setGammas(const RooArgList &gammas)
{
   const std::string prefix = where("RooNSBIParamHistPdf", *this);
   if (!gammas.empty() && gammas.size() != static_cast<std::size_t>(_templates.nBins)) {
      std::ostringstream msg;
      msg << prefix << "got " << gammas.size() << " staterror factors gamma_b but the pdf has " << _templates.nBins
          << " bins";
      throw std::invalid_argument(msg.str());
   }
   requireReals(prefix, gammas, "staterror factor");
   _gammas.removeAll();
   _gammas.add(gammas);
   setValueDirty();
}

void RooNSBIParamHistPdf::setPositiveDefinite(bool flag)
{
   _templates.positiveDefinite = flag;
   setValueDirty();
}

template <class Scalar>
const std::vector<double> *RooNSBIParamHistPdf::computeYields(Scalar const &scalar, double &nu) const
{
   const std::vector<double> &yields = evaluateTemplates(_templates, _muPrime.arg(), _scales, _shapeParams, _gammas,
                                                         scalar);
   nu = RooNSBI::BinnedMathFuncs::total(yields.size(), yields.data());
   for (std::size_t b = 0; b < yields.size(); ++b) {
      if (!(yields[b] >= 0.0) || !std::isfinite(yields[b])) {
         std::ostringstream msg;
         msg << "expected yield in bin " << b << " is " << yields[b] << " (negative or not finite) at mu' = "
             << scalar(_muPrime.arg());
         logEvalError(msg.str().c_str());
         return nullptr;
      }
   }
   if (!(nu > 0.0) || !std::isfinite(nu)) {
      std::ostringstream msg;
      msg << "total expected yield nu = " << nu << " is not positive and finite";
      logEvalError(msg.str().c_str());
      return nullptr;
   }
   return &yields;
}

std::vector<double> RooNSBIParamHistPdf::binYields() const
{
   auto scalar = [](RooAbsArg const &arg) { return static_cast<RooAbsReal const &>(arg).getVal(); };
   return evaluateTemplates(_templates, _muPrime.arg(), _scales, _shapeParams, _gammas, scalar); // a copy
}

double RooNSBIParamHistPdf::totalYield() const
{
   auto scalar = [](RooAbsArg const &arg) { return static_cast<RooAbsReal const &>(arg).getVal(); };
   const std::vector<double> &yields = evaluateTemplates(_templates, _muPrime.arg(), _scales, _shapeParams, _gammas,
                                                         scalar);
   return RooNSBI::BinnedMathFuncs::total(yields.size(), yields.data());
}

double RooNSBIParamHistPdf::expectedEvents(const RooArgSet * /*nset*/) const
{
   return totalYield();
}

std::unique_ptr<RooAbsReal> RooNSBIParamHistPdf::createExpectedEventsFunc(const RooArgSet * /*nset*/) const
{
   std::string name = std::string(GetName()) + "_expectedEvents";
   return std::make_unique<RooNSBIParamHistYield>(name.c_str(), name.c_str(), *this);
}

double RooNSBIParamHistPdf::evaluate() const
{
   auto scalar = [](RooAbsArg const &arg) { return static_cast<RooAbsReal const &>(arg).getVal(); };
   double nu = 0.0;
   const std::vector<double> *computed = computeYields(scalar, nu);
   if (!computed) {
      return std::numeric_limits<double>::quiet_NaN();
   }
   const std::vector<double> &yields = *computed;
   return yields[RooNSBI::BinnedMathFuncs::binIndex(_x, yields.size())] / nu;
}

void RooNSBIParamHistPdf::doEval(RooFit::EvalContext &ctx) const
{
   std::span<double> output = ctx.output();
   auto scalar = [&](RooAbsArg const &arg) { return ctx.at(&arg, this)[0]; };
   double nu = 0.0;
   const std::vector<double> *computed = computeYields(scalar, nu);
   if (!computed) {
      std::fill(output.begin(), output.end(), std::numeric_limits<double>::quiet_NaN());
      return;
   }
   const std::vector<double> &yields = *computed;
   std::span<const double> x = ctx.at(_x);
   const std::size_t nB = yields.size();
   for (std::size_t i = 0; i < output.size(); ++i) {
      const double xi = x.size() > 1 ? x[i] : x[0];
      output[i] = yields[RooNSBI::BinnedMathFuncs::binIndex(xi, nB)] / nu;
   }
}

std::list<double> *RooNSBIParamHistPdf::binBoundaries(RooAbsRealLValue &obs, double xlo, double xhi) const
{
   if (obs.namePtr() != _x.arg().namePtr()) {
      return nullptr;
   }
   auto *out = new std::list<double>;
   for (int b = 0; b <= _templates.nBins; ++b) {
      if (b >= xlo && b <= xhi)
         out->push_back(b);
   }
   return out;
}

std::list<double> *RooNSBIParamHistPdf::plotSamplingHint(RooAbsRealLValue &obs, double xlo, double xhi) const
{
   if (obs.namePtr() != _x.arg().namePtr()) {
      return nullptr;
   }
   // a step function: sample just left and right of every bin boundary
   constexpr double delta = 1e-6;
   auto *out = new std::list<double>;
   for (int b = 0; b <= _templates.nBins; ++b) {
      for (double x : {b - delta, b + delta}) {
         if (x >= xlo && x <= xhi)
            out->push_back(x);
      }
   }
   return out;
}

// -- RooNSBIParamHistYield ------------------------------------------------------------

RooNSBIParamHistYield::RooNSBIParamHistYield(const char *name, const char *title, const RooNSBIParamHistPdf &pdf)
   : RooAbsReal(name, title),
     _muPrime("muPrime", "parameter selecting the templates (mu')", this,
              const_cast<RooAbsReal &>(pdf._muPrime.arg())),
     _scales("scales", "scale factors s_J = f_J G_J of the processes", this),
     _shapeParams("shapeParams", "nuisance parameters of the histosys terms", this),
     _gammas("gammas", "MC-statistics factors gamma_b", this),
     _templates(pdf._templates)
{
   _scales.add(pdf._scales);
   _shapeParams.add(pdf._shapeParams);
   _gammas.add(pdf._gammas);
}

RooNSBIParamHistYield::RooNSBIParamHistYield(const RooNSBIParamHistYield &other, const char *name)
   : RooAbsReal(other, name),
     _muPrime("muPrime", this, other._muPrime),
     _scales("scales", this, other._scales),
     _shapeParams("shapeParams", this, other._shapeParams),
     _gammas("gammas", this, other._gammas),
     _templates(other._templates)
{
}

void RooNSBIParamHistYield::Streamer(TBuffer &buffer)
{
   if (buffer.IsReading()) {
      buffer.ReadClassBuffer(RooNSBIParamHistYield::Class(), this);
      _templates.groupShapeTerms(_shapeParams.size());
   } else {
      buffer.WriteClassBuffer(RooNSBIParamHistYield::Class(), this);
   }
}

template <class Scalar>
double RooNSBIParamHistYield::compute(Scalar const &scalar) const
{
   const std::vector<double> &yields = evaluateTemplates(_templates, _muPrime.arg(), _scales, _shapeParams, _gammas,
                                                         scalar);
   return RooNSBI::BinnedMathFuncs::total(yields.size(), yields.data());
}

double RooNSBIParamHistYield::evaluate() const
{
   return compute([](RooAbsArg const &arg) { return static_cast<RooAbsReal const &>(arg).getVal(); });
}

void RooNSBIParamHistYield::doEval(RooFit::EvalContext &ctx) const
{
   const double nu = compute([&](RooAbsArg const &arg) { return ctx.at(&arg, this)[0]; });
   std::span<double> output = ctx.output();
   std::fill(output.begin(), output.end(), nu);
}
