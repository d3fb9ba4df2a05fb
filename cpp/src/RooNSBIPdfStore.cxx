/*
 * roonsbi: the store form of RooNSBIPdf (columns in an EventStore, an event-index
 * observable), its evaluation with per-event cache, and toy generation from the pool.
 */
#include "RooNSBI/Codes.h"
#include "RooNSBI/RooNSBINLL.h"
#include "RooNSBI/RooNSBIPdf.h"

#include "PdfChecks.h"

#include <RooAbsGenContext.h>
#include <RooWorkspace.h>
#include <TBuffer.h>
#include <TFile.h>
#include <RooAbsRealLValue.h>
#include <RooArgSet.h>
#include <RooFit/EvalContext.h>
#include <RooRandom.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

using RooNSBI::PdfChecks::requireReals;
using RooNSBI::PdfChecks::where;

namespace {

/// Toys of a store-backed RooNSBIPdf: each event is a pool row k drawn with probability
/// m_k F_k / sum_l m_l F_l at the parameter values when generation starts (RooFit draws the
/// number of events, Poisson(nu) for extended generation, as for any pdf).
class RooNSBIGenContext : public RooAbsGenContext {
public:
   RooNSBIGenContext(const RooNSBIPdf &pdf, const RooArgSet &vars, const RooDataSet *prototype,
                     const RooArgSet *auxProto, bool verbose)
      : RooAbsGenContext(pdf, vars, prototype, auxProto, verbose), _pdf(pdf)
   {
      for (RooAbsArg *v : vars) {
         if (std::string(v->GetName()) != _pdf.indexVariable()->GetName()) {
            throw std::invalid_argument(where(_pdf) + "can generate only its event index '" +
                                        _pdf.indexVariable()->GetName() + "', not '" + v->GetName() + "'");
         }
      }
   }

   void initGenerator(const RooArgSet &theEvent) override
   {
      _index = dynamic_cast<RooAbsRealLValue *>(theEvent.find(_pdf.indexVariable()->GetName()));
      const std::size_t nPool = _pdf.numPoolRows();
      if (!nPool) {
         throw std::invalid_argument(where(_pdf) + "has no reference pool to draw toys from (build it with a pool)");
      }
      _cdf.resize(nPool);
      _pdf.poolWeights(_cdf.data());
      double sum = 0.0;
      for (std::size_t k = 0; k < nPool; ++k) {
         if (!(_cdf[k] >= 0.0) || !std::isfinite(_cdf[k])) {
            std::ostringstream msg;
            msg << where(_pdf) << "pool row " << k << " has the weight m_k F_k = " << _cdf[k]
                << " at the current parameters: toys need finite non-negative weights";
            throw std::invalid_argument(msg.str());
         }
         sum += _cdf[k];
         _cdf[k] = sum;
      }
      if (!(sum > 0.0))
         throw std::invalid_argument(where(_pdf) + "the pool weights m_k F_k sum to zero at the current parameters");
   }

   void generateEvent(RooArgSet & /*theEvent*/, Int_t /*remaining*/) override
   {
      const double u = RooRandom::uniform() * _cdf.back();
      const std::size_t row = std::min<std::size_t>(std::upper_bound(_cdf.begin(), _cdf.end(), u) - _cdf.begin(),
                                                    _cdf.size() - 1);
      _index->setVal(double(row));
   }

private:
   const RooNSBIPdf &_pdf;
   RooAbsRealLValue *_index = nullptr;
   std::vector<double> _cdf;
};

/// Stores of this process by id, for pdfs streamed into memory (TObject::Clone of a workspace):
/// the copy shares the store instead of copying gigabytes through a buffer.
struct MemoryStores {
   std::mutex mutex;
   std::map<std::uint64_t, std::weak_ptr<RooNSBI::EventStore>> stores;
   std::uint64_t next = 1;

