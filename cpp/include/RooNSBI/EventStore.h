/*
 * roonsbi: a compact per-event column store for large NSBI datasets.
 */
#ifndef RooNSBI_EventStore_h
#define RooNSBI_EventStore_h

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace RooNSBI {

/// Named float32 columns of n events, contiguous per column (64-byte aligned),
/// either owned in memory or mapped read-only from a file written by write().
///
/// This replaces a double-precision RooDataSet with hundreds of columns: the
/// per-event inputs of the fast NSBI likelihood (RooNSBINLL) take 4 bytes per
/// value. Shape-systematic columns of the multiplicative interpolation codes are
/// stored as logarithms (addLogColumn), which makes the exponential parts of the
/// HistFactory interpolations a multiply-add per event; those of the additive
/// codes as values (see RooNSBINLL::shapeColumn).
///
/// File format (little endian): the 8-byte magic "ROONSBI2", then a uint64
/// header length and a text header ("n <events>\n", one "<name>\n" line per
/// column, then "crc32 <8 lowercase hex digits>\n": zlib's CRC-32 of every byte of the
/// file before that line), zero padding to a multiple of 64 bytes, then the columns, each
/// n float32 values padded to a multiple of 64 bytes. Files with the magic "ROONSBI1"
/// (written before the checksum) have the same layout without the checksum line and are read too.
class EventStore {
public:
   EventStore() = default;
   explicit EventStore(std::size_t nEvents);
   ~EventStore();
   EventStore(const EventStore &) = delete;
   EventStore &operator=(const EventStore &) = delete;

   /// Map a file written by write(): the data stay in the page cache and are
   /// read on demand, so a store can exceed the available memory. The file must not be
   /// rewritten in place while it is mapped (write() replaces it by a rename, which a mapped
   /// store does not see: it keeps reading the old file); a file truncated under the mapping
   /// does not crash the process (the lost pages read as zeros) and changedOnDisk() says so. Throws
   /// std::invalid_argument naming the file and the problem if it is not a store
   /// (magic), if its header is malformed (not "n <decimal digits>" then newline-terminated
   /// names, a header length beyond the file, an absurd n), its checksum line is missing or does
   /// not match the header's bytes (ROONSBI2), names a column twice or has an
   /// empty name, or if the file is longer or shorter than the header says;
   /// std::runtime_error if the system cannot open or map it.
   static std::shared_ptr<EventStore> open(const std::string &path);

   std::size_t size() const { return _n; }
   std::size_t numColumns() const { return _names.size(); }
   std::vector<std::string> columnNames() const { return _names; }
   bool hasColumn(const std::string &name) const { return _index.count(name) > 0; }
   /// Bytes of column data (what a float64 RooDataSet would hold in twice the space).
   std::size_t bytes() const { return _names.size() * _n * sizeof(float); }
   bool isMapped() const { return _map != nullptr; }
   /// For a mapped store: empty if the file is as it was when mapped; otherwise what changed (its size
   /// or modification time, or a read of a page that a truncation removed), naming the file. Values
   /// read since then are not the file's: results computed from them must be discarded.
   std::string changedOnDisk() const;

   /// Add a column from n values (converted to float32). Throws std::invalid_argument if
   /// the name is empty, contains a newline (the file header is one name per line) or
   /// exists, or if the store is mapped (read-only).
   void addColumn(const std::string &name, const double *values);
   void addColumn(const std::string &name, const float *values);
   /// Add the natural logarithm of n positive values as a float32 column.
   void addLogColumn(const std::string &name, const double *values);
   /// Add a column of n float32 values left uninitialised and return them, for the caller to
   /// fill (all n, e.g. chunk by chunk from a file) before any other use of the store.
   /// Same errors as addColumn.
   float *addColumnUninitialised(const std::string &name);

   /// The n values of a column; throws std::invalid_argument naming a missing column.
   const float *column(const std::string &name) const;

   /// How passes over a mapped store read the file (setStreaming): not streamed (the pages stay mapped and in
   /// the page cache: fastest while the file fits in memory), streamed, or streamed if the file is larger than
   /// half the physical memory (the default).
   enum Streaming { streamingOff = 0, streamingOn = 1, streamingAuto = 2 };
   /// Set how passes read a mapped store (Streaming; no effect on a store in memory). A streamed store is read
   /// in chunks of streamChunkRows rows per thread: the pass asks the kernel to read the next chunk ahead
   /// (MADV_WILLNEED: its pages are then in the page cache when read, and faults start no readahead of the
   /// kernel's) and releases each chunk after it (MADV_DONTNEED drops it from the process's page tables,
   /// POSIX_FADV_DONTNEED from the page cache), so a pass keeps about threads x 2 chunks of the file resident
   /// and reads the whole file from disk every time. The values read, and so every result, are the same.
   /// Throws std::invalid_argument for a value that is not a Streaming.
   void setStreaming(int mode);
   int streaming() const { return _streaming; }
   /// Whether passes stream this store: mapped, and streamingOn or streamingAuto with a file larger than
   /// half the physical memory.
   bool streams() const;
   /// Rows of one chunk of a streamed pass: 2^16 (256 KiB of each column).
   static constexpr std::size_t streamChunkRows = std::size_t(1) << 16;
   /// Ask the kernel to read rows [begin, end) of every column ahead (MADV_WILLNEED); nothing unless streams().
   void prefetchRows(std::size_t begin, std::size_t end) const;
   /// Release rows [begin, end) of every column (MADV_DONTNEED, then POSIX_FADV_DONTNEED) up to the page that
   /// holds row `end` (the next chunk's first page; the last page of a column with it); nothing unless
   /// streams(). Only a hint: a released page is read again from the file if it is used again.
   void releaseRows(std::size_t begin, std::size_t end) const;
   /// prefetchRows() and releaseRows() of all the rows of one column (a check of its values, column by column);
   /// std::invalid_argument naming a missing column.
   void prefetchColumn(const std::string &name) const;
   void releaseColumn(const std::string &name) const;

   /// Read every value once with `nThreads` threads and return their sum: warms the
   /// page cache of a mapped store, and its time is the one-pass memory-bandwidth
   /// bound of anything that reads the whole store.
   double readAll(unsigned nThreads = 1) const;

   /// Write all columns to `path` in the mapped-file format, atomically, through a StoreWriter (see there:
   /// the temporary file, the rename, the errors). An error leaves `path` as it was and no temporary.
   void write(const std::string &path, bool overwrite = false) const;
   /// The SHA-256 (64 hex digits) of the file write() writes, computed from the columns in memory
   /// (or in the mapped file): the checksum of the store's HS3 side file (roonsbi::nsbi_dist).
   std::string sha256() const;

private:
   /// prefetch (MADV_WILLNEED) or release (MADV_DONTNEED + POSIX_FADV_DONTNEED) the pages of rows
   /// [begin, end) of `columns`; nothing unless streams().
   void advise(const std::vector<float *> &columns, std::size_t begin, std::size_t end, bool release) const;
   float *newColumn(const std::string &name);

   std::size_t _n = 0;
   std::vector<std::string> _names;
   std::map<std::string, std::size_t> _index;
   std::vector<float *> _columns;   ///< pointers into _owned blocks or the mapped file
   std::vector<void *> _owned;      ///< aligned allocations, one per owned column
   void *_map = nullptr;            ///< mapped file region
   std::size_t _mapLength = 0;
   std::string _path;               ///< the mapped file
   int _fd = -1;                    ///< the mapped file, open to see changes (fstat)
   long long _mtimeNs = 0;          ///< its modification time when mapped
   int _slot = -1;                  ///< its entry in the table of the SIGBUS handler
   int _streaming = streamingAuto;  ///< setStreaming()
};

/// Writes a store file (EventStore's file format) column by column: the one writer of the format, for
/// EventStore::write and for stores larger than memory (Python's write_store_file), which hold one
/// column in memory at a time.
///
///   auto writer = RooNSBI::StoreWriter::open("events.store", n, {"r_S", "weight"});
///   writer->append(rS);      // n float32 values of each column, in the order of the names
///   writer->append(weight);
///   writer->commit();        // the file appears at its path
///
/// The bytes go to a temporary file next to `path`, `.<name>.<8 hex digits>.tmp<suffix of name>` (the
/// name roonsbi.atomic gives its temporaries), created by open() with the header; commit() flushes it
/// to disk and puts it in the place of `path` (a rename; without `overwrite` a hard link, which fails
/// if `path` appeared meanwhile). abort(), the destructor of an uncommitted writer, and any error of
/// append() or commit() remove the temporary: `path` is never a part of a file, and stays as it was.
class StoreWriter {
public:
   /// Start writing the store of `n` events with the columns `names` to `path` (the header is written).
   /// Throws std::invalid_argument if `path` exists and `overwrite` is false, if a name is empty,
   /// contains a newline or is given twice; std::runtime_error if the temporary file cannot be created
   /// (e.g. the folder does not exist or is not writable). A factory, not a constructor: PyROOT must not
   /// see a constructor throw.
   static std::unique_ptr<StoreWriter> open(const std::string &path, std::size_t n,
                                            const std::vector<std::string> &names, bool overwrite = false);
   ~StoreWriter();
   StoreWriter(const StoreWriter &) = delete;
   StoreWriter &operator=(const StoreWriter &) = delete;

   /// Write the n values of the next column (nullptr for n = 0). Throws std::invalid_argument once
   /// every column is written, after commit() or abort(), or for nullptr with n > 0;
   /// std::runtime_error (after removing the temporary) if the system cannot write.
   void append(const float *values);
   /// Check that every column is written, flush the file to disk and put it in the place of the path.
   /// Throws std::invalid_argument naming the first missing column (the temporary is kept: append it,
   /// or abort()), or if `path` appeared meanwhile without `overwrite`; std::runtime_error if the system
   /// cannot flush or rename. Any error but a missing column removes the temporary.
   void commit();
   /// Remove the temporary file; nothing after commit(), or a second time.
   void abort();

   const std::string &path() const { return _path; }
   /// The temporary file (empty once committed or aborted).
   const std::string &temporary() const { return _tmp; }
   std::size_t size() const { return _n; }
   std::size_t columnsWritten() const { return _written; }
   bool committed() const { return _committed; }

private:
   StoreWriter() = default;
   /// Write `size` bytes to the temporary file; on an error remove it and throw std::runtime_error.
   void put(const char *bytes, std::size_t size);

   std::string _path;
   std::string _tmp;
   std::size_t _n = 0;
   std::vector<std::string> _names;
   bool _overwrite = false;
   int _fd = -1;
   std::size_t _written = 0;
   bool _committed = false;
};

} // namespace RooNSBI

#endif
