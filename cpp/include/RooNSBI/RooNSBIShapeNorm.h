/*
 * roonsbi: RooNSBIShapeNorm, the renormalisation factor of one per-event shape term on a
 * reference sample.
 */
#ifndef RooNSBI_RooNSBIShapeNorm_h
#define RooNSBI_RooNSBIShapeNorm_h

#include <RooAbsReal.h>
#include <RooRealProxy.h>

#include <string>
#include <vector>

/// \class RooNSBIShapeNorm
/// The renormalisation of one per-event shape term g_Jm(x, alpha) of process J on a reference
/// sample x_k ~ p_ref with reference weights w_k = m_k r_J(x_k) (pool measure times ratio):
///
///   value(alpha) = 1 / c(alpha),     c(alpha) = sum_k w_k g(alpha; low_k, high_k) / sum_k w_k,
///
/// so that g_Jm / c_Jm has reference expectation 1 (weighted by r_J) at every alpha, i.e.
/// int p_ref r_J g_Jm / c_Jm = int p_ref r_J. The factor multiplies the yield of process J in the
/// per-event sum of RooNSBIPdf (RooNSBIPdf::setExpectedEventsShift keeps nu = sum_J f_J nu_J G_J).
/// c is RooNSBI::MathFuncs::shapeExpectation, i.e. the term's own interpolation (shapeTermValue,
/// ROOT's flexibleInterpSingle) averaged over the sample. For the codes 0, 2, 4 and 6, whose
/// delta is linear in the per-event values, the builder gives one "event" (the weighted means of
/// low and high), which is exact; for the exponential codes 1 and 5 it keeps every reference
/// event (three doubles each, saved with the object).
class RooNSBIShapeNorm : public RooAbsReal {
public:
   RooNSBIShapeNorm() = default;
   /// Check the inputs with check() first (PyROOT does not survive an exception thrown here).
   RooNSBIShapeNorm(const char *name, const char *title, RooAbsReal &alpha, int code, const std::vector<double> &w,
                    const std::vector<double> &low, const std::vector<double> &high);
   RooNSBIShapeNorm(const RooNSBIShapeNorm &other, const char *name = nullptr);
   TObject *clone(const char *newname = nullptr) const override { return new RooNSBIShapeNorm(*this, newname); }

   /// The checks of the constructor: a shape code, equal lengths, at least one event, finite
   /// w >= 0 with a positive sum, finite positive low and high. Throws std::invalid_argument
   /// naming the object, the argument and the first bad entry.
   static void check(const char *name, int code, const std::vector<double> &w, const std::vector<double> &low,
                     const std::vector<double> &high);

   /// c(alpha) = E_w[g(alpha)], the reference expectation of the term alone (value() = 1/c).
   double expectation(double alpha) const;
   const RooAbsReal &alpha() const { return _alpha.arg(); }
   int code() const { return _code; }
   std::size_t numEvents() const { return _w.size(); }

protected:
   double evaluate() const override;

private:
   RooRealProxy _alpha;
   int _code = 5;
   std::vector<double> _w;
   std::vector<double> _low;
   std::vector<double> _high;

   ClassDefOverride(RooNSBIShapeNorm, 1)
};

#endif
