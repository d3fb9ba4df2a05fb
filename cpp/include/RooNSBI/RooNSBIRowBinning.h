/*
 * roonsbi: the binning of an event-index observable, one bin per reference-pool row.
 */
#ifndef RooNSBI_RooNSBIRowBinning_h
#define RooNSBI_RooNSBIRowBinning_h

#include <RooAbsBinning.h>

#include <vector>

/// \class RooNSBIRowBinning
/// Binning of the event-index observable k of a store-backed RooNSBIPdf: bin i is the
/// pool row i, [i, i+1) for i < nPool, while the range [0, nRows) also holds the rows of
/// other events (observed data) beyond the pool. Tools that fill one weighted entry per bin
/// (RooStats' Asimov builder: weight = pdf(bin centre) x bin width x expected events) then
/// visit exactly the pool rows and get the expected events m_k F_k of each. A channel
/// without a pool (nPool = 0) has no bins (numBoundaries() throws, naming the remedy).
class RooNSBIRowBinning : public RooAbsBinning {
public:
   RooNSBIRowBinning() = default;
   RooNSBIRowBinning(std::size_t nPool, std::size_t nRows, const char *name = nullptr);
   RooNSBIRowBinning(const RooNSBIRowBinning &other, const char *name = nullptr);
   RooAbsBinning *clone(const char *name = nullptr) const override { return new RooNSBIRowBinning(*this, name); }

   /// nPool + 1; throws std::logic_error if there is no pool (nPool = 0): a tool that would fill
   /// one entry per bin (Asimov data) must not silently get none.
   Int_t numBoundaries() const override;
   void binNumbers(double const *x, int *bins, std::size_t n, int coef = 1) const override;
   double binCenter(Int_t bin) const override { return bin + 0.5; }
   double binWidth(Int_t) const override { return 1.0; }
   double binLow(Int_t bin) const override { return bin; }
   double binHigh(Int_t bin) const override { return bin + 1.0; }
   bool isUniform() const override { return false; }

   /// The range is fixed by the store: [0, nRows).
   void setRange(double xlo, double xhi) override;
   double lowBound() const override { return 0.0; }
   double highBound() const override { return static_cast<double>(_nRows); }
   double averageBinWidth() const override { return 1.0; }
   /// The boundaries 0, 1, ..., nPool (made on first use).
   double *array() const override;

   std::size_t numPoolRows() const { return _nPool; }
   std::size_t numRows() const { return _nRows; }

private:
   ULong64_t _nPool = 0;
   ULong64_t _nRows = 0;
   mutable std::vector<double> _array; //!

   ClassDefOverride(RooNSBIRowBinning, 1)
};

#endif
