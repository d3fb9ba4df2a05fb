/*
 * roonsbi: RooNSBINLL, the fast extended NLL of a RooNSBIPdf with an analytic gradient.
 */
#ifndef RooNSBI_RooNSBINLL_h
#define RooNSBI_RooNSBINLL_h

#include "RooNSBI/EventStore.h"
#include "RooNSBI/MathFuncs.h"

#include <RooAbsReal.h>
#include <RooListProxy.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

class RooNSBIPdf;

/// \class RooNSBINLL
/// The extended negative log-likelihood of a RooNSBIPdf on events held in a
/// compact float32 RooNSBI::EventStore (no RooDataSet), plus any number of
/// additional terms (constraints, binned channels: RooAbsReal values added as is):
///
///   NLL = nu - sum_i w_i log F_i + sum_k extra_k,
///   F_i = sum_J N_J r_J(x_i) prod_m g_Jm(x_i, alpha_m),    nu = sum_J N_J,
///
/// i.e. RooFit's extended NLL of the pdf up to the constant sum_i w_i log p_ref.
///
/// The value and the analytic gradient with respect to every parameter are
/// computed in one threaded pass over the events (blocks of events stay in
/// cache between the value and the gradient parts), accumulating in double
/// precision. RooMinimizer uses the gradient because hasGradient() is true.
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
/// linear with alpha-only weights (no exp).
class RooNSBINLL : public RooAbsReal {
public:
   RooNSBINLL() = default;
   RooNSBINLL(const char *name, const char *title, const RooNSBIPdf &pdf, std::shared_ptr<RooNSBI::EventStore> store,
              const RooArgList &extraTerms = RooArgList());
   RooNSBINLL(const RooNSBINLL &other, const char *name = nullptr);
   /// The checks of the constructor (supported codes, store columns), throwing
   /// std::invalid_argument naming the problem. Callable before construction
   /// (PyROOT does not survive an exception thrown by this constructor).
   static void checkInputs(const char *name, const RooNSBIPdf &pdf, const RooNSBI::EventStore *store,
                           const RooArgList &extraTerms);
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

   /// Hessian by central differences of the analytic gradient: 2 passes per floating
   /// parameter instead of Minuit's O(n^2) function evaluations. Row-major over all
   /// parameters in gradient order (RooMinimizer uses it with Config::useHessian).
   bool hasHessian() const override { return true; }
   void hessian(double *out) const override;

   /// Threads over event blocks (default: the hardware concurrency).
   void setNumThreads(unsigned n) { _nThreads = n ? n : 1; }
   unsigned numThreads() const { return _nThreads; }
   /// Compute the gradient along with every value (default on): Minuit asks for
   /// the gradient at the point whose value it just asked for, which then costs nothing.
   void setGradientWithValue(bool flag) { _gradientWithValue = flag; }
   /// Number of full passes over the events so far (for tests and benchmarks).
   std::size_t numPasses() const { return _nPasses; }

   const RooNSBI::EventStore &store() const { return *_store; }

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
   };

protected:
   double evaluate() const override;

private:
   void bindColumns(const RooNSBIPdf &pdf);
   void compute(bool withGradient) const;
   /// Group the shape terms per process (ShapeGroup) and size the parameter-sized scratch:
   /// once, when the NLL is built or copied (its structure is fixed).
   void groupTerms();
   /// Size the per-thread buffers of a pass for `nThreads` threads (when that number changes).
   void sizeScratch(std::size_t nThreads) const;
   /// Whether a parameter value differs from those of the last pass (_cacheKey).
   bool valuesChanged() const;
   /// Remember the current parameter values as those of the last pass.
   void storeCacheKey() const;
   double numericalDerivative(RooAbsReal &func, RooAbsArg &param) const;

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
   const float *_weights = nullptr;
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
   mutable std::size_t _nPasses = 0;

   ClassDefOverride(RooNSBINLL, 0) // not persistent: built at fit time
};

#endif
