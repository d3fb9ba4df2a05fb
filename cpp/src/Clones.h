/*
 * roonsbi (private): one clone of a hot loop per instruction set, chosen at load time.
 */
#ifndef RooNSBI_Clones_h
#define RooNSBI_Clones_h

// x86-64 with GCC only; elsewhere a single version for the compiler's target.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ROONSBI_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ROONSBI_CLONES
#endif

#endif
