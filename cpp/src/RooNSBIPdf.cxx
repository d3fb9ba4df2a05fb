/*
 * roonsbi: RooNSBIPdf, the NSBI master formula as a RooFit pdf.
 */
#include "RooNSBI/RooNSBIPdf.h"
#include "RooNSBI/MathFuncs.h"
#include "RooNSBI/ProcessGroups.h"

#include "PdfChecks.h"

#include <RooAbsData.h>
#include <RooAddition.h>
#include <RooFit/EvalContext.h>
#include <TBuffer.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

using RooNSBI::PdfChecks::requireReals;
using RooNSBI::PdfChecks::where;

RooNSBIPdf::RooNSBIPdf(const char *name, const char *title, const RooArgList &yields, const RooArgList &ratios)
   : RooAbsPdf(name, title),
     _yields("yields", "yields N_J of the processes", this),
     _nuShift("nuShift", "shift of the expected events (renormalised shapes)", this),
     _ratios("ratios", "density-ratio columns r_J of the processes", this),
     _shapeParams("shapeParams", "nuisance parameters of the shape systematics", this),
     _shapeLow("shapeLow", "g(x,-1) columns of the shape systematics", this),
     _shapeHigh("shapeHigh", "g(x,+1) columns of the shape systematics", this),
     _index("index", "event-index observable (store form)", this)
{
   if (yields.empty()) {
      throw std::invalid_argument(where(*this) + "needs at least one process");
   }
   if (yields.size() != ratios.size()) {
      std::ostringstream msg;
      msg << where(*this) << "got " << yields.size() << " yields but " << ratios.size()
          << " ratio columns: one of each is needed per process";
      throw std::invalid_argument(msg.str());
   }
   requireReals(*this, yields, "yield");
   requireReals(*this, ratios, "ratio column");
   _yields.add(yields);
   _ratios.add(ratios);
   groupShapeTerms();
}

RooNSBIPdf::RooNSBIPdf(const RooNSBIPdf &other, const char *name)
   : RooAbsPdf(other, name),
     _yields("yields", this, other._yields),
     _nuShift("nuShift", this, other._nuShift),
     _ratios("ratios", this, other._ratios),
     _shapeParams("shapeParams", this, other._shapeParams),
     _shapeLow("shapeLow", this, other._shapeLow),
     _shapeHigh("shapeHigh", this, other._shapeHigh),
     _shapeProcess(other._shapeProcess),
     _shapeParamIndex(other._shapeParamIndex),
     _shapeCode(other._shapeCode),
     _index("index", this, other._index),
     _ratioColumns(other._ratioColumns),
     _lowColumns(other._lowColumns),
     _highColumns(other._highColumns),
     _nPool(other._nPool),
     _measureColumn(other._measureColumn),
     _store(other._store)
{
   _cache.setRefreshInterval(other._cache.refreshInterval());
   groupShapeTerms();
}

void RooNSBIPdf::Streamer(TBuffer &buffer)
{
   if (buffer.IsReading()) {
      buffer.ReadClassBuffer(RooNSBIPdf::Class(), this);
      if (usesStore())
         readStore(buffer);
      groupShapeTerms();
   } else {
      if (usesStore())
         writeStore(buffer);
      buffer.WriteClassBuffer(RooNSBIPdf::Class(), this);
   }
}

void RooNSBIPdf::groupShapeTerms()
{
   const std::size_t nProc = _yields.size();
   const std::size_t nTerms = _shapeProcess.size();
   RooNSBI::groupByProcess(_shapeProcess, nProc, _groupFirst, _groupedTerms);
   _procScratch.assign(nProc, {});
   _shapeScratch.assign(nTerms, {});
   _eventScratch.assign(nProc + 2 * nTerms, 0.0);
   _broadcast.clear();
   _alphaScratch.assign(nTerms, 0.0);
   _yieldScratch.assign(nProc, 0.0);
   bindStore();
}

void RooNSBIPdf::addShapeSystematic(std::size_t process, RooAbsReal &alpha, RooAbsReal &low, RooAbsReal &high,
                                    int code)
{
   if (usesStore()) {
      throw std::invalid_argument(where(*this) + "is a store-backed pdf: give the shape columns of '" +
                                  alpha.GetName() + "' by their store names, not as variables");
   }
   addShapeTerm(process, alpha, code);
   _shapeLow.add(low);
   _shapeHigh.add(high);
   groupShapeTerms();
   setValueDirty();
}

