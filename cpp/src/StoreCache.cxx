/*
 * roonsbi: evaluation of a store-backed RooNSBIPdf, and its per-event cache.
 */
#include "RooNSBI/StoreCache.h"

#include "RooNSBI/Codes.h"
#include "RooNSBI/MathFuncs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace RooNSBI {

namespace {

constexpr std::size_t blockSize = 256;

/// The +-1 sigma values of term `t` for the rows of a block.
void gather(const StoreLayout::Term &t, const std::size_t *rows, std::size_t n, double *low, double *high)
{
   if (t.logs) {
      for (std::size_t k = 0; k < n; ++k) {
         low[k] = std::exp(double(t.low[rows[k]]));
         high[k] = std::exp(double(t.high[rows[k]]));
      }
   } else {
      for (std::size_t k = 0; k < n; ++k) {
         low[k] = t.low[rows[k]];
         high[k] = t.high[rows[k]];
      }
   }
}

} // namespace

std::uint64_t hashValues(const double *values, std::size_t n)
{
   constexpr std::uint64_t mult = 0x9E3779B97F4A7C15ull;
   std::uint64_t lane[4] = {1, 2, 3, 4};
   std::size_t i = 0;
   for (; i + 4 <= n; i += 4) {
      for (std::size_t l = 0; l < 4; ++l) {
         std::uint64_t bits;
         std::memcpy(&bits, values + i + l, sizeof(bits));
         lane[l] = (lane[l] ^ bits) * mult;
         lane[l] ^= lane[l] >> 29;
      }
   }
   std::uint64_t h = n;
   for (; i < n; ++i) {
      std::uint64_t bits;
      std::memcpy(&bits, values + i, sizeof(bits));
      h = (h ^ bits) * mult;
   }
   for (std::uint64_t l : lane)
      h = (h ^ l) * mult;
   return h ^ (h >> 31);
}

bool StoreLayout::rowOf(double index, std::size_t &row, std::string &error, std::size_t entry) const
{
   if (!(index >= 0.0) || !(index < double(nRows))) {
      std::ostringstream msg;
      msg << "event index entry " << entry << " = " << index << " is not a row of the event store (row k is [k, k+1), "
          << "k = 0 to " << nRows - 1 << ")";
      error = msg.str();
      return false;
   }
   row = static_cast<std::size_t>(index);
   return true;
}

bool StoreLayout::rowsOf(const double *index, std::size_t n, std::vector<std::size_t> &rows, std::string &error) const
{
   rows.resize(n);
   for (std::size_t i = 0; i < n; ++i) {
      if (!rowOf(index[i], rows[i], error, i))
         return false;
   }
   return true;
}

void StoreLayout::shapeFactor(std::size_t j, const std::size_t *rows, std::size_t n, const double *alphas,
                              double *g) const
{
   termFactor(j, TermKind::all, rows, n, alphas, g);
}

void StoreLayout::partialFactor(std::size_t j, bool additive, const std::size_t *rows, std::size_t n,
                                const double *alphas, double *out) const
{
   termFactor(j, additive ? TermKind::additive : TermKind::multiplicative, rows, n, alphas, out);
}

void StoreLayout::termFactor(std::size_t j, TermKind kind, const std::size_t *rows, std::size_t n,
                             const double *alphas, double *out) const
{
   double low[blockSize], high[blockSize];
   for (std::size_t begin = 0; begin < n; begin += blockSize) {
      const std::size_t m = std::min(blockSize, n - begin);
      double *ob = out + begin;
      std::fill(ob, ob + m, 1.0);
      for (std::size_t t : termsOf[j]) {
         const Term &term = terms[t];
         const bool additive = Codes::isAdditiveShapeCode(term.code);
         if ((kind == TermKind::additive && !additive) || (kind == TermKind::multiplicative && additive))
            continue;
         gather(term, rows + begin, m, low, high);
         if (kind == TermKind::all) { // PiecewiseInterpolation's running factor
            for (std::size_t k = 0; k < m; ++k)
               ob[k] = MathFuncs::shapeStep(term.code, low[k], high[k], alphas[t], ob[k]);
         } else {
            for (std::size_t k = 0; k < m; ++k) {
               const double v = MathFuncs::shapeTermValue(term.code, low[k], high[k], alphas[t]);
               ob[k] = additive ? ob[k] + v : ob[k] * v;
            }
         }
      }
   }
}

void StoreLayout::evaluate(const std::size_t *rows, std::size_t n, const double *yields, double nu,
                           const double *alphas, double *out) const
{
   double g[blockSize];
   for (std::size_t begin = 0; begin < n; begin += blockSize) {
      const std::size_t m = std::min(blockSize, n - begin);
      const std::size_t *r = rows + begin;
      double *o = out + begin;
      std::fill(o, o + m, 0.0);
      for (std::size_t j = 0; j < ratio.size(); ++j) {
         shapeFactor(j, r, m, alphas, g);
         for (std::size_t k = 0; k < m; ++k)
            o[k] += yields[j] * double(ratio[j][r[k]]) * g[k];
      }
      for (std::size_t k = 0; k < m; ++k)
         o[k] = measureOf(r[k]) * o[k] / nu;
   }
}

