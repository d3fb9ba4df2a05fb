/*
 * roonsbi (private): input checks shared by the constructors of the binned classes.
 * They throw std::invalid_argument (turned into ValueError by roonsbi.library.cpp_errors);
 * the maths in RooNSBI/BinnedMathFuncs.h never throws and relies on them.
 */
#ifndef RooNSBI_Checks_h
#define RooNSBI_Checks_h

#include <cmath>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace RooNSBI {
namespace Checks {

/// Check a mu' grid (finite, strictly increasing, not empty) and a bin count (>= 1);
/// throws std::invalid_argument starting with `prefix`.
inline void checkGrid(const std::string &prefix, const std::vector<double> &grid, int nBins)
{
   if (grid.empty()) {
      throw std::invalid_argument(prefix + "needs at least one grid point mu'_k");
   }
   for (std::size_t k = 0; k < grid.size(); ++k) {
      if (!std::isfinite(grid[k]) || (k > 0 && !(grid[k] > grid[k - 1]))) {
         std::ostringstream msg;
         msg << prefix << "the grid points mu'_k must be finite and strictly increasing (point " << k << " = "
             << grid[k] << ")";
         throw std::invalid_argument(msg.str());
      }
   }
   if (nBins < 1) {
      throw std::invalid_argument(prefix + "needs at least one bin");
   }
}

} // namespace Checks
} // namespace RooNSBI

#endif