   static MemoryStores &instance()
   {
      static MemoryStores registry;
      return registry;
   }
};

constexpr const char *memoryPrefix = "memory:";

} // namespace

void RooNSBIPdf::writeStore(TBuffer &buffer)
{
   if (!_store)
      throw std::invalid_argument(where(*this) + "has no event store to save");
   TFile *file = dynamic_cast<TFile *>(buffer.GetParent());
   if (!file) { // streamed into memory: keep the store in this process and name it
      MemoryStores &registry = MemoryStores::instance();
      std::lock_guard<std::mutex> lock(registry.mutex);
      const std::uint64_t id = registry.next++;
      registry.stores[id] = _store;
      _storeManifest = RooNSBI::StoreManifest{};
      _storeManifest.prefix = memoryPrefix + std::to_string(id);
      _storeManifest.nEvents = _store->size();
      return;
   }
   // one prefix per workspace and pdf: several workspaces may share a file
   std::string prefix = "roonsbi_store_";
   if (RooWorkspace *ws = workspace())
      prefix += std::string(ws->GetName()) + "_";
   prefix += GetName();
   for (char &c : prefix) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
         c = '_';
   }
   TDirectory::TContext context(file); // writeStore must not leave gDirectory changed
   _storeManifest = RooNSBI::writeStore(*_store, *file, prefix);
}

void RooNSBIPdf::readStore(TBuffer &buffer)
{
   const std::string &prefix = _storeManifest.prefix;
   if (prefix.rfind(memoryPrefix, 0) == 0) {
      MemoryStores &registry = MemoryStores::instance();
      std::lock_guard<std::mutex> lock(registry.mutex);
      auto found = registry.stores.find(std::stoull(prefix.substr(std::string(memoryPrefix).size())));
      _store = found == registry.stores.end() ? nullptr : found->second.lock();
      if (!_store) {
         throw std::invalid_argument(where(*this) + "was streamed into memory by another process or its event store "
                                                    "is gone: save the workspace to a ROOT file instead");
      }
      return;
   }
   TFile *file = dynamic_cast<TFile *>(buffer.GetParent());
   if (!file) {
      throw std::invalid_argument(where(*this) + "can read its event store (keys '" + prefix +
                                  "/...') only from the ROOT file it was saved in");
   }
   TDirectory::TContext context(file);
   _store = RooNSBI::readStore(*file, _storeManifest);
}

RooNSBIPdf::RooNSBIPdf(const char *name, const char *title, const RooArgList &yields, RooAbsReal &index,
                       std::shared_ptr<RooNSBI::EventStore> store, const std::vector<std::string> &ratioColumns,
                       std::size_t nPool, const std::string &measureColumn)
   : RooAbsPdf(name, title),
     _yields("yields", "yields N_J of the processes", this),
     _nuShift("nuShift", "shift of the expected events (renormalised shapes)", this),
     _ratios("ratios", "density-ratio columns r_J of the processes (column form)", this),
     _shapeParams("shapeParams", "nuisance parameters of the shape systematics", this),
     _shapeLow("shapeLow", "g(x,-1) columns of the shape systematics (column form)", this),
     _shapeHigh("shapeHigh", "g(x,+1) columns of the shape systematics (column form)", this),
     _index("index", "event-index observable (store form)", this),
     _ratioColumns(ratioColumns),
     _nPool(nPool),
     _measureColumn(measureColumn),
     _store(std::move(store))
{
   if (!_store)
      throw std::invalid_argument(where(*this) + "needs an event store (got a null pointer)");
   if (yields.empty())
      throw std::invalid_argument(where(*this) + "needs at least one process");
   if (yields.size() != ratioColumns.size()) {
      std::ostringstream msg;
      msg << where(*this) << "got " << yields.size() << " yields but " << ratioColumns.size()
          << " ratio columns: one of each is needed per process";
      throw std::invalid_argument(msg.str());
   }
   requireReals(*this, yields, "yield");
   if (nPool > _store->size()) {
      std::ostringstream msg;
      msg << where(*this) << "nPool = " << nPool << " exceeds the " << _store->size() << " rows of the event store";
      throw std::invalid_argument(msg.str());
   }
   if (nPool && measureColumn.empty())
      throw std::invalid_argument(where(*this) + "a pool (nPool > 0) needs its measure column m_k");
   _yields.add(yields);
   _index.add(index);
   groupShapeTerms();
}

