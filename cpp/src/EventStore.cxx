/*
 * roonsbi: a compact per-event column store for large NSBI datasets.
 */
#include "RooNSBI/EventStore.h"

#include "Clones.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>
#include <algorithm>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

constexpr std::size_t alignment = 64;
constexpr char magic[8] = {'R', 'O', 'O', 'N', 'S', 'B', 'I', '1'};

std::size_t padded(std::size_t bytes)
{
   return (bytes + alignment - 1) / alignment * alignment;
}

} // namespace

namespace RooNSBI {

EventStore::EventStore(std::size_t nEvents) : _n(nEvents) {}

EventStore::~EventStore()
{
   for (void *p : _owned)
      std::free(p);
   if (_map)
      munmap(_map, _mapLength);
}

float *EventStore::newColumn(const std::string &name)
{
   if (_map)
      throw std::invalid_argument("EventStore: a mapped store is read-only (column '" + name + "')");
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

void EventStore::write(const std::string &path) const
{
   std::ostringstream header;
   header << "n " << _n << "\n";
   for (auto const &name : _names)
      header << name << "\n";
   const std::string text = header.str();
   const std::uint64_t length = text.size();

   std::ofstream out(path, std::ios::binary | std::ios::trunc);
   if (!out)
      throw std::runtime_error("EventStore: cannot write '" + path + "'");
   out.write(magic, sizeof(magic));
   out.write(reinterpret_cast<const char *>(&length), sizeof(length));
   out.write(text.data(), text.size());
   const std::string zeros(alignment, '\0');
   auto pad = [&](std::size_t written) { out.write(zeros.data(), padded(written) - written); };
   pad(sizeof(magic) + sizeof(length) + text.size());
   for (const float *col : _columns) {
      out.write(reinterpret_cast<const char *>(col), _n * sizeof(float));
      pad(_n * sizeof(float));
   }
   if (!out)
      throw std::runtime_error("EventStore: error while writing '" + path + "'");
}

std::shared_ptr<EventStore> EventStore::open(const std::string &path)
{
   const int fd = ::open(path.c_str(), O_RDONLY);
   if (fd < 0)
      throw std::runtime_error("EventStore: cannot open '" + path + "'");
   struct stat st;
   if (fstat(fd, &st) != 0) {
      ::close(fd);
      throw std::runtime_error("EventStore: cannot stat '" + path + "'");
   }
   const std::size_t fileSize = st.st_size;
   void *map = fileSize ? mmap(nullptr, fileSize, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
   ::close(fd);
   if (map == MAP_FAILED)
      throw std::runtime_error("EventStore: cannot map '" + path + "'");

   auto store = std::make_shared<EventStore>();
   store->_map = map;
   store->_mapLength = fileSize;
   const char *bytes = static_cast<const char *>(map);
   auto corrupt = [&](const char *why) { return std::invalid_argument("EventStore: '" + path + "' " + why); };
   std::uint64_t length = 0;
   if (fileSize < sizeof(magic) + sizeof(length) || std::memcmp(bytes, magic, sizeof(magic)) != 0)
      throw corrupt("is not a roonsbi event store");
   std::memcpy(&length, bytes + sizeof(magic), sizeof(length));
   const std::size_t headerEnd = sizeof(magic) + sizeof(length) + length;
   if (headerEnd > fileSize)
      throw corrupt("has a truncated header");
   std::istringstream header(std::string(bytes + sizeof(magic) + sizeof(length), length));
   std::string tag;
   header >> tag >> store->_n;
   if (tag != "n")
      throw corrupt("has a malformed header");
   std::string name;
   std::getline(header, name);
   std::size_t offset = padded(headerEnd);
   const std::size_t columnBytes = padded(store->_n * sizeof(float));
   while (std::getline(header, name)) {
      if (name.empty())
         continue;
      if (offset + store->_n * sizeof(float) > fileSize)
         throw corrupt("is truncated");
      store->_index[name] = store->_names.size();
      store->_names.push_back(name);
      store->_columns.push_back(reinterpret_cast<float *>(static_cast<char *>(map) + offset));
      offset += columnBytes;
   }
   return store;
}

} // namespace RooNSBI
