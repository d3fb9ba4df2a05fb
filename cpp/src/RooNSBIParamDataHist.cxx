/*
 * roonsbi: RooNSBIParamDataHist, per-mu' data histograms of parametrized NSBI.
 */
#include "RooNSBI/RooNSBIParamDataHist.h"
#include "RooNSBI/BinnedMathFuncs.h"

#include "Checks.h"

#include <RooAbsReal.h>
#include <RooArgSet.h>
#include <RooDataHist.h>
#include <RooRealVar.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace {

std::string where(const TNamed &self)
{
   return std::string("RooNSBIParamDataHist '") + self.GetName() + "': ";
}

} // namespace

RooNSBIParamDataHist::RooNSBIParamDataHist(const char *name, const char *title, const std::vector<double> &grid,
                                           int nBins, const std::vector<double> &counts,
                                           const std::vector<double> &sumw2)
   : TNamed(name, title), _grid(grid), _nBins(nBins), _counts(counts), _sumw2(sumw2)
{
   const std::string prefix = where(*this);
   RooNSBI::Checks::checkGrid(prefix, grid, nBins);
   const std::size_t expected = grid.size() * static_cast<std::size_t>(nBins);
   for (const auto *table : {&counts, &sumw2}) {
      const char *what = table == &counts ? "bin contents" : "sums of squared weights";
      if (table == &sumw2 && sumw2.empty())
         continue;
      if (table->size() != expected) {
         std::ostringstream msg;
         msg << prefix << "got " << table->size() << " " << what << " but " << grid.size() << " grid points x "
             << nBins << " bins = " << expected << " are needed";
         throw std::invalid_argument(msg.str());
      }
      for (std::size_t i = 0; i < table->size(); ++i) {
         if (!std::isfinite((*table)[i]) || (table == &sumw2 && (*table)[i] < 0.0)) {
            std::ostringstream msg;
            msg << prefix << what << " in bin " << i % nBins << " at grid point " << i / nBins << " is "
                << (*table)[i];
            throw std::invalid_argument(msg.str());
         }
      }
   }
}

int RooNSBIParamDataHist::gridIndex(double muPrime) const
{
   const std::size_t n = _grid.size();
   const double spacing = n > 1 ? (_grid.back() - _grid.front()) / (n - 1) : std::max(1.0, std::abs(_grid[0]));
   const double tol = 1e-9 * spacing;
   for (std::size_t k = 0; k < n; ++k) {
      if (std::abs(muPrime - _grid[k]) <= tol)
         return static_cast<int>(k);
   }
   return -1;
}

std::vector<double>
RooNSBIParamDataHist::interpolated(const std::vector<double> &table, double muPrime, bool allowInterpolation) const
{
   using namespace RooNSBI::BinnedMathFuncs;
   const std::size_t nB = _nBins;
   const int k = gridIndex(muPrime);
   if (k >= 0) {
      return std::vector<double>(table.begin() + k * nB, table.begin() + (k + 1) * nB);
   }
   if (!allowInterpolation) {
      std::ostringstream msg;
      msg << where(*this) << "mu' = " << muPrime << " is not a grid point (grid: ";
      for (std::size_t i = 0; i < _grid.size(); ++i)
         msg << (i ? ", " : "") << _grid[i];
      msg << "); ask for the interpolation between grid points explicitly";
      throw std::invalid_argument(msg.str());
   }
   const GridPosition pos = locate(_grid.data(), _grid.size(), muPrime);
   std::vector<double> out(nB);
   for (std::size_t b = 0; b < nB; ++b) {
      out[b] = interpolate(table.data() + b, nB, pos);
   }
   return out;
}

std::vector<double> RooNSBIParamDataHist::binContents(double muPrime, bool interpolate) const
{
   return interpolated(_counts, muPrime, interpolate);
}

std::vector<double> RooNSBIParamDataHist::binSumW2(double muPrime, bool interpolate) const
{
   return interpolated(_sumw2.empty() ? _counts : _sumw2, muPrime, interpolate);
}

std::unique_ptr<RooDataHist>
RooNSBIParamDataHist::dataHist(RooRealVar &observable, double muPrime, bool interpolate, const char *name) const
{
   if (observable.getMin() != 0.0 || observable.getMax() != static_cast<double>(_nBins) ||
       observable.numBins() != _nBins) {
      std::ostringstream msg;
      msg << where(*this) << "the observable '" << observable.GetName() << "' must be the bin index: range [0, "
          << _nBins << "] with " << _nBins << " bins, but it has range [" << observable.getMin() << ", "
          << observable.getMax() << "] with " << observable.numBins() << " bins";
      throw std::invalid_argument(msg.str());
   }
   const std::vector<double> counts = binContents(muPrime, interpolate);
   const std::vector<double> sumw2 = binSumW2(muPrime, interpolate);
   std::ostringstream title;
   title << GetTitle() << " at mu' = " << muPrime;
   auto data = std::make_unique<RooDataHist>(name ? name : GetName(), title.str().c_str(), RooArgSet(observable));
   const double saved = observable.getVal();
   RooArgSet row(observable);
   for (int b = 0; b < _nBins; ++b) {
      observable.setVal(b + 0.5);
      data->add(row, counts[b], sumw2[b]);
   }
   observable.setVal(saved);
   return data;
}

std::unique_ptr<RooDataHist> RooNSBIParamDataHist::dataHist(RooRealVar &observable, const RooAbsReal &muPrime,
                                                            bool interpolate, const char *name) const
{
   return dataHist(observable, muPrime.getVal(), interpolate, name);
}
