/*
 * roonsbi: RooNSBINLL, the fast extended NLL of a RooNSBIPdf with an analytic gradient.
 */
#include "RooNSBI/RooNSBINLL.h"
#include "RooNSBI/Codes.h"
#include "RooNSBI/MathFuncs.h"
#include "RooNSBI/RooNSBIPdf.h"

#include "Clones.h"

#include <RooAbsData.h>
#include <RooArgSet.h>
#include <RooMsgService.h>
#include <RooRealVar.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace {

constexpr std::size_t blockSize = 128;

using Group = RooNSBINLL::ShapeGroup;
using PassSums = RooNSBINLL::PassSums;

/// Everything one pass needs, as plain arrays.
struct PassInputs {
   std::size_t nProc = 0;
   const double *yield = nullptr;
   const float *const *ratio = nullptr;
   const std::vector<Group> *groupsOf = nullptr; ///< groups of each process, in order
   const std::size_t *firstGroup = nullptr;      ///< index of each process's first group among all groups
   std::size_t nGroups = 0;
   const int *code = nullptr;
   const double *alpha = nullptr;
   const RooNSBI::MathFuncs::Poly6Weights *poly = nullptr;   ///< per term (code 5)
   const RooNSBI::MathFuncs::AdditiveWeights *add = nullptr; ///< per term (codes 0, 2, 4, 6)
   const float *const *lo = nullptr; ///< per term: log g(x,-1) (multiplicative) or g(x,-1) (additive)
   const float *const *hi = nullptr; ///< per term: log g(x,+1) (multiplicative) or g(x,+1) (additive)
   const float *weight = nullptr;    ///< float weights (the store's "weight" column); nullptr: see weightD
   const double *weightD = nullptr;  ///< double weights (a dataset's); nullptr and weight nullptr: unit weights
   std::size_t nTerms = 0;
   double *const *cacheG = nullptr; ///< per process: G_J of every event (the cache of value-only steps), or nullptr
   bool floatCode5 = false;         ///< code 5 inside |alpha| < 1 in float (RooNSBINLL::setFloatCode5)
};

/// Run body(b, e) over the events [begin, end) of a pass, which are the rows firstRow + [begin, end) of `store`: in one
/// call for a store in memory (or mapped and not streamed); for a streamed store (EventStore::streams) in chunks of
/// EventStore::streamChunkRows rows (whole blocks, so the sums are bitwise those of one call), asking the kernel to read
/// the next chunk ahead and releasing each chunk after it: a pass over a store larger than memory keeps about
/// 2 chunks per thread of the file resident.
template <class Body>
void overChunks(const RooNSBI::EventStore &store, std::size_t firstRow, std::size_t begin, std::size_t end, Body &&body)
{
   if (!store.streams()) {
      body(begin, end);
      return;
   }
   constexpr std::size_t chunk = RooNSBI::EventStore::streamChunkRows;
   static_assert(chunk % blockSize == 0);
   store.prefetchRows(firstRow + begin, firstRow + std::min(end, begin + chunk));
   for (std::size_t b = begin; b < end; b += chunk) {
      const std::size_t e = std::min(end, b + chunk);
      store.prefetchRows(firstRow + e, firstRow + std::min(end, e + chunk));
      body(b, e);
      store.releaseRows(firstRow + b, firstRow + e);
   }
}

/// A value-only step from the cached G_J (RooNSBINLL::setIncrementalLimit): how each process is updated.
enum class StepMode { unchanged, ratio, difference, recompute };

/// One changed term of a step: its alpha before (cached) and now, with the weights of both.
struct TermStep {
   int term = 0;
   double alphaOld = 0.0, alphaNew = 0.0;
   RooNSBI::MathFuncs::Poly6Weights polyOld{}, polyNew{};
   RooNSBI::MathFuncs::AdditiveWeights addOld{}, addNew{};
};

struct StepInputs {
   const StepMode *mode = nullptr;              ///< per process
   const std::vector<TermStep> *steps = nullptr; ///< per process: its changed terms
};

/// Ask for the next block of a column while this one is processed: a pass reads hundreds of
/// columns a block at a time, more streams than the hardware prefetchers follow.
[[gnu::always_inline]] inline void prefetchNextBlock(const float *col, std::size_t i0, std::size_t end)
{
   if (i0 + blockSize >= end)
      return;
   const char *next = reinterpret_cast<const char *>(col + blockSize);
   for (std::size_t b = 0; b < blockSize * sizeof(float); b += 64)
      __builtin_prefetch(next + b, 0, 2);
}

/// Reductions over a block with 16 independent partial sums in two 8-lane vectors (GCC/Clang
/// vector extensions; one zmm, two ymm or four xmm registers each, depending on the clone):
/// a single running sum would make the loop wait for the latency of each add, and written as
/// scalar partial sums the compiler does not vectorise it.
using V8d = double __attribute__((vector_size(64)));

[[gnu::always_inline]] inline V8d load8(const double *p)
{
   V8d v;
   std::memcpy(&v, p, sizeof(v));
   return v;
}

[[gnu::always_inline]] inline double hsum(V8d v)
{
   double s = 0.0;
   for (int j = 0; j < 8; ++j)
      s += v[j];
   return s;
}

/// sum_k a[k] b[k]
[[gnu::always_inline]] inline double dot(const double *a, const double *b, std::size_t m)
{
   V8d acc0 = {}, acc1 = {};
   std::size_t k = 0;
   for (; k + 16 <= m; k += 16) {
      acc0 += load8(a + k) * load8(b + k);
      acc1 += load8(a + k + 8) * load8(b + k + 8);
   }
   double sum = hsum(acc0 + acc1);
   for (; k < m; ++k)
      sum += a[k] * b[k];
   return sum;
}

/// One additive term on a block: G += H hi - L lo and (gradient) dl = dH hi - dL lo + dL - dH,
/// reading only the columns with non-zero weights.
template <bool withGradient, bool useH, bool useL>
[[gnu::always_inline]] inline void additiveTerm(const RooNSBI::MathFuncs::AdditiveWeights w, const float *h,
                                                const float *l, std::size_t i0, std::size_t end, std::size_t m,
                                                double *G, double *dl)
{
   if (useH)
      prefetchNextBlock(h, i0, end);
   if (useL)
      prefetchNextBlock(l, i0, end);
   const double dShift = w.dL - w.dH;
#pragma omp simd
   for (std::size_t k = 0; k < m; ++k) {
      const double hk = useH ? double(h[k]) : 0.0;
      const double lk = useL ? double(l[k]) : 0.0;
      G[k] += w.H * hk - w.L * lk;
      if (withGradient)
         dl[k] = w.dH * hk - w.dL * lk + dShift;
   }
}

/// One code-5 term inside |alpha| < 1 on a block (ROOT's 6th-order polynomial, poly6Eval): M *= g and the local
/// derivatives dl = g'/g (gradient), dd = g''/g (Hessian). hi = exp(log hi) and lo = exp(log lo) from
/// vexpNear0<degree> (degree 7..11: every logarithm of the block is within its range, see poly6Block), or from
/// vexp (degree 0).
template <bool withGradient, bool withHessian, int degree>
[[gnu::always_inline]] inline void poly6Term(const RooNSBI::MathFuncs::Poly6Weights w, const float *lh,
                                             const float *ll, std::size_t m, double *M, double *dl, double *dd)
{
   using RooNSBI::MathFuncs::vexp;
   for (std::size_t k = 0; k < m; ++k) {
      const double hv = lh[k];
      const double lv = ll[k];
      double eh, el;
      if constexpr (degree == 0) {
         eh = vexp(hv);
         el = vexp(lv);
      } else {
         eh = RooNSBI::MathFuncs::vexpNear0<degree>(hv);
         el = RooNSBI::MathFuncs::vexpNear0<degree>(lv);
      }
      double g, dg;
      RooNSBI::MathFuncs::poly6Eval(w, eh, el, hv, lv, g, dg);
      M[k] *= g;
      if (withGradient)
         dl[k] = dg / g;
      if (withHessian)
         dd[k] = RooNSBI::MathFuncs::poly6Second(w, eh, el, hv, lv) / g;
   }
}

/// Code 5 inside |alpha| < 1 on a block in float (poly6DeltaEvalF): M *= 1 + delta (in double) and dl = g'/g.
template <bool withGradient>
[[gnu::always_inline]] inline void poly6TermFloat(const RooNSBI::MathFuncs::Poly6Weights &w, const float *lh,
                                                  const float *ll, std::size_t m, double *M, double *dl)
{
   const RooNSBI::MathFuncs::Poly6WeightsF wf = RooNSBI::MathFuncs::poly6WeightsF(w);
   for (std::size_t k = 0; k < m; ++k) {
      float delta, deriv;
      RooNSBI::MathFuncs::poly6DeltaEvalF(wf, lh[k], ll[k], delta, deriv);
      M[k] += M[k] * double(delta);
      if (withGradient)
         dl[k] = double(deriv / (1.0f + delta));
   }
}

/// poly6Term with the lowest exp degree that covers the block's logarithms of the term (vexpNear0Degree: with
/// the toys' 5% shifts mostly degree 9 or 10; vexp beyond |log| = 0.34375, e.g. hi = 5, lo = 0.05), or with
/// `single` (RooNSBINLL::setFloatCode5; not for the Hessian) poly6TermFloat where the logarithms are within
/// |log| <= 0.34375 (the range of vexpm1Near0f).
template <bool withGradient, bool withHessian>
[[gnu::always_inline]] inline void poly6Block(const RooNSBI::MathFuncs::Poly6Weights &w, const float *lh,
                                              const float *ll, std::size_t m, double *M, double *dl, double *dd,
                                              bool single)
{
   const int degree = RooNSBI::MathFuncs::vexpNear0Degree(lh, ll, m);
   if constexpr (!withHessian) {
      if (single && degree != 0)
         return poly6TermFloat<withGradient>(w, lh, ll, m, M, dl);
   }
   switch (degree) {
   case 7: poly6Term<withGradient, withHessian, 7>(w, lh, ll, m, M, dl, dd); break;
   case 8: poly6Term<withGradient, withHessian, 8>(w, lh, ll, m, M, dl, dd); break;
   case 9: poly6Term<withGradient, withHessian, 9>(w, lh, ll, m, M, dl, dd); break;
   case 10: poly6Term<withGradient, withHessian, 10>(w, lh, ll, m, M, dl, dd); break;
   case 11: poly6Term<withGradient, withHessian, 11>(w, lh, ll, m, M, dl, dd); break;
   default: poly6Term<withGradient, withHessian, 0>(w, lh, ll, m, M, dl, dd); break;
   }
}

