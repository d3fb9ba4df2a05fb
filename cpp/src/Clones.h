/*
 * roonsbi (private): one clone of a hot loop per instruction set, chosen at load time.
 */
#ifndef RooNSBI_Clones_h
#define RooNSBI_Clones_h

// x86-64 with GCC only; elsewhere a single version for the compiler's target.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// "arch=x86-64-v3" (AVX2 with FMA; GCC 12 and later): the "avx2" clone alone has no fused multiply-adds
// (AVX2 CPUs without AVX-512, e.g. AMD Zen 3, ran the kernels without FMA: the code-5 pass 1.6x slower).
// "arch=x86-64-v4" (AVX-512 F/BW/CD/DQ/VL with FMA), not "avx512f": GCC's avx512f has fused multiply-adds on
// 512-bit vectors only, so the 256-bit and scalar code of an "avx512f" clone (the Hessian pass's rank updates)
// ran as separate multiplies and adds (AMD Zen 4: the Hessian pass ~5% slower).
#if __GNUC__ >= 12
#define ROONSBI_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "avx2", "default")))
#else
#define ROONSBI_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#else
#define ROONSBI_CLONES
#endif

#endif
