/*
 * roonsbi: HS3 JSON importers and exporters of roonsbi's classes for RooFit's RooJSONFactoryWSTool,
 * registered when libRooNSBI is loaded, and RooNSBI::exportJSON / importJSON (Combination.h).
 *
 *   { "type": "roonsbi::nsbi_dist", "name": ...,
 *     "yields": [N_J ...], "ratios": [r_J column ...],
 *     "shape_params": [alpha ...], "shape_low": [g(x,-1) column ...], "shape_high": [...],
 *     "shape_process": [J ...], "shape_param_index": [...], "shape_code": [...] }
 *   { "type": "roonsbi::param_hist_dist", "name": ..., "x": bin-index observable, "mu_prime": ...,
 *     "grid": [mu'_k], "nbins": B, "scales": [s_J ...], "nominal": [K*J*B],
 *     "shape_params", "shape_process", "shape_param_index", "shape_code" (as above),
 *     "shape_low"/"shape_high": [T*K*B], "gammas": [gamma_b ...], "positive_definite": bool }
 *   { "type": "roonsbi::grid_function", "name": ..., "parameter": ..., "grid": [...], "values": [...] }
 *
 * Servers (yields, parameters, columns) are exported by the tool itself; the per-event
 * columns are the observables of the (unbinned) dataset. Files written before the type was
 * namespaced (`"roonsbi_nsbi_dist"`) are read too. RooNSBI::exportJSON rewrites what RooFit
 * writes outside HS3 (see exportJSONtoString in Combination.h).
 */
#include "RooNSBI/Combination.h"
#include "RooNSBI/RooNSBIGridFunc.h"
#include "RooNSBI/RooNSBIParamDataHist.h"
#include "RooNSBI/RooNSBIParamHistPdf.h"
#include "RooNSBI/RooNSBIPdf.h"
#include "RooNSBI/RooNSBIRowBinning.h"

#include <RooFit/Detail/JSONInterface.h>
#include <RooFitHS3/JSONIO.h>
#include <RooFitHS3/RooJSONFactoryWSTool.h>
#include <RooConstVar.h>
#include <RooAbsData.h>
#include <RooRealVar.h>
#include <RooSimultaneous.h>
#include <RooUniformBinning.h>
#include <RooStats/HistFactory/FlexibleInterpVar.h>
#include <RooStats/ModelConfig.h>
#include <RooWorkspace.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef ROONSBI_VERSION
#define ROONSBI_VERSION "unknown"
#endif

