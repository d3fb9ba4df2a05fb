# Locate ROOT for roonsbi.
#
# 1. The PyPI "ROOT" wheel: its ROOTConfig.cmake exists but its imported
#    targets point at a non-existent "mock_site_packages" prefix, so we locate
#    the wheel through Python instead (include/, lib/, bin/rootcling next to
#    ROOT/__init__.py), without importing ROOT.
# 2. Otherwise a normal ROOT installation: find_package(ROOT) and its targets
#    (also forced with -DROONSBI_FORCE_FIND_PACKAGE=ON).
#
# Result:
#   roonsbi_root              INTERFACE target with include dirs and libraries
#   ROONSBI_ROOTCLING         path of rootcling
#   ROONSBI_ROOT_LIBDIR       directory of the ROOT libraries (for the RPATH)
#   ROONSBI_ROOT_CXX_STANDARD C++ standard ROOT was built with

set(_roonsbi_root_libs Core RIO MathCore Hist RooFitCore RooFit HistFactory RooStats RooFitHS3 RooFitJSONInterface)

# The wheel layout: include/ and lib/ next to ROOT/__init__.py. A normal
# installation keeps its Python module elsewhere (lib/ROOT/), so this test
# does not trigger for it.
find_package(Python COMPONENTS Interpreter)
set(_prefix "")
if(Python_EXECUTABLE AND NOT ROONSBI_FORCE_FIND_PACKAGE)
  execute_process(
    COMMAND ${Python_EXECUTABLE} -c
      "import importlib.util as u, os; s = u.find_spec('ROOT'); print(os.path.dirname(s.origin) if s else '')"
    OUTPUT_VARIABLE _prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
set(_roonsbi_wheel FALSE)
if(_prefix AND EXISTS "${_prefix}/include/RooAbsPdf.h" AND EXISTS "${_prefix}/lib/libCore${CMAKE_SHARED_LIBRARY_SUFFIX}")
  set(_roonsbi_wheel TRUE)
else()
  find_package(ROOT CONFIG REQUIRED COMPONENTS RooFitCore RooFit HistFactory RooStats RooFitHS3 RooFitJSONInterface)
endif()

add_library(roonsbi_root INTERFACE)

if(NOT _roonsbi_wheel)
  message(STATUS "roonsbi: using ROOT ${ROOT_VERSION} from find_package (${ROOT_DIR})")
  get_target_property(_core_loc ROOT::Core LOCATION)
  foreach(_l IN LISTS _roonsbi_root_libs)
    target_link_libraries(roonsbi_root INTERFACE ROOT::${_l})
  endforeach()
  get_filename_component(ROONSBI_ROOT_LIBDIR "${_core_loc}" DIRECTORY)
  if(TARGET ROOT::rootcling)
    set(ROONSBI_ROOTCLING $<TARGET_FILE:ROOT::rootcling>)
  else()
    find_program(ROONSBI_ROOTCLING rootcling HINTS ${ROOT_BINDIR} REQUIRED)
  endif()
  if(ROOT_CXX_STANDARD)
    set(ROONSBI_ROOT_CXX_STANDARD ${ROOT_CXX_STANDARD})
  else()
    set(ROONSBI_ROOT_CXX_STANDARD 17)
  endif()
else()
  message(STATUS "roonsbi: using the ROOT Python wheel at ${_prefix}")
  set(ROONSBI_ROOT_LIBDIR ${_prefix}/lib)
  set(ROONSBI_ROOTCLING ${_prefix}/bin/rootcling)
  target_include_directories(roonsbi_root INTERFACE ${_prefix}/include)
  foreach(_l IN LISTS _roonsbi_root_libs)
    set(_f ${_prefix}/lib/lib${_l}${CMAKE_SHARED_LIBRARY_SUFFIX})
    if(NOT EXISTS ${_f})
      message(FATAL_ERROR "roonsbi: ROOT library ${_f} is missing")
    endif()
    target_link_libraries(roonsbi_root INTERFACE ${_f})
  endforeach()
  # The flags ROOT itself was built with (ROOTConfig.cmake: ROOT_CXX_FLAGS).
  target_compile_options(roonsbi_root INTERFACE -pthread -fsigned-char -fsized-deallocation)
  set(ROONSBI_ROOT_CXX_STANDARD 17)
  if(EXISTS ${_prefix}/cmake/ROOTConfig.cmake)
    file(STRINGS ${_prefix}/cmake/ROOTConfig.cmake _std REGEX "set\\(ROOT_CXX_STANDARD [0-9]+\\)")
    if(_std)
      list(GET _std 0 _std)
      string(REGEX MATCH "[0-9]+" ROONSBI_ROOT_CXX_STANDARD "${_std}")
    endif()
  endif()
endif()