/// The running shape factor G_J of process j on the block [i0, i0 + m) (PiecewiseInterpolation's
/// accumulation, group by group; see pass()), and for the gradient the local derivatives of its terms
/// (dlog), each group's factor M_g (groupM) and G after it (groupG). Value only: M in slot 0 of groupM.
/// With `withHessian` also the second local derivatives of the terms (d2: d^2 delta/dalpha^2 for an
/// additive term, I''/I for a multiplicative one).
template <bool withGradient, bool withHessian = false>
[[gnu::always_inline]] inline void processFactor(const PassInputs &in, std::size_t j, std::size_t i0, std::size_t end,
                                                 std::size_t m, double *G, double *logM, double *dlog,
                                                 double *groupM, double *groupG, double *d2 = nullptr)
{
   static_assert(withGradient || !withHessian);
   using RooNSBI::MathFuncs::poly6Eval;
   using RooNSBI::MathFuncs::vexp;
   std::fill(G, G + m, 1.0);
   for (std::size_t gi = 0; gi < in.groupsOf[j].size(); ++gi) {
      const Group &grp = in.groupsOf[j][gi];
      const std::size_t gIndex = in.firstGroup[j] + gi;
      // H (hi - 1) + L (1 - lo) = H hi - L lo + (L - H): the constants once per group
      double shift = 0.0;
      for (int t : grp.add) {
         const RooNSBI::MathFuncs::AdditiveWeights w = in.add[t]; // copies: no aliasing with the outputs
         const float *h = in.hi[t] + i0;
         const float *l = in.lo[t] + i0;
         double *dl = withGradient ? dlog + t * blockSize : nullptr;
         shift += w.L - w.H;
         if (withHessian) { // d^2 delta = ddH (hi - 1) + ddL (1 - lo)
            double *dd = d2 + t * blockSize;
            const double ddShift = w.ddL - w.ddH;
            for (std::size_t k = 0; k < m; ++k)
               dd[k] = w.ddH * double(h[k]) - w.ddL * double(l[k]) + ddShift;
         }
         // outside |alpha| < 1 (code 4) or for code 0 one column has zero weights: not read
         const bool useH = w.H != 0.0 || (withGradient && w.dH != 0.0);
         const bool useL = w.L != 0.0 || (withGradient && w.dL != 0.0);
         if (useH && useL)
            additiveTerm<withGradient, true, true>(w, h, l, i0, end, m, G, dl);
         else if (useH)
            additiveTerm<withGradient, true, false>(w, h, l, i0, end, m, G, dl);
         else if (useL)
            additiveTerm<withGradient, false, true>(w, h, l, i0, end, m, G, dl);
         else
            additiveTerm<withGradient, false, false>(w, h, l, i0, end, m, G, dl);
      }
      if (!grp.add.empty()) {
         for (std::size_t k = 0; k < m; ++k)
            G[k] += shift;
      }
      if (grp.mult.empty())
         continue;
      double *M = groupM + (withGradient ? gIndex : 0) * blockSize;
      std::fill(M, M + m, 1.0);
      std::fill(logM, logM + m, 0.0);
      bool anyLog = false;
      for (int t : grp.mult) {
         const double a = in.alpha[t];
         const float *lh = in.hi[t] + i0;
         const float *ll = in.lo[t] + i0;
         prefetchNextBlock(lh, i0, end);
         prefetchNextBlock(ll, i0, end);
         double *dl = withGradient ? dlog + t * blockSize : nullptr;
         if (in.code[t] == 6) { // factor 1 + H (hi - 1) + L (1 - lo): the stored values
            const RooNSBI::MathFuncs::AdditiveWeights w = in.add[t];
            const double shift6 = 1.0 + w.L - w.H;
            const double dShift6 = w.dL - w.dH;
            const double ddShift6 = w.ddL - w.ddH;
            double *dd = withHessian ? d2 + t * blockSize : nullptr;
            for (std::size_t k = 0; k < m; ++k) {
               const double hv = lh[k];
               const double lv = ll[k];
               const double g = w.H * hv - w.L * lv + shift6;
               M[k] *= g;
               if (withGradient)
                  dl[k] = (w.dH * hv - w.dL * lv + dShift6) / g;
               if (withHessian)
                  dd[k] = (w.ddH * hv - w.ddL * lv + ddShift6) / g;
            }
         } else if (in.code[t] == 1 || a >= 1.0 || a <= -1.0) {
            anyLog = true;
            const bool up = a >= 0.0;
            const float *col = up ? lh : ll;
            const double slope = up ? a : -a;
            for (std::size_t k = 0; k < m; ++k)
               logM[k] += slope * col[k];
            if (withGradient) {
               const double sign = up ? 1.0 : -1.0;
               for (std::size_t k = 0; k < m; ++k)
                  dl[k] = sign * col[k];
            }
            if (withHessian) { // I''/I = (log g)^2
               double *dd = d2 + t * blockSize;
               for (std::size_t k = 0; k < m; ++k)
                  dd[k] = double(col[k]) * double(col[k]);
            }
         } else { // code 5 inside |alpha| < 1: the polynomial of hi = exp(log hi), lo = exp(log lo)
            double *dd = withHessian ? d2 + t * blockSize : nullptr;
            poly6Block<withGradient, withHessian>(in.poly[t], lh, ll, m, M, dl, dd, in.floatCode5);
         }
      }
      if (anyLog) {
         for (std::size_t k = 0; k < m; ++k)
            M[k] *= vexp(logM[k]);
      }
      for (std::size_t k = 0; k < m; ++k)
         G[k] *= M[k];
      if (withGradient)
         std::copy(G, G + m, groupG + gIndex * blockSize);
   }
}

/// sum_i w_i log F_i of a block into `out` (counting events with F_i <= 0 or NaN), and u_i = w_i / F_i.
[[gnu::always_inline]] inline void accumulateLog(const PassInputs &in, std::size_t i0, std::size_t end, std::size_t m,
                                                 const double *F, double *u, PassSums &out)
{
   if (in.weight)
      prefetchNextBlock(in.weight + i0, i0, end);
   for (std::size_t k = 0; k < m; ++k) {
      const double w = in.weightD ? in.weightD[i0 + k] : in.weight ? double(in.weight[i0 + k]) : 1.0;
      if (w == 0.0) { // no contribution (as RooFit skips events of zero weight), whatever F is
         u[k] = 0.0;
         continue;
      }
      if (!(F[k] > 0.0) || !std::isfinite(F[k])) {
         if (out.nBad++ == 0) {
            out.firstBad = i0 + k;
            out.firstBadValue = F[k];
         }
         u[k] = 0.0;
         continue;
      }
      out.sumWLogF += w * std::log(F[k]);
      u[k] = w / F[k];
   }
}

/// One pass over events [begin, end) in blocks. Per event and term:
///   additive (codes 0, 2, 4):  d = H (hi - 1) + L (1 - lo)                 (alpha-only weights H, L)
///   multiplicative:            m = exp(alpha log g(+1)) or exp(-alpha log g(-1))
///                                  (code 1, and code 5 for |alpha| >= 1; one exp per group)
///                              m = ROOT's code-5 polynomial (code 5 for |alpha| < 1)
///                              m = 1 + H (hi - 1) + L (1 - lo)  (code 6: code 4's weights)
/// For the gradient each term has a local derivative D_t per event (dd/dalpha, from the columns again,
/// or dlog m/dalpha, kept per block),
/// and with S_g = prod_{h > g} M_h the product of the later groups' factors,
///   dG/dalpha_t = D_t M_g S_g             (t additive in group g: it is added before M_g)
///   dG/dalpha_t = D_t G_g S_g             (t multiplicative in group g; G_g: G after group g),
/// S_g is accumulated backwards over the groups.
template <bool withGradient>
[[gnu::always_inline]] inline void pass(const PassInputs &in, std::size_t begin, std::size_t end, PassSums &out)
{
   using RooNSBI::MathFuncs::poly6Eval;
   using RooNSBI::MathFuncs::vexp;
   double F[blockSize];
   double G[blockSize];
   double logM[blockSize];
   double u[blockSize];
   double S[blockSize];
   double base[blockSize];
   // this thread's buffers, sized by RooNSBINLL::sizeScratch(): per process r_J G_J, per term the
   // local derivatives, per group its factor M_g and G after it (gradient; M only in slot 0 otherwise)
   double *const rp = out.rp.data();
   double *const dlog = out.dlog.data();
   double *const groupM = out.groupM.data();
   double *const groupG = out.groupG.data();

   for (std::size_t i0 = begin; i0 < end; i0 += blockSize) {
      const std::size_t m = std::min(blockSize, end - i0);
      std::fill(F, F + m, 0.0);
      for (std::size_t j = 0; j < in.nProc; ++j) {
         processFactor<withGradient>(in, j, i0, end, m, G, logM, dlog, groupM, groupG);
         if (in.cacheG) // the per-event cache of value-only steps (RooNSBINLL::setIncrementalLimit)
            std::copy(G, G + m, in.cacheG[j] + i0);
         const float *r = in.ratio[j] + i0;
         prefetchNextBlock(r, i0, end);
         double *rpj = rp + j * blockSize;
         const double y = in.yield[j];
         for (std::size_t k = 0; k < m; ++k) {
            rpj[k] = r[k] * G[k];
            F[k] += y * rpj[k];
         }
      }

      accumulateLog(in, i0, end, m, F, u, out);

      if (withGradient) {
         for (std::size_t j = 0; j < in.nProc; ++j) {
            const double *rpj = rp + j * blockSize;
            double cj = 0.0;
#pragma omp simd reduction(+ : cj)
            for (std::size_t k = 0; k < m; ++k)
               cj += u[k] * rpj[k];
            out.c[j] += cj;
            const float *r = in.ratio[j] + i0;
            const double y = in.yield[j];
            auto accumulate = [&](const std::vector<int> &terms) {
               for (int t : terms)
                  out.b[t] += y * dot(base, dlog + t * blockSize, m);
            };
            std::fill(S, S + m, 1.0); // S = prod of the factors M of the groups after the current one
            for (std::size_t gi = in.groupsOf[j].size(); gi-- > 0;) {
               const Group &grp = in.groupsOf[j][gi];
               const std::size_t gIndex = in.firstGroup[j] + gi;
               if (!grp.mult.empty()) {
                  const double *Gg = groupG + gIndex * blockSize;
                  const double *M = groupM + gIndex * blockSize;
                  for (std::size_t k = 0; k < m; ++k)
                     base[k] = u[k] * r[k] * Gg[k] * S[k];
                  accumulate(grp.mult);
                  for (std::size_t k = 0; k < m; ++k)
                     S[k] *= M[k];
               }
               if (!grp.add.empty()) {
                  for (std::size_t k = 0; k < m; ++k)
                     base[k] = u[k] * r[k] * S[k];
                  accumulate(grp.add);
               }
            }
         }
      }
   }
}

