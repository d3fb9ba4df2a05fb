/*
 * roonsbi: combination of channels (NSBI workspaces, binned HistFactory workspaces, any
 * RooWorkspace with a ModelConfig) into one RooSimultaneous, dataset and ModelConfig.
 */
#ifndef RooNSBI_Combination_h
#define RooNSBI_Combination_h

#include <RooArgSet.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

class RooAbsData;
class RooAbsPdf;
class RooNSBIParamDataHist;
class RooWorkspace;

namespace RooNSBI {

/// \class Combination
/// Combine channels as HistFactory does:
///
/// * parameters are correlated by name, after the rename map (e.g. {"mu_sig": "mu"}); a
///   parameter defined twice with another range or constant flag (or, if constant, another
///   value) is an error naming it;
/// * each channel pdf is its bare pdf (the factors that depend on its observables) times its
///   constraint terms; a constraint on a parameter that an earlier channel already constrains
///   is shared (one object, counted once in the likelihood) if it is the same function
///   (class, structure, constants and global-observable values), otherwise an error naming
///   the parameter. Two different constraints of the same name are an error too;
/// * the result is a new workspace with the RooSimultaneous `simPdf` over the RooCategory
///   `channelCat` (one state per channel label), one weighted RooDataSet `obsData` with all
///   channels' data and the ModelConfig `ModelConfig` (POIs, nuisance parameters,
///   observables incl. `channelCat`, global observables), and the per-mu' data of parametrized
///   channels (RooNSBIParamDataHist, generic objects of the channels' workspaces; addParamData()).
///
/// The combined NLL is the sum of the channels' NLLs with each shared constraint counted
/// once, plus the parameter-independent sum_c N_c log(number of channels) that a
/// RooSimultaneous adds. Errors throw std::invalid_argument.
///
/// The added pdfs and datasets are used, not copied, until build(): keep their workspaces
/// alive until then.
class Combination {
public:
   /// One channel: its full pdf (with constraint terms), its data and ModelConfig sets.
   struct Channel {
      std::string label;
      RooAbsPdf *pdf = nullptr;
      RooAbsData *data = nullptr;
      RooArgSet pois;
      RooArgSet nuisanceParameters;
      RooArgSet observables;
      RooArgSet globalObservables;
   };

   explicit Combination(std::map<std::string, std::string> rename = {});

   /// Add one channel; `label` names its state of channelCat and must be unique.
   void addChannel(const std::string &label, RooAbsPdf &pdf, RooAbsData &data, const RooArgSet &pois,
                   const RooArgSet &nuisanceParameters, const RooArgSet &observables,
                   const RooArgSet &globalObservables);

   /// Add the channels of a workspace with a ModelConfig and a dataset. A RooSimultaneous
   /// is split into one channel per index state, labelled `<label>_<state>` (or `<state>` if
   /// `label` is empty); another pdf is one channel labelled `label` (or the workspace name).
   void addWorkspace(RooWorkspace &ws, const std::string &label = "", const std::string &modelConfig = "ModelConfig",
                     const std::string &data = "obsData");

   /// Keep the RooNSBIParamDataHists (per-mu' data of parametrized channels) of `ws` in the
   /// combination (addWorkspace does it for its workspace; call it for a channel added with
   /// addChannel). Two of one name are an error in build().
   void addParamData(RooWorkspace &ws);

   const std::vector<Channel> &channels() const { return fChannels; }
   const std::map<std::string, std::string> &renames() const { return fRename; }

   /// The combined workspace (see the class documentation).
   std::unique_ptr<RooWorkspace> build(const std::string &name = "combined") const;

private:
   std::string renamed(const std::string &name) const;

   std::map<std::string, std::string> fRename;
   std::vector<Channel> fChannels;
   std::vector<std::unique_ptr<RooAbsData>> fOwnedData; // parts of split datasets
   std::vector<const RooNSBIParamDataHist *> fParamData;  // per-mu' data, copied by build()
};

/// A workspace to combine: the arguments of Combination::addWorkspace.
struct WorkspaceChannel {
   RooWorkspace *workspace = nullptr;
   std::string label;
   std::string modelConfig = "ModelConfig";
   std::string data = "obsData";
};

/// Combination of workspaces in one call (see Combination).
std::unique_ptr<RooWorkspace> combine(const std::vector<WorkspaceChannel> &channels,
                                      const std::map<std::string, std::string> &rename = {},
                                      const std::string &name = "combined");

/// The rename map of a string "old=new,old2=new2" (whitespace ignored; empty string: no renames).
std::map<std::string, std::string> parseRenames(const std::string &spec);

/// HS3 JSON of a workspace, by RooJSONFactoryWSTool plus what HS3 readers need (JSONIO.cxx):
/// roonsbi and its version in metadata.packages (and a note for readers in misc.roonsbi),
/// numeric "min"/"max" for the axes of unbinned data that RooFit writes as null (the smallest
/// and largest value of the column; also for the columns in the parameter points), the range
/// [sigma, sigma] for constant widths of Gaussian constraints, and the RooNSBIParamDataHists in
/// misc.roonsbi.param_data_hists. (FlexibleInterpVars are the HS3 `interpolation`, not ROOT's
/// `interpolation0d`, by the exporter the library registers in RooJSONFactoryWSTool, JSONIO.cxx.)
/// A workspace whose ModelConfig `ModelConfig` has a pdf that is not a RooSimultaneous (a
/// single roonsbi model), on which RooJSONFactoryWSTool::exportJSON crashes in ROOT 6.40, is
/// exported as its one-channel combination (`simPdf` over `channelCat` with the one state
/// `label`, or the workspace name; the same NLL). The event store of a store-form RooNSBIPdf is
/// referenced as the side file `<storePrefix><pdf name>.store` (EventStore::write's format) with its
/// rows, columns and SHA-256; the caller writes the file (exportJSON, roonsbi.io.write_hs3).
/// Errors throw std::invalid_argument.
std::string exportJSONtoString(RooWorkspace &ws, const std::string &label = "", const std::string &storePrefix = "");
/// exportJSONtoString written to the file `path`, and the event stores to `<stem>.<pdf name>.store`
/// next to it (`<stem>`: the name of `path` without its suffix; replacing existing files).
bool exportJSON(RooWorkspace &ws, const std::string &path, const std::string &label = "");
/// RooJSONFactoryWSTool::importJSONfromString, then the RooNSBIParamDataHists of
/// misc.roonsbi.param_data_hists as generic objects of `ws`. Event-store side files are opened
/// (mapped) from their names as given (relative: to the current directory) and checked against
/// their rows and SHA-256. Errors throw std::invalid_argument.
bool importJSONfromString(RooWorkspace &ws, const std::string &text);
/// importJSONfromString of the file `path`; event-store side files are read next to it.
bool importJSON(RooWorkspace &ws, const std::string &path);
/// The roonsbi version compiled into the library (written to HS3 metadata.packages).
const char *version();

} // namespace RooNSBI

#endif
