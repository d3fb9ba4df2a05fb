/*
 * roonsbi: RooNSBINLL, the fast extended NLL of a RooNSBIPdf with an analytic gradient.
 */
#ifndef RooNSBI_RooNSBINLL_h
#define RooNSBI_RooNSBINLL_h

#include "RooNSBI/EventStore.h"
#include "RooNSBI/MathFuncs.h"

#include <RooAbsReal.h>
#include <RooArgSet.h>
#include <RooListProxy.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

class RooAbsData;
class RooNSBIPdf;

/// \class RooNSBINLL
/// The extended negative log-likelihood of a RooNSBIPdf on events held in a
/// compact float32 RooNSBI::EventStore (no RooDataSet), plus any number of
/// additional terms (constraints, binned channels: RooAbsReal values added as is):
///
///   NLL = nu - sum_i w_i log F_i + sum_k extra_k,
///   F_i = sum_J N_J r_J(x_i) prod_m g_Jm(x_i, alpha_m),    nu = sum_J N_J,
///
/// i.e. RooFit's extended NLL of the pdf up to the constant sum_i w_i log p_ref. The pdf's
/// expected-events shift (RooNSBIPdf::setExpectedEventsShift: renormalised shapes) is one of the
/// extra terms.
///
/// On a store-form RooNSBIPdf and a RooFit dataset of its event index (the constructor
/// taking a RooAbsData) the events are the rows i = floor(k_i) of the pdf's own store, with
/// the dataset's weights, and the NLL is exactly RooFit's extended NLL of that pdf:
///
///   NLL = nu - sum_i w_i log(m_i F_i) + sum_k extra_k,
///
/// m_i the pool measure of row i (1 beyond the pool): the constant -sum_i w_i log m_i is
/// added to the value. A contiguous range of rows [a, a+n) (the whole pool of Asimov data,
/// all observed rows) is read in place; other row lists (toys: rows drawn with repetition)
/// are gathered into an EventStore of their own.
///
/// The value and the analytic gradient with respect to every parameter are
/// computed in one threaded pass over the events (blocks of events stay in
/// cache between the value and the gradient parts), accumulating in double
/// precision. RooMinimizer uses the gradient because hasGradient() is true. A streamed store (mapped from a
/// file larger than memory: EventStore::setStreaming) is read in chunks of EventStore::streamChunkRows rows per
/// thread, each read ahead and released after it; the sums, and so every result, are bitwise the same.
/// Derivatives of the parameter-only parts (the yields N_J and the extra terms)
/// are taken numerically (5-point stencil); the per-event parts analytically.
///
/// The per-event shape factors g_J = prod_m g_Jm above stand for PiecewiseInterpolation's
/// accumulation in the order the terms were added (additive codes add their delta to the
/// running factor, multiplicative ones scale it), exactly as RooNSBIPdf evaluates it.
///
/// Store columns: the ratio column of process J under the name of the pdf's
/// ratio variable, and optionally weights as "weight". Shape columns g(x,-1), g(x,+1)
/// (see shapeColumn()): for the multiplicative codes 1 and 5 their logarithms under
/// "log:" + the name of the pdf's variable, which make the exponential parts a
/// multiply-add per event; for the additive codes 0, 2 and 4 and for code 6 (the factor
/// 1 + delta of code 4) the values themselves under the variable's name, whose delta is then
/// linear with alpha-only weights (no exp). For a store-form pdf the column names are those
/// the pdf reads (RooNSBIPdf::ratioColumns() etc.). Events of weight 0 add nothing (as in RooFit).
class RooNSBINLL : public RooAbsReal {
public:
   RooNSBINLL() = default;
   RooNSBINLL(const char *name, const char *title, const RooNSBIPdf &pdf, std::shared_ptr<RooNSBI::EventStore> store,
              const RooArgList &extraTerms = RooArgList());
   /// The NLL of a store-form pdf on a dataset of its event index (see above). Check the
   /// inputs with checkData() first (PyROOT does not survive an exception thrown here).
   RooNSBINLL(const char *name, const char *title, const RooNSBIPdf &pdf, const RooAbsData &data,
              const RooArgList &extraTerms = RooArgList());
   RooNSBINLL(const RooNSBINLL &other, const char *name = nullptr);
   /// The checks of the constructor (supported codes, store columns), throwing
   /// std::invalid_argument naming the problem. Callable before construction
   /// (PyROOT does not survive an exception thrown by this constructor).
   static void checkInputs(const char *name, const RooNSBIPdf &pdf, const RooNSBI::EventStore *store,
                           const RooArgList &extraTerms);
   /// The checks of the dataset constructor, throwing std::invalid_argument naming the pdf,
   /// the dataset and the first bad entry: a column-form pdf or one without a store, a dataset
   /// without the pdf's index variable, an index value that is not a row of the store
   /// (row k is [k, k+1)), a non-finite weight, a pool row of measure m_k <= 0 with a non-zero weight;
   /// and those of checkInputs().
   static void checkData(const char *name, const RooNSBIPdf &pdf, const RooAbsData &data,
                         const RooArgList &extraTerms = RooArgList());
   /// Whether the fast likelihood supports a shape interpolation code (0, 1, 2, 4, 5).
   static bool isFastShapeCode(int code);
   /// The store column of a shape variable for a term with interpolation `code`:
   /// "log:" + variable for the multiplicative codes, the variable's name for the additive ones.
   static std::string shapeColumn(int code, const std::string &variable);
   TObject *clone(const char *newname = nullptr) const override { return new RooNSBINLL(*this, newname); }