// One clone per instruction set, chosen at load time (Clones.h).

ROONSBI_CLONES void passValue(const PassInputs &in, std::size_t begin, std::size_t end, PassSums &out)
{
   pass<false>(in, begin, end, out);
}

ROONSBI_CLONES void passValueAndGradient(const PassInputs &in, std::size_t begin, std::size_t end, PassSums &out)
{
   pass<true>(in, begin, end, out);
}

/// What the one-pass Hessian needs besides PassInputs (RooNSBINLL::hessian()). The "active" parameters
/// are the floating ones an event quantity depends on (a yield or a shape term), padded to a multiple of 8.
struct HessInputs {
   std::size_t nAct = 0;
   std::size_t nPad = 0;
   const int *termAct = nullptr;                                   ///< per term: active index of its parameter, or -1
   const std::vector<std::pair<int, double>> *yieldAct = nullptr; ///< per process: (active index, dN_J/dtheta)
   const std::vector<int> *order = nullptr;                       ///< per process: its terms in evaluation order
   const std::size_t *tPad = nullptr;       ///< per process: its number of terms padded to a multiple of 8
   const std::size_t *crossOffset = nullptr; ///< per process: offset of its tPad x tPad block in HessSums::cross
   std::size_t maxTPad = 0;
};

/// One thread's sums of the Hessian pass (besides its PassSums) and its block buffers.
struct HessSums {
   std::vector<double> gg;    ///< nPad x nPad: sum_i w_i dF/dtheta_a dF/dtheta_b / F_i^2 (upper tiles)
   std::vector<double> cross; ///< per process: X[p][q] = sum_i u_i V_p dlog_q (p < q in evaluation order)
   std::vector<double> diag;  ///< per term: sum_i u_i r_J (d^2 G_J / dalpha_t^2) (without N_J)
   std::vector<double> beta;  ///< per term: sum_i u_i r_J dG_J/dalpha_t (without N_J)
   std::vector<double> rows;  ///< nPad x blockSize: dF/dtheta_a per event, then u dF/dtheta_a
   std::vector<double> rowsT; ///< blockSize x nPad: dF/dtheta_a / F per event (event-major)
   std::vector<double> V;     ///< maxTPad x blockSize: r_J dG_J/dalpha_t of one process, then times u
   std::vector<double> dlogT; ///< blockSize x maxTPad: the multiplicative terms' dlog of one process (else 0)
   std::vector<double> d2;    ///< nTerms x blockSize: second local derivatives
   void size(const HessInputs &h, std::size_t nTerms, std::size_t crossSize)
   {
      gg.assign(h.nPad * h.nPad, 0.0);
      cross.assign(crossSize, 0.0);
      diag.assign(nTerms, 0.0);
      beta.assign(nTerms, 0.0);
      rows.assign(h.nPad * blockSize, 0.0);
      rowsT.assign(blockSize * h.nPad, 0.0);
      V.assign(h.maxTPad * blockSize, 0.0);
      dlogT.assign(blockSize * h.maxTPad, 0.0);
      d2.assign(nTerms * blockSize, 0.0);
   }
};

using V4d = double __attribute__((vector_size(32)));

[[gnu::always_inline]] inline V4d load4(const double *p)
{
   V4d v;
   std::memcpy(&v, p, sizeof(v));
   return v;
}

[[gnu::always_inline]] inline void add4(double *p, V4d v)
{
   V4d o = load4(p) + v;
   std::memcpy(p, &o, sizeof(o));
}

/// out[i][j] += sum_k A[i lda + k] BT[k ldb + j] (out n x n, n a multiple of 8) on the 4 x 8 tiles that meet the
/// upper triangle j >= i: a rank-m update, the inner kernel of the Hessian (8 accumulators of 4 lanes in
/// registers, each of the tile's A values broadcast once per event: 8 fused multiply-adds per 2 loads of BT).
[[gnu::always_inline]] inline void upperProduct(const double *A, std::size_t lda, const double *BT, std::size_t ldb,
                                                std::size_t n, std::size_t m, double *out)
{
   for (std::size_t i = 0; i < n; i += 4) {
      const double *a0 = A + i * lda;
      const double *a1 = a0 + lda;
      const double *a2 = a1 + lda;
      const double *a3 = a2 + lda;
      for (std::size_t j = i / 8 * 8; j < n; j += 8) {
         V4d c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {};
         const double *b = BT + j;
         for (std::size_t k = 0; k < m; ++k, b += ldb) {
            const V4d b0 = load4(b);
            const V4d b1 = load4(b + 4);
            const V4d x0 = {a0[k], a0[k], a0[k], a0[k]};
            c00 += x0 * b0;
            c01 += x0 * b1;
            const V4d x1 = {a1[k], a1[k], a1[k], a1[k]};
            c10 += x1 * b0;
            c11 += x1 * b1;
            const V4d x2 = {a2[k], a2[k], a2[k], a2[k]};
            c20 += x2 * b0;
            c21 += x2 * b1;
            const V4d x3 = {a3[k], a3[k], a3[k], a3[k]};
            c30 += x3 * b0;
            c31 += x3 * b1;
         }
         double *o = out + i * n + j;
         add4(o, c00);
         add4(o + 4, c01);
         add4(o + n, c10);
         add4(o + n + 4, c11);
         add4(o + 2 * n, c20);
         add4(o + 2 * n + 4, c21);
         add4(o + 3 * n, c30);
         add4(o + 3 * n + 4, c31);
      }
   }
}

/// The Hessian pass over events [begin, end): the value and gradient sums of pass(), and with
///   dF/dtheta_a = sum_J dN_J/dtheta_a r_J G_J + sum_{t -> a} N_J(t) r_J dG_J/dalpha_t
/// the sums  gg = sum_i w_i (dF/dtheta)(dF/dtheta)^T / F_i^2  (a rank-one update per event), and per process
/// with u_i = w_i / F_i the sums of u_i r_J d^2 G_J / dalpha_s dalpha_t: for s before t in evaluation order
/// (PiecewiseInterpolation's accumulation) d^2 G / dalpha_s dalpha_t = (dG/dalpha_s) dlog_t if t is
/// multiplicative and 0 if it is additive (cross, a rank-one update per event and process), and on the diagonal
/// base_t d2_t (diag), base_t the factor of the local derivative in dG/dalpha_t (see pass()).
ROONSBI_CLONES void passHessian(const PassInputs &in, const HessInputs &h, std::size_t begin, std::size_t end,
                                PassSums &out, HessSums &hs)
{
   double F[blockSize];
   double G[blockSize];
   double logM[blockSize];
   double u[blockSize];
   double invF[blockSize];
   double S[blockSize];
   double base[blockSize];
   double *const rp = out.rp.data();
   double *const dlog = out.dlog.data();
   double *const groupM = out.groupM.data();
   double *const groupG = out.groupG.data();
   double *const d2 = hs.d2.data();
   double *const rows = hs.rows.data();
   double *const rowsT = hs.rowsT.data();
   double *const V = hs.V.data();
   double *const dlogT = hs.dlogT.data();
   const std::size_t nPad = h.nPad;

   for (std::size_t i0 = begin; i0 < end; i0 += blockSize) {
      const std::size_t m = std::min(blockSize, end - i0);
      std::fill(F, F + m, 0.0);
      for (std::size_t j = 0; j < in.nProc; ++j) {
         processFactor<true, true>(in, j, i0, end, m, G, logM, dlog, groupM, groupG, d2);
         const float *r = in.ratio[j] + i0;
         double *rpj = rp + j * blockSize;
         const double y = in.yield[j];
         for (std::size_t k = 0; k < m; ++k) {
            rpj[k] = r[k] * G[k];
            F[k] += y * rpj[k];
         }
      }
      accumulateLog(in, i0, end, m, F, u, out);
      for (std::size_t k = 0; k < m; ++k)
         invF[k] = u[k] != 0.0 ? 1.0 / F[k] : 0.0;
      std::fill(rows, rows + h.nAct * blockSize, 0.0);

      for (std::size_t j = 0; j < in.nProc; ++j) {
         const double *rpj = rp + j * blockSize;
         out.c[j] += dot(u, rpj, m);
         for (const auto &[a, dN] : h.yieldAct[j]) {
            double *row = rows + a * blockSize;
            for (std::size_t k = 0; k < m; ++k)
               row[k] += dN * rpj[k];
         }
         const std::vector<int> &order = h.order[j];
         if (order.empty())
            continue;
         const float *r = in.ratio[j] + i0;
         const double y = in.yield[j];
         // V_p = r dG/dalpha_t = base_t dlog_t for the term t at position p of the evaluation order
         std::size_t p = order.size();
         bool anyMult = false;
         std::fill(S, S + m, 1.0);
         for (std::size_t gi = in.groupsOf[j].size(); gi-- > 0;) {
            const Group &grp = in.groupsOf[j][gi];
            const std::size_t gIndex = in.firstGroup[j] + gi;
            auto terms = [&](const std::vector<int> &list) {
               for (std::size_t q = list.size(); q-- > 0;) {
                  const int t = list[q];
                  --p;
                  const double *dl = dlog + t * blockSize;
                  const double *dd = d2 + t * blockSize;
                  double *v = V + p * blockSize;
                  for (std::size_t k = 0; k < m; ++k)
                     v[k] = base[k] * dl[k];
                  double dg = 0.0, bt = 0.0;
#pragma omp simd reduction(+ : dg, bt)
                  for (std::size_t k = 0; k < m; ++k) {
                     dg += u[k] * base[k] * dd[k];
                     bt += u[k] * v[k];
                  }
                  hs.diag[t] += dg;
                  hs.beta[t] += bt;
                  out.b[t] += y * bt;
                  const int a = h.termAct[t];
                  if (a >= 0) {
                     double *row = rows + a * blockSize;
                     for (std::size_t k = 0; k < m; ++k)
                        row[k] += y * v[k];
                  }
               }
            };
            if (!grp.mult.empty()) {
               anyMult = true;
               const double *Gg = groupG + gIndex * blockSize;
               const double *M = groupM + gIndex * blockSize;
               for (std::size_t k = 0; k < m; ++k)
                  base[k] = r[k] * Gg[k] * S[k];
               terms(grp.mult);
               for (std::size_t k = 0; k < m; ++k)
                  S[k] *= M[k];
            }
            if (!grp.add.empty()) {
               for (std::size_t k = 0; k < m; ++k)
                  base[k] = r[k] * S[k];
               terms(grp.add);
            }
         }
         if (!anyMult)
            continue; // only additive terms: d^2 G is diagonal
         // cross: sum_k (u V_p)[k] dlog_q[k] for the multiplicative q (0 for the additive ones)
         const std::size_t T = order.size();
         const std::size_t tp = h.tPad[j];
         for (std::size_t q = 0; q < T; ++q) {
            double *v = V + q * blockSize;
            for (std::size_t k = 0; k < m; ++k)
               v[k] *= u[k];
         }
         for (std::size_t q = 0; q < T; ++q) {
            const int t = order[q];
            const bool mult = !RooNSBI::Codes::isAdditiveShapeCode(in.code[t]);
            const double *dl = dlog + t * blockSize;
            for (std::size_t k = 0; k < m; ++k)
               dlogT[k * tp + q] = mult ? dl[k] : 0.0;
         }
         for (std::size_t k = 0; k < m; ++k)
            std::fill(dlogT + k * tp + T, dlogT + (k + 1) * tp, 0.0);
         // rows of V beyond T stay zero (V is zeroed when sized and only rows < T are written)
         upperProduct(V, blockSize, dlogT, tp, tp, m, hs.cross.data() + h.crossOffset[j]);
      }
      // gg: (u dF/dtheta) (dF/dtheta / F)^T
      for (std::size_t a = 0; a < h.nAct; ++a) {
         double *row = rows + a * blockSize;
         for (std::size_t k = 0; k < m; ++k)
            rowsT[k * nPad + a] = row[k] * invF[k];
         for (std::size_t k = 0; k < m; ++k)
            row[k] *= u[k];
      }
      upperProduct(rows, blockSize, rowsT, nPad, nPad, m, hs.gg.data());
   }
}