namespace {

using RooFit::Detail::JSONNode;

const std::string nsbiKey = "roonsbi::nsbi_dist";
const std::string legacyNsbiKey = "roonsbi_nsbi_dist"; // files written before the namespaced type
const std::string paramHistKey = "roonsbi::param_hist_dist";
const std::string gridFuncKey = "roonsbi::grid_function";
const std::string paramDataKey = "param_data_hists"; // in misc.roonsbi
const std::string externalDataKey = "roonsbi::unbinned_npy"; // unbinned data in .npy side files (roonsbi.io.hs3)
const std::string interpolationKey = "interpolation"; // FlexibleInterpVar (FlexibleInterpExporter)
const std::string storeSuffix = ".store"; // event-store side files: <prefix><pdf name>.store

/// Prefix of the event-store side file names that the exporter writes (exportJSONtoString's storePrefix).
thread_local std::string gStorePrefix;
/// Folder of the file being imported (importJSON), against which side-file names are resolved.
thread_local std::string gStoreDir;
/// The event stores of the document being imported by RooNSBI::importJSONfromString, opened and
/// checked before RooFit's tool runs (whose importers' errors become std::runtime_error), by pdf name.
thread_local std::map<std::string, std::shared_ptr<RooNSBI::EventStore>> gStores;
/// The constants of the interpolations written by FlexibleInterpExporter (freed when RooNSBI::exportJSON
/// starts the next export; an export by RooJSONFactoryWSTool alone keeps them until then).
thread_local std::vector<std::unique_ptr<RooConstVar>> gInterpolationConstants;

std::vector<double> readDoubles(const JSONNode &node, const char *key, const std::string &owner)
{
   if (!node.has_child(key) || !node[key].is_seq())
      RooJSONFactoryWSTool::error("'" + owner + "': no sequence \"" + std::string(key) + "\"");
   std::vector<double> out;
   out.reserve(node[key].num_children());
   for (auto const &child : node[key].children())
      out.push_back(child.val_double());
   return out;
}

std::vector<std::string> readStrings(const JSONNode &node, const char *key)
{
   std::vector<std::string> out;
   if (node.has_child(key)) {
      for (auto const &child : node[key].children())
         out.push_back(child.val());
   }
   return out;
}

std::vector<int> readInts(const RooFit::Detail::JSONNode &node, const char *key)
{
   std::vector<int> out;
   if (node.has_child(key)) {
      for (auto const &child : node[key].children())
         out.push_back(child.val_int());
   }
   return out;
}

/// The event store of the store-form roonsbi::nsbi_dist `p` named `name`: its side file opened
/// (mapped) and checked against the rows and SHA-256 of the document.
std::shared_ptr<RooNSBI::EventStore> openStore(const JSONNode &p, const std::string &name)
{
   const std::string what = "roonsbi::nsbi_dist '" + name + "'";
   const JSONNode &ref = p["store"];
   if (!ref.has_child("file") || !ref.has_child("sha256") || !ref.has_child("rows"))
      throw std::invalid_argument("RooNSBI::importJSON: " + what + ": \"store\" needs \"file\", \"rows\" and \"sha256\"");
   const std::string file = ref["file"].val();
   const std::string path = file.empty() || file[0] == '/' || gStoreDir.empty() ? file : gStoreDir + "/" + file;
   std::shared_ptr<RooNSBI::EventStore> store;
   try {
      store = RooNSBI::EventStore::open(path);
   } catch (const std::exception &err) {
      const std::string where = gStoreDir.empty() && !file.empty() && file[0] != '/'
                                   ? " (a relative name is read from the current directory here: import the JSON file "
                                     "with RooNSBI::importJSON(ws, path) or roonsbi.io.read_hs3(path), which read it "
                                     "next to the JSON file)"
                                   : "; copy it next to the JSON file";
      throw std::invalid_argument("RooNSBI::importJSON: the event store file '" + path + "' of " + what +
                                  " cannot be read (" + err.what() + ")" + where);
   }
   const std::string digest = store->sha256();
   if (digest != ref["sha256"].val() || static_cast<double>(store->size()) != ref["rows"].val_double()) {
      throw std::invalid_argument("RooNSBI::importJSON: the event store file '" + path + "' of " + what +
                                  " has sha256 " + digest + " and " + std::to_string(store->size()) +
                                  " rows, the JSON file expects " + ref["sha256"].val() + " and " + ref["rows"].val() +
                                  " (the file was altered or replaced)");
   }
   return store;
}

class NSBIPdfExporter : public RooFit::JSONIO::Exporter {
public:
   std::string const &key() const override { return nsbiKey; }
   bool exportObject(RooJSONFactoryWSTool *, const RooAbsArg *arg, RooFit::Detail::JSONNode &elem) const override
   {
      auto *pdf = static_cast<const RooNSBIPdf *>(arg);
      if (pdf->expectedEventsShift()) {
         RooJSONFactoryWSTool::error("RooNSBIPdf '" + std::string(pdf->GetName()) + "' has renormalised shapes "
                                     "(build_model(..., renormalise_shapes=True)), which have no HS3 form; export the "
                                     "channel built without renormalise_shapes, or save it as a ROOT file");
      }
      elem["type"] << key();
      RooJSONFactoryWSTool::fillSeq(elem["yields"], pdf->yields());
      if (pdf->usesStore()) {
         exportStore(*pdf, elem);
         return true;
      }
      RooJSONFactoryWSTool::fillSeq(elem["ratios"], pdf->ratios());
      if (!pdf->shapeCodes().empty()) {
         RooJSONFactoryWSTool::fillSeq(elem["shape_params"], pdf->shapeParams());
         RooJSONFactoryWSTool::fillSeq(elem["shape_low"], pdf->shapeLow());
         RooJSONFactoryWSTool::fillSeq(elem["shape_high"], pdf->shapeHigh());
         elem["shape_process"].fill_seq(pdf->shapeProcess());
         elem["shape_param_index"].fill_seq(pdf->shapeParamIndex());
         elem["shape_code"].fill_seq(pdf->shapeCodes());
      }
      return true;
   }

private:
   /// The store form: the event index, the store as a side file (name, rows, columns, SHA-256 of
   /// the file EventStore::write writes) and the store columns of the terms.
   static void exportStore(const RooNSBIPdf &pdf, JSONNode &elem)
   {
      const RooNSBI::EventStore &store = *pdf.store();
      elem["index"] << std::string(pdf.indexVariable()->GetName());
      auto &file = elem["store"].set_map();
      file["file"] << gStorePrefix + pdf.GetName() + storeSuffix;
      file["rows"] << static_cast<double>(store.size());
      file["columns"].fill_seq(store.columnNames());
      file["sha256"] << store.sha256();
      elem["ratio_columns"].fill_seq(pdf.ratioColumns());
      elem["pool_rows"] << static_cast<double>(pdf.numPoolRows());
      if (!pdf.measureColumn().empty())
         elem["measure_column"] << pdf.measureColumn();
      if (!pdf.shapeCodes().empty()) {
         RooJSONFactoryWSTool::fillSeq(elem["shape_params"], pdf.shapeParams());
         elem["shape_low_columns"].fill_seq(pdf.shapeLowColumns());
         elem["shape_high_columns"].fill_seq(pdf.shapeHighColumns());
         elem["shape_process"].fill_seq(pdf.shapeProcess());
         elem["shape_param_index"].fill_seq(pdf.shapeParamIndex());
         elem["shape_code"].fill_seq(pdf.shapeCodes());
      }
   }
};

class NSBIPdfImporter : public RooFit::JSONIO::Importer {
public:
   bool importArg(RooJSONFactoryWSTool *tool, const RooFit::Detail::JSONNode &p) const override
   {
      const std::string name(RooJSONFactoryWSTool::name(p));
      RooArgList yields = tool->requestArgList<RooAbsReal>(p, "yields");
      if (p.has_child("store")) {
         importStore(tool, p, name, yields);
         return true;
      }
      RooArgList ratios = tool->requestArgList<RooAbsReal>(p, "ratios");
      auto &pdf = tool->wsEmplace<RooNSBIPdf>(name, yields, ratios);
      if (p.has_child("shape_code")) {
         RooArgList params = tool->requestArgList<RooAbsReal>(p, "shape_params");
         RooArgList low = tool->requestArgList<RooAbsReal>(p, "shape_low");
         RooArgList high = tool->requestArgList<RooAbsReal>(p, "shape_high");
         const std::vector<int> process = readInts(p, "shape_process");
         const std::vector<int> index = readInts(p, "shape_param_index");
         const std::vector<int> code = readInts(p, "shape_code");
         if (process.size() != code.size() || index.size() != code.size() || low.size() != code.size() ||
             high.size() != code.size()) {
            RooJSONFactoryWSTool::error("RooNSBIPdf '" + name + "': the shape_* lists have different lengths");
         }
         for (std::size_t t = 0; t < code.size(); ++t) {
            if (index[t] < 0 || static_cast<std::size_t>(index[t]) >= params.size() || process[t] < 0) {
               RooJSONFactoryWSTool::error("RooNSBIPdf '" + name + "': shape term " + std::to_string(t) +
                                           " has a negative process or a shape_param_index outside shape_params");
            }
            pdf.addShapeSystematic(process[t], static_cast<RooAbsReal &>(params[index[t]]),
                                   static_cast<RooAbsReal &>(low[t]), static_cast<RooAbsReal &>(high[t]), code[t]);
         }
      }
      return true;
   }

private:
   /// The store form: the side file opened (mapped) and checked against its rows, columns and SHA-256.
   static void importStore(RooJSONFactoryWSTool *tool, const JSONNode &p, const std::string &name,
                           const RooArgList &yields)
   {
      const std::string what = "roonsbi::nsbi_dist '" + name + "'";
      auto found = gStores.find(name);
      std::shared_ptr<RooNSBI::EventStore> store = found != gStores.end() ? found->second : openStore(p, name);
      auto *index = tool->requestArg<RooAbsReal>(p, "index");
      const auto nPool = static_cast<std::size_t>(p.has_child("pool_rows") ? p["pool_rows"].val_double() : 0.);
      const std::string measure = p.has_child("measure_column") ? p["measure_column"].val() : "";
      auto &pdf = tool->wsEmplace<RooNSBIPdf>(name, yields, *index, store, readStrings(p, "ratio_columns"), nPool,
                                              measure);
      // the event index: one bin per pool row (RooFit made the variable with a uniform binning)
      if (auto *var = dynamic_cast<RooRealVar *>(index))
         var->setBinning(RooNSBIRowBinning(nPool, store->size()));
      if (!p.has_child("shape_code"))
         return;
      RooArgList params = tool->requestArgList<RooAbsReal>(p, "shape_params");
      const std::vector<std::string> low = readStrings(p, "shape_low_columns");
      const std::vector<std::string> high = readStrings(p, "shape_high_columns");
      const std::vector<int> process = readInts(p, "shape_process");
      const std::vector<int> paramIndex = readInts(p, "shape_param_index");
      const std::vector<int> code = readInts(p, "shape_code");
      if (process.size() != code.size() || paramIndex.size() != code.size() || low.size() != code.size() ||
          high.size() != code.size()) {
         RooJSONFactoryWSTool::error(what + ": the shape_* lists have different lengths");
      }
      for (std::size_t t = 0; t < code.size(); ++t) {
         if (paramIndex[t] < 0 || static_cast<std::size_t>(paramIndex[t]) >= params.size() || process[t] < 0) {
            RooJSONFactoryWSTool::error(what + ": shape term " + std::to_string(t) +
                                        " has a negative process or a shape_param_index outside shape_params");
         }
         pdf.addShapeSystematic(process[t], static_cast<RooAbsReal &>(params[paramIndex[t]]), low[t], high[t], code[t]);
      }
   }
};

class ParamHistExporter : public RooFit::JSONIO::Exporter {
public:
   std::string const &key() const override { return paramHistKey; }
   bool exportObject(RooJSONFactoryWSTool *, const RooAbsArg *arg, JSONNode &elem) const override
   {
      auto *pdf = static_cast<const RooNSBIParamHistPdf *>(arg);
      const RooNSBIParamHistTemplates &t = pdf->templates();
      elem["type"] << key();
      elem["x"] << std::string(pdf->observable().GetName());
      elem["mu_prime"] << std::string(pdf->muPrime().GetName());
      elem["grid"].fill_seq(t.grid);
      elem["nbins"] << t.nBins;
      RooJSONFactoryWSTool::fillSeq(elem["scales"], pdf->scales());
      elem["nominal"].fill_seq(t.nominal);
      if (!t.shapeCode.empty()) {
         RooJSONFactoryWSTool::fillSeq(elem["shape_params"], pdf->shapeParams());
         elem["shape_process"].fill_seq(t.shapeProcess);
         elem["shape_param_index"].fill_seq(t.shapeParamIndex);
         elem["shape_code"].fill_seq(t.shapeCode);
         elem["shape_low"].fill_seq(t.shapeLow);
         elem["shape_high"].fill_seq(t.shapeHigh);
      }
      if (!pdf->gammas().empty())
         RooJSONFactoryWSTool::fillSeq(elem["gammas"], pdf->gammas());
      elem["positive_definite"] << t.positiveDefinite;
      return true;
   }
};

class ParamHistImporter : public RooFit::JSONIO::Importer {
public:
   bool importArg(RooJSONFactoryWSTool *tool, const JSONNode &p) const override
   {
      const std::string name(RooJSONFactoryWSTool::name(p));
      const std::string what = "roonsbi::param_hist_dist '" + name + "'";
      auto *x = tool->requestArg<RooAbsReal>(p, "x");
      auto *muPrime = tool->requestArg<RooAbsReal>(p, "mu_prime");
      const std::vector<double> grid = readDoubles(p, "grid", what);
      const int nBins = p.has_child("nbins") ? p["nbins"].val_int() : 0;
      RooArgList scales = tool->requestArgList<RooAbsReal>(p, "scales");
      const std::vector<double> nominal = readDoubles(p, "nominal", what);
      const std::size_t K = grid.size();
      const std::size_t B = nBins > 0 ? static_cast<std::size_t>(nBins) : 0;
      if (K == 0 || B == 0 || nominal.size() != K * scales.size() * B) {
         RooJSONFactoryWSTool::error(what + ": needs a non-empty \"grid\" (K points), \"nbins\" B > 0 and "
                                     "K * (number of scales) * B = " + std::to_string(K * scales.size() * B) +
                                     " \"nominal\" values (has " + std::to_string(nominal.size()) + ")");
      }
      // the bin index: RooFit creates the variable before it reads the binning of the binned data
      if (auto *obs = dynamic_cast<RooRealVar *>(x); obs && obs->getMin() == 0. && obs->getMax() == nBins)
         obs->setBins(nBins);
      auto &pdf = tool->wsEmplace<RooNSBIParamHistPdf>(name, *x, *muPrime, grid, nBins, scales, nominal);
      if (p.has_child("shape_code")) {
         RooArgList params = tool->requestArgList<RooAbsReal>(p, "shape_params");
         const std::vector<int> process = readInts(p, "shape_process");
         const std::vector<int> index = readInts(p, "shape_param_index");
         const std::vector<int> code = readInts(p, "shape_code");
         const std::vector<double> low = readDoubles(p, "shape_low", what);
         const std::vector<double> high = readDoubles(p, "shape_high", what);
         const std::size_t T = code.size();
         if (process.size() != T || index.size() != T || low.size() != T * K * B || high.size() != T * K * B) {
            RooJSONFactoryWSTool::error(what + ": shape_process, shape_param_index and shape_code need one entry per "
                                        "shape term and shape_low/shape_high (shape terms) * K * B values");
         }
         for (std::size_t t = 0; t < T; ++t) {
            if (index[t] < 0 || static_cast<std::size_t>(index[t]) >= params.size() || process[t] < 0 ||
                static_cast<std::size_t>(process[t]) >= scales.size()) {
               RooJSONFactoryWSTool::error(what + ": shape term " + std::to_string(t) +
                                           " has a process outside scales or a shape_param_index outside shape_params");
            }
            const auto first = static_cast<std::ptrdiff_t>(t * K * B);
            const auto last = first + static_cast<std::ptrdiff_t>(K * B);
            pdf.addHistoSys(process[t], static_cast<RooAbsReal &>(params[index[t]]),
                            std::vector<double>(low.begin() + first, low.begin() + last),
                            std::vector<double>(high.begin() + first, high.begin() + last), code[t]);
         }
      }
      if (p.has_child("gammas"))
         pdf.setGammas(tool->requestArgList<RooAbsReal>(p, "gammas"));
      pdf.setPositiveDefinite(!p.has_child("positive_definite") || p["positive_definite"].val_bool());
      return true;
   }
};

class GridFuncExporter : public RooFit::JSONIO::Exporter {
public:
   std::string const &key() const override { return gridFuncKey; }
   bool exportObject(RooJSONFactoryWSTool *, const RooAbsArg *arg, JSONNode &elem) const override
   {
      auto *f = static_cast<const RooNSBIGridFunc *>(arg);
      elem["type"] << key();
      elem["parameter"] << std::string(f->param().GetName());
      elem["grid"].fill_seq(f->grid());
      elem["values"].fill_seq(f->values());
      return true;
   }
};

class GridFuncImporter : public RooFit::JSONIO::Importer {
public:
   bool importArg(RooJSONFactoryWSTool *tool, const JSONNode &p) const override
   {
      const std::string name(RooJSONFactoryWSTool::name(p));
      const std::string what = "roonsbi::grid_function '" + name + "'";
      auto *param = tool->requestArg<RooAbsReal>(p, "parameter");
      const std::vector<double> grid = readDoubles(p, "grid", what);
      const std::vector<double> values = readDoubles(p, "values", what);
      bool increasing = !grid.empty() && grid.size() == values.size();
      for (std::size_t k = 1; increasing && k < grid.size(); ++k)
         increasing = grid[k] > grid[k - 1];
      if (!increasing) {
         RooJSONFactoryWSTool::error(what + ": \"grid\" must be non-empty and strictly increasing, with one of "
                                     "\"values\" per grid point");
      }
      tool->wsEmplace<RooNSBIGridFunc>(name, *param, grid, values);
      return true;
   }
};

/// FlexibleInterpVar (HistFactory's stand-alone normalisation factors G_J(alpha)), which ROOT writes as
/// `interpolation0d` (a type no other HS3 reader knows), as `interpolation` (ROOT's PiecewiseInterpolation,
/// pyhs3's InterpolationFunction) of constants `<G>_nominal`, `<G>_<alpha>_low/high`: the same arithmetic
/// for the interpolation boundary 1 (FlexibleInterpVar evaluates its code 4 as PiecewiseInterpolation's
/// code 5; 0, 1, 2, 5, 6 are the same), positive definite (FlexibleInterpVar's cutoff for totals <= 0
/// becomes 0). Another boundary: ROOT's own exporter (interpolation0d), which drops it.
class FlexibleInterpExporter : public RooFit::JSONIO::Exporter {
public:
   std::string const &key() const override { return interpolationKey; }
   bool autoExportDependants() const override { return false; } // the parameters and the new constants
   bool exportObject(RooJSONFactoryWSTool *tool, const RooAbsArg *arg, JSONNode &elem) const override
   {
      auto *fiv = static_cast<const RooStats::HistFactory::FlexibleInterpVar *>(arg);
      if (fiv->globalBoundary() != 1.0)
         return false;
      const std::string name = fiv->GetName();
      auto constant = [&](const std::string &what, double value) {
         const std::string cname = name + "_" + what;
         if (tool->workspace()->arg(cname.c_str())) {
            RooJSONFactoryWSTool::error("the name '" + cname + "' (a constant of the interpolation '" + name +
                                        "' in HS3) is already used in the workspace; rename it");
         }
         // kept here, not by queueExportTemporary (ROOT's tool crashes deleting temporaries of nested exports)
         gInterpolationConstants.push_back(std::make_unique<RooConstVar>(cname.c_str(), cname.c_str(), value));
         tool->queueExport(*gInterpolationConstants.back());
         return cname;
      };
      std::vector<std::string> low, high;
      std::vector<int> codes;
      for (std::size_t i = 0; i < fiv->variables().size(); ++i) {
         const std::string par = fiv->variables()[i].GetName();
         tool->queueExport(fiv->variables()[i]);
         low.push_back(constant(par + "_low", fiv->low()[i]));
         high.push_back(constant(par + "_high", fiv->high()[i]));
         const int code = fiv->interpolationCodes()[i];
         codes.push_back(code == 4 ? 5 : code);
      }
      elem["type"] << key();
      RooJSONFactoryWSTool::fillSeq(elem["vars"], fiv->variables());
      elem["nom"] << constant("nominal", fiv->nominal());
      elem["low"].fill_seq(low);
      elem["high"].fill_seq(high);
      elem["interpolationCodes"].fill_seq(codes);
      elem["positiveDefinite"] << true;
      return true;
   }
};

// Registered once, when the library is loaded.
const bool registered = [] {
   RooFit::JSONIO::registerExporter(RooNSBIPdf::Class(), std::make_unique<NSBIPdfExporter>(), true);
   RooFit::JSONIO::registerImporter(nsbiKey, std::make_unique<NSBIPdfImporter>(), true);
   RooFit::JSONIO::registerImporter(legacyNsbiKey, std::make_unique<NSBIPdfImporter>(), true);
   RooFit::JSONIO::registerExporter(RooNSBIParamHistPdf::Class(), std::make_unique<ParamHistExporter>(), true);
   RooFit::JSONIO::registerImporter(paramHistKey, std::make_unique<ParamHistImporter>(), true);
   RooFit::JSONIO::registerExporter(RooNSBIGridFunc::Class(), std::make_unique<GridFuncExporter>(), true);
   RooFit::JSONIO::registerImporter(gridFuncKey, std::make_unique<GridFuncImporter>(), true);
   RooFit::JSONIO::registerExporter(RooStats::HistFactory::FlexibleInterpVar::Class(),
                                    std::make_unique<FlexibleInterpExporter>(), true);
   return true;
}();

bool isFinite(const JSONNode &node, const char *key)
{
   if (!node.has_child(key))
      return false;
   std::ostringstream text; // a JSON null has no value to read: look at its text
   node[key].writeJSON(text);
   char *end = nullptr;
   const double value = std::strtod(text.str().c_str(), &end);
   return end != text.str().c_str() && std::isfinite(value);
}

/// Axis ranges of unbinned data that RooFit writes as null (variables without a range; HS3
/// requires numbers): the smallest and largest value of the column, min <= x_i <= max.
void setFiniteAxes(JSONNode &data)
{
   if (!data.has_child("type") || data["type"].val() != "unbinned" || !data.has_child("axes"))
      return;
   std::size_t column = 0;
   for (auto &axis : data["axes"].children()) {
      double lo = std::numeric_limits<double>::infinity();
      double hi = -lo;
      if (data.has_child("entries")) {
         for (auto const &entry : data["entries"].children()) {
            const double x = entry.child(column).val_double();
            lo = std::min(lo, x);
            hi = std::max(hi, x);
         }
      }
      if (!(lo <= hi)) // no entries: an empty unit range
         lo = 0., hi = 1.;
      if (!isFinite(axis, "min"))
         axis["min"] << lo;
      if (!isFinite(axis, "max"))
         axis["max"] << hi;
      ++column;
   }
}

/// The parameters that RooFit writes with `"min": null, "max": null` in parameter points (the
/// columns: observables without a range) get the range of their axis in the unbinned data.
void setFiniteParameterRanges(JSONNode &root)
{
   if (!root.has_child("data") || !root.has_child("parameter_points"))
      return;
   std::map<std::string, std::pair<double, double>> ranges;
   for (auto const &data : root["data"].children()) {
      if (data.has_child("axes")) {
         for (auto const &axis : data["axes"].children()) {
            if (isFinite(axis, "min") && isFinite(axis, "max"))
               ranges[RooJSONFactoryWSTool::name(axis)] = {axis["min"].val_double(), axis["max"].val_double()};
         }
      }
   }
   for (auto &point : root["parameter_points"].children()) {
      if (!point.has_child("parameters"))
         continue;
      for (auto &par : point["parameters"].children()) {
         auto found = ranges.find(RooJSONFactoryWSTool::name(par));
         if (found == ranges.end())
            continue;
         if (par.has_child("min") && !isFinite(par, "min"))
            par["min"] << found->second.first;
         if (par.has_child("max") && !isFinite(par, "max"))
            par["max"] << found->second.second;
      }
   }
}

/// roonsbi (with its version) in metadata.packages, next to ROOT.
void addPackage(JSONNode &root)
{
   auto &packages = root["metadata"]["packages"];
   for (auto const &p : packages.children()) {
      if (p.has_child("name") && p["name"].val() == "roonsbi")
         return;
   }
   auto &roonsbi = packages.append_child().set_map();
   roonsbi["name"] << std::string("roonsbi");
   roonsbi["version"] << std::string(ROONSBI_VERSION);
}

/// The entry `name` of the sequence `seq` (appended if missing).
JSONNode &namedEntry(JSONNode &seq, const std::string &name)
{
   seq.set_seq();
   for (auto &child : seq.children()) {
      if (child.has_child("name") && child["name"].val() == name)
         return child;
   }
   auto &entry = seq.append_child().set_map();
   entry["name"] << name;
   return entry;
}

/// The widths of Gaussian constraints that are constants (RooConstVar; RooFit writes them without
/// a range and, reading them back as variables of range [-inf, inf], warns on every import) get
/// the range [sigma, sigma] in the default domain.
void constraintWidthRanges(JSONNode &root)
{
   if (!root.has_child("distributions") || !root.has_child("parameter_points"))
      return;
   std::map<std::string, double> constants;
   for (auto const &point : root["parameter_points"].children()) {
      if (RooJSONFactoryWSTool::name(point) != "default_values" || !point.has_child("parameters"))
         continue;
      for (auto const &par : point["parameters"].children()) {
         if (par.has_child("const") && par["const"].val_bool() && isFinite(par, "value"))
            constants[RooJSONFactoryWSTool::name(par)] = par["value"].val_double();
      }
   }
   std::set<std::string> ranged;
   if (auto *domains = root.find("domains")) {
      for (auto const &dom : domains->children()) {
         if (RooJSONFactoryWSTool::name(dom) == "default_domain" && dom.has_child("axes")) {
            for (auto const &axis : dom["axes"].children())
               ranged.insert(RooJSONFactoryWSTool::name(axis));
         }
      }
   }
   for (auto const &dist : root["distributions"].children()) {
      if (!dist.has_child("type") || dist["type"].val() != "gaussian_dist" || !dist.has_child("sigma"))
         continue;
      const std::string sigma = dist["sigma"].val();
      auto found = constants.find(sigma);
      if (found == constants.end() || !(found->second > 0) || !ranged.insert(sigma).second)
         continue;
      auto &domain = namedEntry(root["domains"], "default_domain");
      domain["type"] << std::string("product_domain");
      auto &axis = namedEntry(domain["axes"], sigma);
      axis["min"] << found->second;
      axis["max"] << found->second;
   }
}

/// The RooNSBIParamDataHists (generic objects: RooFit exports none) in misc.roonsbi.param_data_hists.
void addParamDataHists(JSONNode &root, std::initializer_list<RooWorkspace *> workspaces)
{
   std::set<std::string> done;
   for (RooWorkspace *ws : workspaces) {
      for (TObject *obj : ws->allGenericObjects()) {
         auto *pdh = dynamic_cast<RooNSBIParamDataHist *>(obj);
         if (!pdh || !done.insert(pdh->GetName()).second)
            continue;
         std::vector<double> counts, sumw2;
         for (double muPrime : pdh->grid()) {
            const std::vector<double> c = pdh->binContents(muPrime);
            counts.insert(counts.end(), c.begin(), c.end());
            if (pdh->isWeighted()) {
               const std::vector<double> w2 = pdh->binSumW2(muPrime);
               sumw2.insert(sumw2.end(), w2.begin(), w2.end());
            }
         }
         auto &entry = root["misc"]["roonsbi"][paramDataKey].append_child().set_map();
         entry["name"] << std::string(pdh->GetName());
         entry["title"] << std::string(pdh->GetTitle());
         entry["grid"].fill_seq(pdh->grid());
         entry["nbins"] << pdh->numBins();
         entry["counts"].fill_seq(counts);
         if (pdh->isWeighted())
            entry["sumw2"].fill_seq(sumw2);
      }
   }
}

/// misc.roonsbi: the version and, for readers without the plugin, what the roonsbi:: types need.
void addReaderNote(JSONNode &root)
{
   auto &misc = root["misc"]["roonsbi"];
   misc.set_map();
   misc["version"] << std::string(ROONSBI_VERSION);
   misc["note"] << std::string(
      "Types named roonsbi::... (roonsbi::nsbi_dist, roonsbi::param_hist_dist, roonsbi::grid_function) are "
      "plugin types of roonsbi, the RooFit plugin for neural simulation-based inference: load its library "
      "libRooNSBI (ROOT: gSystem->Load(\"libRooNSBI\"); Python: import roonsbi.library; roonsbi.library.load()) "
      "before RooJSONFactoryWSTool::importJSON. misc.roonsbi.param_data_hists holds the per-mu' data of "
      "parametrized channels, read by RooNSBI::importJSON.");
}

/// The names of the workspace's ModelConfigs whose pdf is not a RooSimultaneous.
std::vector<std::string> nonSimultaneousModelConfigs(RooWorkspace &ws)
{
   std::vector<std::string> names;
   for (TObject *obj : ws.allGenericObjects()) {
      auto *mc = dynamic_cast<RooStats::ModelConfig *>(obj);
      if (mc && !dynamic_cast<const RooSimultaneous *>(mc->GetPdf()))
         names.emplace_back(mc->GetName());
   }
   return names;
}

/// For one export: the prefix of the event-store side-file names, and the event indices of
/// store-form pdfs with a uniform binning (RooFit asks every variable for its number of bins;
/// RooNSBIRowBinning has none without a pool) of more bins than any dataset has entries: RooFit
/// writes a weighted 1-D dataset whose first entries lie in bins 0, 1, ..., nbins-1 as binned data,
/// which the event rows of a pool would be. Both restored by the destructor. It also frees the
/// constants of the previous export's interpolations (FlexibleInterpExporter).
class StoreExport {
public:
   StoreExport(RooWorkspace &ws, const std::string &prefix) : _prefix(gStorePrefix)
   {
      gStorePrefix = prefix;
      gInterpolationConstants.clear();
      for (RooAbsData *data : ws.allData())
         _bins = std::max(_bins, data->numEntries() + 1);
      for (RooAbsArg *arg : ws.allVars())
         uniform(arg);
      for (RooAbsData *data : ws.allData()) { // the datasets' own copies of the index
         for (RooAbsArg *arg : *data->get())
            uniform(arg);
      }
   }
   ~StoreExport()
   {
      for (auto &[index, binning] : _saved)
         index->setBinning(*binning);
      gStorePrefix = _prefix;
   }
   StoreExport(const StoreExport &) = delete;
   StoreExport &operator=(const StoreExport &) = delete;

private:
   void uniform(RooAbsArg *arg)
   {
      auto *index = dynamic_cast<RooRealVar *>(arg);
      if (!index || !dynamic_cast<const RooNSBIRowBinning *>(&index->getBinning()))
         return;
      _saved.emplace_back(index, std::unique_ptr<RooAbsBinning>(index->getBinning().clone()));
      const int bins = std::max(_bins, static_cast<int>(index->getMax() - index->getMin()) + 1);
      index->setBinning(RooUniformBinning(index->getMin(), index->getMax(), bins));
   }

