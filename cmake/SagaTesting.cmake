# saga_add_test(NAME <name> SOURCES <files...> [LIBS <targets...>]
#               [ENV <VAR=value>] [TIMEOUT <seconds>])
#
# The one helper that registers tests: builds a GoogleTest executable linked
# to caf_saga and the test support (tests/support), able to include the
# tests' own room ("tests/..."), and lets CTest discover every TEST in it. Unit tests live beside
# their code as <name>_test.cpp; integration tests live in tests/.
find_package(GTest REQUIRED)
include(GoogleTest)

function(saga_add_test)
  cmake_parse_arguments(arg "" "NAME;ENV;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  # Each test's bound (a test that starts whole clusters asks for more).
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  add_executable(${arg_NAME} ${arg_SOURCES})
  target_link_libraries(${arg_NAME} PRIVATE caf_saga saga_test_support
                                            GTest::gtest_main ${arg_LIBS})
  saga_publish_room(${arg_NAME} tests)
  saga_enable_warnings(${arg_NAME})
  if(arg_ENV)
    gtest_discover_tests(${arg_NAME} DISCOVERY_TIMEOUT 60
                         PROPERTIES TIMEOUT ${arg_TIMEOUT}
                                    ENVIRONMENT "${arg_ENV}")
  else()
    gtest_discover_tests(${arg_NAME} DISCOVERY_TIMEOUT 60
                         PROPERTIES TIMEOUT ${arg_TIMEOUT})
  endif()
endfunction()