/// The factor of a multiplicative term of code 1 or 5 at alpha on a block (as in processFactor()):
/// exp(|alpha| log g(+-1)) outside |alpha| < 1 (and for code 1), the code-5 polynomial inside.
[[gnu::always_inline]] inline void multFactor(int code, double a, const RooNSBI::MathFuncs::Poly6Weights &w,
                                              const float *lh, const float *ll, std::size_t m, double *out,
                                              bool single)
{
   using RooNSBI::MathFuncs::vexp;
   if (code == 1 || a >= 1.0 || a <= -1.0) {
      const bool up = a >= 0.0;
      const float *col = up ? lh : ll;
      const double slope = up ? a : -a;
      for (std::size_t k = 0; k < m; ++k)
         out[k] = vexp(slope * col[k]);
   } else {
      std::fill(out, out + m, 1.0);
      poly6Block<false, false>(w, lh, ll, m, out, nullptr, nullptr, single);
   }
}

/// A value-only step over events [begin, end) from the cached G_J of the last evaluation: per process
///   ratio:       G_J <- G_J I_t(alpha_new) / I_t(alpha_old)   (only codes 1 and 5 in the process),
///   difference:  G_J <- G_J + d_t(alpha_new) - d_t(alpha_old) (only the additive codes 0, 2, 4),
///   recompute:   G_J from its terms (other processes with a changed term),
/// for each changed term t; then F = sum_J N_J r_J G_J and the log sum as in pass().
ROONSBI_CLONES void passStep(const PassInputs &in, const StepInputs &st, std::size_t begin, std::size_t end,
                             PassSums &out)
{
   double F[blockSize];
   double G[blockSize];
   double logM[blockSize];
   double u[blockSize];
   double before[blockSize];
   double after[blockSize];
   double *const dlog = out.dlog.data();
   double *const groupM = out.groupM.data();
   double *const groupG = out.groupG.data();
   for (std::size_t i0 = begin; i0 < end; i0 += blockSize) {
      const std::size_t m = std::min(blockSize, end - i0);
      std::fill(F, F + m, 0.0);
      for (std::size_t j = 0; j < in.nProc; ++j) {
         double *Gc = in.cacheG[j] + i0;
         bool recompute = st.mode[j] == StepMode::recompute;
         if (st.mode[j] == StepMode::ratio) {
            for (const TermStep &step : st.steps[j]) {
               const int t = step.term;
               const float *lh = in.hi[t] + i0;
               const float *ll = in.lo[t] + i0;
               multFactor(in.code[t], step.alphaOld, step.polyOld, lh, ll, m, before, in.floatCode5);
               multFactor(in.code[t], step.alphaNew, step.polyNew, lh, ll, m, after, in.floatCode5);
               bool ok = true;
               for (std::size_t k = 0; k < m; ++k) {
                  ok = ok && before[k] > 1e-200 && std::isfinite(before[k]);
                  Gc[k] *= after[k] / before[k];
               }
               if (!ok) { // an old factor (nearly) vanished: this block from the terms
                  recompute = true;
                  break;
               }
            }
         } else if (st.mode[j] == StepMode::difference) {
            for (const TermStep &step : st.steps[j]) {
               const int t = step.term;
               const float *h = in.hi[t] + i0;
               const float *l = in.lo[t] + i0;
               const double dH = step.addNew.H - step.addOld.H;
               const double dL = step.addNew.L - step.addOld.L;
               const double shift = (step.addNew.L - step.addNew.H) - (step.addOld.L - step.addOld.H);
               for (std::size_t k = 0; k < m; ++k)
                  Gc[k] += dH * h[k] - dL * l[k] + shift;
            }
         }
         if (recompute) {
            processFactor<false>(in, j, i0, end, m, G, logM, dlog, groupM, groupG);
            std::copy(G, G + m, Gc);
         }
         const float *r = in.ratio[j] + i0;
         const double y = in.yield[j];
         for (std::size_t k = 0; k < m; ++k)
            F[k] += y * r[k] * Gc[k];
      }
      accumulateLog(in, i0, end, m, F, u, out);
   }
}

} // namespace

namespace {

/// The store columns of a pdf's inputs: ratio columns, and per shape term g(x,-1) and g(x,+1)
/// (RooNSBINLL::shapeColumn). The store form names them itself; the column form by its variables.
void columnNames(const RooNSBIPdf &pdf, std::vector<std::string> &ratio, std::vector<std::string> &lo,
                 std::vector<std::string> &hi)
{
   ratio.clear();
   lo.clear();
   hi.clear();
   const auto &codes = pdf.shapeCodes();
   if (pdf.usesStore()) {
      ratio = pdf.ratioColumns();
      for (std::size_t t = 0; t < codes.size(); ++t) {
         lo.push_back(RooNSBINLL::shapeColumn(codes[t], pdf.shapeLowColumns()[t]));
         hi.push_back(RooNSBINLL::shapeColumn(codes[t], pdf.shapeHighColumns()[t]));
      }
      return;
   }
   for (RooAbsArg *r : pdf.ratios())
      ratio.push_back(r->GetName());
   for (std::size_t t = 0; t < codes.size(); ++t) {
      lo.push_back(RooNSBINLL::shapeColumn(codes[t], pdf.shapeLow()[t].GetName()));
      hi.push_back(RooNSBINLL::shapeColumn(codes[t], pdf.shapeHigh()[t].GetName()));
   }
}

} // namespace

bool RooNSBINLL::isFastShapeCode(int code)
{
   return RooNSBI::Codes::isShapeCode(code); // every PiecewiseInterpolation code
}

std::string RooNSBINLL::shapeColumn(int code, const std::string &variable)
{
   return RooNSBI::Codes::storesShapeValues(code) ? variable : "log:" + variable;
}

void RooNSBINLL::checkInputs(const char *name, const RooNSBIPdf &pdf, const RooNSBI::EventStore *store,
                             const RooArgList &extraTerms)
{
   const std::string self = std::string("RooNSBINLL '") + name + "': ";
   if (!store)
      throw std::invalid_argument(self + "needs an event store");
   for (RooAbsArg *arg : extraTerms) {
      if (!dynamic_cast<RooAbsReal *>(arg))
         throw std::invalid_argument(self + "extra term '" + arg->GetName() + "' is not a RooAbsReal");
   }
   for (std::size_t t = 0; t < pdf.shapeCodes().size(); ++t) {
      const int code = pdf.shapeCodes()[t];
      if (!isFastShapeCode(code)) {
         std::ostringstream msg;
         msg << self << "shape systematic '" << pdf.shapeParams()[pdf.shapeParamIndex()[t]].GetName()
             << "' uses interpolation code " << code
             << "; the fast likelihood supports the codes " << RooNSBI::Codes::shapeCodesText
             << " (use the RooFit NLL otherwise)";
         throw std::invalid_argument(msg.str());
      }
   }
   std::vector<std::string> needed;
   std::vector<std::string> lo, hi;
   columnNames(pdf, needed, lo, hi);
   needed.insert(needed.end(), lo.begin(), lo.end());
   needed.insert(needed.end(), hi.begin(), hi.end());
   for (auto const &col : needed) {
      if (!store->hasColumn(col))
         throw std::invalid_argument(self + "the event store has no column '" + col + "'");
   }
}

