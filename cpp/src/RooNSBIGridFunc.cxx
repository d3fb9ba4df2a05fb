/*
 * roonsbi: RooNSBIGridFunc, a linearly interpolated table on a parameter grid.
 */
#include "RooNSBI/RooNSBIGridFunc.h"
#include "RooNSBI/BinnedMathFuncs.h"

#include <RooFit/EvalContext.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

RooNSBIGridFunc::RooNSBIGridFunc(const char *name, const char *title, RooAbsReal &param,
                                 const std::vector<double> &grid, const std::vector<double> &values)
   : RooAbsReal(name, title), _param("param", "grid parameter", this, param), _grid(grid), _values(values)
{
   const std::string prefix = std::string("RooNSBIGridFunc '") + name + "': ";
   if (grid.empty() || grid.size() != values.size()) {
      std::ostringstream msg;
      msg << prefix << "needs one value per grid point and at least one point (got " << grid.size()
          << " grid points and " << values.size() << " values)";
      throw std::invalid_argument(msg.str());
   }
   for (std::size_t k = 0; k < grid.size(); ++k) {
      if (!std::isfinite(grid[k]) || (k > 0 && !(grid[k] > grid[k - 1])) || !std::isfinite(values[k])) {
         std::ostringstream msg;
         msg << prefix << "grid points must be finite and strictly increasing and values finite (point " << k
             << ": " << grid[k] << " -> " << values[k] << ")";
         throw std::invalid_argument(msg.str());
      }
   }
}

RooNSBIGridFunc::RooNSBIGridFunc(const RooNSBIGridFunc &other, const char *name)
   : RooAbsReal(other, name), _param("param", this, other._param), _grid(other._grid), _values(other._values)
{
}

double RooNSBIGridFunc::evaluate() const
{
   using namespace RooNSBI::BinnedMathFuncs;
   return interpolate(_values.data(), 1, locate(_grid.data(), _grid.size(), _param));
}

void RooNSBIGridFunc::doEval(RooFit::EvalContext &ctx) const
{
   using namespace RooNSBI::BinnedMathFuncs;
   std::span<const double> p = ctx.at(_param);
   std::span<double> output = ctx.output();
   for (std::size_t i = 0; i < output.size(); ++i) {
      output[i] = interpolate(_values.data(), 1, locate(_grid.data(), _grid.size(), p.size() > 1 ? p[i] : p[0]));
   }
}