bool StoreCache::bind(const StoreLayout &layout, const double *index, std::size_t n, std::string &error)
{
   _valid = false;
   if (!layout.rowsOf(index, n, _rows, error))
      return false;
   const std::size_t nProc = layout.ratio.size();
   _mr.assign(nProc, std::vector<double>(n));
   _add.assign(nProc, std::vector<double>(n, 1.0));
   _mult.assign(nProc, std::vector<double>(n));
   _oneGroup.assign(nProc, true);
   for (std::size_t j = 0; j < nProc; ++j) {
      bool seenMultiplicative = false;
      for (std::size_t t : layout.termsOf[j]) {
         const bool additive = Codes::isAdditiveShapeCode(layout.terms[t].code);
         if (additive && seenMultiplicative)
            _oneGroup[j] = false;
         seenMultiplicative |= !additive;
      }
   }
   for (std::size_t j = 0; j < nProc; ++j) {
      for (std::size_t i = 0; i < n; ++i)
         _mr[j][i] = layout.measureOf(_rows[i]) * double(layout.ratio[j][_rows[i]]);
   }
   _indexData = index;
   _n = n;
   _indexHash = hashValues(index, n);
   return true;
}

void StoreCache::updateTerm(const StoreLayout &layout, std::size_t t, double alphaOld, double alphaNew,
                            const double *alphas)
{
   const StoreLayout::Term &term = layout.terms[t];
   const bool additive = Codes::isAdditiveShapeCode(term.code);
   std::vector<double> &g = additive ? _add[term.process] : _mult[term.process];
   double low[blockSize], high[blockSize];
   for (std::size_t begin = 0; begin < _n; begin += blockSize) {
      const std::size_t m = std::min(blockSize, _n - begin);
      gather(term, _rows.data() + begin, m, low, high);
      for (std::size_t k = 0; k < m; ++k) {
         const double before = MathFuncs::shapeTermValue(term.code, low[k], high[k], alphaOld);
         const double after = MathFuncs::shapeTermValue(term.code, low[k], high[k], alphaNew);
         double &gi = g[begin + k];
         if (additive) {
            gi += after - before;
         } else if (std::abs(before) > 1e-8) {
            gi *= after / before;
         } else { // the old factor (nearly) vanished: recompute this event's product
            layout.partialFactor(term.process, false, _rows.data() + begin + k, 1, alphas, &gi);
         }
      }
   }
}

void StoreCache::computeProcess(const StoreLayout &layout, std::size_t j, const double *alphas)
{
   if (_oneGroup[j]) {
      layout.partialFactor(j, true, _rows.data(), _n, alphas, _add[j].data());
      layout.partialFactor(j, false, _rows.data(), _n, alphas, _mult[j].data());
   } else {
      std::fill(_add[j].begin(), _add[j].end(), 1.0);
      layout.shapeFactor(j, _rows.data(), _n, alphas, _mult[j].data());
   }
}

bool StoreCache::evaluate(const StoreLayout &layout, const double *index, std::size_t n, const double *yields, double nu,
                          const double *alphas, double *out, std::string &error)
{
   const std::size_t nProc = layout.ratio.size();
   const std::size_t nTerms = layout.terms.size();
   const bool sameIndex = _valid && index == _indexData && n == _n && hashValues(index, n) == _indexHash;
   std::vector<bool> recompute(nProc, !sameIndex);
   if (!sameIndex) {
      if (!bind(layout, index, n, error))
         return false;
   } else if (_refreshInterval && _sinceRefresh >= _refreshInterval) {
      std::fill(recompute.begin(), recompute.end(), true);
   } else {
      // a process is recomputed whole if it is not one group (an additive term after a
      // multiplicative one) or if more than a quarter of its terms changed; otherwise its changed
      // terms are updated
      std::vector<std::size_t> changed;
      for (std::size_t j = 0; j < nProc; ++j) {
         changed.clear();
         for (std::size_t t : layout.termsOf[j]) {
            if (alphas[t] != _alpha[t])
               changed.push_back(t);
         }
         if (changed.empty())
            continue;
         if (!_oneGroup[j] || 4 * changed.size() > layout.termsOf[j].size() + 3) {
            recompute[j] = true;
            continue;
         }
         for (std::size_t t : changed) {
            updateTerm(layout, t, _alpha[t], alphas[t], alphas);
            ++_nUpdates;
         }
         ++_sinceRefresh;
      }
   }
   bool any = false;
   for (std::size_t j = 0; j < nProc; ++j) {
      if (recompute[j]) {
         computeProcess(layout, j, alphas);
         any = true;
      }
   }
   if (any && std::all_of(recompute.begin(), recompute.end(), [](bool r) { return r; })) {
      _sinceRefresh = 0;
      ++_nFull;
   }
   _alpha.assign(alphas, alphas + nTerms);
   _valid = true;

   std::fill(out, out + _n, 0.0);
   for (std::size_t j = 0; j < nProc; ++j) {
      const double y = yields[j];
      const double *mr = _mr[j].data();
      const double *a = _add[j].data();
      const double *m = _mult[j].data();
      for (std::size_t i = 0; i < _n; ++i)
         out[i] += y * mr[i] * (a[i] * m[i]);
   }
   const double inv = 1.0 / nu;
   for (std::size_t i = 0; i < _n; ++i)
      out[i] *= inv;
   return true;
}

} // namespace RooNSBI
