/*
 * roonsbi: the binning of an event-index observable, one bin per reference-pool row.
 */
#include "RooNSBI/RooNSBIRowBinning.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

RooNSBIRowBinning::RooNSBIRowBinning(std::size_t nPool, std::size_t nRows, const char *name)
   : RooAbsBinning(name), _nPool(nPool), _nRows(nRows)
{
   if (nPool > nRows) {
      std::ostringstream msg;
      msg << "RooNSBIRowBinning: needs nPool <= nRows (got nPool = " << nPool << ", nRows = " << nRows << ")";
      throw std::invalid_argument(msg.str());
   }
}

RooNSBIRowBinning::RooNSBIRowBinning(const RooNSBIRowBinning &other, const char *name)
   : RooAbsBinning(other, name), _nPool(other._nPool), _nRows(other._nRows)
{
}

Int_t RooNSBIRowBinning::numBoundaries() const
{
   if (_nPool == 0) {
      throw std::logic_error("RooNSBIRowBinning '" + std::string(GetName()) +
                             "': this NSBI event index has no reference pool, so it has no bins: RooStats' Asimov "
                             "data, binned toys and histograms of it need one (build the channel with a pool: "
                             "roonsbi.build_model(..., pool=..., pool_weights=...))");
   }
   return static_cast<Int_t>(_nPool) + 1;
}

void RooNSBIRowBinning::binNumbers(double const *x, int *bins, std::size_t n, int coef) const
{
   const double last = static_cast<double>(_nPool) - 1.0;
   for (std::size_t i = 0; i < n; ++i)
      bins[i] += coef * static_cast<int>(std::clamp(std::floor(x[i]), 0.0, last));
}

void RooNSBIRowBinning::setRange(double xlo, double xhi)
{
   if (xlo != 0.0 || xhi != static_cast<double>(_nRows)) {
      std::ostringstream msg;
      msg << "RooNSBIRowBinning: the range of an event index is the rows of its store, [0, " << _nRows
          << "); it cannot be set to [" << xlo << ", " << xhi << ")";
      throw std::invalid_argument(msg.str());
   }
}

double *RooNSBIRowBinning::array() const
{
   if (_array.size() != _nPool + 1) {
      _array.resize(_nPool + 1);
      for (std::size_t i = 0; i <= _nPool; ++i)
         _array[i] = static_cast<double>(i);
   }
   return _array.data();
}
