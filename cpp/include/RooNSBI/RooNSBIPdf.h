/*
 * roonsbi: RooNSBIPdf, the NSBI master formula as a RooFit pdf.
 */
#ifndef RooNSBI_RooNSBIPdf_h
#define RooNSBI_RooNSBIPdf_h

#include "RooNSBI/EventStore.h"
#include "RooNSBI/MathFuncs.h"
#include "RooNSBI/StoreCache.h"
#include "RooNSBI/StoreIO.h"

#include <RooAbsPdf.h>
#include <RooListProxy.h>

#include <memory>
#include <string>
#include <vector>

class RooAbsData;

/// \class RooNSBIPdf
/// Unbinned pdf of neural simulation-based inference (NSBI). For an event x with
/// per-process density ratios r_J(x) = p_J(x)/p_ref(x) (dataset columns, e.g.
/// network outputs) the value is the density ratio of the full model to the
/// parameter-independent reference density,
///
///   p(x|mu,alpha)/p_ref(x) = 1/nu * sum_J N_J r_J(x) prod_m g_Jm(x, alpha_m),
///   nu(mu,alpha)           = sum_J N_J,
///
/// (with renormalised shapes nu = sum_J N_J + delta, see setExpectedEventsShift), where N_J = f_J(mu) nu_J G_J(alpha) is any RooAbsReal (the Python builders
/// use a RooProduct of the POI coefficient, the nominal yield and a HistFactory
/// FlexibleInterpVar), and g_Jm are per-event shape systematics interpolated
/// between the per-event ratio columns g_Jm(x,-1) and g_Jm(x,+1) with the codes
/// of ROOT's PiecewiseInterpolation around a nominal of 1, accumulated per
/// process in the order they were added. Shapes are not renormalised here: the
/// columns are density ratios p_J(x|alpha=+-1)/p_J(x|0), so their reference
/// expectation is 1 by construction at alpha = +-1; a renormalisation on a reference
/// sample enters through the yields (RooNSBIShapeNorm) and setExpectedEventsShift().
///
/// The pdf is self-normalised (the value is a density ratio; the reference
/// density only adds a parameter-independent constant to the NLL) and must be
/// extended with expectedEvents() = nu, so RooFit's extended NLL is
///   NLL = nu - sum_i w_i log(sum_J N_J r_J(x_i) prod_m g_Jm(x_i)) + const.
///
/// Two forms hold the per-event inputs:
/// - the column form: r_J and g_Jm(x,+-1) are observables (RooRealVar columns of a RooDataSet);
/// - the store form (scalable, what the standard tools need): the columns live in a float32
///   RooNSBI::EventStore owned by the pdf (saved with it, as chunked keys beside the
///   workspace), and the only observable is an event index k (a RooRealVar with integer
///   values, the row of the store). Rows [0, nPool) are a reference pool x_k ~ p_ref with the
///   pool measure m_k = u_k / sum_l u_l (a store column); other rows (observed events) have
///   m = 1. The value at row k is
///
///     p(k|mu,alpha) = m_k F_k / nu,     F_k = sum_J N_J r_J(x_k) prod_m g_Jm(x_k, alpha_m),
///
///   which over the pool rows is a normalised discrete distribution (sum_k m_k F_k -> nu):
///   RooFit's generators draw toys from it (genContext: pool resampling), and RooStats'
///   Asimov builder, which fills one weighted entry per bin of the index observable (one bin
///   per pool row), gets the pool weighted by m_k F_k, i.e. the expected events. The NLL
///   differs from the column form only by the constant -sum_i w_i log m_i.
///   Per-event partial products are cached per dataset (RooNSBI::StoreCache), so a change of
///   one nuisance parameter reads only that parameter's two columns.
class RooNSBIPdf : public RooAbsPdf {
public:
   RooNSBIPdf() = default;
   /// \param yields  N_J, one RooAbsReal per process (parameters only)
   /// \param ratios  r_J, one dataset column (RooRealVar observable) per process
   RooNSBIPdf(const char *name, const char *title, const RooArgList &yields, const RooArgList &ratios);
   /// The store form. \param index the event-index observable (values: rows of `store`);
   /// \param ratioColumns the store columns of r_J, one per yield; \param nPool the number
   /// of pool rows (the first rows) and \param measureColumn the store column of m_k (needed if
   /// nPool > 0). Shape columns of the multiplicative codes 1 and 5 are read as logarithms
   /// ("log:" + name, RooNSBINLL::shapeColumn), of the others as values.
   RooNSBIPdf(const char *name, const char *title, const RooArgList &yields, RooAbsReal &index,
              std::shared_ptr<RooNSBI::EventStore> store, const std::vector<std::string> &ratioColumns,
              std::size_t nPool = 0, const std::string &measureColumn = "");
   RooNSBIPdf(const RooNSBIPdf &other, const char *name = nullptr);
   TObject *clone(const char *newname = nullptr) const override { return new RooNSBIPdf(*this, newname); }

