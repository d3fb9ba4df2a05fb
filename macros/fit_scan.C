// roonsbi: fit a workspace with a ModelConfig (e.g. a combination written by roonsbi) and scan
// its first POI with the profile likelihood, in a plain ROOT session.
//
//   root -l -b -q 'macros/fit_scan.C("combined.root", "combined", "libRooNSBI.so", "scan.png")'
//   root -l -b -q 'macros/fit_scan.C("combined.json", "", "libRooNSBI.so", "scan.png")'
//
// The file is a ROOT file holding the workspace `workspace`, or HS3 JSON (a name ending in
// ".json", read with RooJSONFactoryWSTool; `workspace` then only names the imported workspace).
// The library path is what `roonsbi --library` prints (its headers: `roonsbi --incdir`). The
// macro prints the fit result, "t(mu) = ..." per scan point and the 68% interval, a parseable
// "RESULT ..." line (see fitScanWorkspace), and draws t(mu) to the output file (PNG or PDF by
// its extension). macros/combine_fit_scan.C uses fitScanWorkspace on a combination.

#include <RooFitHS3/RooJSONFactoryWSTool.h>
#include <RooAbsPdf.h>
#include <RooAbsReal.h>
#include <RooArgSet.h>
#include <RooFitResult.h>
#include <RooMinimizer.h>
#include <RooMsgService.h>
#include <RooRealVar.h>
#include <RooStats/ModelConfig.h>
#include <RooWorkspace.h>

#include <TCanvas.h>
#include <TFile.h>
#include <TGraph.h>
#include <TLine.h>
#include <TSystem.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

double minimize(RooAbsReal &nll)
{
   RooMinimizer minimizer(nll);
   minimizer.setPrintLevel(-1);
   minimizer.setStrategy(1);
   minimizer.setEps(1e-3);
   minimizer.minimize("Minuit2", "Migrad");
   return nll.getVal();
}

} // namespace

