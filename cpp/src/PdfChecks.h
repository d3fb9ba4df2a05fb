/*
 * roonsbi (private): the messages and input checks RooNSBIPdf's two sources share
 * (RooNSBIPdf.cxx: the column form; RooNSBIPdfStore.cxx: the store form).
 */
#ifndef RooNSBI_PdfChecks_h
#define RooNSBI_PdfChecks_h

#include <RooAbsArg.h>
#include <RooAbsReal.h>
#include <RooArgList.h>

#include <stdexcept>
#include <string>

namespace RooNSBI {
namespace PdfChecks {

/// "RooNSBIPdf '<name>': ", the start of every message of the pdf.
inline std::string where(const RooAbsArg &self)
{
   return std::string("RooNSBIPdf '") + self.GetName() + "': ";
}

/// Throw std::invalid_argument unless every element of `list` is a RooAbsReal (`what` names them).
inline void requireReals(const RooAbsArg &self, const RooArgList &list, const char *what)
{
   for (RooAbsArg *arg : list) {
      if (!dynamic_cast<RooAbsReal *>(arg)) {
         throw std::invalid_argument(where(self) + what + " '" + arg->GetName() + "' is not a RooAbsReal");
      }
   }
}

} // namespace PdfChecks
} // namespace RooNSBI

#endif