   int _bins = 1;
   std::string _prefix;
   std::vector<std::pair<RooRealVar *, std::unique_ptr<RooAbsBinning>>> _saved;
};

/// For one import: the folder against which side-file names are resolved (restored by the destructor).
class StoreDir {
public:
   explicit StoreDir(const std::string &dir) : _previous(gStoreDir) { gStoreDir = dir; }
   ~StoreDir() { gStoreDir = _previous; }
   StoreDir(const StoreDir &) = delete;
   StoreDir &operator=(const StoreDir &) = delete;

private:
   std::string _previous;
};

} // namespace

namespace RooNSBI {

std::string exportJSONtoString(RooWorkspace &ws, const std::string &label, const std::string &storePrefix)
{
   for (RooAbsArg *arg : ws.allPdfs()) {
      auto *pdf = dynamic_cast<RooNSBIPdf *>(arg);
      if (pdf && pdf->expectedEventsShift()) { // the exporter refuses it too, with RooFit's runtime_error
         throw std::invalid_argument("RooNSBI::exportJSON: RooNSBIPdf '" + std::string(pdf->GetName()) +
                                     "' has renormalised shapes (build_model(..., renormalise_shapes=True)), which "
                                     "have no HS3 form; export the channel built without renormalise_shapes, or save "
                                     "it as a ROOT file");
      }
   }
   std::unique_ptr<RooWorkspace> single;
   RooWorkspace *source = &ws;
   const std::vector<std::string> bare = nonSimultaneousModelConfigs(ws);
   if (bare.size() > 1 || (bare.size() == 1 && bare[0] != "ModelConfig")) {
      throw std::invalid_argument("RooNSBI::exportJSON: workspace '" + std::string(ws.GetName()) +
                                  "' has the ModelConfig '" + bare[0] +
                                  "' whose pdf is not a RooSimultaneous; export a workspace whose only such "
                                  "ModelConfig is 'ModelConfig' (exported as a one-channel combination)");
   }
   if (!bare.empty()) {
      // RooJSONFactoryWSTool (ROOT 6.40) crashes on a ModelConfig whose pdf is not a
      // RooSimultaneous: export the one-channel combination (same NLL, log(1) = 0).
      single = combine({WorkspaceChannel{&ws, label}}, {}, ws.GetName());
      source = single.get();
   }
   const StoreExport storeExport(*source, storePrefix);
   std::istringstream exported(RooJSONFactoryWSTool(*source).exportJSONtoString());
   std::unique_ptr<RooFit::Detail::JSONTree> tree = RooFit::Detail::JSONTree::create(exported);
   JSONNode &root = tree->rootnode();
   addPackage(root);
   if (root.has_child("data")) {
      for (auto &data : root["data"].children())
         setFiniteAxes(data);
   }
   setFiniteParameterRanges(root);
   constraintWidthRanges(root);
   addReaderNote(root);
   addParamDataHists(root, {&ws, source});
   std::ostringstream out;
   root.writeJSON(out);
   return out.str();
}

bool exportJSON(RooWorkspace &ws, const std::string &path, const std::string &label)
{
   const std::size_t slash = path.rfind('/');
   const std::string folder = slash == std::string::npos ? "" : path.substr(0, slash + 1);
   std::string stem = path.substr(folder.size());
   if (const std::size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0)
      stem.resize(dot);
   const std::string text = exportJSONtoString(ws, label, stem + ".");
   for (RooAbsArg *arg : ws.allPdfs()) { // the event stores, as the document names them
      auto *pdf = dynamic_cast<RooNSBIPdf *>(arg);
      if (pdf && pdf->usesStore())
         pdf->store()->write(folder + stem + "." + pdf->GetName() + storeSuffix, /*overwrite=*/true);
   }
   std::ofstream file(path);
   if (!file)
      throw std::invalid_argument("RooNSBI::exportJSON: cannot open '" + path + "' for writing");
   file << text;
   return static_cast<bool>(file);
}

bool importJSONfromString(RooWorkspace &ws, const std::string &text)
{
   std::istringstream in(text);
   std::unique_ptr<RooFit::Detail::JSONTree> tree = RooFit::Detail::JSONTree::create(in);
   if (auto *data = tree->rootnode().find("data")) {
      for (auto const &d : data->children()) {
         if (d.has_child("type") && d["type"].val() == externalDataKey) {
            const std::string file = d.has_child("entries_file") ? d["entries_file"].val() : "?";
            throw std::invalid_argument(
               "RooNSBI::importJSON: the data '" + RooJSONFactoryWSTool::name(d) + "' are in the side file '" + file +
               "' (type " + externalDataKey + ", written by roonsbi.io.write_hs3): read the file with "
               "roonsbi.io.read_hs3(path), which checks the sha256 of the side files and imports the whole document");
         }
      }
   }
   struct Stores { // the checked stores for the importer, for this import only
      ~Stores() { gStores.clear(); }
   } stores;
   if (auto *dists = tree->rootnode().find("distributions")) {
      for (auto const &d : dists->children()) {
         if (d.has_child("type") && (d["type"].val() == nsbiKey || d["type"].val() == legacyNsbiKey) &&
             d.has_child("store")) {
            const std::string name = RooJSONFactoryWSTool::name(d);
            gStores[name] = openStore(d, name);
         }
      }
   }
   if (!RooJSONFactoryWSTool(ws).importJSONfromString(text))
      return false;
   const JSONNode *hists = tree->rootnode().find("misc", "roonsbi", paramDataKey);
   if (!hists)
      return true;
   for (auto const &h : hists->children()) {
      const std::string name = RooJSONFactoryWSTool::name(h);
      const std::string what = "misc.roonsbi." + paramDataKey + " '" + name + "'";
      const std::vector<double> grid = readDoubles(h, "grid", what);
      const int nBins = h.has_child("nbins") ? h["nbins"].val_int() : 0;
      const std::vector<double> counts = readDoubles(h, "counts", what);
      const std::vector<double> sumw2 = h.has_child("sumw2") ? readDoubles(h, "sumw2", what) : std::vector<double>{};
      if (nBins <= 0 || grid.empty() || counts.size() != grid.size() * nBins ||
          (!sumw2.empty() && sumw2.size() != counts.size())) {
         throw std::invalid_argument("RooNSBI::importJSON: " + what +
                                     " needs \"nbins\" B > 0, a non-empty \"grid\" (K points) and K * B \"counts\" "
                                     "(and as many \"sumw2\", if given)");
      }
      const std::string title = h.has_child("title") ? h["title"].val() : name;
      RooNSBIParamDataHist hist(name.c_str(), title.c_str(), grid, nBins, counts, sumw2);
      ws.import(hist, name.c_str());
   }
   return true;
}

bool importJSON(RooWorkspace &ws, const std::string &path)
{
   const std::size_t slash = path.rfind('/');
   const StoreDir dir(slash == std::string::npos ? "." : path.substr(0, slash));
   std::ifstream file(path);
   if (!file)
      throw std::invalid_argument("RooNSBI::importJSON: cannot open '" + path + "'");
   std::stringstream text;
   text << file.rdbuf();
   return importJSONfromString(ws, text.str());
}

const char *version()
{
   return ROONSBI_VERSION;
}

} // namespace RooNSBI
