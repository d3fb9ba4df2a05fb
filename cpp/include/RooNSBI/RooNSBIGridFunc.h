/*
 * roonsbi: RooNSBIGridFunc, a table of values on a grid of a parameter,
 * interpolated linearly (e.g. the per-mu' MC-statistics widths of parametrized NSBI).
 */
#ifndef RooNSBI_RooNSBIGridFunc_h
#define RooNSBI_RooNSBIGridFunc_h

#include <RooAbsReal.h>
#include <RooRealProxy.h>

#include <vector>

/// \class RooNSBIGridFunc
/// value(p) = (1 - t) v_k + t v_{k+1} for g_k <= p < g_{k+1} on a strictly
/// increasing grid g_k, clamped to v_0 / v_{K-1} outside the grid: the same
/// vertical linear interpolation in mu' as RooNSBIParamHistPdf. Used for the
/// width of the staterror constraints of a parametrized channel, whose relative
/// MC uncertainty per bin depends on the grid point.
class RooNSBIGridFunc : public RooAbsReal {
public:
   RooNSBIGridFunc() = default;
   RooNSBIGridFunc(const char *name, const char *title, RooAbsReal &param, const std::vector<double> &grid,
                   const std::vector<double> &values);
   RooNSBIGridFunc(const RooNSBIGridFunc &other, const char *name = nullptr);
   TObject *clone(const char *newname = nullptr) const override { return new RooNSBIGridFunc(*this, newname); }

   const RooAbsReal &param() const { return _param.arg(); }
   const std::vector<double> &grid() const { return _grid; }
   const std::vector<double> &values() const { return _values; }

   void doEval(RooFit::EvalContext &ctx) const override;

protected:
   double evaluate() const override;

private:
   RooRealProxy _param;
   std::vector<double> _grid;
   std::vector<double> _values;

   ClassDefOverride(RooNSBIGridFunc, 1)
};

#endif
