/*
 * roonsbi: a compact per-event column store for large NSBI datasets.
 */
#include "RooNSBI/EventStore.h"

#include "Clones.h"
#include "Sha256.h"

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <random>

#include <csignal>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

constexpr std::size_t alignment = 64;

// -- mapped files truncated under the mapping ------------------------------------------------------
// A read of a page that a truncation removed raises SIGBUS. The handler below replaces the whole mapping
// of that store by zero pages (so the read, and the pass over the events, complete), flags the store
// (EventStore::changedOnDisk) and returns; a SIGBUS anywhere else goes to the handler that was there before.
struct MappedRange {
   std::atomic<char *> begin{nullptr};
   std::atomic<std::size_t> length{0};
   std::atomic<int> truncated{0};
};
// The table of mapped ranges: chunks of slots, a new chunk appended (never freed) when every slot is in
// use, so any number of stores can be mapped at once; the handler only reads atomics (async-signal-safe).
struct MappedChunk {
   static constexpr int size = 64;
   MappedRange ranges[size];
   std::atomic<MappedChunk *> next{nullptr};
};
MappedChunk gMapped;
struct sigaction gPrevious;
std::once_flag gInstalled;

MappedRange &mappedSlot(int slot)
{
   MappedChunk *chunk = &gMapped;
   for (int k = slot / MappedChunk::size; k > 0; --k)
      chunk = chunk->next.load();
   return chunk->ranges[slot % MappedChunk::size];
}