namespace {

const char *validated(const char *name, const RooNSBIPdf &pdf, const RooNSBI::EventStore *store,
                      const RooArgList &extraTerms)
{
   RooNSBINLL::checkInputs(name, pdf, store, extraTerms);
   return name;
}

const char *validatedData(const char *name, const RooNSBIPdf &pdf, const RooAbsData &data,
                          const RooArgList &extraTerms)
{
   RooNSBINLL::checkData(name, pdf, data, extraTerms);
   return name;
}

/// The events of a dataset of an event index: store rows and weights (empty: unit weights).
struct DataEvents {
   std::vector<std::size_t> rows;
   std::vector<double> weights;
};

/// Read and check the rows (floor of the index values, row k being [k, k+1)) and weights of `data`;
/// throws std::invalid_argument starting with `self` and naming the dataset and the first bad entry.
DataEvents readEvents(const std::string &self, std::size_t nRows, const std::string &indexName, std::size_t nPool,
                      const float *measure, const RooAbsData &data)
{
   const std::string where = self + "dataset '" + data.GetName() + "' ";
   RooAbsArg *arg = data.get() ? data.get()->find(indexName.c_str()) : nullptr;
   if (!arg) {
      throw std::invalid_argument(where + "has no variable '" + indexName +
                                  "' (the pdf's event index): it is not a dataset of this store-form pdf");
   }
   auto *var = dynamic_cast<RooAbsReal *>(arg);
   if (!var)
      throw std::invalid_argument(where + "holds the event index '" + indexName + "' as a non-real variable");
   const std::size_t n = data.numEntries();
   std::vector<double> index(n);
   {
      RooAbsData::RealSpans spans = data.getBatches(0, n);
      auto found = spans.find(RooFit::Detail::DataKey{arg});
      if (found != spans.end() && found->second.size() == n) {
         std::copy(found->second.begin(), found->second.end(), index.begin());
      } else { // one entry at a time
         for (std::size_t i = 0; i < n; ++i) {
            data.get(i);
            index[i] = var->getVal();
         }
      }
   }
   DataEvents out;
   out.rows.resize(n);
   for (std::size_t i = 0; i < n; ++i) {
      const double v = index[i];
      if (!(v >= 0.0) || !(v < double(nRows))) {
         std::ostringstream msg;
         msg << where << "entry " << i << " has " << indexName << " = " << v
             << ", not a row of the event store (row k is [k, k+1), k = 0 to " << nRows << " - 1)";
         throw std::invalid_argument(msg.str());
      }
      out.rows[i] = static_cast<std::size_t>(v); // floor (v >= 0)
   }
   if (data.isWeighted()) {
      std::span<const double> w = data.getWeightBatch(0, n, false);
      out.weights.resize(n);
      if (w.size() == n) {
         std::copy(w.begin(), w.end(), out.weights.begin());
      } else {
         for (std::size_t i = 0; i < n; ++i) {
            data.get(i);
            out.weights[i] = data.weight();
         }
      }
      for (std::size_t i = 0; i < n; ++i) {
         if (!std::isfinite(out.weights[i])) {
            std::ostringstream msg;
            msg << where << "has a non-finite weight at entry " << i << " (" << out.weights[i]
                << "): give every event a finite weight";
            throw std::invalid_argument(msg.str());
         }
      }
   }
   for (std::size_t i = 0; i < n; ++i) {
      const std::size_t row = out.rows[i];
      const double w = out.weights.empty() ? 1.0 : out.weights[i];
      if (row < nPool && w != 0.0 && !(double(measure[row]) > 0.0 && std::isfinite(double(measure[row])))) {
         std::ostringstream msg;
         msg << where << "entry " << i << " is pool row " << row << ", whose pool measure m_k = " << measure[row]
             << " is not positive and finite: the event has no probability (fix the measure column)";
         throw std::invalid_argument(msg.str());
      }
   }
   return out;
}

} // namespace

void RooNSBINLL::checkData(const char *name, const RooNSBIPdf &pdf, const RooAbsData &data,
                           const RooArgList &extraTerms)
{
   const std::string self = std::string("RooNSBINLL '") + name + "': ";
   const std::string ofPdf = std::string("pdf '") + pdf.GetName() + "' ";
   if (!pdf.usesStore()) {
      throw std::invalid_argument(self + ofPdf +
                                  "is a column-form RooNSBIPdf (its inputs are dataset columns): build the NLL on "
                                  "an EventStore of those columns, or build the pdf in the store form");
   }
   if (!pdf.store())
      throw std::invalid_argument(self + ofPdf + "has no event store (read from a file without its store?)");
   checkInputs(name, pdf, pdf.store().get(), extraTerms);
   const RooNSBI::EventStore &store = *pdf.store();
   if (pdf.numPoolRows() && !store.hasColumn(pdf.measureColumn())) {
      throw std::invalid_argument(self + ofPdf + "has no pool measure column '" + pdf.measureColumn() +
                                  "' in its event store");
   }
   const float *measure = pdf.numPoolRows() ? store.column(pdf.measureColumn()) : nullptr;
   readEvents(self + ofPdf + "with ", store.size(), pdf.indexVariable()->GetName(), pdf.numPoolRows(), measure, data);
}

RooNSBINLL::RooNSBINLL(const char *name, const char *title, const RooNSBIPdf &pdf,
                       std::shared_ptr<RooNSBI::EventStore> store, const RooArgList &extraTerms)
   : RooAbsReal(validated(name, pdf, store.get(), extraTerms), title),
     _yields("yields", "yields N_J", this),
     _shapeParams("shapeParams", "nuisance parameters of the shape systematics", this),
     _extra("extra", "additional NLL terms", this),
     _store(std::move(store)),
     _nThreads(std::max(1u, std::thread::hardware_concurrency()))
{
   _yields.add(pdf.yields());
   _shapeParams.add(pdf.shapeParams());
   _extra.add(extraTerms);
   if (RooAbsReal *shift = pdf.expectedEventsShift())
      _extra.add(*shift); // renormalised shapes: nu = sum_J N_J + delta
   _termProcess = pdf.shapeProcess();
   _termParam = pdf.shapeParamIndex();
   _termCode = pdf.shapeCodes();
   setColumnNames(pdf);
   _nEvents = _store->size();
   _weights = _store->hasColumn("weight") ? _store->column("weight") : nullptr;
   bindColumns();
   sumWeights();
   groupTerms();
}

RooNSBINLL::RooNSBINLL(const char *name, const char *title, const RooNSBIPdf &pdf, const RooAbsData &data,
                       const RooArgList &extraTerms)
   : RooAbsReal(validatedData(name, pdf, data, extraTerms), title),
     _yields("yields", "yields N_J", this),
     _shapeParams("shapeParams", "nuisance parameters of the shape systematics", this),
     _extra("extra", "additional NLL terms", this),
     _source(pdf.store()),
     _indexName(pdf.indexVariable()->GetName()),
     _measureName(pdf.measureColumn()),
     _nPool(pdf.numPoolRows()),
     _fromData(true),
     _nThreads(std::max(1u, std::thread::hardware_concurrency()))
{
   _yields.add(pdf.yields());
   _shapeParams.add(pdf.shapeParams());
   _extra.add(extraTerms);
   if (RooAbsReal *shift = pdf.expectedEventsShift())
      _extra.add(*shift); // renormalised shapes: nu = sum_J N_J + delta
   _termProcess = pdf.shapeProcess();
   _termParam = pdf.shapeParamIndex();
   _termCode = pdf.shapeCodes();
   setColumnNames(pdf);
   _incrementalLimit = 2;
   bindData(data);
   groupTerms();
}

RooNSBINLL::RooNSBINLL(const RooNSBINLL &other, const char *name)
   : RooAbsReal(other, name),
     _yields("yields", this, other._yields),
     _shapeParams("shapeParams", this, other._shapeParams),
     _extra("extra", this, other._extra),
     _termProcess(other._termProcess),
     _termParam(other._termParam),
     _termCode(other._termCode),
     _store(other._store),
     _ratio(other._ratio),
     _lo(other._lo),
     _hi(other._hi),
     _weights(other._weights),
     _nEvents(other._nEvents),
     _firstRow(other._firstRow),
     _inPlace(other._inPlace),
     _ratioNames(other._ratioNames),
     _loNames(other._loNames),
     _hiNames(other._hiNames),
     _source(other._source),
     _indexName(other._indexName),
     _measureName(other._measureName),
     _nPool(other._nPool),
     _fromData(other._fromData),
     _dataWeights(other._dataWeights),
     _incrementalLimit(other._incrementalLimit),
     _squaredWeights(other._squaredWeights),
     _sumW(other._sumW),
     _sumW2(other._sumW2),
     _constant(other._constant),
     _constantW2(other._constantW2),
     _weightSquared(other._weightSquared),
     _doOffset(other._doOffset),
     _offsetSet(other._offsetSet),
     _offsetValue(other._offsetValue),
     _nThreads(other._nThreads),
     _gradientWithValue(other._gradientWithValue)
{
   _globalsFromData.add(other._globalsFromData);
   groupTerms();
}

void RooNSBINLL::setColumnNames(const RooNSBIPdf &pdf)
{
   columnNames(pdf, _ratioNames, _loNames, _hiNames);
}

void RooNSBINLL::setIncrementalLimit(unsigned n)
{
   _incrementalLimit = n;
   _cacheValid = false;
   if (!n)
      std::vector<double>().swap(_cacheG); // free it
}

void RooNSBINLL::bindColumns()
{
   // the names are checked by checkInputs(); the rows [_firstRow, _firstRow + _nEvents) by readEvents()
   auto get = [&](const std::string &name) { return _store->column(name) + _firstRow; };
   _ratio.clear();
   _lo.clear();
   _hi.clear();
   for (const std::string &name : _ratioNames)
      _ratio.push_back(get(name));
   for (std::size_t t = 0; t < _termCode.size(); ++t) {
      _lo.push_back(get(_loNames[t]));
      _hi.push_back(get(_hiNames[t]));
   }
}

void RooNSBINLL::bindData(const RooAbsData &data)
{
   const std::string self = std::string("RooNSBINLL '") + GetName() + "': ";
   const float *measure = _nPool ? _source->column(_measureName) : nullptr;
   DataEvents events = readEvents(self, _source->size(), _indexName, _nPool, measure, data);
   const std::vector<std::size_t> &rows = events.rows;
   const std::size_t n = rows.size();

   // the constant -sum_i w_i log m_i (and with w_i^2), in double precision from the float32 measure
   _constant = _constantW2 = 0.0;
   for (std::size_t i = 0; i < n; ++i) {
      const double w = events.weights.empty() ? 1.0 : events.weights[i];
      if (w == 0.0 || rows[i] >= _nPool)
         continue;
      const double logM = std::log(double(measure[rows[i]]));
      _constant -= w * logM;
      _constantW2 -= w * w * logM;
   }

   bool contiguous = true;
   for (std::size_t i = 1; i < n && contiguous; ++i)
      contiguous = rows[i] == rows[0] + i;
   if (contiguous) {
      _store = _source;
      _firstRow = n ? rows[0] : 0;
      _inPlace = true;
   } else { // gather the columns of these rows
      auto gathered = std::make_shared<RooNSBI::EventStore>(n);
      std::vector<float> buffer(n);
      auto add = [&](const std::string &name) {
         if (gathered->hasColumn(name))
            return; // a column two terms share
         const float *col = _source->column(name);
         for (std::size_t i = 0; i < n; ++i)
            buffer[i] = col[rows[i]];
         gathered->addColumn(name, buffer.data());
      };
      for (const std::string &name : _ratioNames)
         add(name);
      for (std::size_t t = 0; t < _loNames.size(); ++t) {
         add(_loNames[t]);
         add(_hiNames[t]);
      }
      _store = std::move(gathered);
      _firstRow = 0;
      _inPlace = false;
   }
   _nEvents = n;
   _weights = nullptr;
   _dataWeights = std::move(events.weights);
   _cacheValid = false;
   bindColumns();
   sumWeights();
   if (_weightSquared) {
      _squaredWeights.clear();
      for (double w : _dataWeights)
         _squaredWeights.push_back(w * w);
   }
   _cacheKey.clear(); // the next value is a new pass
   _hessKey.clear();
   _hasGradient = false;
   _offsetSet = false;
   setValueDirty();
}

