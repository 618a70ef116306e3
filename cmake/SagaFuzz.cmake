# saga_add_fuzzer(NAME <name> SOURCES <files...> LIBS <targets...>
#                 [ROOMS <folders...>])
#
# The one helper for fuzz targets (docs/fuzzing.md). A target is a file
# <module>/<name>_fuzz.cpp beside the code it fuzzes that defines
# LLVMFuzzerTestOneInput (and maybe LLVMFuzzerInitialize); its seeds live in
# tests/fuzz-seeds/<name>/, the inputs of crashes found in
# tests/fuzz-regressions/<name>/. One call registers both forms:
#
# - SAGA_FUZZ=ON with clang: the libFuzzer program <name>_fuzz
#   (-fsanitize=fuzzer,address,undefined), linked to the layers in LIBS
#   only (the lowest that hold what it fuzzes: the fuzz build compiles
#   just those, a third of its time went to layers no target used), whose
#   layers are then instrumented for coverage and the sanitizers as well
#   (SAGA_FUZZ_FLAGS, applied by saga_add_layer); ROOMS are folders whose
#   headers it includes beyond its layers' (a file of a higher layer
#   compiled in as one of its SOURCES);
#   scripts/fuzz.sh builds and runs these in build-fuzz;
# - SAGA_BUILD_TESTS=ON (any compiler): fuzz_<name>_replay, the same
#   target with tests/fuzz_replay_main.cpp for a main, and the CTest test
#   fuzz_<name>_seeds, which runs every seed and regression input through
#   it (the normal g++ build cannot link libFuzzer).
#
# Include it before the layers are defined.
option(SAGA_FUZZ "Build the libFuzzer targets (clang only, docs/fuzzing.md)" OFF)

set(SAGA_FUZZ_ENABLED OFF)
if(SAGA_FUZZ)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    set(SAGA_FUZZ_ENABLED ON)
    set(SAGA_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined
                        -fno-omit-frame-pointer)
  else()
    message(WARNING "SAGA_FUZZ needs clang (CC=clang CXX=clang++); "
                    "no libFuzzer targets are built with "
                    "${CMAKE_CXX_COMPILER_ID}")
  endif()
endif()

function(saga_add_fuzzer)
  cmake_parse_arguments(arg "" "NAME" "SOURCES;LIBS;ROOMS" ${ARGN})
  if(NOT arg_NAME OR NOT arg_SOURCES OR NOT arg_LIBS)
    message(FATAL_ERROR "saga_add_fuzzer: NAME, SOURCES and LIBS are required")
  endif()
  set(seeds ${PROJECT_SOURCE_DIR}/tests/fuzz-seeds/${arg_NAME})
  set(regressions ${PROJECT_SOURCE_DIR}/tests/fuzz-regressions/${arg_NAME})
  if(SAGA_FUZZ_ENABLED)
    set(exe ${arg_NAME}_fuzz)
    add_executable(${exe} ${arg_SOURCES})
    target_link_libraries(${exe} PRIVATE ${arg_LIBS})
    foreach(room ${arg_ROOMS})
      saga_publish_room(${exe} ${room})
    endforeach()
    target_compile_options(${exe} PRIVATE -fsanitize=fuzzer,address,undefined
                                          -fno-omit-frame-pointer)
    target_link_options(${exe} PRIVATE -fsanitize=fuzzer,address,undefined)
    saga_enable_warnings(${exe})
  endif()
  if(SAGA_BUILD_TESTS)
    set(exe fuzz_${arg_NAME}_replay)
    add_executable(${exe} ${arg_SOURCES}
                   ${PROJECT_SOURCE_DIR}/tests/fuzz_replay_main.cpp)
    target_link_libraries(${exe} PRIVATE ${arg_LIBS})
    foreach(room ${arg_ROOMS})
      saga_publish_room(${exe} ${room})
    endforeach()
    saga_enable_warnings(${exe})
    add_test(NAME fuzz_${arg_NAME}_seeds
             COMMAND ${exe} ${seeds} ${regressions})
    set_tests_properties(fuzz_${arg_NAME}_seeds PROPERTIES TIMEOUT 120)
  endif()
endfunction()