void onSigbus(int sig, siginfo_t *info, void *context)
{
   char *address = static_cast<char *>(info->si_addr);
   for (MappedChunk *chunk = &gMapped; chunk; chunk = chunk->next.load()) {
      for (auto &range : chunk->ranges) {
         char *begin = range.begin.load();
         if (begin && address >= begin && address < begin + range.length.load()) {
            if (mmap(begin, range.length.load(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
                MAP_FAILED) {
               range.truncated.store(1);
               return;
            }
         }
      }
   }
   if ((gPrevious.sa_flags & SA_SIGINFO) && gPrevious.sa_sigaction) {
      gPrevious.sa_sigaction(sig, info, context);
   } else if (!(gPrevious.sa_flags & SA_SIGINFO) && gPrevious.sa_handler != SIG_DFL && gPrevious.sa_handler != SIG_IGN) {
      gPrevious.sa_handler(sig);
   } else {
      signal(SIGBUS, SIG_DFL); // the fault repeats and ends the process as without this handler
   }
}

int registerMapped(void *map, std::size_t length)
{
   std::call_once(gInstalled, [] {
      struct sigaction action {};
      action.sa_sigaction = onSigbus;
      action.sa_flags = SA_SIGINFO | SA_NODEFER;
      sigemptyset(&action.sa_mask);
      sigaction(SIGBUS, &action, &gPrevious);
   });
   int base = 0;
   for (MappedChunk *chunk = &gMapped;; chunk = chunk->next.load(), base += MappedChunk::size) {
      for (int i = 0; i < MappedChunk::size; ++i) {
         MappedRange &range = chunk->ranges[i];
         char *expected = nullptr;
         if (range.begin.load() == nullptr && range.length.exchange(0) == 0 &&
             range.begin.compare_exchange_strong(expected, static_cast<char *>(map))) {
            range.truncated.store(0);
            range.length.store(length);
            return base + i;
         }
      }
      if (!chunk->next.load()) { // every slot in use: append a chunk (another thread may have done so)
         MappedChunk *expected = nullptr;
         auto *fresh = new MappedChunk;
         if (!chunk->next.compare_exchange_strong(expected, fresh))
            delete fresh;
      }
   }
}

long long mtimeNs(const struct stat &st)
{
   return static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
}
constexpr char magic[8] = {'R', 'O', 'O', 'N', 'S', 'B', 'I', '2'};       // written: header with a checksum
constexpr char legacyMagic[8] = {'R', 'O', 'O', 'N', 'S', 'B', 'I', '1'}; // read: header without one
constexpr char checksumKey[] = "crc32 ";

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: zlib's crc32) of `size` bytes.
std::uint32_t crc32(const char *data, std::size_t size)
{
   std::uint32_t crc = 0xFFFFFFFFu;
   for (std::size_t i = 0; i < size; ++i) {
      crc ^= static_cast<unsigned char>(data[i]);
      for (int bit = 0; bit < 8; ++bit)
         crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
   }
   return ~crc;
}

std::string hex8(std::uint32_t value)
{
   char out[9];
   std::snprintf(out, sizeof(out), "%08x", value);
   return out;
}

std::size_t padded(std::size_t bytes)
{
   return (bytes + alignment - 1) / alignment * alignment;
}

// -- the file format: written only by StoreWriter (and hashed by EventStore::sha256) --------------------
/// The bytes of a store file before its columns: the magic, the uint64 header length, the header
/// ("n <events>", one name a line, "crc32 <8 hex digits>" of every byte before that line), zero padding.
std::string fileHead(std::size_t n, const std::vector<std::string> &names)
{
   std::string lines = "n " + std::to_string(n) + "\n";
   for (auto const &name : names)
      lines += name + "\n";
   const std::uint64_t length = lines.size() + sizeof(checksumKey) - 1 + 8 + 1; // + "crc32 <8 hex>\n"
   std::string out(magic, sizeof(magic));
   out.append(reinterpret_cast<const char *>(&length), sizeof(length));
   out += lines;
   out += checksumKey + hex8(crc32(out.data(), out.size())) + "\n";
   out.resize(padded(out.size()), '\0');
   return out;
}

/// The zero bytes after each column of n float32 values (columns start at multiples of 64 bytes).
std::size_t columnPadding(std::size_t n)
{
   return padded(n * sizeof(float)) - n * sizeof(float);
}
constexpr char zeros[alignment] = {};

/// A column name as one line of a message (newlines as \n).
std::string shownName(const std::string &name)
{
   std::string shown;
   for (char c : name)
      shown += c == '\n' ? std::string("\\n") : std::string(1, c);
   return shown;
}

/// std::invalid_argument unless `name` can be a line of the header (`where`: e.g. " (column 2 of 'x')").
void checkName(const std::string &name, const std::string &where = "")
{
   if (name.empty() || name.find('\n') != std::string::npos)
      throw std::invalid_argument("EventStore: column name '" + shownName(name) + "'" + where +
                                  " is empty or contains a newline; give the column a one-line name");
}

} // namespace

namespace RooNSBI {

EventStore::EventStore(std::size_t nEvents) : _n(nEvents) {}

EventStore::~EventStore()
{
   for (void *p : _owned)
      std::free(p);
   if (_slot >= 0) {
      mappedSlot(_slot).begin.store(nullptr);
      mappedSlot(_slot).length.store(0);
   }
   if (_map)
      munmap(_map, _mapLength);
   if (_fd >= 0)
      ::close(_fd);
}

std::string EventStore::changedOnDisk() const
{
   if (!_map)
      return "";
   const std::string advice = ": the values read since then are not the file's; discard the results and map the "
                              "file again (replace a mapped store file by writing a new one and renaming it, as "
                              "EventStore::write does, never in place)";
   if (_slot >= 0 && mappedSlot(_slot).truncated.load())
      return "EventStore: '" + _path + "' was truncated while mapped (its lost pages read as zeros)" + advice;
   struct stat st;
   if (_fd >= 0 && fstat(_fd, &st) == 0) {
      if (static_cast<std::size_t>(st.st_size) != _mapLength)
         return "EventStore: '" + _path + "' changed size while mapped (" + std::to_string(_mapLength) + " -> " +
                std::to_string(st.st_size) + " bytes)" + advice;
      if (mtimeNs(st) != _mtimeNs)
         return "EventStore: '" + _path + "' was modified while mapped (its modification time changed)" + advice;
   }
   return "";
}

float *EventStore::newColumn(const std::string &name)
{
   if (_map)
      throw std::invalid_argument("EventStore: a mapped store is read-only (column '" + name + "')");
   checkName(name);
   if (_index.count(name))
      throw std::invalid_argument("EventStore: column '" + name + "' exists already");
   void *p = std::aligned_alloc(alignment, padded(std::max<std::size_t>(_n, 1) * sizeof(float)));
   if (!p)
      throw std::bad_alloc();
   _owned.push_back(p);
   _index[name] = _names.size();
   _names.push_back(name);
   _columns.push_back(static_cast<float *>(p));
   return static_cast<float *>(p);
}

float *EventStore::addColumnUninitialised(const std::string &name)
{
   return newColumn(name);
}

void EventStore::addColumn(const std::string &name, const double *values)
{
   float *out = newColumn(name);
   for (std::size_t i = 0; i < _n; ++i)
      out[i] = static_cast<float>(values[i]);
}

void EventStore::addColumn(const std::string &name, const float *values)
{
   std::memcpy(newColumn(name), values, _n * sizeof(float));
}

void EventStore::addLogColumn(const std::string &name, const double *values)
{
   for (std::size_t i = 0; i < _n; ++i) {
      if (!(values[i] > 0.0) || !std::isfinite(values[i])) {
         std::ostringstream msg;
         msg << "EventStore: column '" << name << "' needs positive finite values for its logarithm (entry " << i
             << " = " << values[i] << ")";
         throw std::invalid_argument(msg.str());
      }
   }
   float *out = newColumn(name);
   for (std::size_t i = 0; i < _n; ++i)
      out[i] = static_cast<float>(std::log(values[i]));
}

const float *EventStore::column(const std::string &name) const
{
   auto found = _index.find(name);
   if (found == _index.end())
      throw std::invalid_argument("EventStore: no column '" + name + "'");
   return _columns[found->second];
}

void EventStore::setStreaming(int mode)
{
   if (mode != streamingOff && mode != streamingOn && mode != streamingAuto)
      throw std::invalid_argument("EventStore::setStreaming: mode " + std::to_string(mode) +
                                  " is not one of streamingOff (0), streamingOn (1), streamingAuto (2)");
   _streaming = mode;
}

bool EventStore::streams() const
{
   if (!_map || _streaming == streamingOff)
      return false;
   if (_streaming == streamingOn)
      return true;
   const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
   return pages > 0 && pageSize > 0 && _mapLength > static_cast<std::size_t>(pages) / 2 * pageSize;
}

namespace {

/// The pages of `store`'s columns at rows [begin, end): per column the page-aligned byte range from the page of
/// row `begin` to the page of row `end` (exclusive; `end` of the last row: the page after it).
template <class Call>
void forPages(const std::vector<float *> &columns, std::size_t n, std::size_t begin, std::size_t end, Call call)
{
   const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
   end = std::min(end, n);
   if (begin >= end)
      return;
   for (const float *col : columns) {
      const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(col + begin) / page * page;
      const std::uintptr_t z = end == n ? (reinterpret_cast<std::uintptr_t>(col + end) + page - 1) / page * page
                                        : reinterpret_cast<std::uintptr_t>(col + end) / page * page;
      if (z > a)
         call(reinterpret_cast<char *>(a), static_cast<std::size_t>(z - a));
   }
}

} // namespace

void EventStore::advise(const std::vector<float *> &columns, std::size_t begin, std::size_t end, bool release) const
{
   if (!streams())
      return;
   char *const base = static_cast<char *>(_map);
   forPages(columns, _n, begin, end, [&](char *at, std::size_t length) {
      if (!release) {
         madvise(at, length, MADV_WILLNEED);
         return;
      }
      madvise(at, length, MADV_DONTNEED); // a read-only shared mapping: its pages are read again if used again
      posix_fadvise(_fd, at - base, length, POSIX_FADV_DONTNEED);
   });
}

void EventStore::prefetchRows(std::size_t begin, std::size_t end) const
{
   advise(_columns, begin, end, false);
}

void EventStore::releaseRows(std::size_t begin, std::size_t end) const
{
   advise(_columns, begin, end, true);
}

void EventStore::prefetchColumn(const std::string &name) const
{
   advise({const_cast<float *>(column(name))}, 0, _n, false);
}

void EventStore::releaseColumn(const std::string &name) const
{
   advise({const_cast<float *>(column(name))}, 0, _n, true);
}

namespace {

/// Sum of col[begin, end): 64 independent float accumulators (several vector registers),
/// so that the loop is limited by memory bandwidth rather than by the latency of the adds.
ROONSBI_CLONES double sumColumn(const float *col, std::size_t begin, std::size_t end)
{
   constexpr std::size_t width = 64;
   float acc[width] = {};
   std::size_t i = begin;
   for (; i + width <= end; i += width) {
      for (std::size_t j = 0; j < width; ++j)
         acc[j] += col[i + j];
   }
   double sum = 0.0;
   for (; i < end; ++i)
      sum += col[i];
   for (float a : acc)
      sum += a;
   return sum;
}

} // namespace

double EventStore::readAll(unsigned nThreads) const
{
   nThreads = std::max(1u, nThreads);
   std::vector<double> partial(nThreads, 0.0);
   auto run = [&](unsigned t) {
      const std::size_t begin = _n * t / nThreads;
      const std::size_t end = _n * (t + 1) / nThreads;
      double sum = 0.0;
      for (const float *col : _columns)
         sum += sumColumn(col, begin, end);
      partial[t] = sum;
   };
   std::vector<std::thread> threads;
   for (unsigned t = 1; t < nThreads; ++t)
      threads.emplace_back(run, t);
   run(0);
   for (auto &th : threads)
      th.join();
   double total = 0.0;
   for (double p : partial)
      total += p;
   return total;
}

void EventStore::write(const std::string &path, bool overwrite) const
{
   auto writer = StoreWriter::open(path, _n, _names, overwrite);
   for (const float *col : _columns)
      writer->append(col);
   writer->commit();
}

std::string EventStore::sha256() const
{
   RooNSBI::Detail::Sha256 hash;
   const std::string head = fileHead(_n, _names);
   hash.update(head.data(), head.size());
   for (const float *col : _columns) {
      hash.update(col, _n * sizeof(float));
      hash.update(zeros, columnPadding(_n));
   }
   return hash.hex();
}

std::shared_ptr<EventStore> EventStore::open(const std::string &path)
{
   const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK); // a FIFO does not block: it is refused below
   if (fd < 0)
      throw std::runtime_error("EventStore: cannot open '" + path + "'");
   struct stat st;
   if (fstat(fd, &st) != 0) {
      ::close(fd);
      throw std::runtime_error("EventStore: cannot stat '" + path + "'");
   }
   if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw std::invalid_argument("EventStore: '" + path + "' is not a regular file (a folder, a FIFO or a device); "
                                  "give the path of a store file written by EventStore::write");
   }
   const std::size_t fileSize = st.st_size;
   if (fileSize < sizeof(magic) + sizeof(std::uint64_t)) {
      ::close(fd);
      throw std::invalid_argument("EventStore: '" + path + "' is not a roonsbi event store (" +
                                  std::to_string(fileSize) + " bytes, shorter than the 16-byte preamble)");
   }
   void *map = mmap(nullptr, fileSize, PROT_READ, MAP_SHARED, fd, 0);
   if (map == MAP_FAILED) {
      ::close(fd);
      throw std::runtime_error("EventStore: cannot map '" + path + "'");
   }

   auto store = std::make_shared<EventStore>(); // unmaps the file if a check below throws
   store->_map = map;
   store->_mapLength = fileSize;
   store->_fd = fd;
   store->_path = path;
   store->_mtimeNs = mtimeNs(st);
   store->_slot = registerMapped(map, fileSize);
   const char *bytes = static_cast<const char *>(map);
   const std::string advice = "; rewrite it with EventStore::write";
   auto corrupt = [&](const std::string &why) {
      return std::invalid_argument("EventStore: '" + path + "' " + why + advice);
   };
   const bool checksummed = std::memcmp(bytes, magic, sizeof(magic)) == 0;
   if (!checksummed && std::memcmp(bytes, legacyMagic, sizeof(legacyMagic)) != 0)
      throw std::invalid_argument("EventStore: '" + path +
                                  "' is not a roonsbi event store (no ROONSBI2 or ROONSBI1 magic)");
   std::uint64_t length = 0;
   std::memcpy(&length, bytes + sizeof(magic), sizeof(length));
   const std::size_t preamble = sizeof(magic) + sizeof(length);
   if (length > fileSize - preamble)
      throw corrupt("has a header of " + std::to_string(length) + " bytes but only " +
                    std::to_string(fileSize - preamble) + " bytes follow the preamble (truncated or damaged)");
   std::string text(bytes + preamble, length);
   if (text.empty() || text.back() != '\n')
      throw corrupt("has a malformed header (empty, or not ending with a newline)");
   if (checksummed) { // the last line: "crc32 <8 hex digits>" of the bytes before it
      const std::size_t last = text.rfind('\n', text.size() - 2);
      const std::size_t begin = last == std::string::npos ? 0 : last + 1;
      const std::string line = text.substr(begin, text.size() - 1 - begin);
      const std::string key = checksumKey;
      const std::string digits = line.size() == key.size() + 8 && line.compare(0, key.size(), key) == 0
                                    ? line.substr(key.size())
                                    : std::string();
      if (digits.empty() || digits.find_first_not_of("0123456789abcdef") != std::string::npos)
         throw corrupt("has a damaged header: its last line '" + line.substr(0, 40) +
                       "' is not the checksum 'crc32 <8 hex digits>'");
      const std::string actual = hex8(crc32(bytes, preamble + begin));
      if (actual != digits)
         throw corrupt("has a damaged header: its checksum says crc32 " + digits + " but the header's bytes give " +
                       actual);
      text.resize(begin);
      if (text.empty())
         throw corrupt("has a malformed header (no 'n <number of events>' line before the checksum)");
   }

   // the lines: "n <events>", then one column name per line
   std::vector<std::string> lines;
   for (std::size_t begin = 0; begin < text.size();) {
      const std::size_t end = text.find('\n', begin);
      lines.push_back(text.substr(begin, end - begin));
      begin = end + 1;
   }
   const std::string &first = lines[0];
   const std::string digits = first.size() > 2 ? first.substr(2) : "";
   if (first.compare(0, 2, "n ") != 0 || digits.empty() || digits.size() > 19 ||
       digits.find_first_not_of("0123456789") != std::string::npos)
      throw corrupt("has a malformed header: its first line '" + first +
                    "' is not 'n <number of events>' (decimal digits, no sign)");
   const std::uint64_t n = std::stoull(digits); // < 10^19 < 2^64
   if (n > (std::numeric_limits<std::size_t>::max() - alignment) / sizeof(float))
      throw corrupt("has an absurd number of events n = " + digits);
   std::map<std::string, std::size_t> index;
   std::vector<std::string> names;
   for (std::size_t l = 1; l < lines.size(); ++l) {
      const std::string &name = lines[l];
      if (name.empty())
         throw corrupt("has an empty column name (header line " + std::to_string(l + 1) + ")");
      auto [at, inserted] = index.emplace(name, names.size());
      if (!inserted)
         throw corrupt("names column '" + name + "' twice (header lines " + std::to_string(at->second + 2) + " and " +
                       std::to_string(l + 1) + ")");
      names.push_back(name);
   }
   const std::size_t dataStart = padded(preamble + length);
   const std::size_t columnBytes = padded(n * sizeof(float));
   if (!names.empty() && n * sizeof(float) > fileSize)
      throw corrupt("says n = " + digits + " events, more than its " + std::to_string(fileSize) +
                    " bytes can hold (damaged header)");
   // dataStart <= fileSize + 63 and columnBytes <= fileSize + 63: no overflow below
   if (columnBytes > 0 && names.size() > (std::numeric_limits<std::size_t>::max() - dataStart) / columnBytes)
      throw corrupt("has a header (n = " + digits + ", " + std::to_string(names.size()) +
                    " columns) that no file can hold (damaged header)");
   const std::size_t expected = dataStart + names.size() * columnBytes;
   if (fileSize != expected)
      throw corrupt("is " + std::to_string(fileSize) + " bytes long but its header (n = " + digits + ", " +
                    std::to_string(names.size()) + " columns) says " + std::to_string(expected) + " bytes: it is " +
                    (fileSize < expected ? "truncated" : "longer than a store (trailing data)"));

   store->_n = n;
   store->_names = std::move(names);
   store->_index = std::move(index);
   for (std::size_t c = 0; c < store->_names.size(); ++c)
      store->_columns.push_back(reinterpret_cast<float *>(static_cast<char *>(map) + dataStart + c * columnBytes));
   return store;
}