void RooNSBIPdf::addShapeTerm(std::size_t process, RooAbsReal &alpha, int code)
{
   if (process >= _yields.size()) {
      std::ostringstream msg;
      msg << where(*this) << "shape systematic '" << alpha.GetName() << "' refers to process " << process
          << " but the pdf has " << _yields.size() << " processes";
      throw std::invalid_argument(msg.str());
   }
   if (!RooNSBI::Codes::isShapeCode(code)) {
      std::ostringstream msg;
      msg << where(*this) << "unknown interpolation code " << code << " for shape systematic '" << alpha.GetName()
          << "' (PiecewiseInterpolation codes " << RooNSBI::Codes::shapeCodesText << " are supported)";
      throw std::invalid_argument(msg.str());
   }
   for (std::size_t t = 0; t < _shapeProcess.size(); ++t) {
      if (_shapeProcess[t] == static_cast<int>(process) && &_shapeParams[_shapeParamIndex[t]] == &alpha) {
         throw std::invalid_argument(where(*this) + "process " +
                                     (usesStore() ? _ratioColumns[process] : _ratios[process].GetName()) +
                                     " already has a shape systematic for '" + alpha.GetName() + "'");
      }
   }
   int index = _shapeParams.index(&alpha);
   if (index < 0) {
      _shapeParams.add(alpha);
      index = _shapeParams.size() - 1;
   }
   _shapeProcess.push_back(static_cast<int>(process));
   _shapeParamIndex.push_back(index);
   _shapeCode.push_back(code);
}

void RooNSBIPdf::setExpectedEventsShift(RooAbsReal &delta)
{
   _nuShift.removeAll();
   _nuShift.add(delta);
   setValueDirty();
}

double RooNSBIPdf::totalYield() const
{
   double nu = 0.0;
   for (RooAbsArg *y : _yields) {
      nu += static_cast<RooAbsReal *>(y)->getVal();
   }
   for (RooAbsArg *d : _nuShift) {
      nu += static_cast<RooAbsReal *>(d)->getVal();
   }
   return nu;
}

double RooNSBIPdf::expectedEvents(const RooArgSet * /*nset*/) const
{
   return totalYield();
}

std::unique_ptr<RooAbsReal> RooNSBIPdf::createExpectedEventsFunc(const RooArgSet * /*nset*/) const
{
   std::string name = std::string(GetName()) + "_expectedEvents";
   RooArgList terms(_yields);
   terms.add(_nuShift);
   return std::make_unique<RooAddition>(name.c_str(), name.c_str(), terms);
}

/// Gather the inputs of the master formula and evaluate it for n events.
/// `scalar(arg)` gives the value of a parameter-like server, `column(arg)` a
/// pointer to n values of a dataset column. Uses the scratch buffers sized by
/// groupShapeTerms(): no allocation (except the message of an evaluation error).
template <class Scalar, class Column>
void RooNSBIPdf::compute(std::size_t n, Scalar const &scalar, Column const &column, double *out) const
{
   using namespace RooNSBI::MathFuncs;
   const std::size_t nProc = _yields.size();
   ProcessTerm *procs = _procScratch.data();
   ShapeTerm *shapes = _shapeScratch.data();

   double nu = 0.0;
   for (std::size_t j = 0; j < nProc; ++j) {
      procs[j].yield = scalar(_yields[j]);
      procs[j].ratio = column(_ratios[j]);
      nu += procs[j].yield;
   }
   for (RooAbsArg *d : _nuShift)
      nu += scalar(*d);
   if (!(nu > 0.0) || !std::isfinite(nu)) {
      std::ostringstream msg;
      msg << "expected number of events nu = sum_J N_J" << (_nuShift.empty() ? "" : " + delta") << " = " << nu
          << " is not positive and finite (";
      for (std::size_t j = 0; j < nProc; ++j) {
         msg << (j ? ", " : "") << _yields[j].GetName() << " = " << procs[j].yield;
      }
      msg << ")";
      logEvalError(msg.str().c_str());
      std::fill(out, out + n, std::numeric_limits<double>::quiet_NaN());
      return;
   }

   // Shape terms grouped by process (groupShapeTerms), in the order they were added.
   for (std::size_t j = 0; j < nProc; ++j) {
      for (std::size_t s = _groupFirst[j]; s < _groupFirst[j + 1]; ++s) {
         const std::size_t t = _groupedTerms[s];
         shapes[s] = {_shapeCode[t], scalar(_shapeParams[_shapeParamIndex[t]]), column(_shapeLow[t]),
                      column(_shapeHigh[t])};
      }
      procs[j].shapes = shapes + _groupFirst[j];
      procs[j].nShapes = _groupFirst[j + 1] - _groupFirst[j];
   }

   densityRatio(n, procs, nProc, nu, out);
}

