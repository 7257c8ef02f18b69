# Finds the C++ Actor Framework 0.17 as Debian ships it (libcaf-dev has no CMake package config).
# Components: core, io, openssl. Gives imported targets CAF::core, CAF::io and CAF::openssl.
#
#   find_package(CAF REQUIRED COMPONENTS core io openssl)

find_path(CAF_INCLUDE_DIR NAMES caf/all.hpp)

set(CAF_VERSION "")
if(CAF_INCLUDE_DIR AND EXISTS "${CAF_INCLUDE_DIR}/caf/config.hpp")
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _caf_version_line
       REGEX "^#define CAF_VERSION [0-9]+")
  if(_caf_version_line MATCHES "CAF_VERSION ([0-9]+)")
    math(EXPR _major "${CMAKE_MATCH_1} / 10000")
    math(EXPR _minor "(${CMAKE_MATCH_1} / 100) % 100")
    math(EXPR _patch "${CMAKE_MATCH_1} % 100")
    set(CAF_VERSION "${_major}.${_minor}.${_patch}")
  endif()
endif()

if(NOT CAF_FIND_COMPONENTS)
  set(CAF_FIND_COMPONENTS core)
endif()

set(_caf_deps_core Threads::Threads)
set(_caf_deps_io CAF::core)
set(_caf_deps_openssl CAF::io OpenSSL::SSL OpenSSL::Crypto)

foreach(_component IN LISTS CAF_FIND_COMPONENTS)
  find_library(CAF_${_component}_LIBRARY NAMES caf_${_component})
  if(CAF_${_component}_LIBRARY AND CAF_INCLUDE_DIR)
    set(CAF_${_component}_FOUND TRUE)
  else()
    set(CAF_${_component}_FOUND FALSE)
  endif()
endforeach()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CAF
  REQUIRED_VARS CAF_INCLUDE_DIR
  VERSION_VAR CAF_VERSION
  HANDLE_COMPONENTS)

if(CAF_FOUND)
  if(NOT TARGET Threads::Threads)
    find_package(Threads REQUIRED)
  endif()
  if("openssl" IN_LIST CAF_FIND_COMPONENTS AND NOT TARGET OpenSSL::SSL)
    find_package(OpenSSL REQUIRED)
  endif()
  foreach(_component IN LISTS CAF_FIND_COMPONENTS)
    if(NOT TARGET CAF::${_component})
      add_library(CAF::${_component} UNKNOWN IMPORTED)
      set_target_properties(CAF::${_component} PROPERTIES
        IMPORTED_LOCATION "${CAF_${_component}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${_caf_deps_${_component}}")
    endif()
  endforeach()
endif()

mark_as_advanced(CAF_INCLUDE_DIR CAF_core_LIBRARY CAF_io_LIBRARY CAF_openssl_LIBRARY)