// -- StoreWriter -----------------------------------------------------------------------------------------

std::unique_ptr<StoreWriter>
StoreWriter::open(const std::string &path, std::size_t n, const std::vector<std::string> &names, bool overwrite)
{
   struct stat existing;
   if (!overwrite && lstat(path.c_str(), &existing) == 0)
      throw std::invalid_argument("EventStore: '" + path + "' exists; pass overwrite=true to replace it");
   std::map<std::string, std::size_t> seen;
   for (std::size_t k = 0; k < names.size(); ++k) {
      checkName(names[k], " (column " + std::to_string(k) + " for '" + path + "')");
      auto [at, fresh] = seen.emplace(names[k], k);
      if (!fresh)
         throw std::invalid_argument("EventStore: column '" + names[k] + "' is given twice (columns " +
                                     std::to_string(at->second) + " and " + std::to_string(k) + ") for '" + path +
                                     "'; give each column once");
   }
   if (n > (std::numeric_limits<std::size_t>::max() - alignment) / sizeof(float))
      throw std::invalid_argument("EventStore: n = " + std::to_string(n) + " events for '" + path +
                                  "' is more than a file can hold");

   // the temporary: ".<name>.<8 hex digits>.tmp<suffix>" in the folder of `path`, created exclusively
   const std::size_t slash = path.rfind('/');
   const std::string folder = slash == std::string::npos ? "" : path.substr(0, slash + 1);
   const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
   const std::size_t dot = name.rfind('.');
   const std::string suffix = dot != std::string::npos && dot > 0 && dot + 1 < name.size() ? name.substr(dot) : "";
   std::unique_ptr<StoreWriter> writer(new StoreWriter);
   std::random_device random;
   for (int attempt = 0; attempt < 100 && writer->_fd < 0; ++attempt) {
      char hex[9];
      std::snprintf(hex, sizeof(hex), "%08x", static_cast<unsigned>(random()));
      const std::string tmp = folder + "." + name.substr(0, 120) + "." + hex + ".tmp" + suffix;
      const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) {
         writer->_fd = fd;
         writer->_tmp = tmp;
      } else if (errno != EEXIST) {
         throw std::runtime_error("EventStore: cannot write '" + path + "': cannot create its temporary file '" + tmp +
                                  "': " + std::strerror(errno));
      }
   }
   if (writer->_fd < 0)
      throw std::runtime_error("EventStore: cannot write '" + path + "': no free name for a temporary file next to it");
   writer->_path = path;
   writer->_n = n;
   writer->_names = names;
   writer->_overwrite = overwrite;
   const std::string head = fileHead(n, names);
   writer->put(head.data(), head.size());
   return writer;
}