   /// Add a per-event shape systematic of process `process` (index into the
   /// yields/ratios lists) driven by `alpha`, with the columns g(x,-1) = `low`
   /// and g(x,+1) = `high` and PiecewiseInterpolation's interpolation `code`
   /// (default 5: multiplicative 6th-order polynomial inside |alpha|<1, exponential outside).
   void addShapeSystematic(std::size_t process, RooAbsReal &alpha, RooAbsReal &low, RooAbsReal &high, int code = 5);
   /// The same for the store form: `low` and `high` name the columns g(x,-1), g(x,+1) (stored
   /// as "log:" + name for the codes 1 and 5).
   void addShapeSystematic(std::size_t process, RooAbsReal &alpha, const std::string &low, const std::string &high,
                           int code = 5);

   /// Check that `data` holds every column of this pdf with valid values:
   /// ratio columns finite and >= 0, shape columns finite and > 0, weights finite.
   /// Throws std::invalid_argument naming the column, the number of bad entries
   /// and the first bad entry.
   void checkColumns(const RooAbsData &data) const;

   /// Check n values of one column (`role` names its meaning in the message):
   /// finite and >= 0, or > 0 if `strictlyPositive`. Throws std::invalid_argument.
   static void checkColumnValues(const char *column, const char *role, const double *values, std::size_t n,
                                 bool strictlyPositive);

   /// Shapes renormalised on a reference sample (roonsbi.build_model(..., renormalise_shapes=True)):
   /// the yields N_J multiplying the per-event terms then carry the factors 1/c_Jm(alpha) of
   /// RooNSBIShapeNorm, and `delta` = sum_J f_J nu_J G_J - sum_J N_J restores the expected events
   ///   nu = sum_J N_J + delta = sum_J f_J nu_J G_J,
   /// which the renormalised shapes leave unchanged (the per-event sum integrates to it). RooNSBINLL
   /// adds delta as one of its extra terms. Call it once, before the pdf is used.
   void setExpectedEventsShift(RooAbsReal &delta);
   /// delta of setExpectedEventsShift (nullptr if none: nu = sum_J N_J).
   RooAbsReal *expectedEventsShift() const
   {
      return _nuShift.empty() ? nullptr : static_cast<RooAbsReal *>(_nuShift.at(0));
   }

   /// nu(mu,alpha) = sum_J N_J (+ delta, see setExpectedEventsShift) at the current parameter values.
   double totalYield() const;

   bool selfNormalized() const override { return true; }
   ExtendMode extendMode() const override { return MustBeExtended; }
   double expectedEvents(const RooArgSet *nset) const override;
   using RooAbsPdf::expectedEvents;
   std::unique_ptr<RooAbsReal> createExpectedEventsFunc(const RooArgSet *nset) const override;

   void doEval(RooFit::EvalContext &ctx) const override;

   // Accessors (for exporters and introspection).
   const RooArgList &yields() const { return _yields; }
   const RooArgList &ratios() const { return _ratios; }
   const RooArgList &shapeParams() const { return _shapeParams; }
   const RooArgList &shapeLow() const { return _shapeLow; }
   const RooArgList &shapeHigh() const { return _shapeHigh; }
   const std::vector<int> &shapeProcess() const { return _shapeProcess; }
   const std::vector<int> &shapeParamIndex() const { return _shapeParamIndex; }
   const std::vector<int> &shapeCodes() const { return _shapeCode; }
   std::size_t numProcesses() const { return _yields.size(); }

   // The store form.
   bool usesStore() const { return !_index.empty(); }
   /// The event-index observable (nullptr for the column form).
   RooAbsReal *indexVariable() const { return _index.empty() ? nullptr : static_cast<RooAbsReal *>(_index.at(0)); }
   std::shared_ptr<RooNSBI::EventStore> store() const { return _store; }
   const std::vector<std::string> &ratioColumns() const { return _ratioColumns; }
   const std::vector<std::string> &shapeLowColumns() const { return _lowColumns; }
   const std::vector<std::string> &shapeHighColumns() const { return _highColumns; }
   std::size_t numPoolRows() const { return _nPool; }
   const std::string &measureColumn() const { return _measureColumn; }
   /// m_k F_k for the pool rows k < nPool at the current parameter values (out: nPool values):
   /// the expected events of each pool row, the weights of Asimov data and toy draws.
   void poolWeights(double *out) const;
   /// Recompute the cached per-event products after this many incremental updates (0: never).
   void setCacheRefreshInterval(std::size_t n);
   /// Counters of the cache of this object (tests, benchmarks).
   std::size_t numCacheFullComputations() const { return _cache.numFullComputations(); }
   std::size_t numCacheTermUpdates() const { return _cache.numTermUpdates(); }