void RooNSBINLL::sumWeights()
{
   _sumW = _sumW2 = 0.0;
   if (!_dataWeights.empty()) {
      for (double w : _dataWeights) {
         _sumW += w;
         _sumW2 += w * w;
      }
   } else if (_weights) {
      for (std::size_t i = 0; i < _nEvents; ++i) {
         const double w = _weights[i];
         _sumW += w;
         _sumW2 += w * w;
      }
   } else {
      _sumW = _sumW2 = double(_nEvents);
   }
}

bool RooNSBINLL::setData(RooAbsData &data, bool /*cloneData*/)
{
   if (!_fromData) {
      coutE(InputArguments) << "RooNSBINLL '" << GetName()
                            << "': built on an event store, not on a dataset: setData() cannot replace its events"
                            << std::endl;
      return false;
   }
   bindData(data);
   if (const RooArgSet *globals = data.getGlobalObservables()) {
      for (RooAbsArg *copy : _globalsFromData) {
         auto *source = dynamic_cast<RooAbsReal *>(globals->find(copy->GetName()));
         auto *var = dynamic_cast<RooRealVar *>(copy);
         if (source && var)
            var->setVal(source->getVal());
      }
   }
   return true;
}

void RooNSBINLL::setGlobalObservablesFromData(const RooArgSet &copies)
{
   _globalsFromData.removeAll();
   _globalsFromData.add(copies);
   _params.reset(); // the parameters (and their dependencies) are found again
   _cacheKey.clear();
   setValueDirty();
}

void RooNSBINLL::getParametersHook(const RooArgSet * /*nset*/, RooArgSet *list, bool /*stripDisconnected*/) const
{
   if (list && !_globalsFromData.empty())
      list->remove(_globalsFromData, /*silent=*/true, /*matchByNameOnly=*/false);
}

void RooNSBINLL::applyWeightSquared(bool flag)
{
   if (flag == _weightSquared)
      return;
   _weightSquared = flag;
   _squaredWeights.clear();
   if (flag) {
      if (!_dataWeights.empty()) {
         for (double w : _dataWeights)
            _squaredWeights.push_back(w * w);
      } else if (_weights) {
         for (std::size_t i = 0; i < _nEvents; ++i)
            _squaredWeights.push_back(double(_weights[i]) * double(_weights[i]));
      }
   }
   _cacheKey.clear();
   _hessKey.clear();
   _hasGradient = false;
   setValueDirty();
}

void RooNSBINLL::setFloatCode5(bool flag)
{
   if (flag == _floatCode5)
      return;
   _floatCode5 = flag;
   _cacheKey.clear(); // the next value is a new pass
   _hasGradient = false;
   setValueDirty();
}

void RooNSBINLL::enableOffsetting(bool flag)
{
   _doOffset = flag;
   _offsetSet = false;
   _offsetValue = 0.0;
   setValueDirty(); // the next value sets the offset
}

void RooNSBINLL::groupTerms()
{
   // a new group starts at an additive term that follows a multiplicative one
   const std::size_t nProc = _yields.size();
   const std::size_t nTerms = _termCode.size();
   _groupsOf.assign(nProc, {});
   _firstGroup.assign(nProc, 0);
   _nGroups = 0;
   for (std::size_t t = 0; t < nTerms; ++t) {
      auto &groups = _groupsOf[_termProcess[t]];
      const bool additive = RooNSBI::Codes::isAdditiveShapeCode(_termCode[t]);
      if (groups.empty() || (additive && !groups.back().mult.empty()))
         groups.emplace_back();
      (additive ? groups.back().add : groups.back().mult).push_back(static_cast<int>(t));
   }
   for (std::size_t j = 0; j < nProc; ++j) {
      _firstGroup[j] = _nGroups;
      _nGroups += _groupsOf[j].size();
   }
   // how a value-only step updates each process's cached G_J
   _stepKind.assign(nProc, 0);
   for (std::size_t j = 0; j < nProc; ++j) {
      bool onlyExp = true, onlyAdditive = true;
      for (std::size_t t = 0; t < nTerms; ++t) {
         if (_termProcess[t] != static_cast<int>(j))
            continue;
         onlyExp = onlyExp && RooNSBI::Codes::storesShapeLogs(_termCode[t]);
         onlyAdditive = onlyAdditive && RooNSBI::Codes::isAdditiveShapeCode(_termCode[t]);
      }
      _stepKind[j] = static_cast<int>(onlyExp ? StepMode::ratio : onlyAdditive ? StepMode::difference
                                                                             : StepMode::recompute);
   }
   _cacheValid = false;
   _yieldScratch.assign(nProc, 0.0);
   _alphaScratch.assign(nTerms, 0.0);
   _polyScratch.assign(nTerms, {});
   _addScratch.assign(nTerms, {});
   _sums.clear(); // sized by sizeScratch() for the number of threads of the next pass
}

void RooNSBINLL::sizeScratch(std::size_t nThreads) const
{
   const std::size_t nProc = _yields.size();
   const std::size_t nTerms = _termCode.size();
   _sums.resize(nThreads); // the first one also collects the total
   for (PassSums &s : _sums) {
      s.c.assign(nProc, 0.0);
      s.b.assign(nTerms, 0.0);
      s.rp.assign(nProc * blockSize, 0.0);
      s.dlog.assign(nTerms * blockSize, 0.0);
      s.groupM.assign(std::max<std::size_t>(_nGroups, 1) * blockSize, 0.0);
      s.groupG.assign(_nGroups * blockSize, 0.0);
   }
}

RooArgList RooNSBINLL::gradientParameters() const
{
   buildDependencies();
   return *_params;
}

void RooNSBINLL::buildDependencies() const
{
   if (_params)
      return;
   RooArgSet params;
   getParameters(nullptr, params, /*stripDisconnected=*/false);
   _params = std::make_unique<RooArgList>(params);
   const std::size_t n = _params->size();
   _yieldDeps.assign(n, {});
   _extraDeps.assign(n, {});
   _termDeps.assign(n, {});
   for (std::size_t k = 0; k < n; ++k) {
      RooAbsArg &p = (*_params)[k];
      for (std::size_t j = 0; j < _yields.size(); ++j)
         if (_yields[j].dependsOn(p))
            _yieldDeps[k].push_back(j);
      for (std::size_t e = 0; e < _extra.size(); ++e)
         if (_extra[e].dependsOn(p))
            _extraDeps[k].push_back(e);
      for (std::size_t t = 0; t < _termParam.size(); ++t)
         if (_shapeParams[_termParam[t]].namePtr() == p.namePtr())
            _termDeps[k].push_back(t);
   }
}

bool RooNSBINLL::valuesChanged() const
{
   buildDependencies();
   std::size_t i = 0;
   for (RooAbsArg *p : *_params) {
      if (auto *real = dynamic_cast<RooAbsReal *>(p)) {
         if (i >= _cacheKey.size() || real->getVal() != _cacheKey[i])
            return true;
         ++i;
      }
   }
   return i != _cacheKey.size();
}

void RooNSBINLL::storeCacheKey() const
{
   buildDependencies();
   _cacheKey.clear(); // keeps the capacity: allocates only the first time
   for (RooAbsArg *p : *_params) {
      if (auto *real = dynamic_cast<RooAbsReal *>(p))
         _cacheKey.push_back(real->getVal());
   }
}

bool RooNSBINLL::gatherParameters(double &nu) const
{
   const std::size_t nProc = _yields.size();
   double *yield = _yieldScratch.data();
   nu = 0.0;
   for (std::size_t j = 0; j < nProc; ++j) {
      yield[j] = static_cast<RooAbsReal &>(_yields[j]).getVal();
      nu += yield[j];
   }
   storeCacheKey();
   _hasGradient = false;
   if (!(nu > 0.0) || !std::isfinite(nu)) {
      std::ostringstream msg;
      msg << "expected number of events nu = " << nu << " is not positive and finite";
      logEvalError(msg.str().c_str());
      _value = std::numeric_limits<double>::quiet_NaN();
      return false;
   }
   for (std::size_t t = 0; t < _termCode.size(); ++t)
      _alphaScratch[t] = static_cast<RooAbsReal &>(_shapeParams[_termParam[t]]).getVal();
   return true;
}

std::size_t RooNSBINLL::numChangedParameters() const
{
   buildDependencies();
   std::size_t i = 0;
   std::size_t changed = 0;
   for (RooAbsArg *p : *_params) {
      if (auto *real = dynamic_cast<RooAbsReal *>(p)) {
         if (i >= _cacheKey.size() || real->getVal() != _cacheKey[i])
            ++changed;
         ++i;
      }
   }
   return changed;
}

template <class Inputs>
void RooNSBINLL::fillPassInputs(Inputs &in) const
{
   const std::size_t nTerms = _termCode.size();
   const double *alpha = _alphaScratch.data();
   RooNSBI::MathFuncs::Poly6Weights *poly = _polyScratch.data();
   RooNSBI::MathFuncs::AdditiveWeights *add = _addScratch.data();
   for (std::size_t t = 0; t < nTerms; ++t) {
      if (RooNSBI::Codes::storesShapeValues(_termCode[t]))
         add[t] = RooNSBI::MathFuncs::additiveWeights(_termCode[t], alpha[t]);
      else if (_termCode[t] == 5 && std::abs(alpha[t]) < 1.0)
         poly[t] = RooNSBI::MathFuncs::poly6Weights(alpha[t]);
   }
   in.nProc = _yields.size();
   in.floatCode5 = _floatCode5;
   in.yield = _yieldScratch.data();
   in.ratio = _ratio.data();
   in.groupsOf = _groupsOf.data(); // grouped once, by groupTerms()
   in.firstGroup = _firstGroup.data();
   in.nGroups = _nGroups;
   in.code = _termCode.data();
   in.alpha = alpha;
   in.poly = poly;
   in.add = add;
   in.lo = _lo.data();
   in.hi = _hi.data();
   in.weight = _weightSquared ? nullptr : _weights;
   if (_weightSquared)
      in.weightD = _squaredWeights.empty() ? nullptr : _squaredWeights.data();
   else
      in.weightD = _dataWeights.empty() ? nullptr : _dataWeights.data();
   in.nTerms = nTerms;
}