StoreWriter::~StoreWriter()
{
   abort();
}

void StoreWriter::put(const char *bytes, std::size_t size)
{
   while (size > 0) {
      const ssize_t done = ::write(_fd, bytes, std::min<std::size_t>(size, std::size_t(1) << 30));
      if (done < 0 && errno == EINTR)
         continue;
      if (done <= 0) {
         const std::string error = std::strerror(done < 0 ? errno : EIO);
         const std::string tmp = _tmp;
         abort();
         throw std::runtime_error("EventStore: cannot write '" + _path + "' (its temporary file '" + tmp +
                                  "', now removed): " + error);
      }
      bytes += done;
      size -= static_cast<std::size_t>(done);
   }
}

void StoreWriter::append(const float *values)
{
   if (_fd < 0)
      throw std::invalid_argument("EventStore: the writer of '" + _path + "' is " +
                                  (_committed ? "committed" : "aborted") + ": it takes no more columns");
   if (_written == _names.size())
      throw std::invalid_argument("EventStore: all " + std::to_string(_names.size()) + " columns of '" + _path +
                                  "' are written; append() got one more");
   if (!values && _n > 0)
      throw std::invalid_argument("EventStore: column '" + _names[_written] + "' of '" + _path +
                                  "': no values (a null pointer) for its " + std::to_string(_n) + " events");
   put(reinterpret_cast<const char *>(values), _n * sizeof(float));
   put(zeros, columnPadding(_n));
   ++_written;
}