void RooNSBIPdf::addShapeSystematic(std::size_t process, RooAbsReal &alpha, const std::string &low,
                                    const std::string &high, int code)
{
   if (!usesStore()) {
      throw std::invalid_argument(where(*this) + "is a column-form pdf: give the shape columns of '" +
                                  alpha.GetName() + "' as variables");
   }
   addShapeTerm(process, alpha, code);
   _lowColumns.push_back(low);
   _highColumns.push_back(high);
   try {
      groupShapeTerms();
   } catch (...) { // a missing column: leave the pdf as it was
      _lowColumns.pop_back();
      _highColumns.pop_back();
      _shapeProcess.pop_back();
      _shapeParamIndex.pop_back();
      _shapeCode.pop_back();
      groupShapeTerms();
      throw;
   }
   setValueDirty();
}

void RooNSBIPdf::bindStore()
{
   _cache.clear();
   _layout = RooNSBI::StoreLayout{};
   if (!usesStore() || !_store)
      return;
   auto column = [&](const std::string &name, const char *role) {
      if (!_store->hasColumn(name)) {
         throw std::invalid_argument(where(*this) + "the event store has no " + role + " column '" + name + "'");
      }
      return _store->column(name);
   };
   for (const std::string &name : _ratioColumns)
      _layout.ratio.push_back(column(name, "ratio"));
   _layout.termsOf.resize(_yields.size());
   for (std::size_t t = 0; t < _shapeCode.size(); ++t) {
      const int code = _shapeCode[t];
      const bool logs = RooNSBI::Codes::storesShapeLogs(code);
      _layout.terms.push_back({_shapeProcess[t], code, column(RooNSBINLL::shapeColumn(code, _lowColumns[t]), "shape (-1 sigma)"),
                               column(RooNSBINLL::shapeColumn(code, _highColumns[t]), "shape (+1 sigma)"), logs});
      _layout.termsOf[_shapeProcess[t]].push_back(t);
   }
   _layout.nPool = _nPool;
   _layout.nRows = _store->size();
   _layout.measure = _nPool ? column(_measureColumn, "pool measure") : nullptr;
}

template <class Scalar>
const double *RooNSBIPdf::termAlphas(Scalar const &scalar) const
{
   for (std::size_t t = 0; t < _shapeCode.size(); ++t)
      _alphaScratch[t] = scalar(_shapeParams[_shapeParamIndex[t]]);
   return _alphaScratch.data();
}

namespace {

/// nu = sum_J N_J + shift, and whether it is positive and finite (else a message naming the yields).
bool totalOf(const RooArgList &yields, const double *values, double shift, double &nu, std::string &error)
{
   nu = shift;
   for (std::size_t j = 0; j < yields.size(); ++j)
      nu += values[j];
   if (nu > 0.0 && std::isfinite(nu))
      return true;
   std::ostringstream msg;
   msg << "expected number of events nu = sum_J N_J + delta = " << nu << " is not positive and finite (";
   for (std::size_t j = 0; j < yields.size(); ++j)
      msg << (j ? ", " : "") << yields[j].GetName() << " = " << values[j];
   msg << ", delta = " << shift;
   msg << ")";
   error = msg.str();
   return false;
}

} // namespace

