#ifdef __ROOTCLING__
#pragma link off all globals;
#pragma link off all classes;
#pragma link off all functions;

#pragma link C++ class RooNSBIPdf+;
#pragma link C++ class RooNSBI::EventStore-;
#pragma link C++ class RooNSBINLL+;
#endif