void StoreWriter::commit()
{
   if (_fd < 0)
      throw std::invalid_argument("EventStore: the writer of '" + _path + "' is " +
                                  (_committed ? "committed" : "aborted") + " already");
   if (_written != _names.size())
      throw std::invalid_argument("EventStore: " + std::to_string(_written) + " of the " +
                                  std::to_string(_names.size()) + " columns of '" + _path +
                                  "' are written (the first missing: '" + _names[_written] +
                                  "'); append them before commit()");
   const std::string tmp = _tmp;
   auto fail = [&](const std::string &what, int err) {
      abort();
      throw std::runtime_error("EventStore: cannot " + what + " '" + _path + "': " + std::strerror(err));
   };
   if (::fsync(_fd) != 0)
      fail("flush to disk", errno);
   const int closed = ::close(_fd);
   _fd = -1;
   if (closed != 0)
      fail("write", errno);
   if (_overwrite) {
      if (std::rename(tmp.c_str(), _path.c_str()) != 0)
         fail("replace", errno);
   } else if (::link(tmp.c_str(), _path.c_str()) != 0) { // fails, unlike a rename, if the path appeared
      const int err = errno;
      struct stat existing;
      if (err == EEXIST || lstat(_path.c_str(), &existing) == 0) {
         abort();
         throw std::invalid_argument("EventStore: '" + _path + "' appeared while it was written; not replaced "
                                     "(pass overwrite=true to replace it)");
      }
      if (err != EPERM && err != ENOTSUP && err != EOPNOTSUPP) // else a file system without hard links
         fail("write", err);
      if (std::rename(tmp.c_str(), _path.c_str()) != 0)
         fail("write", errno);
   } else {
      ::unlink(tmp.c_str());
   }
   _tmp.clear();
   _committed = true;
   const std::size_t slash = _path.rfind('/'); // the new entry of the folder to disk, where the system allows it
   const int dir = ::open(slash == std::string::npos ? "." : _path.substr(0, slash + 1).c_str(), O_RDONLY | O_DIRECTORY);
   if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
   }
}

void StoreWriter::abort()
{
   if (_fd >= 0) {
      ::close(_fd);
      _fd = -1;
   }
   if (!_tmp.empty()) {
      ::unlink(_tmp.c_str());
      _tmp.clear();
   }
}

} // namespace RooNSBI
