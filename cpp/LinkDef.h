#ifdef __ROOTCLING__
#pragma link off all globals;
#pragma link off all classes;
#pragma link off all functions;

#pragma link C++ class RooNSBIPdf-; // own Streamer: groups the shape terms after reading
#pragma link C++ class RooNSBIRowBinning+;
#pragma link C++ class RooNSBI::EventStore-;
#pragma link C++ class RooNSBI::StoreWriter-;
#pragma link C++ class RooNSBINLL+;
#pragma link C++ class RooNSBIModel+;
#pragma link C++ class RooNSBIParamHistTemplates+;
#pragma link C++ class RooNSBIParamHistPdf-;   // own Streamer: groups the shape terms after reading
#pragma link C++ class RooNSBIParamHistYield-; // own Streamer: groups the shape terms after reading
#pragma link C++ class RooNSBIParamDataHist+;
#pragma link C++ class RooNSBIGridFunc+;
#pragma link C++ class RooNSBIShapeNorm+;
#pragma link C++ class RooNSBI::Combination-;
#pragma link C++ struct RooNSBI::Combination::Channel-;
#pragma link C++ struct RooNSBI::WorkspaceChannel-;
#pragma link C++ function RooNSBI::combine;
#pragma link C++ function RooNSBI::parseRenames;
#pragma link C++ function RooNSBI::exportJSON;
#pragma link C++ function RooNSBI::exportJSONtoString;
#pragma link C++ function RooNSBI::importJSON;
#pragma link C++ function RooNSBI::importJSONfromString;
#pragma link C++ function RooNSBI::version;
#pragma link C++ struct RooNSBI::StoreManifest+;
#pragma link C++ function RooNSBI::writeStore;
#pragma link C++ function RooNSBI::readStore;
#pragma link C++ function RooNSBI::checksum;
#endif
