/*
 * roonsbi: the maths of the NSBI master formula, as free functions in the
 * style of RooFit/Detail/MathFuncs.h. The RooFit classes only gather their
 * inputs and call these, so the scalar and the vectorised paths share one
 * implementation.
 */
#ifndef RooNSBI_MathFuncs_h
#define RooNSBI_MathFuncs_h

#include "RooNSBI/Codes.h"

#include <RooFit/Detail/MathFuncs.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace RooNSBI {
namespace MathFuncs {

/// The interpolation codes (which exist, which are additive, how the fast likelihood
/// stores their columns) are those of RooNSBI/Codes.h: the one table of them.

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

/// The running shape factor of one process for n events, starting from 1: the terms
/// applied in order, as PiecewiseInterpolation accumulates them (shapeStep).
inline void shapeFactor(std::size_t n, const ShapeTerm *shapes, std::size_t nShapes, double *g)
{
   std::fill(g, g + n, 1.0);
   for (std::size_t s = 0; s < nShapes; ++s) {
      const ShapeTerm &t = shapes[s];
      for (std::size_t k = 0; k < n; ++k) {
         g[k] = shapeStep(t.code, t.low[k], t.high[k], t.alpha, g[k]);
      }
   }
}

/// What one shape term does to the running factor g at alpha: for an additive code the
/// delta d (g -> g + d), for a multiplicative code the factor I (g -> g I).
inline double shapeTermValue(int code, double low, double high, double alpha)
{
   using RooFit::Detail::MathFuncs::flexibleInterpSingle;
   return Codes::isAdditiveShapeCode(code) ? flexibleInterpSingle(code, low, high, 1.0, 1.0, alpha, 0.0)
                                           : 1.0 + flexibleInterpSingle(code, low, high, 1.0, 1.0, alpha, 1.0);
}

/// The reference expectation of one shape term alone (not the running product), for the
/// renormalisation of shapes on a reference sample:
///
///   c(alpha) = sum_k w_k g(alpha; low_k, high_k) / sum_k w_k,
///
/// g the term's factor around a nominal of 1 (shapeTermValue: 1 + delta for the additive codes,
/// the factor I for the multiplicative ones) and w_k = m_k r_J(x_k) the reference weights of
/// process J. For the codes whose delta is linear in the per-event values with alpha-only
/// weights (0, 2, 4 and 6) the expectation of g is g of the expectations, so one "event" (the
/// w-weighted means of low and high) gives c exactly.
inline double shapeExpectation(int code, std::size_t n, const double *w, const double *low, const double *high,
                               double alpha)
{
   const bool additive = Codes::isAdditiveShapeCode(code);
   double sum = 0.0;
   double sumW = 0.0;
   for (std::size_t k = 0; k < n; ++k) {
      const double v = shapeTermValue(code, low[k], high[k], alpha);
      sum += w[k] * (additive ? 1.0 + v : v);
      sumW += w[k];
   }
   return sum / sumW;
}

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

/// The degree-13 Taylor polynomial of exp(r), the core of vexp on its reduced argument |r| <= ln 2 / 2.
inline double vexpSmall(double r)
{
   double p = 1.0 / 6227020800.0; // 1/13!
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
   return p;
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
   const double p = vexpSmall(r);                 // the degree-13 Taylor polynomial of exp(r)
   // 2^n: the low mantissa bits of t hold n; move them into the exponent field
   std::uint64_t bits;
   std::memcpy(&bits, &t, sizeof(bits));
   bits = (bits + 1023) << 52;
   double scale;
   std::memcpy(&scale, &bits, sizeof(scale));
   return p * scale;
}

/// exp(x) near 0 by a polynomial of degree D = 7..11 on |x| <= ExpNear0<D>::range, for the code-5 kernel of the
/// fast likelihood, which picks per block of events the lowest degree that covers the block's largest |log|
/// (vexpNear0Degree; vexp beyond the last range). The polynomial is
///
///   exp(x) ~ 1 + x (1 + x q(x)),   q of degree D - 2 (coefficients c, highest power first),
///
/// so the constant and linear coefficients are exactly 1, and q is the Chebyshev interpolant of degree D - 2 of
/// (e^x - 1 - x) / x^2 on [-range, range] (near-minimax), computed with mpmath at 50 digits
/// (`mpmath.chebyfit(q, [-R, R], D - 1)`) and rounded to double. Largest relative error of the polynomial with
/// these double coefficients, in exact arithmetic (mpmath, 2001 points of [-R, R]): degree 11: 1.6e-17,
/// 10: 2.9e-17, 9: 2.2e-17, 8: 2.6e-17, 7: 1.9e-17 (an eighth of an ulp or less); evaluated in double by Horner
/// the result is within about 1 ulp of exp(x) (tests/models/test_code5_kernel.py checks <= 2 ulp on 10^6
/// float32 inputs per degree). The ranges are exact float32 values (vexpNear0Degree compares float32 with them).
/// Degree 9 on |x| <= 0.156 and 10 on |x| <= 0.25 cost 9 and 10 multiply-adds, against 13 for vexpSmall.
template <int D>
struct ExpNear0;
template <>
struct ExpNear0<11> {
   static constexpr double range = 0.34375; // 0x3eb00000 as float
   static constexpr double c[10] = {2.5099591834817533e-08, 2.761905639382923e-07,  2.7557270114854663e-06,
                                    2.4801523447872827e-05, 0.00019841269861997315, 0.0013888888915840143,
                                    0.008333333333330271,   0.041666666666626856,   0.16666666666666669,
                                    0.5000000000000001};
};
template <>
struct ExpNear0<10> {
   static constexpr double range = 0.25; // 0x3e800000
   static constexpr double c[9] = {2.758669229104366e-07,  2.7592569930959876e-06, 2.4801573530729414e-05,
                                   0.00019841253314374944, 0.0013888888891279828,  0.008333333336202819,
                                   0.04166666666666555,    0.16666666666665322,    0.5};
};
template <>
struct ExpNear0<9> {
   static constexpr double range = 0.15625; // 0x3e200000
   static constexpr double c[8] = {2.7569554331427577e-06, 2.4815046446374326e-05, 0.00019841267974216433,
                                   0.0013888886835024946,  0.0083333333334245,     0.041666666667669564,
                                   0.1666666666666666,     0.4999999999999992};
};
template <>
struct ExpNear0<8> {
   static constexpr double range = 0.09375; // 0x3dc00000
   static constexpr double c[7] = {2.4805826206897105e-05, 0.0001984550881714188, 0.001388888870260422,
                                   0.008333333147044632,   0.041666666666687134,  0.16666666666687133,
                                   0.5};
};
template <>
struct ExpNear0<7> {
   static constexpr double range = 0.046875; // 0x3d400000
   static constexpr double c[6] = {0.00019842178122934332, 0.0013889706346469145, 0.008333333325849275,
                                   0.04166666659930971,    0.16666666666666757,   0.5000000000000082};
};

/// exp(x) for |x| <= ExpNear0<D>::range (see ExpNear0): D multiply-adds, no range reduction.
template <int D>
inline double vexpNear0(double x)
{
   const double *c = ExpNear0<D>::c;
   double p = c[0];
   for (int i = 1; i < D - 1; ++i)
      p = p * x + c[i];
   p = p * x + 1.0;
   return p * x + 1.0;
}

/// The lowest degree D of ExpNear0 whose range covers every |a[k]| and |b[k]| of n float32 values, or 0 if
/// some value is beyond the last range (or NaN or inf): the largest magnitude from the bits (sign cleared),
/// an integer maximum that vectorises, compared with the ranges (exact float32 values).
inline int vexpNear0Degree(const float *a, const float *b, std::size_t n)
{
   std::uint32_t largest = 0;
   for (std::size_t k = 0; k < n; ++k) {
      std::uint32_t ba, bb;
      std::memcpy(&ba, a + k, sizeof(ba));
      std::memcpy(&bb, b + k, sizeof(bb));
      largest = std::max(largest, std::max(ba & 0x7fffffffu, bb & 0x7fffffffu));
   }
   float x; // the largest |value| (NaN if some value is NaN: then no range covers it)
   std::memcpy(&x, &largest, sizeof(x));
   return x <= float(ExpNear0<7>::range)    ? 7
          : x <= float(ExpNear0<8>::range)  ? 8
          : x <= float(ExpNear0<9>::range)  ? 9
          : x <= float(ExpNear0<10>::range) ? 10
          : x <= float(ExpNear0<11>::range) ? 11
                                            : 0;
}

/// expm1(x) = e^x - 1 in float for |x| <= ExpNear0<11>::range: x + x^2 q(x), q the Chebyshev interpolant of degree 4
/// of (e^x - 1 - x) / x^2 on [-range, range] (mpmath at 50 digits, rounded to float). Largest relative error with
/// these float coefficients in exact arithmetic: 2.4e-8 (0.4 float ulp); 6 float multiply-adds.
inline float vexpm1Near0f(float x)
{
   float p = 0.001392557f;
   p = p * x + 0.008362688f;
   p = p * x + 0.04166656f;
   p = p * x + 0.16666579f;
   p = p * x + 0.5f;
   return x + (x * x) * p;
}

/// ROOT's interpolation code 5 (PiecewiseInterpolation; FlexibleInterpVar code 4) inside
/// |alpha| < 1 (boundary 1, nominal 1): the 6th-order polynomial whose value, first and second
/// derivative match hi^alpha at alpha = 1 and lo^-alpha at alpha = -1. Its coefficients in
/// RooFit::Detail::MathFuncs::flexibleInterpSingle are linear in hi, lo, hi log hi, lo log lo,
/// hi log^2 hi, lo log^2 lo; collecting the powers of alpha instead gives
///
///   g(alpha) = K + hi (P0 + P1 log hi + P2 log^2 hi) + lo (Q0 + Q1 log lo + Q2 log^2 lo),
///
/// with weights that depend on alpha only: computed once per parameter value, they leave a
/// few multiply-adds per event. Poly6Weights holds them, those of dg/dalpha and those of
/// d^2g/dalpha^2 (the exact Hessian of the fast likelihood).
struct Poly6Weights {
   double K, P0, P1, P2, Q0, Q1, Q2;     ///< value
   double dK, dP0, dP1, dP2, dQ0, dQ1, dQ2; ///< derivative d/dalpha
   double ddK, ddP0, ddP1, ddP2, ddQ0, ddQ1, ddQ2; ///< second derivative d^2/dalpha^2
};

inline Poly6Weights poly6Weights(double x)
{
   // weights of A0, S0, S1, A1, S2, A2 (see flexibleInterpSingle, code 5, x0 = 1) and of 1
   const double x2 = x * x;
   const double x3 = x2 * x;
   const double x4 = x2 * x2;
   const double x5 = x4 * x;
   const double x6 = x3 * x3;
   const double wA0 = 15. / 8 * x - 5. / 4 * x3 + 3. / 8 * x5;
   const double wS0 = 3 * x2 - 3 * x4 + x6;
   const double wS1 = -7. / 8 * x + 5. / 4 * x3 - 3. / 8 * x5;
   const double wA1 = -9. / 8 * x2 + 7. / 4 * x4 - 5. / 8 * x6;
   const double wS2 = 1. / 8 * x2 - 1. / 4 * x4 + 1. / 8 * x6;
   const double wA2 = 1. / 8 * x - 1. / 4 * x3 + 1. / 8 * x5;
   const double dA0 = 15. / 8 - 15. / 4 * x2 + 15. / 8 * x4;
   const double dS0 = 6 * x - 12 * x3 + 6 * x5;
   const double dS1 = -7. / 8 + 15. / 4 * x2 - 15. / 8 * x4;
   const double dA1 = -9. / 4 * x + 7 * x3 - 15. / 4 * x5;
   const double dS2 = 1. / 4 * x - x3 + 3. / 4 * x5;
   const double dA2 = 1. / 8 - 3. / 4 * x2 + 5. / 8 * x4;
   const double ddA0 = -15. / 2 * x + 15. / 2 * x3;
   const double ddS0 = 6 - 36 * x2 + 30 * x4;
   const double ddS1 = 15. / 2 * x - 15. / 2 * x3;
   const double ddA1 = -9. / 4 + 21 * x2 - 75. / 4 * x4;
   const double ddS2 = 1. / 4 - 3 * x2 + 15. / 4 * x4;
   const double ddA2 = -3. / 2 * x + 5. / 2 * x3;
   const double oneMinus = 1 - x2;
   // A0 = (hi-lo)/2, S0 = (hi+lo)/2, S1 = (hi lh - lo ll)/2, A1 = (hi lh + lo ll)/2,
   // S2 = (hi lh^2 + lo ll^2)/2, A2 = (hi lh^2 - lo ll^2)/2
   return {oneMinus * oneMinus * oneMinus,
           0.5 * (wA0 + wS0), 0.5 * (wS1 + wA1), 0.5 * (wS2 + wA2),
           0.5 * (wS0 - wA0), 0.5 * (wA1 - wS1), 0.5 * (wS2 - wA2),
           -6 * x * oneMinus * oneMinus,
           0.5 * (dA0 + dS0), 0.5 * (dS1 + dA1), 0.5 * (dS2 + dA2),
           0.5 * (dS0 - dA0), 0.5 * (dA1 - dS1), 0.5 * (dS2 - dA2),
           oneMinus * (30 * x2 - 6),
           0.5 * (ddA0 + ddS0), 0.5 * (ddS1 + ddA1), 0.5 * (ddS2 + ddA2),
           0.5 * (ddS0 - ddA0), 0.5 * (ddA1 - ddS1), 0.5 * (ddS2 - ddA2)};
}

/// Value and derivative of code 5 inside |alpha| < 1 for one event, from the +-1 sigma values
/// hi, lo and their logarithms, with the weights of poly6Weights(alpha).
inline void poly6Eval(const Poly6Weights &w, double hi, double lo, double logHi, double logLo, double &value,
                      double &deriv)
{
   value = w.K + hi * (w.P0 + logHi * (w.P1 + logHi * w.P2)) + lo * (w.Q0 + logLo * (w.Q1 + logLo * w.Q2));
   deriv = w.dK + hi * (w.dP0 + logHi * (w.dP1 + logHi * w.dP2)) + lo * (w.dQ0 + logLo * (w.dQ1 + logLo * w.dQ2));
}

/// Code 5 inside |alpha| < 1 as poly6Eval, in float and as the deviation from 1: with K + P0 + Q0 = 1 and
/// dK + dP0 + dQ0 = 0 (g = 1 when hi = lo = 1, for every alpha),
///
///   g - 1 = e_h (P0 + a_h) + a_h + e_l (Q0 + a_l) + a_l,   e = expm1(log), a_h = log hi (P1 + P2 log hi),
///
/// and dg/dalpha the same with the weights of the derivative. Every term is small with the logarithms, so float
/// keeps the relative error of g itself at a few float ulps times |log g| (not of 1): about 1e-8 for 5% shifts.
struct Poly6WeightsF {
   float P0, P1, P2, Q0, Q1, Q2;       ///< value
   float dP0, dP1, dP2, dQ0, dQ1, dQ2; ///< derivative d/dalpha
};

inline Poly6WeightsF poly6WeightsF(const Poly6Weights &w)
{
   return {float(w.P0),  float(w.P1),  float(w.P2),  float(w.Q0),  float(w.Q1),  float(w.Q2),
           float(w.dP0), float(w.dP1), float(w.dP2), float(w.dQ0), float(w.dQ1), float(w.dQ2)};
}

inline void poly6DeltaEvalF(const Poly6WeightsF &w, float logHi, float logLo, float &delta, float &deriv)
{
   const float eh = vexpm1Near0f(logHi);
   const float el = vexpm1Near0f(logLo);
   const float ah = logHi * (w.P1 + w.P2 * logHi);
   const float al = logLo * (w.Q1 + w.Q2 * logLo);
   delta = (eh * (w.P0 + ah) + ah) + (el * (w.Q0 + al) + al);
   const float bh = logHi * (w.dP1 + w.dP2 * logHi);
   const float bl = logLo * (w.dQ1 + w.dQ2 * logLo);
   deriv = (eh * (w.dP0 + bh) + bh) + (el * (w.dQ0 + bl) + bl);
}

/// The second derivative d^2g/dalpha^2 of code 5 inside |alpha| < 1 for one event (as poly6Eval).
inline double poly6Second(const Poly6Weights &w, double hi, double lo, double logHi, double logLo)
{
   return w.ddK + hi * (w.ddP0 + logHi * (w.ddP1 + logHi * w.ddP2)) +
          lo * (w.ddQ0 + logLo * (w.ddQ1 + logLo * w.ddQ2));
}

/// poly6Eval for a single value of alpha (tests, scalar use).
inline void poly6Exp(double alpha, double hi, double lo, double logHi, double logLo, double &value, double &deriv)
{
   poly6Eval(poly6Weights(alpha), hi, lo, logHi, logLo, value, deriv);
}

/// poly6Second for a single value of alpha (tests, scalar use).
inline double poly6ExpSecond(double alpha, double hi, double lo, double logHi, double logLo)
{
   return poly6Second(poly6Weights(alpha), hi, lo, logHi, logLo);
}

/// The additive codes 0, 2 and 4 (boundary 1, nominal 1) are linear in the per-event
/// shifts hi - 1 and 1 - lo with weights that depend on alpha only:
///
///   delta(alpha) = H(alpha) (hi - 1) + L(alpha) (1 - lo),
///
///   code 0 (piecewise linear):   H = alpha, L = 0 for alpha > 0;  H = 0, L = alpha otherwise;
///   code 2 (parabolic/linear):   |alpha| <= 1:  H = (alpha + alpha^2)/2,  L = (alpha - alpha^2)/2;
///                                alpha > 1:     H = 1 + 3/2 (alpha - 1),  L = -(alpha - 1)/2;
///                                alpha < -1:    H = -(alpha + 1)/2,       L = -1 + 3/2 (alpha + 1);
///   code 4 (6th-order/linear):   |alpha| < 1:   H = alpha/2 + B,  L = alpha/2 - B,
///                                               B = alpha^2 (15 - 10 alpha^2 + 3 alpha^4) / 16;
///                                alpha >= 1:    H = alpha, L = 0;   alpha <= -1:  H = 0, L = alpha
///
/// (code 4 inside: alpha (S + alpha A (15 - 10 alpha^2 + 3 alpha^4)) with S = (eps+ + eps-)/2,
/// A = (eps+ - eps-)/16, eps+ = hi - 1, eps- = 1 - lo, as in RooFit::Detail::MathFuncs::flexibleInterpSingle).
/// Code 6 is the multiplicative version of code 4: it scales the running factor by 1 + delta
/// with code 4's delta (and weights). Computed once per parameter value, the weights leave two
/// multiply-adds per event and no exp.
/// dH, dL are the derivatives d/dalpha (one-sided at the kinks of code 0 and 2: the branch
/// flexibleInterpSingle takes at that alpha), ddH, ddL the second derivatives (code 2 inside:
/// 1 and -1; code 4 inside: +-B''; zero on the linear pieces).
struct AdditiveWeights {
   double H, L;     ///< value
   double dH, dL;   ///< derivative d/dalpha
   double ddH, ddL; ///< second derivative d^2/dalpha^2
};

inline AdditiveWeights additiveWeights(int code, double x)
{
   if (code == 0)
      return x > 0 ? AdditiveWeights{x, 0.0, 1.0, 0.0, 0.0, 0.0} : AdditiveWeights{0.0, x, 0.0, 1.0, 0.0, 0.0};
   if (code == 2) {
      if (x > 1)
         return {1 + 1.5 * (x - 1), -0.5 * (x - 1), 1.5, -0.5, 0.0, 0.0};
      if (x < -1)
         return {-0.5 * (x + 1), -1 + 1.5 * (x + 1), -0.5, 1.5, 0.0, 0.0};
      return {0.5 * (x + x * x), 0.5 * (x - x * x), 0.5 + x, 0.5 - x, 1.0, -1.0};
   }
   // code 4 (and the delta of code 6)
   if (x >= 1)
      return {x, 0.0, 1.0, 0.0, 0.0, 0.0};
   if (x <= -1)
      return {0.0, x, 0.0, 1.0, 0.0, 0.0};
   const double x2 = x * x;
   const double B = x2 * (15 + x2 * (-10 + 3 * x2)) / 16;
   const double dB = x * (30 + x2 * (-40 + 18 * x2)) / 16;
   const double ddB = (30 + x2 * (-120 + 90 * x2)) / 16;
   return {0.5 * x + B, 0.5 * x - B, 0.5 + dB, 0.5 - dB, ddB, -ddB};
}

/// Value and derivative of an additive code's delta for one event (tests, scalar use).
inline void additiveDelta(int code, double alpha, double hi, double lo, double &value, double &deriv)
{
   const AdditiveWeights w = additiveWeights(code, alpha);
   value = w.H * (hi - 1) + w.L * (1 - lo);
   deriv = w.dH * (hi - 1) + w.dL * (1 - lo);
}

/// The second derivative of an additive code's delta for one event (tests, scalar use).
inline double additiveDeltaSecond(int code, double alpha, double hi, double lo)
{
   const AdditiveWeights w = additiveWeights(code, alpha);
   return w.ddH * (hi - 1) + w.ddL * (1 - lo);
}

} // namespace MathFuncs
} // namespace RooNSBI

#endif
