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

#include <RooFit/Detail/JSONInterface.h>
#include <RooFitHS3/JSONIO.h>
#include <RooFitHS3/RooJSONFactoryWSTool.h>
#include <RooRealVar.h>
#include <RooSimultaneous.h>
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

std::vector<int> readInts(const RooFit::Detail::JSONNode &node, const char *key)
{
   std::vector<int> out;
   if (node.has_child(key)) {
      for (auto const &child : node[key].children())
         out.push_back(child.val_int());
   }
   return out;
}

class NSBIPdfExporter : public RooFit::JSONIO::Exporter {
public:
   std::string const &key() const override { return nsbiKey; }
   bool exportObject(RooJSONFactoryWSTool *, const RooAbsArg *arg, RooFit::Detail::JSONNode &elem) const override
   {
      auto *pdf = static_cast<const RooNSBIPdf *>(arg);
      if (pdf->usesStore()) {
         // HS3 has no notion of an event store: its unbinned data are entries of observables
         RooJSONFactoryWSTool::error("RooNSBIPdf '" + std::string(pdf->GetName()) +
                                     "' keeps its columns in an event store (store form): HS3 JSON can hold only the "
                                     "column form, whose columns are observables (build the channel with "
                                     "roonsbi.build_model(..., form='columns') to export it)");
      }
      elem["type"] << key();
      RooJSONFactoryWSTool::fillSeq(elem["yields"], pdf->yields());
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
};

class NSBIPdfImporter : public RooFit::JSONIO::Importer {
public:
   bool importArg(RooJSONFactoryWSTool *tool, const RooFit::Detail::JSONNode &p) const override
   {
      const std::string name(RooJSONFactoryWSTool::name(p));
      RooArgList yields = tool->requestArgList<RooAbsReal>(p, "yields");
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

// Registered once, when the library is loaded.
const bool registered = [] {
   RooFit::JSONIO::registerExporter(RooNSBIPdf::Class(), std::make_unique<NSBIPdfExporter>(), true);
   RooFit::JSONIO::registerImporter(nsbiKey, std::make_unique<NSBIPdfImporter>(), true);
   RooFit::JSONIO::registerImporter(legacyNsbiKey, std::make_unique<NSBIPdfImporter>(), true);
   RooFit::JSONIO::registerExporter(RooNSBIParamHistPdf::Class(), std::make_unique<ParamHistExporter>(), true);
   RooFit::JSONIO::registerImporter(paramHistKey, std::make_unique<ParamHistImporter>(), true);
   RooFit::JSONIO::registerExporter(RooNSBIGridFunc::Class(), std::make_unique<GridFuncExporter>(), true);
   RooFit::JSONIO::registerImporter(gridFuncKey, std::make_unique<GridFuncImporter>(), true);
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

/// Every name of the document (HS3 has one global namespace): functions, distributions, data,
/// likelihoods, analyses and parameters.
std::set<std::string> documentNames(const JSONNode &root)
{
   std::set<std::string> names;
   for (const char *key : {"functions", "distributions", "data", "likelihoods", "analyses"}) {
      if (auto *seq = root.find(key)) {
         for (auto const &child : seq->children())
            names.insert(RooJSONFactoryWSTool::name(child));
      }
   }
   if (auto *points = root.find("parameter_points")) {
      for (auto const &point : points->children()) {
         if (auto *params = point.find("parameters")) {
            for (auto const &par : params->children())
               names.insert(RooJSONFactoryWSTool::name(par));
         }
      }
   }
   return names;
}

/// A constant parameter in the default parameter point.
void addConstant(JSONNode &root, std::set<std::string> &names, const std::string &name, double value)
{
   if (!names.insert(name).second) {
      throw std::invalid_argument("RooNSBI::exportJSON: the name '" + name +
                                  "' (a constant of an interpolation) is already used in the workspace; rename it");
   }
   auto &par = namedEntry(namedEntry(root["parameter_points"], "default_values")["parameters"], name);
   par["value"] << value;
   par["const"] << true;
}

/// FlexibleInterpVar, which ROOT writes as `interpolation0d` (unknown to other HS3 readers), as
/// `interpolation` (ROOT's PiecewiseInterpolation, pyhs3's InterpolationFunction) of constant
/// parameters `<G>_nominal`, `<G>_<alpha>_low/high`: the same arithmetic for boundary 1
/// (FlexibleInterpVar evaluates its code 4 as PiecewiseInterpolation's code 5), positive
/// definite (FlexibleInterpVar's cutoff for totals <= 0 becomes 0).
void standardInterpolations(JSONNode &root, RooWorkspace &ws)
{
   if (!root.has_child("functions"))
      return;
   std::set<std::string> names = documentNames(root);
   for (auto &f : root["functions"].children()) {
      if (!f.has_child("type") || f["type"].val() != "interpolation0d")
         continue;
      const std::string name = RooJSONFactoryWSTool::name(f);
      auto *fiv = dynamic_cast<RooStats::HistFactory::FlexibleInterpVar *>(ws.function(name.c_str()));
      if (!fiv || fiv->globalBoundary() != 1.0)
         continue; // kept as ROOT wrote it
      std::vector<std::string> low, high;
      std::vector<int> codes;
      for (std::size_t i = 0; i < fiv->variables().size(); ++i) {
         const std::string par = fiv->variables()[i].GetName();
         low.push_back(name + "_" + par + "_low");
         high.push_back(name + "_" + par + "_high");
         addConstant(root, names, low.back(), fiv->low()[i]);
         addConstant(root, names, high.back(), fiv->high()[i]);
         const int code = fiv->interpolationCodes()[i];
         codes.push_back(code == 4 ? 5 : code);
      }
      addConstant(root, names, name + "_nominal", fiv->nominal());
      f["type"] << std::string("interpolation");
      f["nom"] << name + "_nominal";
      f["low"].clear();
      f["low"].fill_seq(low);
      f["high"].clear();
      f["high"].fill_seq(high);
      f["interpolationCodes"].clear();
      f["interpolationCodes"].fill_seq(codes);
      f["positiveDefinite"] << true;
   }
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

} // namespace

namespace RooNSBI {

std::string exportJSONtoString(RooWorkspace &ws, const std::string &label)
{
   for (RooAbsArg *arg : ws.allPdfs()) {
      auto *pdf = dynamic_cast<RooNSBIPdf *>(arg);
      if (pdf && pdf->usesStore()) { // the exporter refuses it too, with RooFit's runtime_error
         throw std::invalid_argument("RooNSBI::exportJSON: RooNSBIPdf '" + std::string(pdf->GetName()) +
                                     "' keeps its columns in an event store (store form): HS3 JSON can hold only "
                                     "the column form, whose columns are observables (build the channel with "
                                     "roonsbi.build_model(..., form='columns') to export it)");
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
   std::istringstream exported(RooJSONFactoryWSTool(*source).exportJSONtoString());
   std::unique_ptr<RooFit::Detail::JSONTree> tree = RooFit::Detail::JSONTree::create(exported);
   JSONNode &root = tree->rootnode();
   addPackage(root);
   if (root.has_child("data")) {
      for (auto &data : root["data"].children())
         setFiniteAxes(data);
   }
   setFiniteParameterRanges(root);
   standardInterpolations(root, *source);
   constraintWidthRanges(root);
   addReaderNote(root);
   addParamDataHists(root, {&ws, source});
   std::ostringstream out;
   root.writeJSON(out);
   return out.str();
}

bool exportJSON(RooWorkspace &ws, const std::string &path, const std::string &label)
{
   const std::string text = exportJSONtoString(ws, label);
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
