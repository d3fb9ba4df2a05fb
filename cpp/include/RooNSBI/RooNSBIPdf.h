/*
 * roonsbi: RooNSBIPdf, the NSBI master formula as a RooFit pdf.
 */
#ifndef RooNSBI_RooNSBIPdf_h
#define RooNSBI_RooNSBIPdf_h

#include "RooNSBI/MathFuncs.h"

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
/// where N_J = f_J(mu) nu_J G_J(alpha) is any RooAbsReal (the Python builders
/// use a RooProduct of the POI coefficient, the nominal yield and a HistFactory
/// FlexibleInterpVar), and g_Jm are per-event shape systematics interpolated
/// between the per-event ratio columns g_Jm(x,-1) and g_Jm(x,+1) with the codes
/// of ROOT's PiecewiseInterpolation around a nominal of 1, accumulated per
/// process in the order they were added. Shapes are not renormalised: the
/// columns are density ratios p_J(x|alpha=+-1)/p_J(x|0), so their reference
/// expectation is 1 by construction.
///
/// The pdf is self-normalised (the value is a density ratio; the reference
/// density only adds a parameter-independent constant to the NLL) and must be
/// extended with expectedEvents() = nu, so RooFit's extended NLL is
///   NLL = nu - sum_i w_i log(sum_J N_J r_J(x_i) prod_m g_Jm(x_i)) + const.
class RooNSBIPdf : public RooAbsPdf {
public:
   RooNSBIPdf() = default;
   /// \param yields  N_J, one RooAbsReal per process (parameters only)
   /// \param ratios  r_J, one dataset column (RooRealVar observable) per process
   RooNSBIPdf(const char *name, const char *title, const RooArgList &yields, const RooArgList &ratios);
   RooNSBIPdf(const RooNSBIPdf &other, const char *name = nullptr);
   TObject *clone(const char *newname = nullptr) const override { return new RooNSBIPdf(*this, newname); }

   /// Add a per-event shape systematic of process `process` (index into the
   /// yields/ratios lists) driven by `alpha`, with the columns g(x,-1) = `low`
   /// and g(x,+1) = `high` and PiecewiseInterpolation's interpolation `code`
   /// (default 5: multiplicative 6th-order polynomial inside |alpha|<1, exponential outside).
   void addShapeSystematic(std::size_t process, RooAbsReal &alpha, RooAbsReal &low, RooAbsReal &high, int code = 5);

   /// Check that `data` holds every column of this pdf with valid values:
   /// ratio columns finite and >= 0, shape columns finite and > 0, weights finite.
   /// Throws std::invalid_argument naming the column, the number of bad entries
   /// and the first bad entry.
   void checkColumns(const RooAbsData &data) const;

   /// Check n values of one column (`role` names its meaning in the message):
   /// finite and >= 0, or > 0 if `strictlyPositive`. Throws std::invalid_argument.
   static void checkColumnValues(const char *column, const char *role, const double *values, std::size_t n,
                                 bool strictlyPositive);

   /// nu(mu,alpha) = sum_J N_J at the current parameter values.
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

protected:
   double evaluate() const override;

private:
   template <class Scalar, class Column>
   void compute(std::size_t n, Scalar const &scalar, Column const &column, double *out) const;
   /// Group the shape terms by process and size the scratch buffers: whenever the
   /// structure changes (constructor, addShapeSystematic, copy, reading from a file).
   void groupShapeTerms();

   RooListProxy _yields;       ///< N_J, per process
   RooListProxy _ratios;       ///< r_J columns, per process
   RooListProxy _shapeParams;  ///< distinct nuisance parameters of the shape systematics
   RooListProxy _shapeLow;     ///< g(x,-1) columns, per shape term
   RooListProxy _shapeHigh;    ///< g(x,+1) columns, per shape term
   std::vector<int> _shapeProcess;    ///< process index, per shape term
   std::vector<int> _shapeParamIndex; ///< index into _shapeParams, per shape term
   std::vector<int> _shapeCode;       ///< interpolation code, per shape term

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

   ClassDefOverride(RooNSBIPdf, 1)
};

#endif
