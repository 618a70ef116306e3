# Installs a caf-saga build tree into a fresh prefix, then configures, builds
# and runs tests/install (a consumer that uses find_package(caf_saga)).
#
#   cmake -DBUILD_DIR=<main build> -DCONSUMER_SOURCE_DIR=<tests/install>
#         -DWORK_DIR=<scratch dir, wiped> [-DBUILD_TYPE=Debug]
#         [-DCXX_COMPILER=<path>] [-DGENERATOR=<name>] [-DSANITIZE=ON]
#         -P install_test.cmake
#
# With SANITIZE on, the consumer is built with the same sanitizers as the
# library (an ASan-instrumented static library needs the ASan runtime).
cmake_minimum_required(VERSION 3.16)

foreach(var BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "install_test: -D${var}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/consumer-build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run_step what)
  message(STATUS "install_test: ${what}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_test: ${what} failed (${rc})")
  endif()
endfunction()

# 1. Install the build tree.
set(install_args --install "${BUILD_DIR}" --prefix "${prefix}")
if(BUILD_TYPE)
  list(APPEND install_args --config "${BUILD_TYPE}")
endif()
run_step("install" "${CMAKE_COMMAND}" ${install_args})

# The programs are installed beside the library, and saga_node explains
# itself (its --help names every option).
foreach(program saga_node sagactl)
  if(NOT EXISTS "${prefix}/bin/${program}")
    message(FATAL_ERROR "install_test: ${program} was not installed")
  endif()
endforeach()
execute_process(COMMAND "${prefix}/bin/saga_node" --help
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
foreach(option --node-id --redis --coordinate --admin-token
               --admin-max-connections --admin-idle-timeout --audit-retention)
  if(NOT rc EQUAL 0 OR NOT "${out}${err}" MATCHES "${option}")
    message(FATAL_ERROR "install_test: saga_node --help (${rc}) lacks ${option}")
  endif()
endforeach()

# 2. Configure the consumer against the installed package only.
set(configure_args -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build}"
    "-DCMAKE_PREFIX_PATH=${prefix}")
if(GENERATOR)
  list(APPEND configure_args -G "${GENERATOR}")
endif()
if(BUILD_TYPE)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
if(CXX_COMPILER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(SANITIZE)
  list(APPEND configure_args
       "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-omit-frame-pointer"
       "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
endif()
run_step("configure consumer" "${CMAKE_COMMAND}" ${configure_args})

# 3. Build and run it.
run_step("build consumer" "${CMAKE_COMMAND}" --build "${consumer_build}")
run_step("run consumer" "${consumer_build}/consumer")
message(STATUS "install_test: passed")
