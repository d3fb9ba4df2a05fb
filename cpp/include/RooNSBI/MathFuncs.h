/*
 * roonsbi: the maths of the NSBI master formula, as free functions in the
 * style of RooFit/Detail/MathFuncs.h. The RooFit classes only gather their
 * inputs and call these, so the scalar and the vectorised paths share one
 * implementation.
 */
#ifndef RooNSBI_MathFuncs_h
#define RooNSBI_MathFuncs_h

#include <RooFit/Detail/MathFuncs.h>

#include <algorithm>
#include <cstddef>

namespace RooNSBI {
namespace MathFuncs {

/// Interpolation codes of per-event shape systematics: those of ROOT's
/// PiecewiseInterpolation (= RooFit::Detail::MathFuncs::flexibleInterpSingle):
/// 0 additive piecewise linear, 1 multiplicative piecewise exponential,
/// 2 additive parabolic/linear, 4 additive 6th-order polynomial/linear,
/// 5 multiplicative 6th-order polynomial/exponential (default),
/// 6 multiplicative 6th-order polynomial/linear. Code 3 was never implemented in ROOT.
inline bool isValidShapeCode(int code)
{
   return code == 0 || code == 1 || code == 2 || code == 4 || code == 5 || code == 6;
}

/// Interpolation codes of normalisation systematics: those of ROOT's
/// HistFactory FlexibleInterpVar: 0 linear, 1 exponential, 2 parabolic/linear,
/// 4 (= 5) 6th-order polynomial/exponential (HistFactory's normsys default, pyhf "code4").
inline bool isValidNormCode(int code)
{
   return code == 0 || code == 1 || code == 2 || code == 4 || code == 5;
}

/// One step of the per-event shape interpolation: with the running factor g,
/// return g + delta, exactly as PiecewiseInterpolation accumulates parameter
/// after parameter around a nominal value of 1 (boundary 1):
///   multiplicative codes: g * I(alpha; low, high),  additive codes: g + I(alpha; low, high) - 1.
inline double shapeStep(int code, double low, double high, double alpha, double g)
{
   return g + RooFit::Detail::MathFuncs::flexibleInterpSingle(code, low, high, 1.0, 1.0, alpha, g);
}

/// A per-event shape systematic of one process: columns g(x_i, -1) and g(x_i, +1)
/// and the value of its nuisance parameter.
struct ShapeTerm {
   int code;
   double alpha;
   const double *low;
   const double *high;
};

/// One process J: its yield N_J = f_J(mu) nu_J G_J(alpha), its ratio column
/// r_J(x_i) = p_J(x_i)/p_ref(x_i) and its shape systematics (applied in order).
struct ProcessTerm {
   double yield;
   const double *ratio;
   const ShapeTerm *shapes;
   std::size_t nShapes;
};

/// The NSBI master formula for n events:
///
///   out[i] = p(x_i|mu,alpha) / p_ref(x_i)
///          = 1/nu * sum_J N_J r_J(x_i) prod_m g_Jm(x_i, alpha_m),    nu = sum_J N_J.
///
/// Events are processed in blocks so that the running shape factor stays in cache.
inline void densityRatio(std::size_t n, const ProcessTerm *procs, std::size_t nProcs, double nu, double *out)
{
   constexpr std::size_t blockSize = 512;
   double g[blockSize];
   for (std::size_t begin = 0; begin < n; begin += blockSize) {
      const std::size_t m = std::min(blockSize, n - begin);
      double *o = out + begin;
      std::fill(o, o + m, 0.0);
      for (std::size_t j = 0; j < nProcs; ++j) {
         const ProcessTerm &p = procs[j];
         std::fill(g, g + m, 1.0);
         for (std::size_t s = 0; s < p.nShapes; ++s) {
            const ShapeTerm &t = p.shapes[s];
            const double *lo = t.low + begin;
            const double *hi = t.high + begin;
            for (std::size_t k = 0; k < m; ++k) {
               g[k] = shapeStep(t.code, lo[k], hi[k], t.alpha, g[k]);
            }
         }
         const double *r = p.ratio + begin;
         for (std::size_t k = 0; k < m; ++k) {
            o[k] += p.yield * r[k] * g[k];
         }
      }
      for (std::size_t k = 0; k < m; ++k) {
         o[k] /= nu;
      }
   }
}

} // namespace MathFuncs
} // namespace RooNSBI

#endif