   /// Toys of the store form draw pool rows with probability m_k F_k / sum_l m_l F_l.
   RooAbsGenContext *genContext(const RooArgSet &vars, const RooDataSet *prototype = nullptr,
                                const RooArgSet *auxProto = nullptr, bool verbose = false) const override;
   RooAbsGenContext *autoGenContext(const RooArgSet &vars, const RooDataSet *prototype = nullptr,
                                    const RooArgSet *auxProto = nullptr, bool verbose = false, bool autoBinned = true,
                                    const char *binnedTag = "") const override;

protected:
   double evaluate() const override;

private:
   template <class Scalar, class Column>
   void compute(std::size_t n, Scalar const &scalar, Column const &column, double *out) const;
   /// Group the shape terms by process and size the scratch buffers: whenever the
   /// structure changes (constructor, addShapeSystematic, copy, reading from a file).
   void groupShapeTerms();
   /// Check and record a shape term (both forms); the caller adds its columns.
   void addShapeTerm(std::size_t process, RooAbsReal &alpha, int code);
   /// Point the store layout at the store's columns (store form; after any structure change).
   void bindStore();
   /// The parameter values of the shape terms, per term (evaluate(), doEval()).
   template <class Scalar>
   const double *termAlphas(Scalar const &scalar) const;
   void doEvalStore(RooFit::EvalContext &ctx) const;
   /// The Streamer's part for the store: written before, read after the pdf's own data.
   void writeStore(TBuffer &buffer);
   void readStore(TBuffer &buffer);
   double evaluateStore() const;

   RooListProxy _yields;       ///< N_J, per process
   RooListProxy _nuShift;      ///< delta of setExpectedEventsShift (empty or one element)
   RooListProxy _ratios;       ///< r_J columns, per process
   RooListProxy _shapeParams;  ///< distinct nuisance parameters of the shape systematics
   RooListProxy _shapeLow;     ///< g(x,-1) columns, per shape term
   RooListProxy _shapeHigh;    ///< g(x,+1) columns, per shape term
   std::vector<int> _shapeProcess;    ///< process index, per shape term
   std::vector<int> _shapeParamIndex; ///< index into _shapeParams, per shape term
   std::vector<int> _shapeCode;       ///< interpolation code, per shape term
   // the store form (empty for the column form)
   RooListProxy _index;                   ///< the event-index observable
   std::vector<std::string> _ratioColumns; ///< r_J store columns, per process
   std::vector<std::string> _lowColumns;   ///< g(x,-1) columns, per shape term
   std::vector<std::string> _highColumns;  ///< g(x,+1) columns, per shape term
   ULong64_t _nPool = 0;                   ///< pool rows (the first rows of the store)
   std::string _measureColumn;             ///< store column of the pool measure m_k
   /// Where the store was saved: chunked keys beside the workspace in the same file (see
   /// RooNSBI::writeStore), or (prefix "memory:<id>") a store of this process, when the pdf is
   /// streamed into memory rather than into a file (TObject::Clone).
   RooNSBI::StoreManifest _storeManifest;
   std::shared_ptr<RooNSBI::EventStore> _store; //! saved by the Streamer, beside the workspace
   RooNSBI::StoreLayout _layout;                //! pointers into _store
   mutable RooNSBI::StoreCache _cache;          //! per-event products of the last dataset

   // Derived from the above (not stored): the terms of process j are
   // _groupedTerms[_groupFirst[j] .. _groupFirst[j+1]), in the order they were added.
   std::vector<std::size_t> _groupFirst;   //! per process, and one past the last
   std::vector<std::size_t> _groupedTerms; //! shape term indices grouped by process
   // Scratch of one evaluation, sized by groupShapeTerms() (evaluate() and doEval() do not allocate,
   // except _broadcast, which grows to the largest batch with a constant column).
   mutable std::vector<RooNSBI::MathFuncs::ProcessTerm> _procScratch; //!
   mutable std::vector<RooNSBI::MathFuncs::ShapeTerm> _shapeScratch;  //!
   mutable std::vector<double> _eventScratch; //! one value per column (evaluate())
   mutable std::vector<double> _broadcast;    //! constant columns broadcast to the batch size (doEval())
   mutable std::vector<double> _alphaScratch; //! per shape term: its alpha (store form)
   mutable std::vector<double> _yieldScratch; //! per process: N_J (store form)

   ClassDefOverride(RooNSBIPdf, 3)
};

#endif
