/*
 * roonsbi: RooNSBIModel, the channel model "store-form RooNSBIPdf x its constraint pdfs",
 * whose standard createNLL() gives the fast likelihood (RooNSBINLL).
 */
#ifndef RooNSBI_RooNSBIModel_h
#define RooNSBI_RooNSBIModel_h

#include <RooProdPdf.h>

#include <memory>
#include <string>

class RooLinkedList;
class RooNSBIPdf;

/// \class RooNSBIModel
/// The product of a store-form RooNSBIPdf and the constraint pdfs of its nuisance parameters
/// (HistFactory style: RooGaussian(nom_alpha_X | alpha_X, 1), ...). It is a RooProdPdf of exactly
/// these factors in every other respect (values, generation, persistence, getConstraints(), a channel
/// of a RooSimultaneous), and only overrides createNLLImpl(): what RooAbsPdf::createNLL() and
/// RooAbsPdf::fitTo() call, and so what RooStats, xRooFit and plain macros get.
///
/// createNLL(data, commands) returns a RooNSBINLL on (pdf, data) when every command is one it
/// understands and the dataset is one of the pdf's event index; its value is RooFit's extended
/// NLL of this product,
///
///   NLL = nu - sum_i w_i log(m_i F_i) - sum_c log c(g_c | alpha) ,
///
/// the constraint terms c being those RooFit adds (RooConstraintSum of each constraint pdf,
/// normalised over the global observables; see createNLLImpl()), with the analytic gradient of
/// RooNSBINLL. Otherwise it falls back to RooProdPdf's (RooFit's generic) NLL, saying why.
class RooNSBIModel : public RooProdPdf {
public:
   RooNSBIModel() = default;
   /// \param pdf a store-form RooNSBIPdf (the first factor);
   /// \param constraints the constraint pdfs (none of them a function of the pdf's event index).
   /// Check the inputs with checkInputs() first (PyROOT does not survive an exception thrown here).
   RooNSBIModel(const char *name, const char *title, RooNSBIPdf &pdf, const RooArgList &constraints);
   RooNSBIModel(const RooNSBIModel &other, const char *name = nullptr);
   TObject *clone(const char *newname = nullptr) const override { return new RooNSBIModel(*this, newname); }

   /// The checks of the constructor, throwing std::invalid_argument naming the model and the bad
   /// argument: a column-form pdf, a constraint that is not a pdf or depends on the event index.
   static void checkInputs(const char *name, const RooNSBIPdf &pdf, const RooArgList &constraints);

   /// The NSBI pdf of the product (its first RooNSBIPdf factor; nullptr if there is none).
   RooNSBIPdf *nsbiPdf() const;

   /// Why createNLL(data, cmdList) uses RooFit's generic NLL instead of RooNSBINLL ("" if it does not).
   /// Understood commands (names as RooFit's RooCmdArgs):
   ///  - Extended (true or the default; Extended(false) falls back: the pdf must be extended),
   ///  - GlobalObservables, GlobalObservablesTag, GlobalObservablesSource, Constrain, ExternalConstraints:
   ///    the constraint terms, exactly as RooFit builds them,
   ///  - OffsetLikelihood (Offset(true) / Offset("initial"), Offset(false); Offset("bin") falls back),
   ///  - NumCPU(n): n threads of RooNSBINLL,
   ///  - CloneData, Verbose, Optimize, EvalBackend: no effect (RooNSBINLL reads its inputs itself, caches
   ///    its per-event sums and has its own gradient),
   ///  - ProjectedObservables (ConditionalObservables) with no observables, ModularL(false),
   ///    IntegrateBins with a negative precision (off).
   /// Anything else (Range, SumCoefRange, SplitRange, ...), a dataset without the event index or with
   /// other observables of the model, or a model factor besides the pdf that depends on the observables,
   /// falls back.
   std::string fastNLLUnsupportedReason(const RooAbsData &data, const RooLinkedList &cmdList) const;

   /// RooNSBINLL on (pdf, data) plus RooFit's constraint terms, or RooProdPdf::createNLLImpl() (see
   /// fastNLLUnsupportedReason()). The constraint terms follow RooFit (its createConstraintTerm):
   /// the constraint pdfs are getAllConstraints() of the constrained parameters (Constrain(...), default
   /// all parameters, keeping those connected to the observables) plus ExternalConstraints(...); each
   /// gives a RooConstraintSum -log c normalised over the global observables (GlobalObservables(...),
   /// GlobalObservablesTag(...) or the model's "DefaultGlobalObservablesTag" attribute; without them those
   /// stored in the dataset, else the constrained parameters). The global observables are read live from
   /// the model (the current values of nom_alpha_X, as RooStats sets them), except that with
   /// GlobalObservablesSource("data") (the default) those stored in the dataset take the dataset's values.
   /// Bad values in the dataset (an index that is not a row of the store, a non-finite weight) throw
   /// std::invalid_argument (RooNSBINLL::checkData()).
   std::unique_ptr<RooAbsReal> createNLLImpl(RooAbsData &data, const RooLinkedList &cmdList) override;

   ClassDefOverride(RooNSBIModel, 1)
};

#endif
