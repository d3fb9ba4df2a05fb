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
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

/// exp(x) for |x| < 700 to about 1 ulp, written so that compilers vectorise it
/// (Cody-Waite reduction by ln 2, degree-13 Taylor polynomial, exponent by bit
/// arithmetic). Used by the fast likelihood where std::exp would not vectorise.
inline double vexp(double x)
{
   constexpr double log2e = 1.4426950408889634;
   constexpr double ln2hi = 6.93147180369123816490e-01;
   constexpr double ln2lo = 1.90821492927058770002e-10;
   constexpr double shifter = 6755399441055744.0; // 1.5 * 2^52: adding it rounds to an integer
   const double t = x * log2e + shifter;
   const double n = t - shifter;                  // round(x / ln 2)
   const double r = (x - n * ln2hi) - n * ln2lo;  // |r| <= ln2/2
   double p = 1.0 / 6227020800.0;                 // 1/13!
   p = p * r + 1.0 / 479001600.0;
   p = p * r + 1.0 / 39916800.0;
   p = p * r + 1.0 / 3628800.0;
   p = p * r + 1.0 / 362880.0;
   p = p * r + 1.0 / 40320.0;
   p = p * r + 1.0 / 5040.0;
   p = p * r + 1.0 / 720.0;
   p = p * r + 1.0 / 120.0;
   p = p * r + 1.0 / 24.0;
   p = p * r + 1.0 / 6.0;
   p = p * r + 0.5;
   p = p * r + 1.0;
   p = p * r + 1.0;
   // 2^n: the low mantissa bits of t hold n; move them into the exponent field
   std::uint64_t bits;
   std::memcpy(&bits, &t, sizeof(bits));
   bits = (bits + 1023) << 52;
   double scale;
   std::memcpy(&scale, &bits, sizeof(scale));
   return p * scale;
}

/// ROOT's interpolation code 5 (PiecewiseInterpolation; FlexibleInterpVar code 4)
/// inside |alpha| < 1, with boundary 1 and nominal 1, from the +-1 sigma values
/// hi, lo and their logarithms: the 6th-order polynomial whose value, first and
/// second derivative match hi^alpha at alpha = 1 and lo^-alpha at alpha = -1.
/// Gives the value and the derivative d/dalpha. The coefficients are those of
/// RooFit::Detail::MathFuncs::flexibleInterpSingle (code 5), written in terms of
/// precomputed logarithms; tests compare both to 1e-14.
inline void poly6Exp(double alpha, double hi, double lo, double logHi, double logLo, double &value, double &deriv)
{
   const double upLog = hi * logHi;
   const double downLog = lo * logLo;
   const double upLog2 = upLog * logHi;
   const double downLog2 = downLog * logLo;
   const double S0 = 0.5 * (hi + lo);
   const double A0 = 0.5 * (hi - lo);
   const double S1 = 0.5 * (upLog - downLog);
   const double A1 = 0.5 * (upLog + downLog);
   const double S2 = 0.5 * (upLog2 + downLog2);
   const double A2 = 0.5 * (upLog2 - downLog2);
   const double a = 0.125 * (15 * A0 - 7 * S1 + A2);
   const double b = 0.125 * (-24 + 24 * S0 - 9 * A1 + S2);
   const double c = 0.25 * (-5 * A0 + 5 * S1 - A2);
   const double d = 0.25 * (12 - 12 * S0 + 7 * A1 - S2);
   const double e = 0.125 * (3 * A0 - 3 * S1 + A2);
   const double f = 0.125 * (-8 + 8 * S0 - 5 * A1 + S2);
   const double x = alpha;
   value = 1. + x * (a + x * (b + x * (c + x * (d + x * (e + x * f)))));
   deriv = a + x * (2 * b + x * (3 * c + x * (4 * d + x * (5 * e + x * 6 * f))));
}

} // namespace MathFuncs
} // namespace RooNSBI

#endif
