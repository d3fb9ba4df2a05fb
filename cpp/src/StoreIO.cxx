/*
 * roonsbi: an EventStore saved inside a ROOT file as chunked, checksummed keys.
 */
#include "RooNSBI/StoreIO.h"

#include "RooNSBI/EventStore.h"

#include "Clones.h"

#include <TArrayF.h>
#include <TClass.h>
#include <TDirectory.h>
#include <TFile.h>
#include <TKey.h>
#include <TList.h>
#include <TObjString.h>

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <set>
#include <sstream>
#include <stdexcept>

namespace {

constexpr std::uint64_t P1 = 0x9E3779B185EBCA87ULL;
constexpr std::uint64_t P2 = 0xC2B2AE3D27D4EB4FULL;
constexpr std::uint64_t P3 = 0x165667B19E3779F9ULL;
constexpr std::uint64_t P4 = 0x85EBCA77C2B2AE63ULL;
constexpr std::uint64_t P5 = 0x27D4EB2F165667C5ULL;
constexpr std::size_t lanes = 8;

inline std::uint64_t rotl(std::uint64_t x, int r)
{
   return (x << r) | (x >> (64 - r));
}

inline std::uint64_t mixRound(std::uint64_t acc, std::uint64_t word)
{
   return rotl(acc + word * P2, 31) * P1;
}

/// The word w_k = b_{2k} + 2^32 b_{2k+1} of the bit patterns b of `values` (any byte order).
inline std::uint64_t word(const float *values, std::size_t k)
{
   std::uint32_t lo, hi;
   std::memcpy(&lo, values + 2 * k, sizeof(lo));
   std::memcpy(&hi, values + 2 * k + 1, sizeof(hi));
   return std::uint64_t(lo) | (std::uint64_t(hi) << 32);
}

/// The 8 lanes over the first `stripes` x 8 words: independent multiply chains that the
/// compiler keeps in registers (vectorised with AVX-512's 64-bit multiply where available).
ROONSBI_CLONES void mixStripes(const float *values, std::size_t stripes, std::uint64_t *acc)
{
   std::uint64_t a[lanes];
   for (std::size_t l = 0; l < lanes; ++l)
      a[l] = acc[l];
   for (std::size_t s = 0; s < stripes; ++s) {
      const float *block = values + 2 * lanes * s;
      for (std::size_t l = 0; l < lanes; ++l)
         a[l] = mixRound(a[l], word(block, l));
   }
   for (std::size_t l = 0; l < lanes; ++l)
      acc[l] = a[l];
}

/// Byte order of the host: ROOT files are big-endian.
constexpr bool littleEndian()
{
   return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}

ROONSBI_CLONES void swapBytes(float *values, std::size_t n)
{
   auto *words = reinterpret_cast<std::uint32_t *>(values);
   for (std::size_t i = 0; i < n; ++i)
      words[i] = __builtin_bswap32(words[i]);
}

bool validPrefix(const std::string &prefix)
{
   return !prefix.empty() && prefix.size() <= 200 &&
          std::all_of(prefix.begin(), prefix.end(), [](char c) {
             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
          });
}

std::string chunkKey(std::size_t column, std::size_t chunk)
{
   return "c" + std::to_string(column) + "_k" + std::to_string(chunk);
}

std::size_t numChunks(std::uint64_t n, std::uint64_t chunkEvents)
{
   return (n + chunkEvents - 1) / chunkEvents;
}

std::string hex(std::uint64_t value)
{
   std::ostringstream out;
   out << std::hex << std::setw(16) << std::setfill('0') << value;
   return out.str();
}

std::string index(const RooNSBI::StoreManifest &m)
{
   std::ostringstream out;
   out << "roonsbi-store 1\nn " << m.nEvents << "\nchunk " << m.chunkEvents << "\ncolumns " << m.columns.size()
       << "\n";
   for (std::size_t c = 0; c < m.columns.size(); ++c)
      out << hex(m.checksums[c]) << " " << m.columns[c] << "\n";
   return out.str();
}

std::string where(TDirectory &dir, const std::string &prefix)
{
   TFile *file = dir.GetFile();
   return "file '" + std::string(file ? file->GetName() : "(no file)") + "', store '" + prefix + "' in '" +
          dir.GetPath() + "'";
}

/// Sets a file's compression to 0 and restores the earlier setting when it goes out of scope.
class NoCompression {
public:
   explicit NoCompression(TFile &file) : _file(file), _settings(file.GetCompressionSettings())
   {
      _file.SetCompressionSettings(0);
   }
   ~NoCompression() { _file.SetCompressionSettings(_settings); }
   NoCompression(const NoCompression &) = delete;
   NoCompression &operator=(const NoCompression &) = delete;

private:
   TFile &_file;
   int _settings;
};

/// A TArrayF that shows existing memory without owning it (TArrayF's members are public).
class BorrowedArray {
public:
   BorrowedArray(const float *values, std::size_t n)
   {
      _array.fN = static_cast<Int_t>(n);
      _array.fArray = const_cast<float *>(values); // only streamed out, never modified
   }
   ~BorrowedArray()
   {
      _array.fArray = nullptr;
      _array.fN = 0;
   }
   BorrowedArray(const BorrowedArray &) = delete;
   BorrowedArray &operator=(const BorrowedArray &) = delete;
   const TArrayF &array() const { return _array; }

private:
   TArrayF _array;
};

} // namespace

