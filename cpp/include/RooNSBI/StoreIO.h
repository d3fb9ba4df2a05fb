/*
 * roonsbi: an EventStore saved inside a ROOT file as chunked, checksummed keys.
 */
#ifndef RooNSBI_StoreIO_h
#define RooNSBI_StoreIO_h

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

class TDirectory;

namespace RooNSBI {

class EventStore;

/// What an owner of a saved store (e.g. a pdf in a RooWorkspace) keeps in its own, small,
/// streamed data to find and verify the store: the prefix of its keys, its number of events,
/// its column names in order, each column's checksum() and the events per chunk key.
struct StoreManifest {
   /// The most events in one chunk key: 2^24 float32 values = 64 MiB.
   static constexpr std::uint64_t maxChunkEvents = std::uint64_t(1) << 24;
   /// writeStore's default: 2^22 events = 16 MiB per chunk key, the extra memory of a write
   /// (measured: half the write time of 64 MiB chunks, whose buffers glibc maps afresh each time).
   static constexpr std::uint64_t defaultChunkEvents = std::uint64_t(1) << 22;

   std::string prefix;
   std::uint64_t nEvents = 0;
   std::vector<std::string> columns;
   std::vector<std::uint64_t> checksums;
   std::uint64_t chunkEvents = 0;
};

/// Write every column of `store` into `dir`, which must belong to a writable TFile (or
/// TMemFile). A RooWorkspace is one key, and ROOT cannot stream one object above ~1 GB, so a
/// store of any size goes into keys of its own, next to the workspace:
///
///   <prefix>/                    a subdirectory of `dir` (TDirectoryFile)
///   <prefix>/c<i>_k<j>           TArrayF: events [j*chunkEvents, min((j+1)*chunkEvents, n))
///                                of column i (0-based, in the store's order), float32 values
///   <prefix>/index               TObjString, the text
///                                  "roonsbi-store 1\n" "n <n>\n" "chunk <chunkEvents>\n"
///                                  "columns <k>\n" and one "<checksum, 16 hex digits> <name>\n"
///                                line per column
///
/// so that plain ROOT reads a chunk without roonsbi (C++: `f.Get<TArrayF>("prefix/c0_k0")`,
/// PyROOT: `ROOT.BindObject(f.GetObjectChecked("prefix/c0_k0", "TArrayF"), "TArrayF")`).
/// `prefix` is 1-200 characters of [A-Za-z0-9_.-]; 1 <= `chunkEvents` <=
/// StoreManifest::maxChunkEvents (much smaller values than the default only for tests: each
/// key costs ~100 bytes).
///
/// The chunks are written uncompressed (the file's compression setting is set to 0 while
/// writing and restored afterwards, also on error): float32 network outputs do not compress,
/// and an uncompressed chunk is read straight into the store's memory. Keys of an earlier
/// write with the same prefix are overwritten, and its keys that this store does not have
/// (columns or chunks of a larger store, older cycles) are deleted. The chunks are written
/// first and the index last; a write interrupted half-way is detected by readStore through
/// the checksums. Extra memory: one chunk (ROOT's output buffer of one key) plus ~5 MiB.
///
/// Throws std::invalid_argument for a bad prefix or chunk size, a directory that is not in a
/// writable file, or a key `prefix` in `dir` that is not a directory; std::runtime_error if
/// ROOT fails to write a key.
StoreManifest writeStore(const EventStore &store, TDirectory &dir, const std::string &prefix,
                         std::uint64_t chunkEvents = StoreManifest::defaultChunkEvents);

/// Read a store written by writeStore back into a new, owned EventStore, checking that the
/// file's index agrees with `manifest` (number of events, chunk size, column names and
/// checksums), that every chunk key exists, is a TArrayF and has the expected number of
/// values, and that the checksum() of each column read equals the manifest's. Anything else
/// throws std::invalid_argument naming the file, the prefix, the column and chunk, what is
/// wrong and what to do: a different store is never returned silently. Extra memory: none
/// for chunks written by writeStore (read straight into the store), one chunk plus its
/// compressed bytes for a chunk that someone rewrote compressed.
std::shared_ptr<EventStore> readStore(TDirectory &dir, const StoreManifest &manifest);

/// 64-bit checksum of n float32 values, defined on their IEEE-754 bit patterns (so
/// independent of the machine's byte order, and bit-exact: -0.0 != 0.0, each NaN payload
/// counts). With b_i the 32-bit pattern of values[i] and b_n = 0 when n is odd, the words
/// w_k = b_{2k} + 2^32 b_{2k+1} (k = 0 .. ceil(n/2)-1) are mixed into 8 independent lanes
/// (all arithmetic mod 2^64; P1..P5 are the xxHash64 primes 0x9E3779B185EBCA87,
/// 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5):
///
///   a_l = (l + 1) P1                                  l = 0..7
///   a_l <- rotl(a_l + w_k P2, 31) P1                  for k = l, l+8, l+16, ... in order
///   h   = P5 + n;  h <- (h xor rotl(a_l P2, 31) P1) P1 + P4     for l = 0..7
///   h  <- h xor (h >> 33);  h <- h P2;  h <- h xor (h >> 29);  h <- h P3;  h <- h xor (h >> 32)
///
/// (xxHash64's round, merge and avalanche steps on 8 lanes; not equal to xxHash64 itself).
/// The 8 independent multiply chains run at several GB/s. Not cryptographic: it detects
/// damaged or replaced data, not an adversary.
std::uint64_t checksum(const float *values, std::size_t n);

} // namespace RooNSBI

#endif
