/*
 * roonsbi benchmark: the code-5 inner loop of RooNSBINLL (poly6Term) alone, 128 events x 100 terms in cache,
 * thread CPU time per event-term, the exp of hi and lo from vexpSmall (degree-13 Taylor, the kernel before
 * vexpNear0) against vexpNear0<D> (the degree the kernel picks per block; the histogram of degrees for the
 * benchmark toys' 5% shifts is printed first), and the float kernel of RooNSBINLL::setFloatCode5 (poly6TermFloat).
 * Ratios within one run only. Build and run (-march=x86-64-v4 for the AVX-512 clone):
 *
 *   g++ -O3 -march=x86-64-v3 -std=c++17 -Icpp/include -I$(python -c 'import ROOT, os; \
 *       print(os.path.join(os.path.dirname(ROOT.__file__), "include"))') benchmarks/code5_kernel_micro.cpp \
 *       -o /tmp/code5_kernel_micro && nice -n 19 /tmp/code5_kernel_micro
 */
#include "RooNSBI/MathFuncs.h"
#include <cstdio>
#include <random>
#include <vector>
#include <time.h>
using namespace RooNSBI::MathFuncs;
constexpr std::size_t B = 128, T = 100;
template <bool small, int D>
[[gnu::noinline]] void kern(const Poly6Weights *W, const float *LH, const float *LL, double *M, double *DL)
{
   for (std::size_t t = 0; t < T; ++t) {
      const Poly6Weights w = W[t];
      const float *lh = LH + t * B, *ll = LL + t * B;
      double *dl = DL + t * B;
      for (std::size_t k = 0; k < B; ++k) {
         const double hv = lh[k], lv = ll[k];
         double eh, el;
         if constexpr (small) { eh = vexpSmall(hv); el = vexpSmall(lv); } else { eh = vexpNear0<D>(hv); el = vexpNear0<D>(lv); }
         double g, dg;
         poly6Eval(w, eh, el, hv, lv, g, dg);
         M[k] *= g;
         dl[k] = dg / g;
      }
   }
}
/// the float kernel (RooNSBINLL::setFloatCode5: poly6TermFloat)
[[gnu::noinline]] void kernFloat(const Poly6Weights *W, const float *LH, const float *LL, double *M, double *DL)
{
   for (std::size_t t = 0; t < T; ++t) {
      const Poly6WeightsF w = poly6WeightsF(W[t]);
      const float *lh = LH + t * B, *ll = LL + t * B;
      double *dl = DL + t * B;
      for (std::size_t k = 0; k < B; ++k) {
         float delta, deriv;
         poly6DeltaEvalF(w, lh[k], ll[k], delta, deriv);
         M[k] += M[k] * double(delta);
         dl[k] = double(deriv / (1.0f + delta));
      }
   }
}
static double cpuns() { timespec ts; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return ts.tv_sec * 1e9 + ts.tv_nsec; }
template <class F> double timeit(F f) {
   double best = 1e30;
   for (int r = 0; r < 9; ++r) { double t0 = cpuns(); for (int i = 0; i < 200; ++i) f(); best = std::min(best, (cpuns() - t0) / (200.0 * B * T)); }
   return best;
}
int main()
{
   std::mt19937_64 rng(1);
   std::normal_distribution<float> nd(0.f, 0.05f);
   std::vector<float> LH(B * T), LL(B * T);
   for (std::size_t i = 0; i < B * T; ++i) { float z = nd(rng); LH[i] = z; LL[i] = -z; }
   int hist[12] = {};
   for (std::size_t t = 0; t < T; ++t) hist[vexpNear0Degree(LH.data() + t * B, LL.data() + t * B, B)]++;
   std::printf("degrees of the 100 blocks (sigma 0.05): 9: %d, 10: %d, 11: %d, other %d\n", hist[9], hist[10], hist[11], 100 - hist[9] - hist[10] - hist[11]);
   std::vector<Poly6Weights> W(T, poly6Weights(0.2));
   std::vector<double> M(B, 1.0), DL(B * T);
   auto reset = [&] { std::fill(M.begin(), M.end(), 1.0); };
   for (int rep = 0; rep < 2; ++rep) {
      std::printf("vexpSmall (13): %.3f ns/event-term\n", timeit([&] { reset(); kern<true, 0>(W.data(), LH.data(), LL.data(), M.data(), DL.data()); }));
   std::printf("near0 11      : %.3f\n", timeit([&] { reset(); kern<false, 11>(W.data(), LH.data(), LL.data(), M.data(), DL.data()); }));
   std::printf("near0 10      : %.3f\n", timeit([&] { reset(); kern<false, 10>(W.data(), LH.data(), LL.data(), M.data(), DL.data()); }));
   std::printf("near0 9       : %.3f\n", timeit([&] { reset(); kern<false, 9>(W.data(), LH.data(), LL.data(), M.data(), DL.data()); }));
   std::printf("float (6)     : %.3f\n", timeit([&] { reset(); kernFloat(W.data(), LH.data(), LL.data(), M.data(), DL.data()); }));
   }
   double s = 0; for (double v : DL) s += v; std::printf("chk %g %g\n", s, M[0]);
}