void RooNSBINLL::compute(bool withGradient, bool step) const
{
   const std::size_t nProc = _yields.size();
   const std::size_t nTerms = _termCode.size();
   _hessKey.clear(); // a new pass (a new point, or new data): the last Hessian is not of it
   double nu = 0.0;
   if (!gatherParameters(nu))
      return;
   const double *alpha = _alphaScratch.data();
   const RooNSBI::MathFuncs::AdditiveWeights *add = _addScratch.data();
   PassInputs in;
   fillPassInputs(in);

   // the per-event cache of G_J: written by full passes, updated by steps (setIncrementalLimit)
   const std::size_t nEvents = _nEvents;
   const bool useCache = _incrementalLimit > 0;
   if (useCache && _cacheG.size() != nProc * nEvents) {
      _cacheG.assign(nProc * nEvents, 0.0);
      _cacheValid = false;
   }
   step = step && useCache && _cacheValid;
   std::vector<double *> cacheG;
   if (useCache) {
      for (std::size_t j = 0; j < nProc; ++j)
         cacheG.push_back(_cacheG.data() + j * nEvents);
      in.cacheG = cacheG.data();
   }
   std::vector<StepMode> modes;
   std::vector<std::vector<TermStep>> steps;
   StepInputs st;
   if (step) {
      withGradient = false;
      modes.assign(nProc, StepMode::unchanged);
      steps.assign(nProc, {});
      for (std::size_t t = 0; t < nTerms; ++t) {
         if (alpha[t] == _cacheAlpha[t])
            continue;
         const int code = _termCode[t];
         TermStep ts;
         ts.term = static_cast<int>(t);
         ts.alphaOld = _cacheAlpha[t];
         ts.alphaNew = alpha[t];
         if (RooNSBI::Codes::storesShapeValues(code)) {
            ts.addOld = RooNSBI::MathFuncs::additiveWeights(code, ts.alphaOld);
            ts.addNew = add[t];
         } else if (code == 5) {
            ts.polyOld = RooNSBI::MathFuncs::poly6Weights(ts.alphaOld); // used inside |alpha| < 1 only
            ts.polyNew = RooNSBI::MathFuncs::poly6Weights(ts.alphaNew);
         }
         const std::size_t j = _termProcess[t];
         steps[j].push_back(ts);
         modes[j] = static_cast<StepMode>(_stepKind[j]);
      }
      st.mode = modes.data();
      st.steps = steps.data();
   }

   // Contiguous ranges of whole blocks per thread; sums combined in a fixed order.
   const std::size_t n = _nEvents;
   const std::size_t nBlocks = (n + blockSize - 1) / blockSize;
   const std::size_t nThreads = std::max<std::size_t>(1, std::min<std::size_t>(_nThreads, nBlocks / 8));
   if (_sums.size() != nThreads)
      sizeScratch(nThreads);
   for (PassSums &s : _sums)
      s.reset();
   auto run = [&](std::size_t i) {
      const std::size_t begin = std::min(n, nBlocks * i / nThreads * blockSize);
      const std::size_t end = std::min(n, nBlocks * (i + 1) / nThreads * blockSize);
      overChunks(*_store, _firstRow, begin, end, [&](std::size_t b, std::size_t e) {
         if (step)
            passStep(in, st, b, e, _sums[i]);
         else if (withGradient)
            passValueAndGradient(in, b, e, _sums[i]);
         else
            passValue(in, b, e, _sums[i]);
      });
   };
   std::vector<std::thread> threads; // empty with one thread: no allocation
   for (std::size_t i = 1; i < nThreads; ++i)
      threads.emplace_back(run, i);
   run(0);
   for (auto &th : threads)
      th.join();
   if (step)
      ++_nIncremental;
   else
      ++_nPasses;
   if (useCache) {
      _cacheAlpha.assign(alpha, alpha + nTerms);
      _cacheValid = true;
   }

   PassSums &total = _sums[0]; // threads' sums added to the first one, in order
   for (std::size_t i = 1; i < nThreads; ++i)
      total.add(_sums[i]);
   if (total.nBad) {
      std::ostringstream msg;
      msg << total.nBad << " events have F_i = sum_J N_J r_J g_J <= 0 or NaN (first: event " << total.firstBad
          << ", F = " << total.firstBadValue << ")";
      logEvalError(msg.str().c_str());
      _value = std::numeric_limits<double>::quiet_NaN();
      return;
   }
   double extra = 0.0;
   for (RooAbsArg *e : _extra)
      extra += static_cast<RooAbsReal *>(e)->getVal();
   // sum-of-weights-squared variant: the extended term scaled by sum w^2 / sum w (applyWeightSquared)
   const double nuScale = _weightSquared && _sumW != 0.0 ? _sumW2 / _sumW : 1.0;
   _value = nuScale * nu - total.sumWLogF + measureConstant() + extra;
   if (withGradient) {
      _dYield.resize(nProc);
      _dTerm.resize(nTerms);
      for (std::size_t j = 0; j < nProc; ++j)
         _dYield[j] = nuScale - total.c[j];
      for (std::size_t t = 0; t < nTerms; ++t)
         _dTerm[t] = -total.b[t];
      _hasGradient = true;
   }
}

double RooNSBINLL::evaluate() const
{
   if (_cacheKey.empty()) {
      compute(_gradientWithValue, false);
   } else if (valuesChanged()) {
      // a step in one or two parameters (HESSE, a line in one parameter): from the per-event cache
      const bool step = _incrementalLimit && _cacheValid && numChangedParameters() <= _incrementalLimit;
      compute(step ? false : _gradientWithValue, step);
   }
   if (!_doOffset)
      return _value;
   // RooFit's convention: evaluate() gives the value minus offset(), which RooAbsReal::getValV()
   // adds back unless RooAbsReal::hideOffset() is false (as inside RooMinimizer)
   if (!_offsetSet && std::isfinite(_value)) {
      _offsetValue = _value;
      _offsetSet = true;
   }
   return _value - _offsetValue;
}

double RooNSBINLL::numericalDerivative(RooAbsReal &func, RooAbsArg &param, double relStep) const
{
   auto &var = static_cast<RooRealVar &>(param);
   const double x0 = var.getVal();
   const double h = relStep * std::max(1.0, std::abs(x0));
   const double lo = var.getMin();
   const double hi = var.getMax();
   auto f = [&](double x) {
      var.setVal(x);
      return func.getVal();
   };
   double d;
   if (x0 - 2 * h >= lo && x0 + 2 * h <= hi) {
      d = (-f(x0 + 2 * h) + 8 * f(x0 + h) - 8 * f(x0 - h) + f(x0 - 2 * h)) / (12 * h);
   } else if (x0 + 2 * h <= hi) {
      const double f0 = f(x0);
      d = (-3 * f0 + 4 * f(x0 + h) - f(x0 + 2 * h)) / (2 * h);
   } else {
      const double f0 = f(x0);
      d = (3 * f0 - 4 * f(x0 - h) + f(x0 - 2 * h)) / (2 * h);
   }
   var.setVal(x0);
   return d;
}

void RooNSBINLL::gradient(double *out) const
{
   buildDependencies();
   if (!_hasGradient || valuesChanged())
      compute(true, false);
   const double nan = std::numeric_limits<double>::quiet_NaN();
   const bool ok = _hasGradient && std::isfinite(_value);
   // copies (into buffers that keep their capacity): numerical derivatives below change
   // parameter values temporarily
   _savedDYield = _dYield;
   _savedDTerm = _dTerm;
   _savedKey = _cacheKey;
   const double value = _value;
   const std::vector<double> &dYield = _savedDYield;
   const std::vector<double> &dTerm = _savedDTerm;

   for (std::size_t k = 0; k < _params->size(); ++k) {
      double &g = out[k];
      g = 0.0;
      auto *var = dynamic_cast<RooRealVar *>(&(*_params)[k]);
      if (!var || var->isConstant())
         continue;
      if (!ok) {
         g = nan;
         continue;
      }
      for (int j : _yieldDeps[k])
         g += dYield[j] * numericalDerivative(static_cast<RooAbsReal &>(_yields[j]), *var);
      for (int t : _termDeps[k])
         g += dTerm[t];
      for (int e : _extraDeps[k])
         g += numericalDerivative(static_cast<RooAbsReal &>(_extra[e]), *var);
   }
   // parameter values are restored: keep the cache valid for the next value request
   _dYield = dYield;
   _dTerm = dTerm;
   _cacheKey = _savedKey;
   _value = value;
   _hasGradient = ok;
}

void RooNSBINLL::numericalHessian(RooAbsReal &func, const std::vector<std::size_t> &deps, double scale,
                                  double *out) const
{
   // 5-point stencils of 5-point first derivatives, steps 1e-3 max(1, |x|): truncation O(h^4), rounding
   // ~1e-13 |func| / h^2 (one-sided stencils within 2h of a limit, as numericalDerivative())
   constexpr double relStep = 1e-3;
   const std::size_t np = _params->size();
   const std::size_t d = deps.size();
   std::vector<double> block(d * d);
   auto derivatives = [&](double *outCol) {
      for (std::size_t a = 0; a < d; ++a)
         outCol[a] = numericalDerivative(func, (*_params)[deps[a]], relStep);
   };
   std::vector<double> f[4];
   for (auto &v : f)
      v.resize(d);
   for (std::size_t b = 0; b < d; ++b) {
      auto &var = static_cast<RooRealVar &>((*_params)[deps[b]]);
      const double x0 = var.getVal();
      const double h = relStep * std::max(1.0, std::abs(x0));
      const double lo = var.getMin(), hi = var.getMax();
      auto at = [&](double x, std::vector<double> &v) {
         var.setVal(x);
         derivatives(v.data());
      };
      if (x0 - 2 * h >= lo && x0 + 2 * h <= hi) {
         at(x0 + 2 * h, f[0]);
         at(x0 + h, f[1]);
         at(x0 - h, f[2]);
         at(x0 - 2 * h, f[3]);
         for (std::size_t a = 0; a < d; ++a)
            block[a * d + b] = (-f[0][a] + 8 * f[1][a] - 8 * f[2][a] + f[3][a]) / (12 * h);
      } else {
         const double s = x0 + 2 * h <= hi ? 1.0 : -1.0; // one-sided, away from the limit
         at(x0, f[0]);
         at(x0 + s * h, f[1]);
         at(x0 + 2 * s * h, f[2]);
         for (std::size_t a = 0; a < d; ++a)
            block[a * d + b] = s * (-3 * f[0][a] + 4 * f[1][a] - f[2][a]) / (2 * h);
      }
      var.setVal(x0);
   }
   for (std::size_t a = 0; a < d; ++a) {
      for (std::size_t b = 0; b < d; ++b)
         out[deps[a] * np + deps[b]] += scale * 0.5 * (block[a * d + b] + block[b * d + a]);
   }
}

std::size_t RooNSBINLL::numParameters() const
{
   buildDependencies();
   return _params->size();
}