   double defaultErrorLevel() const override { return 0.5; }
   bool hasGradient() const override { return true; }
   /// Gradient in the order of getParameters(nullptr, params, false) (the order RooMinimizer uses).
   void gradient(double *out) const override;
   /// The parameters in gradient order.
   RooArgList gradientParameters() const;

   /// The exact Hessian in one pass over the events (with the value and the gradient of the
   /// point, which the next gradient() reuses). Row-major over all parameters in gradient order
   /// (RooMinimizer uses it with Config::useHessian; rows and columns of constant parameters are 0):
   ///
   ///   d^2 NLL/dtheta_a dtheta_b = sum_i w_i F_a F_b / F_i^2 - sum_i (w_i / F_i) F_ab
   ///                               + sum_J dNLL/dN_J d^2 N_J/dtheta_a dtheta_b + d^2 extra/dtheta_a dtheta_b,
   ///
   /// F_a = dF_i/dtheta_a. The first sum is a rank-one update per event (blocked, vectorised);
   /// in F_ab = sum_J [d^2N_J r_J G_J + dN_J r_J dG_J + N_J r_J d^2 G_J] the per-event second
   /// derivatives of G_J are those of PiecewiseInterpolation's accumulation: for terms s before t,
   /// d^2 G/dalpha_s dalpha_t = (dG/dalpha_s) dlog I_t/dalpha_t if t is multiplicative, 0 if it is
   /// additive (a rank-one update per event and process), and on the diagonal the codes' second
   /// derivatives (MathFuncs.h). The parameter-only parts (second derivatives of the yields N_J and
   /// of the extra terms) are numerical: 5-point differences of numericalDerivative(). A second call at
   /// the same point (same values and floating parameters) returns the same matrix without a pass.
   bool hasHessian() const override { return true; }
   void hessian(double *out) const override;
   /// A seed for the next hessian() call: a row-major matrix over all parameters in gradient order
   /// (numParameters()^2 entries, e.g. the Hessian of a global fit at its minimum). The next hessian()
   /// returns it, with the rows and columns of the parameters constant then set to 0, without a pass
   /// and without touching the caches of the value and the gradient; then the seed is cleared (one
   /// use: Minuit2 asks for the Hessian once to seed MIGRAD, RooMinimizer::Config::useHessian; later
   /// calls, e.g. a HESSE that MIGRAD runs at its end, are exact). Throws std::invalid_argument for a
   /// matrix of another size.
   void setSeedHessian(const std::vector<double> &fullRowMajor);
   /// Forget a seed that hessian() has not used.
   void clearSeedHessian() { _seedHessian.clear(); }
   /// Whether a seed is waiting for the next hessian() call.
   bool hasSeedHessian() const { return !_seedHessian.empty(); }
   /// Number of parameters in gradient order (the matrices of hessian() have its square of entries).
   std::size_t numParameters() const;

