/*
 * roonsbi: the one C++ table of interpolation codes (the Python table is
 * roonsbi.spec: NORMSYS_CODES, SHAPESYS_CODES, ADDITIVE_SHAPE_CODES; the test
 * tests/models/test_codes.py checks that both agree with each other and with ROOT).
 *
 * Pure constexpr predicates: no RooFit dependency, never throw.
 */
#ifndef RooNSBI_Codes_h
#define RooNSBI_Codes_h

namespace RooNSBI {
namespace Codes {

/// Normalisation systematics (normsys): the codes of HistFactory's FlexibleInterpVar
/// (RooFit::Detail::MathFuncs::flexibleInterp): 0 linear, 1 exponential, 2 parabolic
/// inside |alpha| < 1 and linear outside, 4 (= 5) 6th-order polynomial inside and
/// exponential outside (HistFactory's normsys default, pyhf "code4").
constexpr bool isNormCode(int code)
{
   return code == 0 || code == 1 || code == 2 || code == 4 || code == 5;
}

/// Shape systematics (per-event shapes and histosys templates): the codes of ROOT's
/// PiecewiseInterpolation (RooFit::Detail::MathFuncs::flexibleInterpSingle):
/// 0 additive piecewise linear, 1 multiplicative piecewise exponential,
/// 2 additive parabolic/linear, 4 additive 6th-order polynomial/linear (HistFactory's
/// histosys default, pyhf "code4p"), 5 multiplicative 6th-order polynomial/exponential
/// (roonsbi's per-event default), 6 multiplicative 1 + delta with code 4's delta.
/// Code 3 was never implemented in ROOT.
constexpr bool isShapeCode(int code)
{
   return code == 0 || code == 1 || code == 2 || code == 4 || code == 5 || code == 6;
}

/// Whether a shape code is additive (its interpolated delta is added to the running
/// shape factor) rather than multiplicative (it scales the running factor): 0, 2, 4.
constexpr bool isAdditiveShapeCode(int code)
{
   return code == 0 || code == 2 || code == 4;
}

/// Whether the EventStore of the fast likelihood holds a shape code's +-1 sigma columns
/// as they are: the additive codes and code 6 (the factor 1 + delta of code 4).
constexpr bool storesShapeValues(int code)
{
   return isAdditiveShapeCode(code) || code == 6;
}

/// Whether the EventStore holds a shape code's +-1 sigma columns as natural logarithms
/// (the exponential codes 1 and 5), which makes exp(alpha log g) a multiply-add per event.
constexpr bool storesShapeLogs(int code)
{
   return isShapeCode(code) && !storesShapeValues(code);
}

/// Default codes (as roonsbi.spec.DEFAULT_*_CODE).
constexpr int defaultNormCode = 4;
constexpr int defaultShapeCode = 5;
constexpr int defaultHistoSysCode = 4;

/// The codes as text for error messages.
constexpr const char *normCodesText = "0, 1, 2, 4, 5";
constexpr const char *shapeCodesText = "0, 1, 2, 4, 5, 6";

static_assert(isShapeCode(defaultShapeCode) && isShapeCode(defaultHistoSysCode) && isNormCode(defaultNormCode));
static_assert(!isShapeCode(3) && !isNormCode(3) && !isNormCode(6));
static_assert(storesShapeLogs(1) && storesShapeLogs(5) && !storesShapeLogs(6) && !storesShapeLogs(7));

} // namespace Codes
} // namespace RooNSBI

#endif
