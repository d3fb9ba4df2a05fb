/*
 * roonsbi: RooNSBIParamHistPdf, the "parametrized RooHistPdf" of parametrized NSBI:
 * per-mu' binned templates of the optimal observable, combined with POI
 * coefficients and HistFactory-style systematics.
 */
#ifndef RooNSBI_RooNSBIParamHistPdf_h
#define RooNSBI_RooNSBIParamHistPdf_h

#include "RooNSBI/BinnedMathFuncs.h"

#include <RooAbsPdf.h>
#include <RooAbsReal.h>
#include <RooListProxy.h>
#include <RooRealProxy.h>

#include <list>
#include <memory>
#include <vector>

/// \class RooNSBIParamHistTemplates
/// The numbers of a parametrized binned channel (no RooFit objects): a grid of
/// points mu'_k (k = 0..K-1, strictly increasing), and for each grid point the
/// expected yields of J processes in B bins (at f_J = 1, alpha = 0) and the
/// -1/+1 sigma bin contents of each histogram shape systematic (histosys).
/// Storage: nominal[(k * J + j) * B + b], shapeLow/High[(t * K + k) * B + b] for shape term t.
struct RooNSBIParamHistTemplates {
   std::vector<double> grid;         ///< mu'_k, strictly increasing
   int nBins = 0;                    ///< B
   int nProcesses = 0;               ///< J
   std::vector<double> nominal;      ///< K * J * B expected yields at f_J = 1, alpha = 0
   std::vector<int> shapeProcess;    ///< process index, per shape term
   std::vector<int> shapeParamIndex; ///< index into the list of shape parameters, per shape term
   std::vector<int> shapeCode;       ///< PiecewiseInterpolation code, per shape term
   std::vector<double> shapeLow;     ///< K * B contents at alpha = -1, per shape term
   std::vector<double> shapeHigh;    ///< K * B contents at alpha = +1, per shape term
   bool positiveDefinite = true;     ///< clamp negative interpolated process contents to 0 (HistFactory histosys)

   // Derived from the above (not stored): the shape terms of process j are
   // groupedTerms[groupFirst[j] .. groupFirst[j+1]), in the order they were added.
   std::vector<std::size_t> groupFirst;   //! per process, and one past the last
   std::vector<std::size_t> groupedTerms; //! shape term indices grouped by process
   // Scratch of one evaluation (compute() and the classes' evaluate()/doEval() do not allocate).
   mutable std::vector<RooNSBI::BinnedMathFuncs::HistoSysTerm> termScratch;    //!
   mutable std::vector<RooNSBI::BinnedMathFuncs::ProcessTemplate> procScratch; //!
   mutable std::vector<double> scaleScratch; //! s_J
   mutable std::vector<double> paramScratch; //! one value per shape parameter
   mutable std::vector<double> gammaScratch; //! gamma_b
   mutable std::vector<double> yieldScratch; //! nu_b

   std::size_t numGridPoints() const { return grid.size(); }

   /// Group the shape terms by process and size the scratch for `nShapeParams` distinct
   /// shape parameters: whenever the structure changes (built, a term added, read from a file).
   void groupShapeTerms(std::size_t nShapeParams);

   /// Expected yields out[0..B) at mu' = `muPrime`, with the process scale factors
   /// s_J (J values), the shape parameters (one value per distinct parameter) and
   /// the MC-statistics factors gamma_b (B values, or nullptr for none):
   ///   out[b] = gamma_b * [(1 - t) Y_b(k) + t Y_b(k+1)],
   ///   Y_b(k) = sum_J s_J PiecewiseInterpolation(nominal_Jb(k); low/high_Jmb(k); alpha),
   /// with mu'_k <= mu' < mu'_{k+1} (vertical linear interpolation; clamped outside the grid).
   void compute(double muPrime, const double *scales, const double *shapeParams, const double *gammas,
                double *out) const;
};

/// \class RooNSBIParamHistPdf
/// Binned pdf of parametrized NSBI. For each point mu'_k of a grid the optimal
/// observable O_mu'_k(x) = p(x|mu'_k)/p(x|SM) was histogrammed in B bins (its bin
/// index is the observable of this pdf: a RooRealVar with range [0, B] and B unit
/// bins). The expected yield in bin b is
///
///   nu_b(mu, alpha, gamma; mu') = gamma_b * sum_J s_J(mu, alpha) * T_Jb(alpha; mu'),
///
/// where s_J = f_J(mu) G_J(alpha) is any RooAbsReal (the Python builder uses a
/// RooProduct of the POI coefficient and a HistFactory FlexibleInterpVar), T_Jb is
/// the process template with its histogram shape systematics interpolated per bin
/// exactly as ROOT's PiecewiseInterpolation (HistFactory histosys, positive
/// definite), gamma_b are HistFactory staterror factors (optional), and the
/// dependence on mu' (a RooAbsReal, constant during fits) is the vertical linear
/// interpolation between the two neighbouring grid points (exact on the grid,
/// continuous in mu', clamped outside the grid).
///
/// The pdf is self-normalised and extended: value = nu_b / nu with nu = sum_b nu_b
/// and expectedEvents() = nu, so RooFit's extended NLL on a RooDataHist with counts
/// n_b is the Poisson NLL  sum_b [nu_b - n_b log nu_b]  (without the log n_b! terms).
class RooNSBIParamHistPdf : public RooAbsPdf {
public:
   RooNSBIParamHistPdf() = default;
   /// \param observable  the bin index: a RooRealVar with range [0, nBins] (unit bins)
   /// \param muPrime     the parameter selecting the templates (mu')
   /// \param grid        the grid points mu'_k (strictly increasing)
   /// \param nBins       B
   /// \param scales      s_J, one RooAbsReal per process
   /// \param nominal     K * J * B expected yields, nominal[(k * J + j) * B + b]
   RooNSBIParamHistPdf(const char *name, const char *title, RooAbsReal &observable, RooAbsReal &muPrime,
                       const std::vector<double> &grid, int nBins, const RooArgList &scales,
                       const std::vector<double> &nominal);
   RooNSBIParamHistPdf(const RooNSBIParamHistPdf &other, const char *name = nullptr);
   TObject *clone(const char *newname = nullptr) const override { return new RooNSBIParamHistPdf(*this, newname); }