double RooNSBIPdf::evaluateStore() const
{
   for (std::size_t j = 0; j < _yields.size(); ++j)
      _yieldScratch[j] = static_cast<RooAbsReal &>(_yields[j]).getVal();
   const double *alphas = termAlphas([](RooAbsArg const &arg) { return static_cast<RooAbsReal const &>(arg).getVal(); });
   double nu = 0.0;
   std::string error;
   std::size_t row = 0;
   const double shift = _nuShift.empty() ? 0.0 : static_cast<RooAbsReal &>(_nuShift[0]).getVal();
   if (!totalOf(_yields, _yieldScratch.data(), shift, nu, error) || !_layout.rowOf(indexVariable()->getVal(), row, error)) {
      logEvalError(error.c_str());
      return std::numeric_limits<double>::quiet_NaN();
   }
   double out = 0.0;
   _layout.evaluate(&row, 1, _yieldScratch.data(), nu, alphas, &out);
   return out;
}

void RooNSBIPdf::doEvalStore(RooFit::EvalContext &ctx) const
{
   std::span<double> output = ctx.output();
   for (std::size_t j = 0; j < _yields.size(); ++j)
      _yieldScratch[j] = ctx.at(&_yields[j], this)[0];
   const double *alphas = termAlphas([&](RooAbsArg const &arg) { return ctx.at(&arg, this)[0]; });
   std::span<const double> index = ctx.at(indexVariable(), this);
   double nu = 0.0;
   std::string error;
   const double shift = _nuShift.empty() ? 0.0 : ctx.at(&_nuShift[0], this)[0];
   bool ok = totalOf(_yields, _yieldScratch.data(), shift, nu, error);
   if (ok && index.size() >= output.size()) {
      ok = _cache.evaluate(_layout, index.data(), output.size(), _yieldScratch.data(), nu, alphas, output.data(), error);
   } else if (ok) { // one index for the whole batch
      std::size_t row = 0;
      ok = _layout.rowOf(index[0], row, error);
      if (ok) {
         _layout.evaluate(&row, 1, _yieldScratch.data(), nu, alphas, output.data());
         std::fill(output.begin() + 1, output.end(), output[0]);
      }
   }
   if (!ok) {
      logEvalError(error.c_str());
      std::fill(output.begin(), output.end(), std::numeric_limits<double>::quiet_NaN());
   }
}

void RooNSBIPdf::poolWeights(double *out) const
{
   if (!usesStore())
      throw std::invalid_argument(where(*this) + "is a column-form pdf: it has no reference pool");
   for (std::size_t j = 0; j < _yields.size(); ++j)
      _yieldScratch[j] = static_cast<RooAbsReal &>(_yields[j]).getVal();
   const double *alphas = termAlphas([](RooAbsArg const &arg) { return static_cast<RooAbsReal const &>(arg).getVal(); });
   std::vector<std::size_t> rows(_nPool);
   for (std::size_t k = 0; k < _nPool; ++k)
      rows[k] = k;
   // m_k F_k = nu p(k): evaluate with nu = 1
   _layout.evaluate(rows.data(), _nPool, _yieldScratch.data(), 1.0, alphas, out);
}

void RooNSBIPdf::setCacheRefreshInterval(std::size_t n)
{
   _cache.setRefreshInterval(n);
}

RooAbsGenContext *RooNSBIPdf::genContext(const RooArgSet &vars, const RooDataSet *prototype, const RooArgSet *auxProto,
                                         bool verbose) const
{
   if (!usesStore())
      return RooAbsPdf::genContext(vars, prototype, auxProto, verbose);
   return new RooNSBIGenContext(*this, vars, prototype, auxProto, verbose);
}

RooAbsGenContext *RooNSBIPdf::autoGenContext(const RooArgSet &vars, const RooDataSet *prototype,
                                             const RooArgSet *auxProto, bool verbose, bool autoBinned,
                                             const char *binnedTag) const
{
   if (!usesStore())
      return RooAbsPdf::autoGenContext(vars, prototype, auxProto, verbose, autoBinned, binnedTag);
   return new RooNSBIGenContext(*this, vars, prototype, auxProto, verbose);
}
