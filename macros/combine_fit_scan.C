// roonsbi: combine two workspaces (e.g. an NSBI channel and a binned HistFactory model) in a
// plain ROOT session with RooNSBI::combine, fit the combination and scan a POI with the
// profile likelihood.
//
//   root -l -b -q 'macros/combine_fit_scan.C("nsbi.root", "hf.root", "/path/libRooNSBI.so", "mu_sig=mu")'
//
// Arguments:
//   first, second  ROOT files with a workspace holding a ModelConfig and the dataset obsData,
//                  "file.root" (its only workspace) or "file.root:name", or HS3 JSON files
//                  ("file.json", read with RooJSONFactoryWSTool). With second = ""
//                  the first workspace is fitted as it is (e.g. a combination written before).
//   library        libRooNSBI (`roonsbi --library` prints its path); its headers are taken from
//                  ../include next to it (`roonsbi --incdir`).
//   rename         "old=new,old2=new2": parameters renamed before the combination.
//   plot           PNG or PDF of t(POI); nPoints, lo, hi: the scan.
//   output         if not empty, the combined workspace "combined" is written to this new file
//                  (an existing file is not overwritten).
//   poi            the POI to scan (default: the first POI of the combination).
//
// Prints the lines of fit_scan.C, among them the parseable
//   RESULT poi=<name> value=<hat> error=<hesse> status=<s> minNLL=<nll> lo68=<a> hi68=<b>
// and returns (as root's exit code) 0 on success, 1 on any error (with a message naming it).

#include "fit_scan.C"

#include <RooFitHS3/RooJSONFactoryWSTool.h>

#include <TInterpreter.h>
#include <TKey.h>

#include <string>

namespace {

/// The workspace in "file.json", "file.root" or "file.root:name"; the file stays open in `files`,
/// a workspace imported from JSON is kept in `imported`.
RooWorkspace *readWorkspace(const std::string &spec, std::vector<std::unique_ptr<TFile>> &files,
                            std::vector<std::unique_ptr<RooWorkspace>> &imported)
{
   if (spec.size() > 5 && spec.compare(spec.size() - 5, 5, ".json") == 0) {
      if (gSystem->AccessPathName(spec.c_str())) {
         std::printf("combine_fit_scan: cannot open '%s'\n", spec.c_str());
         return nullptr;
      }
      auto ws = std::make_unique<RooWorkspace>("hs3", spec.c_str());
      if (!RooJSONFactoryWSTool(*ws).importJSON(spec)) {
         std::printf("combine_fit_scan: RooJSONFactoryWSTool could not import '%s'\n", spec.c_str());
         return nullptr;
      }
      imported.push_back(std::move(ws));
      return imported.back().get();
   }
   const auto colon = spec.rfind(':');
   const bool named = colon != std::string::npos && spec.find(".root", colon) == std::string::npos;
   const std::string path = named ? spec.substr(0, colon) : spec;
   std::unique_ptr<TFile> f{TFile::Open(path.c_str())};
   if (!f || f->IsZombie()) {
      std::printf("combine_fit_scan: cannot open '%s'\n", path.c_str());
      return nullptr;
   }
   std::string name = named ? spec.substr(colon + 1) : "";
   if (!named) {
      int found = 0;
      for (auto *key : TRangeDynCast<TKey>(f->GetListOfKeys())) {
         if (key && std::string(key->GetClassName()) == "RooWorkspace") {
            name = key->GetName();
            ++found;
         }
      }
      if (found != 1) {
         std::printf("combine_fit_scan: %s holds %d workspaces; pass '%s:<name>'\n", path.c_str(), found,
                     path.c_str());
         return nullptr;
      }
   }
   auto *ws = f->Get<RooWorkspace>(name.c_str());
   if (!ws)
      std::printf("combine_fit_scan: no workspace '%s' in %s\n", name.c_str(), path.c_str());
   files.push_back(std::move(f));
   return ws;
}

} // namespace

int combine_fit_scan(const char *first, const char *second, const char *library, const char *rename = "",
                     const char *plot = "combined_scan.png", int nPoints = 21, double lo = 0.0, double hi = 3.0,
                     const char *output = "", const char *poi = "")
{
   if (gSystem->AccessPathName(library) || gSystem->Load(library) < 0) {
      std::printf("combine_fit_scan: cannot load the roonsbi library '%s' (`roonsbi --library` prints its path)\n",
                  library);
      return 1;
   }
   RooMsgService::instance().setGlobalKillBelow(RooFit::WARNING);
   if (output && *output && !gSystem->AccessPathName(output)) {
      std::printf("combine_fit_scan: '%s' exists; it is not overwritten\n", output);
      return 1;
   }

   std::vector<std::unique_ptr<TFile>> files;
   std::vector<std::unique_ptr<RooWorkspace>> imported;
   RooWorkspace *a = readWorkspace(first, files, imported);
   RooWorkspace *b = second && *second ? readWorkspace(second, files, imported) : nullptr;
   if (!a || (second && *second && !b))
      return 1;

   std::unique_ptr<RooWorkspace> combined;
   RooWorkspace *ws = a;
   if (b) {
      // The library is loaded at run time (its path is an argument), so the call that uses its
      // header is compiled by the interpreter now, after loading it.
      const std::string incdir = std::string(gSystem->GetDirName(gSystem->GetDirName(library).Data()).Data()) +
                                 "/include";
      gInterpreter->AddIncludePath(incdir.c_str());
      if (!gInterpreter->Declare("#include \"RooNSBI/Combination.h\"")) {
         std::printf("combine_fit_scan: cannot include RooNSBI/Combination.h from %s\n", incdir.c_str());
         return 1;
      }
      const TString call = TString::Format(
         "[]() -> RooWorkspace * { try { return RooNSBI::combine({RooNSBI::WorkspaceChannel{(RooWorkspace *)%p}, "
         "RooNSBI::WorkspaceChannel{(RooWorkspace *)%p}}, RooNSBI::parseRenames(\"%s\")).release(); } "
         "catch (const std::exception &e) { std::printf(\"combine_fit_scan: %%s\\n\", e.what()); return nullptr; } }()",
         (void *)a, (void *)b, rename ? rename : "");
      combined.reset(reinterpret_cast<RooWorkspace *>(gInterpreter->Calc(call.Data())));
      if (!combined)
         return 1;
      ws = combined.get();
      if (output && *output) {
         if (!ws->writeToFile(output, true)) {
            std::printf("combine_fit_scan: cannot write %s\n", output);
            return 1;
         }
         std::printf("combine_fit_scan: combined workspace '%s' written to %s\n", ws->GetName(), output);
      }
   }
   return fitScanWorkspace(*ws, plot, nPoints, lo, hi, poi);
}