namespace RooNSBI {

std::uint64_t checksum(const float *values, std::size_t n)
{
   std::uint64_t acc[lanes];
   for (std::size_t l = 0; l < lanes; ++l)
      acc[l] = (l + 1) * P1;
   const std::size_t words = n / 2;
   const std::size_t stripes = words / lanes;
   mixStripes(values, stripes, acc);
   for (std::size_t k = stripes * lanes; k < words; ++k)
      acc[k % lanes] = mixRound(acc[k % lanes], word(values, k));
   if (n % 2) {
      std::uint32_t last;
      std::memcpy(&last, values + n - 1, sizeof(last));
      acc[words % lanes] = mixRound(acc[words % lanes], last);
   }
   std::uint64_t h = P5 + std::uint64_t(n);
   for (std::size_t l = 0; l < lanes; ++l)
      h = (h ^ mixRound(0, acc[l])) * P1 + P4;
   h ^= h >> 33;
   h *= P2;
   h ^= h >> 29;
   h *= P3;
   h ^= h >> 32;
   return h;
}

StoreManifest writeStore(const EventStore &store, TDirectory &dir, const std::string &prefix, std::uint64_t chunkEvents)
{
   if (!validPrefix(prefix))
      throw std::invalid_argument("writeStore: prefix '" + prefix +
                                  "' must be 1-200 characters of [A-Za-z0-9_.-] (it names a directory of keys)");
   if (chunkEvents < 1 || chunkEvents > StoreManifest::maxChunkEvents)
      throw std::invalid_argument("writeStore: chunkEvents = " + std::to_string(chunkEvents) + " must be in [1, " +
                                  std::to_string(StoreManifest::maxChunkEvents) + "] (64 MiB of float32)");
   TFile *file = dir.GetFile();
   if (!file)
      throw std::invalid_argument("writeStore: directory '" + std::string(dir.GetPath()) +
                                  "' is not in a file; pass a directory of a TFile opened for writing");
   if (!dir.IsWritable())
      throw std::invalid_argument("writeStore: " + where(dir, prefix) +
                                  ": the directory is not writable; open the file with \"UPDATE\" or \"RECREATE\"");
   if (TKey *key = dir.GetKey(prefix.c_str())) {
      TClass *cl = TClass::GetClass(key->GetClassName());
      if (!cl || !cl->InheritsFrom(TDirectory::Class()))
         throw std::invalid_argument("writeStore: " + where(dir, prefix) + ": the key '" + prefix + "' is a " +
                                     key->GetClassName() + ", not a store directory; choose another prefix");
   }
   TDirectory *sub = dir.GetDirectory(prefix.c_str());
   if (!sub)
      sub = dir.mkdir(prefix.c_str(), "roonsbi EventStore (see its key 'index')");
   if (!sub)
      throw std::runtime_error("writeStore: " + where(dir, prefix) + ": ROOT could not create the directory");

   StoreManifest manifest;
   manifest.prefix = prefix;
   manifest.nEvents = store.size();
   manifest.columns = store.columnNames();
   manifest.chunkEvents = chunkEvents;

   NoCompression uncompressed(*file);
   static TClass *arrayClass = TClass::GetClass("TArrayF");
   std::set<std::string> written;
   const std::size_t n = store.size();
   const std::size_t chunks = numChunks(n, chunkEvents);
   for (std::size_t c = 0; c < manifest.columns.size(); ++c) {
      const float *values = store.column(manifest.columns[c]);
      manifest.checksums.push_back(checksum(values, n));
      for (std::size_t k = 0; k < chunks; ++k) {
         const std::size_t begin = k * chunkEvents;
         const std::size_t count = std::min<std::size_t>(chunkEvents, n - begin);
         const std::string name = chunkKey(c, k);
         BorrowedArray chunk(values + begin, count);
         // the output buffer at its final size at once: the key header and the payload
         const Int_t bufsize = static_cast<Int_t>(sizeof(Int_t) + count * sizeof(float) + 1024);
         if (sub->WriteObjectAny(&chunk.array(), arrayClass, name.c_str(), "overwrite", bufsize) <= 0)
            throw std::runtime_error("writeStore: " + where(dir, prefix) + ": ROOT failed to write chunk '" + name +
                                     "' of column '" + manifest.columns[c] + "' (disk full?)");
         written.insert(name);
      }
   }
   TObjString text(index(manifest).c_str());
   if (sub->WriteTObject(&text, "index", "overwrite") <= 0)
      throw std::runtime_error("writeStore: " + where(dir, prefix) + ": ROOT failed to write the key 'index'");
   written.insert("index");

   // what an earlier write left: keys of columns or chunks this store does not have, older cycles
   std::vector<std::string> stale;
   for (TObject *obj : *sub->GetListOfKeys()) {
      auto *key = static_cast<TKey *>(obj);
      if (!written.count(key->GetName()) || sub->GetKey(key->GetName()) != key)
         stale.push_back(std::string(key->GetName()) + ";" + std::to_string(key->GetCycle()));
   }
   for (auto const &namecycle : stale)
      sub->Delete(namecycle.c_str());
   return manifest;
}

namespace {

/// Read chunk `name` (expected: a TArrayF of `count` values) into `out`. Throws
/// std::invalid_argument (prefixed by `context`) if it is missing or has another size.
void readChunk(TDirectory &sub, const std::string &name, float *out, std::size_t count, const std::string &context)
{
   const std::string advice =
      ": the file was modified or damaged after the store was written; restore the file or save the model again";
   TKey *key = sub.GetKey(name.c_str());
   if (!key)
      throw std::invalid_argument(context + ": chunk key '" + name + "' is missing" + advice);
   if (std::string(key->GetClassName()) != "TArrayF")
      throw std::invalid_argument(context + ": chunk key '" + name + "' is a " + key->GetClassName() +
                                  ", not a TArrayF" + advice);
   auto wrongSize = [&](long long stored) {
      return std::invalid_argument(context + ": chunk key '" + name + "' has " + std::to_string(stored) +
                                   " values, expected " + std::to_string(count) + advice);
   };
   const Long64_t payload = key->GetObjlen();
   TFile *file = sub.GetFile();
   if (key->GetNbytes() - key->GetKeylen() == payload) {
      // stored uncompressed, as writeStore writes it: the streamed TArrayF is its size
      // (big-endian int32) followed by the big-endian float32 values: read them in place
      const Long64_t start = key->GetSeekKey() + key->GetKeylen();
      unsigned char head[4];
      if (payload < 4 || file->ReadBuffer(reinterpret_cast<char *>(head), start, 4))
         throw std::invalid_argument(context + ": chunk key '" + name + "' cannot be read" + advice);
      const std::int32_t stored = std::int32_t((std::uint32_t(head[0]) << 24) | (std::uint32_t(head[1]) << 16) |
                                               (std::uint32_t(head[2]) << 8) | std::uint32_t(head[3]));
      if (stored < 0 || std::size_t(stored) != count)
         throw wrongSize(stored);
      if (payload != Long64_t(4 + 4 * count))
         throw std::invalid_argument(context + ": chunk key '" + name + "' has " + std::to_string(payload) +
                                     " bytes for " + std::to_string(count) + " values" + advice);
      if (count && file->ReadBuffer(reinterpret_cast<char *>(out), start + 4, static_cast<Int_t>(4 * count)))
         throw std::invalid_argument(context + ": chunk key '" + name + "' cannot be read (file truncated?)" +
                                     advice);
      if (littleEndian())
         swapBytes(out, count);
      return;
   }
   // compressed (rewritten by another tool): ROOT decompresses and streams it
   std::unique_ptr<TArrayF> array(key->ReadObject<TArrayF>());
   if (!array)
      throw std::invalid_argument(context + ": chunk key '" + name + "' cannot be read" + advice);
   if (array->fN < 0 || std::size_t(array->fN) != count)
      throw wrongSize(array->fN);
   std::memcpy(out, array->fArray, count * sizeof(float));
}

} // namespace

std::shared_ptr<EventStore> readStore(TDirectory &dir, const StoreManifest &manifest)
{
   const std::string &prefix = manifest.prefix;
   const std::string context = "readStore: " + where(dir, prefix);
   const std::string resave = "; the file does not hold the store this manifest describes: save the model again";
   if (!validPrefix(prefix))
      throw std::invalid_argument(context + ": the manifest's prefix must be 1-200 characters of [A-Za-z0-9_.-]");
   if (manifest.checksums.size() != manifest.columns.size())
      throw std::invalid_argument(context + ": the manifest has " + std::to_string(manifest.columns.size()) +
                                  " columns but " + std::to_string(manifest.checksums.size()) +
                                  " checksums (damaged manifest)" + resave);
   if (manifest.chunkEvents < 1 || manifest.chunkEvents > StoreManifest::maxChunkEvents)
      throw std::invalid_argument(context + ": the manifest's chunkEvents = " + std::to_string(manifest.chunkEvents) +
                                  " is not in [1, " + std::to_string(StoreManifest::maxChunkEvents) +
                                  "] (damaged manifest)" + resave);
   TKey *dirKey = dir.GetKey(prefix.c_str());
   TDirectory *sub = dirKey ? dir.GetDirectory(prefix.c_str()) : nullptr;
   if (!sub)
      throw std::invalid_argument(context + ": there is no directory '" + prefix +
                                  "' (the store's keys were not written or were deleted)" + resave);
   TKey *indexKey = sub->GetKey("index");
   std::unique_ptr<TObjString> text(indexKey ? indexKey->ReadObject<TObjString>() : nullptr);
   if (!text)
      throw std::invalid_argument(context + ": the key '" + prefix + "/index' is missing or not a TObjString" +
                                  resave);
   const std::string expected = index(manifest);
   const std::string found = text->GetString().Data();
   if (found != expected) {
      // name the first line that differs
      std::istringstream a(expected), b(found);
      std::string la, lb;
      std::size_t line = 0;
      while (true) {
         const bool ga = static_cast<bool>(std::getline(a, la)), gb = static_cast<bool>(std::getline(b, lb));
         ++line;
         if (!ga || !gb || la != lb) {
            if (!ga)
               la = "(end)";
            if (!gb)
               lb = "(end)";
            break;
         }
      }
      throw std::invalid_argument(context + ": its index differs from the manifest at line " + std::to_string(line) +
                                  ": the file has '" + lb + "', the manifest '" + la +
                                  "' (lines: n, chunk size, columns, '<checksum> <name>'); the keys were overwritten "
                                  "by another store with the same prefix" +
                                  resave);
   }

   auto store = std::make_shared<EventStore>(manifest.nEvents);
   const std::size_t n = manifest.nEvents;
   const std::size_t chunks = numChunks(n, manifest.chunkEvents);
   for (std::size_t c = 0; c < manifest.columns.size(); ++c) {
      const std::string &column = manifest.columns[c];
      const std::string at = context + ", column '" + column + "' (index " + std::to_string(c) + ")";
      float *values;
      try {
         values = store->addColumnUninitialised(column);
      } catch (std::invalid_argument const &err) {
         throw std::invalid_argument(at + ": " + err.what() + " (damaged manifest)" + resave);
      }
      for (std::size_t k = 0; k < chunks; ++k) {
         const std::size_t begin = k * manifest.chunkEvents;
         readChunk(*sub, chunkKey(c, k), values + begin, std::min<std::size_t>(manifest.chunkEvents, n - begin), at);
      }
      const std::uint64_t sum = checksum(values, n);
      if (sum != manifest.checksums[c])
         throw std::invalid_argument(at + ": checksum mismatch (read " + hex(sum) + ", saved " +
                                     hex(manifest.checksums[c]) +
                                     "): the values in the file are not the ones written; the file was modified or "
                                     "damaged after the store was written; restore the file or save the model again");
   }
   return store;
}

} // namespace RooNSBI
