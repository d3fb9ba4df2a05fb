/*
 * roonsbi: HS3 JSON importer and exporter of RooNSBIPdf for RooFit's RooJSONFactoryWSTool,
 * registered when libRooNSBI is loaded, and RooNSBI::exportJSON (Combination.h).
 *
 *   { "type": "roonsbi::nsbi_dist", "name": ...,
 *     "yields": [N_J ...], "ratios": [r_J column ...],
 *     "shape_params": [alpha ...], "shape_low": [g(x,-1) column ...], "shape_high": [...],
 *     "shape_process": [J ...], "shape_param_index": [...], "shape_code": [...] }
 *
 * Servers (yields, parameters, columns) are exported by the tool itself; the per-event
 * columns are the observables of the (unbinned) dataset. Files written before the type was
 * namespaced (`"roonsbi_nsbi_dist"`) are read too.
 */
#include "RooNSBI/Combination.h"
#include "RooNSBI/RooNSBIPdf.h"

#include <RooFit/Detail/JSONInterface.h>
#include <RooFitHS3/JSONIO.h>
#include <RooFitHS3/RooJSONFactoryWSTool.h>
#include <RooSimultaneous.h>
#include <RooStats/ModelConfig.h>
#include <RooWorkspace.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
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

// Registered once, when the library is loaded.
const bool registered = [] {
   RooFit::JSONIO::registerExporter(RooNSBIPdf::Class(), std::make_unique<NSBIPdfExporter>(), true);
   RooFit::JSONIO::registerImporter(nsbiKey, std::make_unique<NSBIPdfImporter>(), true);
   RooFit::JSONIO::registerImporter(legacyNsbiKey, std::make_unique<NSBIPdfImporter>(), true);
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

const char *version()
{
   return ROONSBI_VERSION;
}

} // namespace RooNSBI