   /// Add a histogram shape systematic (histosys) of process `process` driven by
   /// `alpha`, with K * B contents at alpha = -1 (`low`) and +1 (`high`), stored
   /// like the nominal of one process: low[k * B + b]; `code` is a
   /// PiecewiseInterpolation code (default 4, HistFactory's histosys default).
   void addHistoSys(std::size_t process, RooAbsReal &alpha, const std::vector<double> &low,
                    const std::vector<double> &high, int code = 4);

   /// Set the B MC-statistics factors gamma_b (HistFactory staterror), shared by all processes.
   void setGammas(const RooArgList &gammas);

   /// Clamp negative interpolated process contents to 0 (default true, as HistFactory).
   void setPositiveDefinite(bool flag = true);

   /// Expected yields nu_b of all bins at the current parameter values.
   std::vector<double> binYields() const;
   /// nu = sum_b nu_b at the current parameter values.
   double totalYield() const;

   bool selfNormalized() const override { return true; }
   ExtendMode extendMode() const override { return MustBeExtended; }
   double expectedEvents(const RooArgSet *nset) const override;
   using RooAbsPdf::expectedEvents;
   std::unique_ptr<RooAbsReal> createExpectedEventsFunc(const RooArgSet *nset) const override;

   bool isBinnedDistribution(const RooArgSet &) const override { return true; }
   std::list<double> *binBoundaries(RooAbsRealLValue &obs, double xlo, double xhi) const override;
   std::list<double> *plotSamplingHint(RooAbsRealLValue &obs, double xlo, double xhi) const override;

   void doEval(RooFit::EvalContext &ctx) const override;

   // Accessors (for exporters, the Python builder and introspection).
   const RooAbsReal &observable() const { return _x.arg(); }
   const RooAbsReal &muPrime() const { return _muPrime.arg(); }
   const RooArgList &scales() const { return _scales; }
   const RooArgList &shapeParams() const { return _shapeParams; }
   const RooArgList &gammas() const { return _gammas; }
   const RooNSBIParamHistTemplates &templates() const { return _templates; }
   const std::vector<double> &grid() const { return _templates.grid; }
   int numBins() const { return _templates.nBins; }
   int numProcesses() const { return _templates.nProcesses; }

   /// The data and templates of a parametrized channel are those of one mu': a profile scan over mu
   /// in one likelihood (what a standard tool builds) uses that observable for every mu, which is
   /// not the parametrized-NSBI scan (one observable per scan point: roonsbi.infer.parametrized_scan).
   /// RooFit's NLL of this pdf (or of any model containing it) therefore refuses to compile unless
   /// the fixed observable was accepted in this process: roonsbi's own models accept it, a workspace
   /// read elsewhere does not (the flag is not saved).
   void acceptFixedObservable(bool flag = true) { _fixedObservableAccepted = flag; }
   bool fixedObservableAccepted() const { return _fixedObservableAccepted; }
   std::unique_ptr<RooAbsArg>
   compileForNormSet(RooArgSet const &normSet, RooFit::Detail::CompileContext &ctx) const override;

protected:
   double evaluate() const override;

private:
   friend class RooNSBIParamHistYield;

   /// Bin yields with parameter values from `scalar(arg)` (in the templates' scratch) and their
   /// total nu; nullptr (after logging an evaluation error) if a yield is negative or not finite
   /// or the total is not positive.
   template <class Scalar>
   const std::vector<double> *computeYields(Scalar const &scalar, double &nu) const;

   RooRealProxy _x;           ///< bin-index observable
   RooRealProxy _muPrime;     ///< mu'
   RooListProxy _scales;      ///< s_J, per process
   RooListProxy _shapeParams; ///< distinct nuisance parameters of the histosys terms
   RooListProxy _gammas;      ///< staterror gamma_b (empty or B)
   RooNSBIParamHistTemplates _templates;
   bool _fixedObservableAccepted = false; //! not saved: each process decides

   ClassDefOverride(RooNSBIParamHistPdf, 1)
};

/// \class RooNSBIParamHistYield
/// The total expected yield nu = sum_b nu_b of a RooNSBIParamHistPdf (its
/// expected-events function for RooFit's extended likelihood). It holds a copy of
/// the templates and the same parameter servers (not the pdf).
class RooNSBIParamHistYield : public RooAbsReal {
public:
   RooNSBIParamHistYield() = default;
   RooNSBIParamHistYield(const char *name, const char *title, const RooNSBIParamHistPdf &pdf);
   RooNSBIParamHistYield(const RooNSBIParamHistYield &other, const char *name = nullptr);
   TObject *clone(const char *newname = nullptr) const override { return new RooNSBIParamHistYield(*this, newname); }

   void doEval(RooFit::EvalContext &ctx) const override;

protected:
   double evaluate() const override;

private:
   template <class Scalar>
   double compute(Scalar const &scalar) const;

   RooRealProxy _muPrime;
   RooListProxy _scales;
   RooListProxy _shapeParams;
   RooListProxy _gammas;
   RooNSBIParamHistTemplates _templates;

   ClassDefOverride(RooNSBIParamHistYield, 1)
};

#endif
