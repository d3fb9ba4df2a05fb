/*
 * roonsbi: RooNSBIShapeNorm, the renormalisation factor of a shape term on a reference sample.
 */
#include "RooNSBI/RooNSBIShapeNorm.h"
#include "RooNSBI/Codes.h"
#include "RooNSBI/MathFuncs.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

void RooNSBIShapeNorm::check(const char *name, int code, const std::vector<double> &w, const std::vector<double> &low,
                             const std::vector<double> &high)
{
   const std::string where = std::string("RooNSBIShapeNorm '") + name + "': ";
   if (!RooNSBI::Codes::isShapeCode(code)) {
      std::ostringstream msg;
      msg << where << "unknown interpolation code " << code << " (PiecewiseInterpolation codes "
          << RooNSBI::Codes::shapeCodesText << ")";
      throw std::invalid_argument(msg.str());
   }
   if (w.empty() || w.size() != low.size() || w.size() != high.size()) {
      std::ostringstream msg;
      msg << where << "needs at least one reference event and as many weights as low and high values (got "
          << w.size() << ", " << low.size() << ", " << high.size() << ")";
      throw std::invalid_argument(msg.str());
   }
   double sum = 0.0;
   for (std::size_t k = 0; k < w.size(); ++k) {
      const char *bad = !(std::isfinite(w[k]) && w[k] >= 0.0)              ? "weight"
                        : !(std::isfinite(low[k]) && low[k] > 0.0)      ? "low (-1 sigma) value"
                        : !(std::isfinite(high[k]) && high[k] > 0.0)    ? "high (+1 sigma) value"
                                                                         : nullptr;
      if (bad) {
         std::ostringstream msg;
         msg << where << "reference event " << k << " has a " << bad << " that is not finite and "
             << (bad[0] == 'w' ? ">= 0" : "> 0") << " (w = " << w[k] << ", low = " << low[k] << ", high = " << high[k]
             << ")";
         throw std::invalid_argument(msg.str());
      }
      sum += w[k];
   }
   if (!(sum > 0.0)) {
      throw std::invalid_argument(where + "the reference weights m_k r_J(x_k) sum to 0: the process has no "
                                          "reference events to renormalise its shape on");
   }
}

RooNSBIShapeNorm::RooNSBIShapeNorm(const char *name, const char *title, RooAbsReal &alpha, int code,
                                   const std::vector<double> &w, const std::vector<double> &low,
                                   const std::vector<double> &high)
   : RooAbsReal(name, title), _alpha("alpha", "nuisance parameter of the shape term", this, alpha), _code(code),
     _w(w), _low(low), _high(high)
{
   check(name, code, w, low, high);
}

RooNSBIShapeNorm::RooNSBIShapeNorm(const RooNSBIShapeNorm &other, const char *name)
   : RooAbsReal(other, name), _alpha("alpha", this, other._alpha), _code(other._code), _w(other._w),
     _low(other._low), _high(other._high)
{
}

double RooNSBIShapeNorm::expectation(double alpha) const
{
   return RooNSBI::MathFuncs::shapeExpectation(_code, _w.size(), _w.data(), _low.data(), _high.data(), alpha);
}

double RooNSBIShapeNorm::evaluate() const
{
   return 1.0 / expectation(_alpha);
}