/// Fit the ModelConfig pdf of `ws` to `obsData`, scan the POI `poiName` (empty: the first
/// POI) at nPoints values in [lo, hi] with the nuisance parameters profiled, print the results
/// and draw t(POI) to `plot`. Prints one parseable line
///   RESULT poi=<name> value=<hat> error=<hesse> status=<migrad|hesse> minNLL=<nll> lo68=<a> hi68=<b>
/// and "SCAN <name>=<value> t=<t>" per point. Returns 0, or 1 if the workspace is not usable.
int fitScanWorkspace(RooWorkspace &ws, const char *plot, int nPoints = 21, double lo = 0.0, double hi = 3.0,
                     const char *poiName = "")
{
   auto *mc = dynamic_cast<RooStats::ModelConfig *>(ws.obj("ModelConfig"));
   RooAbsData *data = ws.data("obsData");
   if (!mc || !data || !mc->GetPdf() || !mc->GetParametersOfInterest()) {
      std::printf("fit_scan: the workspace '%s' needs a ModelConfig with a pdf and POIs, and the dataset obsData\n",
                  ws.GetName());
      return 1;
   }
   const RooArgSet &pois = *mc->GetParametersOfInterest();
   auto *poi = dynamic_cast<RooRealVar *>(poiName && *poiName ? pois.find(poiName) : pois.first());
   if (!poi) {
      std::printf("fit_scan: '%s' is not a POI of the workspace '%s'\n", poiName, ws.GetName());
      return 1;
   }
   RooArgSet globs;
   if (mc->GetGlobalObservables())
      globs.add(*mc->GetGlobalObservables());
   std::unique_ptr<RooAbsReal> nll{mc->GetPdf()->createNLL(*data, RooFit::Extended(true),
                                                             RooFit::GlobalObservables(globs),
                                                             RooFit::Offset("none"))};
   RooArgSet params;
   nll->getParameters(nullptr, params);
   RooArgSet start;
   params.snapshot(start);

   RooMinimizer minimizer(*nll);
   minimizer.setPrintLevel(-1);
   minimizer.setStrategy(1);
   minimizer.setEps(1e-3);
   const int migrad = minimizer.minimize("Minuit2", "Migrad");
   const int hesse = minimizer.hesse();
   std::unique_ptr<RooFitResult> result{minimizer.save()};
   const double best = nll->getVal();
   const double poiHat = poi->getVal();
   const double poiError = poi->getError();
   std::printf("fit status %d: %s = %.6f +- %.6f, min NLL = %.10f\n", migrad || hesse, poi->GetName(), poiHat,
               poiError, best);
   RooArgSet bestValues;
   params.snapshot(bestValues);

   std::vector<double> x, t;
   const bool wasConstant = poi->isConstant();
   for (int k = 0; k < nPoints; ++k) {
      params.assign(bestValues);
      poi->setConstant(true);
      const double value = nPoints > 1 ? lo + (hi - lo) * k / (nPoints - 1) : lo;
      poi->setVal(value);
      x.push_back(value);
      t.push_back(2 * (minimize(*nll) - best));
      std::printf("t(%s = %.4f) = %.6f\n", poi->GetName(), value, t.back());
      std::printf("SCAN %s=%.10g t=%.10g\n", poi->GetName(), value, t.back());
   }
   poi->setConstant(wasConstant);

   // 68% interval: crossings of t = 1 around the best fit, by linear interpolation
   double low = poiHat, high = poiHat;
   for (int k = 0; k + 1 < nPoints; ++k) {
      const double a = t[k] - 1, b = t[k + 1] - 1;
      if (a * b > 0 || a == b)
         continue;
      const double cross = x[k] + (x[k + 1] - x[k]) * a / (a - b);
      if (cross < poiHat)
         low = cross;
      else if (high == poiHat)
         high = cross;
   }
   std::printf("68%% interval of %s: [%.4f, %.4f]\n", poi->GetName(), low, high);
   std::printf("RESULT poi=%s value=%.10g error=%.10g status=%d minNLL=%.12g lo68=%.10g hi68=%.10g\n",
               poi->GetName(), poiHat, poiError, migrad || hesse, best, low, high);

   TCanvas canvas("scan", "profile likelihood", 700, 500);
   TGraph graph(nPoints, x.data(), t.data());
   graph.SetTitle(Form("profile likelihood scan;%s;t(%s) = -2 ln #lambda", poi->GetName(), poi->GetName()));
   graph.SetLineWidth(2);
   graph.SetMarkerStyle(20);
   graph.SetMinimum(0);
   graph.SetMaximum(8);
   graph.Draw("ALP");
   TLine one(lo, 1, hi, 1);
   one.SetLineStyle(2);
   one.Draw();
   canvas.SaveAs(plot);
   params.assign(start);
   return 0;
}

int fit_scan(const char *file, const char *workspace, const char *library, const char *plot, int nPoints = 21,
             double lo = 0.0, double hi = 3.0)
{
   if (gSystem->Load(library) < 0) {
      std::printf("fit_scan: cannot load the roonsbi library '%s' (`roonsbi --library` prints its path)\n", library);
      return 1;
   }
   RooMsgService::instance().setGlobalKillBelow(RooFit::WARNING);
   const std::string path = file;
   if (path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
      RooWorkspace imported(workspace && *workspace ? workspace : "workspace");
      if (!RooJSONFactoryWSTool(imported).importJSON(path)) {
         std::printf("fit_scan: RooJSONFactoryWSTool could not import the HS3 JSON file '%s'\n", file);
         return 1;
      }
      return fitScanWorkspace(imported, plot, nPoints, lo, hi);
   }
   std::unique_ptr<TFile> f{TFile::Open(file)};
   auto *ws = f ? f->Get<RooWorkspace>(workspace) : nullptr;
   if (!ws) {
      std::printf("fit_scan: no workspace '%s' in %s\n", workspace, file);
      return 1;
   }
   return fitScanWorkspace(*ws, plot, nPoints, lo, hi);
}
