/*
 * roonsbi: evaluation of a store-backed RooNSBIPdf, and its per-event cache
 * (not in the dictionary: RooNSBIPdf gathers its parameter values and calls these).
 */
#ifndef RooNSBI_StoreCache_h
#define RooNSBI_StoreCache_h

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace RooNSBI {

/// Where the inputs of a store-backed RooNSBIPdf are: pointers into its EventStore.
///
/// Rows [0, nPool) of the store are the reference pool, with the pool measure
/// m_k = u_k / sum_l u_l; rows [nPool, nRows) are other events (observed data),
/// with m = 1. The value of the pdf at row k is m_k F_k / nu (see RooNSBIPdf).
struct StoreLayout {
   struct Term {
      int process;
      int code;
      const float *low;  ///< g(x,-1), or its logarithm if `logs`
      const float *high; ///< g(x,+1), or its logarithm if `logs`
      bool logs;
   };
   std::vector<const float *> ratio;              ///< r_J, per process
   std::vector<Term> terms;                       ///< shape terms, in the order they were added
   std::vector<std::vector<std::size_t>> termsOf; ///< per process: its terms, in order
   const float *measure = nullptr;                ///< m_k for the pool rows
   std::size_t nPool = 0;
   std::size_t nRows = 0;

   double measureOf(std::size_t row) const { return row < nPool ? double(measure[row]) : 1.0; }
   /// The rows of n index values (row k is the interval [k, k+1): datasets hold k, bin centres
   /// are k + 0.5); false and a message naming the first value outside [0, nRows).
   bool rowsOf(const double *index, std::size_t n, std::vector<std::size_t> &rows, std::string &error) const;
   /// The row of one index value (no allocation: the scalar path, one call per event).
   bool rowOf(double index, std::size_t &row, std::string &error, std::size_t entry = 0) const;
   /// out[i] = m(rows[i]) sum_J N_J r_J G_J / nu, without cache (scalar use, pool weights).
   void evaluate(const std::size_t *rows, std::size_t n, const double *yields, double nu, const double *alphas,
                 double *out) const;
   /// G_J (the running shape factor of process j) for n rows.
   void shapeFactor(std::size_t j, const std::size_t *rows, std::size_t n, const double *alphas, double *g) const;
   /// The same from the terms of process j of one kind only (additive: A_J = 1 + sum d, else M_J = prod I).
   void partialFactor(std::size_t j, bool additive, const std::size_t *rows, std::size_t n, const double *alphas,
                      double *out) const;

private:
   enum class TermKind { all, additive, multiplicative };
   void termFactor(std::size_t j, TermKind kind, const std::size_t *rows, std::size_t n, const double *alphas,
                   double *out) const;
};

/// The per-event partial products of one dataset (its index column): per process J the
/// measure-weighted ratio m_i r_J(x_i) and its shape factor. A process whose terms come in
/// PiecewiseInterpolation's order as one group, first the additive ones, then the multiplicative
/// ones, has G_J = A_J M_J with A_J = 1 + sum_t d_t and M_J = prod_t I_t, each cached; when Minuit
/// moves one parameter only its terms are recomputed:
///   multiplicative codes:  M_J <- M_J * I_t(alpha_new) / I_t(alpha_old),
///   additive codes:        A_J <- A_J + d_t(alpha_new) - d_t(alpha_old);
/// a process with an additive term after a multiplicative one is recomputed whole.
/// After `refreshInterval` incremental updates everything is recomputed (0: never), which
/// bounds the rounding drift of the updates; a fresh computation differs by ~1e-15 relative.
class StoreCache {
public:
   /// out[i] for the n index values (rows), updating the cache; false and `error` if an
   /// index value is not a row of the store.
   bool evaluate(const StoreLayout &layout, const double *index, std::size_t n, const double *yields, double nu,
                 const double *alphas, double *out, std::string &error);
   void clear() { _valid = false; }
   void setRefreshInterval(std::size_t n) { _refreshInterval = n; }
   std::size_t refreshInterval() const { return _refreshInterval; }
   std::size_t numFullComputations() const { return _nFull; }
   std::size_t numTermUpdates() const { return _nUpdates; }

private:
   bool bind(const StoreLayout &layout, const double *index, std::size_t n, std::string &error);
   void updateTerm(const StoreLayout &layout, std::size_t t, double alphaOld, double alphaNew, const double *alphas);
   /// A_J and M_J (or G_J) of process j for all events.
   void computeProcess(const StoreLayout &layout, std::size_t j, const double *alphas);

   bool _valid = false;
   const double *_indexData = nullptr;
   std::size_t _n = 0;
   std::uint64_t _indexHash = 0;
   std::vector<std::size_t> _rows;
   std::vector<std::vector<double>> _mr; ///< per process: m_i r_J(x_i)
   std::vector<std::vector<double>> _add;  ///< per process: A_J (1 if the process is recomputed whole)
   std::vector<std::vector<double>> _mult; ///< per process: M_J (G_J if the process is recomputed whole)
   std::vector<bool> _oneGroup;            ///< per process: additive terms first, then multiplicative ones
   std::vector<double> _alpha;           ///< per term: the alpha of _g
   std::size_t _sinceRefresh = 0;
   std::size_t _refreshInterval = 1000;
   std::size_t _nFull = 0;
   std::size_t _nUpdates = 0;
};

/// A 64-bit hash of n doubles (their bits; four lanes): whether an index column changed.
std::uint64_t hashValues(const double *values, std::size_t n);

} // namespace RooNSBI

#endif