   /// Threads over event blocks (default: the hardware concurrency).
   void setNumThreads(unsigned n) { _nThreads = n ? n : 1; }
   unsigned numThreads() const { return _nThreads; }
   /// Compute the gradient along with every value (default on): Minuit asks for
   /// the gradient at the point whose value it just asked for, which then costs nothing.
   void setGradientWithValue(bool flag) { _gradientWithValue = flag; }
   /// Evaluate code 5 inside |alpha| < 1 in float for the value and gradient passes (default off: double).
   /// The factor is computed as its deviation from 1 (MathFuncs::poly6DeltaEvalF: every term small with the
   /// stored float32 logarithms) and multiplied into the product in double, so its relative error is a few
   /// float ulps times |log g|, about 1e-8 for 5% shifts, not 1e-7: at 10^6 events x 3 processes x 100 NPs the
   /// NLL moves by ~1e-7 (absolute) and the gradient by ~1e-6 (relative), for about 1.4x faster passes. Blocks
   /// with larger logarithms (|log| > 0.34375), the Hessian and code 5 outside |alpha| < 1 stay in double.
   void setFloatCode5(bool flag);
   bool floatCode5() const { return _floatCode5; }
   /// Number of full passes over the events so far (for tests and benchmarks), Hessian passes included.
   std::size_t numPasses() const { return _nPasses; }
   /// Number of those passes that were Hessian passes (hessian(); each costs a few value-and-gradient passes).
   std::size_t numHessianPasses() const { return _nHessianPasses; }

   /// Value requests at a point that differs from the last one in at most `n` parameters (Minuit's
   /// HESSE and the second derivatives MIGRAD takes with it, MINOS, one-parameter scans: most of
   /// the evaluations of a fit) are answered by a step from a per-event cache of the shape factors
   /// G_J of the last evaluation, which reads only the changed parameters' columns:
   ///   G_J <- G_J I_t(alpha') / I_t(alpha)  for a process with only the exponential codes 1 and 5,
   ///   G_J <- G_J + d_t(alpha') - d_t(alpha) for one with only the additive codes 0, 2 and 4,
   /// and G_J from all its terms for other processes with a changed term. The value is the same
   /// (to rounding; every full pass refreshes the cache), without the gradient, which the next
   /// gradient() takes from a full pass. Default 2 for the dataset constructor, 0 (off) for the
   /// store constructor; the cache holds one double per event and process.
   void setIncrementalLimit(unsigned n);
   unsigned incrementalLimit() const { return _incrementalLimit; }
   /// Number of values answered from the per-event cache so far.
   std::size_t numIncrementalEvaluations() const { return _nIncremental; }

   const RooNSBI::EventStore &store() const { return *_store; }
   /// Number of events of a pass (rows of the store, or of the dataset).
   std::size_t numEvents() const { return _nEvents; }
   /// Whether the events are read in place from the pdf's store (a contiguous range of rows)
   /// rather than gathered into a store of their own (dataset constructor only).
   bool readsInPlace() const { return _inPlace; }
   /// First store row of the events read in place (0 otherwise).
   std::size_t firstRow() const { return _firstRow; }
   /// The parameter-independent constant -sum_i w_i log m_i in the value (0 for the store constructor).
   double measureConstant() const { return _weightSquared ? _constantW2 : _constant; }

   /// Replace the events by those of another dataset of the same pdf (dataset constructor
   /// only: RooStats reuses an NLL for toys this way). Throws std::invalid_argument for bad
   /// data as checkData(); returns false (with an error message) for an NLL built on a store.
   /// Global observables the extra terms take from the dataset (setGlobalObservablesFromData)
   /// get the new dataset's values.
   bool setData(RooAbsData &data, bool cloneData = true) override;
   /// Variables of the extra terms that stand for the dataset's global observables (owned
   /// copies with the dataset's values; RooFit's "global observables from data"): not parameters,
   /// and updated by setData().
   void setGlobalObservablesFromData(const RooArgSet &copies);

   /// RooFit's sum-of-weights-squared variant (RooAbsReal::applyWeightSquared, used by
   /// fitTo(SumW2Error(true))): weights w_i^2 in the sum and the extended term scaled by
   /// sum w^2 / sum w:  NLL_2 = (sum_i w_i^2 / sum_i w_i) nu - sum_i w_i^2 log(m_i F_i) + extra.
   void applyWeightSquared(bool flag) override;

   /// RooFit's offsetting (RooAbsReal::enableOffsetting, createNLL(..., Offset(true)), RooMinimizer's
   /// offsetting option): the first finite value after enabling is remembered as offset(); while
   /// RooAbsReal::hideOffset() is false (inside RooMinimizer) getVal() returns the value minus that
   /// offset, otherwise (the default) the value itself. The gradient is unchanged.
   void enableOffsetting(bool flag) override;
   bool isOffsetting() const override { return _doOffset; }
   double offset() const override { return _offsetValue; }