double RooNSBIPdf::evaluate() const
{
   if (usesStore())
      return evaluateStore();
   std::size_t next = 0; // one-event "columns": stable slots of _eventScratch (one per column use)
   auto scalar = [](RooAbsArg const &arg) { return static_cast<RooAbsReal const &>(arg).getVal(); };
   auto column = [&](RooAbsArg const &arg) -> const double * {
      double *slot = &_eventScratch[next++];
      *slot = static_cast<RooAbsReal const &>(arg).getVal();
      return slot;
   };
   double out = 0.0;
   compute(1, scalar, column, &out);
   return out;
}

void RooNSBIPdf::doEval(RooFit::EvalContext &ctx) const
{
   if (usesStore()) {
      doEvalStore(ctx);
      return;
   }
   std::span<double> output = ctx.output();
   const std::size_t n = output.size();
   // Columns that are constant in this evaluation are broadcast into _broadcast, which holds
   // n values per column; it grows only when a larger batch needs it (then the pointers handed
   // out before stay valid because every column is placed first and filled afterwards).
   std::size_t nConstant = 0;
   auto countConstant = [&](RooAbsArg const &arg) {
      if (ctx.at(&arg, this).size() < n)
         ++nConstant;
   };
   for (RooAbsArg *c : _ratios)
      countConstant(*c);
   for (RooAbsArg *c : _shapeLow)
      countConstant(*c);
   for (RooAbsArg *c : _shapeHigh)
      countConstant(*c);
   if (_broadcast.size() < nConstant * n)
      _broadcast.resize(nConstant * n);
   std::size_t next = 0;
   auto scalar = [&](RooAbsArg const &arg) { return ctx.at(&arg, this)[0]; };
   auto column = [&](RooAbsArg const &arg) -> const double * {
      std::span<const double> values = ctx.at(&arg, this);
      if (values.size() >= n)
         return values.data();
      double *slot = _broadcast.data() + n * next++;
      std::fill(slot, slot + n, values[0]);
      return slot;
   };
   compute(n, scalar, column, output.data());
}

void RooNSBIPdf::checkColumnValues(const char *column, const char *role, const double *values, std::size_t n,
                                   bool strictlyPositive)
{
   std::size_t nBad = 0;
   std::size_t firstBad = 0;
   for (std::size_t i = 0; i < n; ++i) {
      const double v = values[i];
      const bool bad = !std::isfinite(v) || (strictlyPositive ? !(v > 0.0) : !(v >= 0.0));
      if (bad && nBad++ == 0)
         firstBad = i;
   }
   if (nBad) {
      std::ostringstream msg;
      msg << role << " column '" << column << "' has " << nBad << " of " << n << " entries that are NaN, infinite or "
          << (strictlyPositive ? "not positive" : "negative") << " (first: entry " << firstBad << " = "
          << values[firstBad] << ")";
      throw std::invalid_argument(msg.str());
   }
}

void RooNSBIPdf::checkColumns(const RooAbsData &data) const
{
   const std::size_t n = data.numEntries();
   RooAbsData::RealSpans spans = data.getBatches(0, n);

   auto check = [&](const RooAbsArg &col, const char *role, bool strictlyPositive) {
      auto found = spans.find(RooFit::Detail::DataKey{&col});
      if (found == spans.end()) {
         throw std::invalid_argument(where(*this) + role + " column '" + col.GetName() + "' is missing from dataset '" +
                                     data.GetName() + "'");
      }
      try {
         checkColumnValues(col.GetName(), role, found->second.data(), found->second.size(), strictlyPositive);
      } catch (std::invalid_argument const &e) {
         throw std::invalid_argument(where(*this) + "dataset '" + data.GetName() + "': " + e.what());
      }
   };
   for (RooAbsArg *col : _ratios)
      check(*col, "ratio", false);
   for (RooAbsArg *col : _shapeLow)
      check(*col, "shape (-1 sigma)", true);
   for (RooAbsArg *col : _shapeHigh)
      check(*col, "shape (+1 sigma)", true);

   if (data.isWeighted()) {
      std::span<const double> w = data.getWeightBatch(0, n);
      for (std::size_t i = 0; i < w.size(); ++i) {
         if (!std::isfinite(w[i])) {
            std::ostringstream msg;
            msg << where(*this) << "dataset '" << data.GetName() << "' has a non-finite weight at entry " << i;
            throw std::invalid_argument(msg.str());
         }
      }
   }
}
