/*
 * roonsbi: the maths of binned (parametrized) NSBI models, as free functions in
 * the style of RooFit/Detail/MathFuncs.h. The RooFit classes (RooNSBIParamHistPdf,
 * RooNSBIParamHistYield, RooNSBIParamDataHist, RooNSBIGridFunc) only gather
 * their inputs and call these, so the scalar and the vectorised paths share one
 * implementation.
 *
 * Every interpolation of a systematic variation is ROOT's own
 * RooFit::Detail::MathFuncs::flexibleInterpSingle, called exactly as
 * PiecewiseInterpolation::evaluate does (boundary 1, the running sum as `res`).
 */
#ifndef RooNSBI_BinnedMathFuncs_h
#define RooNSBI_BinnedMathFuncs_h

#include "RooNSBI/Codes.h"

#include <RooFit/Detail/MathFuncs.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace RooNSBI {
namespace BinnedMathFuncs {

/// The interpolation codes of histogram shape systematics (histosys) are those of
/// RooNSBI/Codes.h (ROOT's PiecewiseInterpolation). These functions never throw:
/// inputs are checked when the RooFit objects are built.

/// Position of a parameter value on a grid of points g_0 < g_1 < ... < g_{n-1}:
/// values are interpolated as (1 - t) v[k] + t v[k+1]. Outside the grid the
/// position is clamped to the first/last point (t = 0 at k = 0 or k = n-1).
struct GridPosition {
   std::size_t k = 0;
   double t = 0.0;
};

/// Locate `x` on the strictly increasing `grid` of `n` points (vertical linear
/// interpolation; continuous in x by construction, exact at the grid points).
inline GridPosition locate(const double *grid, std::size_t n, double x)
{
   GridPosition pos;
   if (n <= 1 || !(x > grid[0])) { // also catches NaN: clamp to the first point
      return pos;
   }
   if (x >= grid[n - 1]) {
      pos.k = n - 1;
      return pos;
   }
   // first point > x, so that grid[k] <= x < grid[k+1]
   const double *upper = std::upper_bound(grid, grid + n, x);
   pos.k = static_cast<std::size_t>(upper - grid) - 1;
   pos.t = (x - grid[pos.k]) / (grid[pos.k + 1] - grid[pos.k]);
   return pos;
}

/// Interpolate a table with one value per grid point: values[k * stride].
inline double interpolate(const double *values, std::size_t stride, GridPosition pos)
{
   const double v0 = values[pos.k * stride];
   if (pos.t == 0.0) {
      return v0;
   }
   const double v1 = values[(pos.k + 1) * stride];
   return (1.0 - pos.t) * v0 + pos.t * v1;
}

/// One histogram shape systematic (histosys) of one process at one grid point:
/// the bin contents at alpha = -1 (`low`) and +1 (`high`) and the value of alpha.
struct HistoSysTerm {
   int code;
   double alpha;
   const double *low;
   const double *high;
};

/// PiecewiseInterpolation of one bin: start from the nominal content and add,
/// parameter after parameter, flexibleInterpSingle(code, low, high, 1, nominal,
/// alpha, sum); with `positiveDefinite` a negative result is set to 0 (as
/// HistFactory's histosys, PiecewiseInterpolation::setPositiveDefinite).
inline double interpolateBin(double nominal, const HistoSysTerm *terms, std::size_t nTerms, std::size_t bin,
                             bool positiveDefinite)
{
   double sum = nominal;
   for (std::size_t s = 0; s < nTerms; ++s) {
      const HistoSysTerm &t = terms[s];
      sum += RooFit::Detail::MathFuncs::flexibleInterpSingle(t.code, t.low[bin], t.high[bin], 1.0, nominal, t.alpha,
                                                               sum);
   }
   if (positiveDefinite && sum < 0.0) {
      sum = 0.0;
   }
   return sum;
}

/// One process at one grid point: its scale factor s_J = f_J(mu) G_J(alpha), its
/// nominal bin contents (expected yields at f_J = 1, alpha = 0) and its histosys terms.
struct ProcessTemplate {
   double scale;
   const double *nominal;
   const HistoSysTerm *shapes;
   std::size_t nShapes;
};

/// Add `weight` times the expected yields of one grid point to out[0..nBins):
///   out[b] += weight * sum_J s_J * PiecewiseInterpolation(nominal_Jb; lo_Jmb, hi_Jmb; alpha).
inline void addGridPointYields(std::size_t nBins, const ProcessTemplate *procs, std::size_t nProcs,
                               bool positiveDefinite, double weight, double *out)
{
   for (std::size_t j = 0; j < nProcs; ++j) {
      const ProcessTemplate &p = procs[j];
      const double w = weight * p.scale;
      if (w == 0.0) {
         continue;
      }
      for (std::size_t b = 0; b < nBins; ++b) {
         out[b] += w * interpolateBin(p.nominal[b], p.shapes, p.nShapes, b, positiveDefinite);
      }
   }
}

/// Multiply the expected yields by the per-bin MC-statistics factors gamma_b
/// (HistFactory staterror: one factor per bin shared by all processes).
inline void applyGammas(std::size_t nBins, const double *gammas, double *out)
{
   for (std::size_t b = 0; b < nBins; ++b) {
      out[b] *= gammas[b];
   }
}

/// Sum of the expected yields.
inline double total(std::size_t nBins, const double *yields)
{
   double sum = 0.0;
   for (std::size_t b = 0; b < nBins; ++b) {
      sum += yields[b];
   }
   return sum;
}

/// Bin index of an observable value x on the bin-index axis [0, nBins) with unit
/// bins (clamped; NaN goes to bin 0).
inline std::size_t binIndex(double x, std::size_t nBins)
{
   if (!(x >= 1.0)) {
      return 0;
   }
   const double b = std::floor(x);
   return b >= static_cast<double>(nBins) ? nBins - 1 : static_cast<std::size_t>(b);
}

} // namespace BinnedMathFuncs
} // namespace RooNSBI

#endif
