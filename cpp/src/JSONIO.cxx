/*
 * roonsbi: HS3 JSON importer and exporter of RooNSBIPdf for RooFit's RooJSONFactoryWSTool,
 * registered when libRooNSBI is loaded.
 *
 *   { "type": "roonsbi_nsbi_dist", "name": ...,
 *     "yields": [N_J ...], "ratios": [r_J column ...],
 *     "shape_params": [alpha ...], "shape_low": [g(x,-1) column ...], "shape_high": [...],
 *     "shape_process": [J ...], "shape_param_index": [...], "shape_code": [...] }
 *
 * Servers (yields, parameters, columns) are exported by the tool itself; the per-event
 * columns are the observables of the (unbinned) dataset.
 */
#include "RooNSBI/RooNSBIPdf.h"

#include <RooFit/Detail/JSONInterface.h>
#include <RooFitHS3/JSONIO.h>
#include <RooFitHS3/RooJSONFactoryWSTool.h>

#include <string>
#include <vector>

namespace {

const std::string nsbiKey = "roonsbi_nsbi_dist";

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
   return true;
}();

} // namespace