   /// The shape terms of one process between two changes of kind: first additive terms, then
   /// multiplicative ones. PiecewiseInterpolation's running factor of a process is
   ///   G = (...((1 + sum_{a in A_1} d_a) M_1 + sum_{a in A_2} d_a) M_2 ...),
   /// M_g the product of the multiplicative factors of group g (in any order within a group).
   struct ShapeGroup {
      std::vector<int> add;
      std::vector<int> mult;
   };

   /// Sums of one thread's pass: sum_i w_i log F_i and, for the gradient,
   ///   c_J = sum_i w_i r_J G_J / F_i   and   b_t = N_J sum_i w_i r_J dG_J/dalpha_t / F_i,
   /// and the thread's block buffers (sized once per structure and number of threads).
   struct PassSums {
      double sumWLogF = 0.0;
      std::vector<double> c;
      std::vector<double> b;
      std::size_t nBad = 0;
      std::size_t firstBad = 0;
      double firstBadValue = 0.0;
      std::vector<double> rp;     ///< per process: r_J G_J of a block
      std::vector<double> dlog;   ///< per term: local derivatives of a block
      std::vector<double> groupM; ///< per group: its factor M_g of a block
      std::vector<double> groupG; ///< per group: G after it (gradient)
      void reset()
      {
         sumWLogF = 0.0;
         std::fill(c.begin(), c.end(), 0.0);
         std::fill(b.begin(), b.end(), 0.0);
         nBad = firstBad = 0;
         firstBadValue = 0.0;
      }
      /// Add the sums of a later thread (its first bad event counts only if this one had none).
      void add(const PassSums &s)
      {
         sumWLogF += s.sumWLogF;
         if (s.nBad && nBad == 0) {
            firstBad = s.firstBad;
            firstBadValue = s.firstBadValue;
         }
         nBad += s.nBad;
         for (std::size_t j = 0; j < c.size(); ++j)
            c[j] += s.c[j];
         for (std::size_t t = 0; t < b.size(); ++t)
            b[t] += s.b[t];
      }
   };

protected:
   double evaluate() const override;
   /// Leaves out the copies of setGlobalObservablesFromData() (as RooFit leaves out the dataset's).
   void getParametersHook(const RooArgSet *nset, RooArgSet *list, bool stripDisconnected) const override;

private:
   /// The store column names this NLL reads (ratio columns, then per term g(x,-1) and g(x,+1)).
   void setColumnNames(const RooNSBIPdf &pdf);
   /// Point the column pointers at `_store`, starting at row `_firstRow`.
   void bindColumns();
   /// Take the events of a dataset: rows, weights, measure constant; in place or gathered.
   void bindData(const RooAbsData &data);
   /// Sums of the weights (and their squares) of the current events.
   void sumWeights();
   /// A full pass (with the gradient or not), or with `step` a value-only step from the cached G_J.
   void compute(bool withGradient, bool step) const;
   /// Gather N_J, nu and the alpha of each term (scratch buffers); false (value NaN) if nu is not positive.
   bool gatherParameters(double &nu) const;
   /// Number of parameters whose values differ from those of the last pass.
   std::size_t numChangedParameters() const;

   /// Group the shape terms per process (ShapeGroup) and size the parameter-sized scratch:
   /// once, when the NLL is built or copied (its structure is fixed).
   void groupTerms();
   /// Size the per-thread buffers of a pass for `nThreads` threads (when that number changes).
   void sizeScratch(std::size_t nThreads) const;
   /// Whether a parameter value differs from those of the last pass (_cacheKey).
   bool valuesChanged() const;
   /// Remember the current parameter values as those of the last pass.
   void storeCacheKey() const;
   /// 5-point derivative of func with the step relStep max(1, |x|) (one-sided within 2 steps of a limit).
   double numericalDerivative(RooAbsReal &func, RooAbsArg &param, double relStep = 1e-4) const;
   /// Add scale times the Hessian of `func` with respect to the parameters deps (indices in gradient
   /// order) to out (row-major over all parameters): 5-point differences of numericalDerivative().
   void numericalHessian(RooAbsReal &func, const std::vector<std::size_t> &deps, double scale, double *out) const;
   /// Fill the inputs of a pass (the .cxx's PassInputs) from the gathered parameters.
   template <class Inputs>
   void fillPassInputs(Inputs &in) const;

