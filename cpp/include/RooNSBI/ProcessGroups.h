/*
 * roonsbi: shape terms grouped by process, computed once when the terms change (never per
 * event or per evaluation). Used by RooNSBIPdf and RooNSBIParamHistPdf.
 */
#ifndef RooNSBI_ProcessGroups_h
#define RooNSBI_ProcessGroups_h

#include <cstddef>
#include <vector>

namespace RooNSBI {

/// Group the shape terms by process: the terms of process j are
/// terms[first[j] .. first[j+1]), in the order they were added. termProcess[t] is the process
/// index of term t; a term of no process 0..nProcesses-1 is in no group.
inline void groupByProcess(const std::vector<int> &termProcess, std::size_t nProcesses,
                           std::vector<std::size_t> &first, std::vector<std::size_t> &terms)
{
   first.assign(nProcesses + 1, 0);
   terms.clear();
   terms.reserve(termProcess.size());
   for (std::size_t j = 0; j < nProcesses; ++j) {
      first[j] = terms.size();
      for (std::size_t t = 0; t < termProcess.size(); ++t) {
         if (termProcess[t] == static_cast<int>(j))
            terms.push_back(t);
      }
   }
   first[nProcesses] = terms.size();
}

} // namespace RooNSBI

#endif
