# saga_add_layer(NAME <target> ROOM <folder> SOURCES <files...>
#                [DEPS <targets...>] [PRIVATE_DEPS <targets...>])
#
# The one helper that builds a layer of the library (docs/ARCHITECTURE.md,
# "Layers"): a static library from one room of the source tree that links
# the layers below it. A layer's private headers are included with their
# room, `#include "persistence/redis_url.hpp"`, but the repository root is
# never an include directory: each layer publishes only its own room, through
# <build>/rooms/<target>/<folder>, a symbolic link to the source folder. So a
# file can include a room only if its target links that room's layer, and an
# arrow against the layering (persistence including "actors/...") does not
# compile. DEPS are PUBLIC (this layer's headers use theirs), PRIVATE_DEPS are
# the implementation's own.
function(saga_add_layer)
  cmake_parse_arguments(arg "" "NAME;ROOM" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  if(NOT arg_NAME OR NOT arg_ROOM OR NOT arg_SOURCES)
    message(FATAL_ERROR "saga_add_layer: NAME, ROOM and SOURCES are required")
  endif()
  add_library(${arg_NAME} STATIC ${arg_SOURCES})
  add_library(caf_saga::${arg_NAME} ALIAS ${arg_NAME})
  saga_publish_room(${arg_NAME} ${arg_ROOM})
  target_link_libraries(${arg_NAME} PUBLIC ${arg_DEPS}
                                    PRIVATE ${arg_PRIVATE_DEPS})
  set_target_properties(${arg_NAME} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  saga_enable_warnings(${arg_NAME})
  if(SAGA_FUZZ_FLAGS)
    # The fuzz targets explore the library's parsers: coverage and the
    # sanitizers' checks in every layer too, not just in the targets.
    target_compile_options(${arg_NAME} PRIVATE ${SAGA_FUZZ_FLAGS})
  endif()
endfunction()

# saga_publish_room(<target> <folder>): lets <target> and whatever links it
# include "<folder>/<file>" (see above). Also for programs' and tests' own
# rooms (demo, bench, tests).
function(saga_publish_room target folder)
  set(root ${PROJECT_BINARY_DIR}/rooms/${target})
  get_filename_component(parent ${root}/${folder} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  if(NOT EXISTS ${root}/${folder})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${root}/${folder}
         SYMBOLIC)
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_include_directories(${target} PRIVATE ${root})
  elseif(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE $<BUILD_INTERFACE:${root}>)
  else()
    target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${root}>)
  endif()
endfunction()
