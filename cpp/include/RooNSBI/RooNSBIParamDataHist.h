/*
 * roonsbi: RooNSBIParamDataHist, the "parametrized RooDataHist" of parametrized
 * NSBI: one data histogram per grid point mu'_k, selected (or interpolated) by mu'.
 */
#ifndef RooNSBI_RooNSBIParamDataHist_h
#define RooNSBI_RooNSBIParamDataHist_h

#include <TNamed.h>

#include <memory>
#include <vector>

class RooAbsReal;
class RooDataHist;
class RooRealVar;

/// \class RooNSBIParamDataHist
/// Binned data of a parametrized NSBI channel: for every grid point mu'_k the
/// observed (or Asimov) counts of the optimal observable O_mu'_k in B bins, with
/// optional sums of squared weights (weighted/Asimov data). A TNamed, so it is
/// stored in a RooWorkspace as a generic object (RooWorkspace::import(TObject&),
/// RooWorkspace::genobj()).
///
/// dataHist(obs, mu') returns the RooDataHist over the bin-index observable for a
/// value of mu': exactly the histogram of the grid point when mu' is on the grid
/// (to a relative tolerance of 1e-9 of the grid spacing), and, only when asked
/// (interpolate = true), the vertical linear interpolation of the two
/// neighbouring grid points in between (clamped outside the grid), as
/// RooNSBIParamHistPdf does for the templates.
class RooNSBIParamDataHist : public TNamed {
public:
   RooNSBIParamDataHist() = default;
   /// \param grid   the grid points mu'_k (strictly increasing)
   /// \param nBins  B
   /// \param counts K * B bin contents, counts[k * B + b]
   /// \param sumw2  K * B sums of squared weights (empty: unweighted data, sumw2 = counts)
   RooNSBIParamDataHist(const char *name, const char *title, const std::vector<double> &grid, int nBins,
                        const std::vector<double> &counts, const std::vector<double> &sumw2 = {});

   const std::vector<double> &grid() const { return _grid; }
   int numBins() const { return _nBins; }
   std::size_t numGridPoints() const { return _grid.size(); }
   bool isWeighted() const { return !_sumw2.empty(); }

   /// Index of the grid point equal to `muPrime` (relative tolerance 1e-9 of the
   /// grid spacing), or -1.
   int gridIndex(double muPrime) const;

   /// Bin contents at `muPrime`: the grid point's, or (interpolate = true) the
   /// linear interpolation between the neighbouring grid points. Throws
   /// std::invalid_argument if `muPrime` is not on the grid and interpolate is false.
   std::vector<double> binContents(double muPrime, bool interpolate = false) const;
   /// Sums of squared weights at `muPrime` (same rules; the counts for unweighted data).
   std::vector<double> binSumW2(double muPrime, bool interpolate = false) const;

   /// A new RooDataHist over `observable` (range [0, B], B bins) with the bin
   /// contents at `muPrime` (see binContents). Throws std::invalid_argument for an
   /// observable with another binning.
   std::unique_ptr<RooDataHist>
   dataHist(RooRealVar &observable, double muPrime, bool interpolate = false, const char *name = nullptr) const;
   /// The same at the current value of the parameter `muPrime` (e.g. the mu' of a RooNSBIParamHistPdf).
   std::unique_ptr<RooDataHist> dataHist(RooRealVar &observable, const RooAbsReal &muPrime, bool interpolate = false,
                                         const char *name = nullptr) const;

private:
   std::vector<double> interpolated(const std::vector<double> &table, double muPrime, bool allowInterpolation) const;

   std::vector<double> _grid;  ///< mu'_k
   int _nBins = 0;             ///< B
   std::vector<double> _counts; ///< K * B bin contents
   std::vector<double> _sumw2;  ///< K * B sums of squared weights (empty for unweighted data)

   ClassDefOverride(RooNSBIParamDataHist, 1)
};

#endif