   RooListProxy _yields;
   RooListProxy _shapeParams;
   RooListProxy _extra;
   std::vector<int> _termProcess;
   std::vector<int> _termParam;
   std::vector<int> _termCode;
   std::shared_ptr<RooNSBI::EventStore> _store;
   std::vector<const float *> _ratio;
   std::vector<const float *> _lo; ///< per term: g(x,-1) column (its logarithm for multiplicative codes)
   std::vector<const float *> _hi; ///< per term: g(x,+1) column (its logarithm for multiplicative codes)
   const float *_weights = nullptr; ///< store column "weight" (store constructor), or nullptr
   std::size_t _nEvents = 0;         ///< events of a pass
   std::size_t _firstRow = 0;        ///< first row of `_store` read (in place)
   bool _inPlace = false;            ///< events read in place from the pdf's store
   // store column names (the store form of the pdf, or the store constructor's store)
   std::vector<std::string> _ratioNames, _loNames, _hiNames;
   // the pdf's store, index and pool (dataset constructor; setData() binds new data with them)
   std::shared_ptr<RooNSBI::EventStore> _source;
   std::string _indexName;
   std::string _measureName;
   std::size_t _nPool = 0;
   bool _fromData = false;
   std::vector<double> _dataWeights;    ///< the dataset's weights (empty: unit weights)
   unsigned _incrementalLimit = 0;
   std::vector<int> _stepKind;             ///< per process: how a step updates its G_J (StepMode in the .cxx)
   mutable std::vector<double> _cacheG;     ///< G_J of every event (process-major) at _cacheAlpha
   mutable std::vector<double> _cacheAlpha; ///< per term: the alpha of _cacheG
   mutable bool _cacheValid = false;
   mutable std::size_t _nIncremental = 0;
   std::vector<double> _squaredWeights; ///< w_i^2 (applyWeightSquared)
   double _sumW = 0.0, _sumW2 = 0.0;
   double _constant = 0.0, _constantW2 = 0.0; ///< -sum_i w_i log m_i, -sum_i w_i^2 log m_i
   bool _weightSquared = false;
   bool _floatCode5 = false;
   RooArgSet _globalsFromData; ///< copies of global observables with the dataset's values (not owned)
   bool _doOffset = false;
   mutable bool _offsetSet = false;
   mutable double _offsetValue = 0.0;
   unsigned _nThreads = 1;
   bool _gradientWithValue = true;

   // shape terms grouped per process (built once by groupTerms())
   std::vector<std::vector<ShapeGroup>> _groupsOf; ///< groups of each process, in order
   std::vector<std::size_t> _firstGroup;           ///< index of each process's first group among all
   std::size_t _nGroups = 0;
   // scratch of a pass, sized once: no allocation per evaluation
   mutable std::vector<double> _yieldScratch;                          ///< N_J
   mutable std::vector<double> _alphaScratch;                          ///< per term: its alpha
   mutable std::vector<RooNSBI::MathFuncs::Poly6Weights> _polyScratch; ///< per term (code 5)
   mutable std::vector<RooNSBI::MathFuncs::AdditiveWeights> _addScratch; ///< per term (codes 0, 2, 4, 6)
   mutable std::vector<PassSums> _sums;                                ///< per thread
   mutable std::vector<double> _savedDYield, _savedDTerm, _savedKey;   ///< gradient(): saved results

   // parameters in gradient order and which yields / extra terms depend on each (built once)
   mutable std::unique_ptr<RooArgList> _params;
   mutable std::vector<std::vector<int>> _yieldDeps; ///< per parameter: yields depending on it
   mutable std::vector<std::vector<int>> _extraDeps; ///< per parameter: extra terms depending on it
   mutable std::vector<std::vector<int>> _termDeps;  ///< per parameter: shape terms driven by it
   void buildDependencies() const;

   // results of the last pass, and the parameter values they belong to
   mutable std::vector<double> _cacheKey;
   mutable double _value = 0.0;
   mutable bool _hasGradient = false;
   mutable std::vector<double> _dYield; ///< dNLL/dN_J
   mutable std::vector<double> _dTerm;  ///< dNLL/dalpha from each shape term
   // the last Hessian, the parameter values and floating flags it belongs to (hessian() at the same point:
   // Minuit's seed after the Newton iterations, HESSE after MIGRAD)
   mutable std::vector<double> _hessValue, _hessKey;
   mutable std::vector<char> _hessFloating;
   mutable std::vector<double> _seedHessian; ///< setSeedHessian(): the next hessian()'s matrix (empty: none)
   mutable std::size_t _nPasses = 0;
   mutable std::size_t _nHessianPasses = 0;

   ClassDefOverride(RooNSBINLL, 0) // not persistent: built at fit time
};

#endif