void RooNSBINLL::setSeedHessian(const std::vector<double> &fullRowMajor)
{
   const std::size_t np = numParameters();
   if (fullRowMajor.size() != np * np) {
      throw std::invalid_argument(std::string("RooNSBINLL::setSeedHessian of '") + GetName() + "': the matrix has " +
                                  std::to_string(fullRowMajor.size()) + " entries, expected " + std::to_string(np) +
                                  "^2 = " + std::to_string(np * np) +
                                  " (row-major over all parameters in gradient order, gradientParameters())");
   }
   _seedHessian = fullRowMajor;
}

void RooNSBINLL::hessian(double *out) const
{
   buildDependencies();
   const std::size_t np = _params->size();
   const std::size_t nProc = _yields.size();
   const std::size_t nTerms = _termCode.size();
   std::fill(out, out + np * np, 0.0);
   auto roundUp8 = [](std::size_t n) { return (n + 7) / 8 * 8; };

   // floating parameters; the active ones drive a yield or a shape term (rows of dF/dtheta)
   std::vector<char> floating(np, 0);
   for (std::size_t k = 0; k < np; ++k) {
      auto *var = dynamic_cast<RooRealVar *>(&(*_params)[k]);
      floating[k] = var && !var->isConstant();
   }
   if (!_seedHessian.empty()) { // setSeedHessian(): its matrix over the floating parameters, once, no pass
      for (std::size_t a = 0; a < np; ++a) {
         for (std::size_t b = 0; b < np; ++b)
            out[a * np + b] = floating[a] && floating[b] ? _seedHessian[a * np + b] : 0.0;
      }
      _seedHessian.clear();
      return;
   }
   if (!_cacheKey.empty() && !valuesChanged() && _hessKey == _cacheKey && _hessFloating == floating &&
       _hessValue.size() == np * np && _hasGradient) {
      std::copy(_hessValue.begin(), _hessValue.end(), out); // the same point: no pass
      return;
   }
   std::vector<int> actOf(np, -1);
   std::vector<std::size_t> actParam;
   std::vector<int> termParam(nTerms, -1);
   for (std::size_t k = 0; k < np; ++k) {
      for (int t : _termDeps[k])
         termParam[t] = static_cast<int>(k);
      if (floating[k] && (!_yieldDeps[k].empty() || !_termDeps[k].empty())) {
         actOf[k] = static_cast<int>(actParam.size());
         actParam.push_back(k);
      }
   }
   // dN_J/dtheta_a of the active parameters (numerical, as in gradient(); this moves and restores them)
   std::vector<std::vector<std::pair<int, double>>> yieldAct(nProc);
   for (std::size_t a = 0; a < actParam.size(); ++a) {
      const std::size_t k = actParam[a];
      for (int j : _yieldDeps[k])
         yieldAct[j].emplace_back(static_cast<int>(a),
                                  numericalDerivative(static_cast<RooAbsReal &>(_yields[j]), (*_params)[k]));
   }
   std::vector<int> termAct(nTerms, -1);
   for (std::size_t t = 0; t < nTerms; ++t)
      termAct[t] = termParam[t] >= 0 ? actOf[termParam[t]] : -1;
   std::vector<std::vector<int>> order(nProc);
   std::vector<std::size_t> tPad(nProc), crossOffset(nProc);
   std::size_t crossSize = 0, maxTPad = 0;
   for (std::size_t j = 0; j < nProc; ++j) {
      for (const ShapeGroup &g : _groupsOf[j]) {
         order[j].insert(order[j].end(), g.add.begin(), g.add.end());
         order[j].insert(order[j].end(), g.mult.begin(), g.mult.end());
      }
      tPad[j] = roundUp8(order[j].size());
      crossOffset[j] = crossSize;
      crossSize += tPad[j] * tPad[j];
      maxTPad = std::max(maxTPad, tPad[j]);
   }
   HessInputs hin;
   hin.nAct = actParam.size();
   hin.nPad = roundUp8(hin.nAct);
   hin.termAct = termAct.data();
   hin.yieldAct = yieldAct.data();
   hin.order = order.data();
   hin.tPad = tPad.data();
   hin.crossOffset = crossOffset.data();
   hin.maxTPad = maxTPad;

   const double nan = std::numeric_limits<double>::quiet_NaN();
   double nu = 0.0;
   if (!gatherParameters(nu)) {
      std::fill(out, out + np * np, nan);
      return;
   }
   PassInputs in;
   fillPassInputs(in);
   const std::size_t n = _nEvents;
   const std::size_t nBlocks = (n + blockSize - 1) / blockSize;
   const std::size_t nThreads = std::max<std::size_t>(1, std::min<std::size_t>(_nThreads, nBlocks / 8));
   if (_sums.size() != nThreads)
      sizeScratch(nThreads);
   std::vector<HessSums> hsums(nThreads);
   for (std::size_t i = 0; i < nThreads; ++i) {
      _sums[i].reset();
      hsums[i].size(hin, nTerms, crossSize);
   }
   auto run = [&](std::size_t i) {
      const std::size_t begin = std::min(n, nBlocks * i / nThreads * blockSize);
      const std::size_t end = std::min(n, nBlocks * (i + 1) / nThreads * blockSize);
      overChunks(*_store, _firstRow, begin, end,
                 [&](std::size_t b, std::size_t e) { passHessian(in, hin, b, e, _sums[i], hsums[i]); });
   };
   std::vector<std::thread> threads;
   for (std::size_t i = 1; i < nThreads; ++i)
      threads.emplace_back(run, i);
   run(0);
   for (auto &th : threads)
      th.join();
   ++_nPasses;
   ++_nHessianPasses;
   _cacheValid = false; // the per-event cache of value-only steps was not written

   PassSums &total = _sums[0];
   HessSums &htotal = hsums[0];
   for (std::size_t i = 1; i < nThreads; ++i) {
      total.add(_sums[i]);
      const HessSums &h = hsums[i];
      for (std::size_t x = 0; x < htotal.gg.size(); ++x)
         htotal.gg[x] += h.gg[x];
      for (std::size_t x = 0; x < crossSize; ++x)
         htotal.cross[x] += h.cross[x];
      for (std::size_t t = 0; t < nTerms; ++t) {
         htotal.diag[t] += h.diag[t];
         htotal.beta[t] += h.beta[t];
      }
   }
   if (total.nBad) {
      std::ostringstream msg;
      msg << total.nBad << " events have F_i = sum_J N_J r_J g_J <= 0 or NaN (first: event " << total.firstBad
          << ", F = " << total.firstBadValue << ")";
      logEvalError(msg.str().c_str());
      _value = nan;
      std::fill(out, out + np * np, nan);
      return;
   }
   // value and gradient of this point (as compute(true, false))
   double extra = 0.0;
   for (RooAbsArg *e : _extra)
      extra += static_cast<RooAbsReal *>(e)->getVal();
   const double nuScale = _weightSquared && _sumW != 0.0 ? _sumW2 / _sumW : 1.0;
   _value = nuScale * nu - total.sumWLogF + measureConstant() + extra;
   _dYield.resize(nProc);
   _dTerm.resize(nTerms);
   for (std::size_t j = 0; j < nProc; ++j)
      _dYield[j] = nuScale - total.c[j];
   for (std::size_t t = 0; t < nTerms; ++t)
      _dTerm[t] = -total.b[t];
   _hasGradient = true;

   // d^2 NLL = sum_i w_i (dF)(dF)^T / F^2 - sum_i (w_i / F_i) d^2 F + sum_J dNLL/dN_J d^2 N_J + d^2 extra
   auto H = [&](std::size_t a, std::size_t b) -> double & { return out[actParam[a] * np + actParam[b]]; };
   const std::size_t nPad = hin.nPad;
   for (std::size_t a = 0; a < hin.nAct; ++a) {
      H(a, a) += htotal.gg[a * nPad + a];
      for (std::size_t b = a + 1; b < hin.nAct; ++b) {
         const double v = htotal.gg[a * nPad + b];
         H(a, b) += v;
         H(b, a) += v;
      }
   }
   const double *yield = _yieldScratch.data();
   for (std::size_t j = 0; j < nProc; ++j) {
      const std::vector<int> &ord = order[j];
      const double *X = htotal.cross.data() + crossOffset[j];
      const std::size_t tp = tPad[j];
      for (std::size_t p = 0; p < ord.size(); ++p) {
         const int a = termAct[ord[p]];
         if (a < 0)
            continue;
         H(a, a) -= yield[j] * htotal.diag[ord[p]];
         for (std::size_t q = p + 1; q < ord.size(); ++q) {
            const int b = termAct[ord[q]];
            if (b < 0 || RooNSBI::Codes::isAdditiveShapeCode(_termCode[ord[q]]))
               continue;
            const double x = yield[j] * X[p * tp + q];
            H(a, b) -= x;
            H(b, a) -= x;
         }
      }
      for (const auto &[aY, dN] : yieldAct[j]) {
         for (int t : ord) {
            const int b = termAct[t];
            if (b < 0)
               continue;
            const double x = dN * htotal.beta[t];
            H(aY, b) -= x;
            H(b, aY) -= x;
         }
      }
   }
   // the parameter-only parts numerically (no events): save the results of this point first
   _savedDYield = _dYield;
   _savedDTerm = _dTerm;
   _savedKey = _cacheKey;
   const double value = _value;
   std::vector<std::size_t> deps;
   for (std::size_t j = 0; j < nProc; ++j) {
      deps.clear();
      for (std::size_t k = 0; k < np; ++k) {
         if (floating[k] && std::find(_yieldDeps[k].begin(), _yieldDeps[k].end(), int(j)) != _yieldDeps[k].end())
            deps.push_back(k);
      }
      if (!deps.empty() && _savedDYield[j] != 0.0)
         numericalHessian(static_cast<RooAbsReal &>(_yields[j]), deps, _savedDYield[j], out);
   }
   for (std::size_t e = 0; e < _extra.size(); ++e) {
      deps.clear();
      for (std::size_t k = 0; k < np; ++k) {
         if (floating[k] && std::find(_extraDeps[k].begin(), _extraDeps[k].end(), int(e)) != _extraDeps[k].end())
            deps.push_back(k);
      }
      if (!deps.empty())
         numericalHessian(static_cast<RooAbsReal &>(_extra[e]), deps, 1.0, out);
   }
   _dYield = _savedDYield;
   _dTerm = _savedDTerm;
   _cacheKey = _savedKey;
   _value = value;
   _hasGradient = true;
   _hessValue.assign(out, out + np * np);
   _hessKey = _cacheKey;
   _hessFloating = floating;
}
