# Helpers shared by the folders' CMakeLists.

# sluice_library(NAME SOURCES ... DEPS ...): a static library of our own code.
function(sluice_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE sluice_warnings)
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# sluice_test(NAME SOURCES ... DEPS ... [LABELS ...]): a GoogleTest binary registered with ctest.
function(sluice_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS;ENVIRONMENT" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main
                                        sluice_warnings)
  set(env)
  if(ARG_ENVIRONMENT)
    set(env ENVIRONMENT "${ARG_ENVIRONMENT}")
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}" ${env}
                       DISCOVERY_TIMEOUT 60)
endfunction()

# sluice_bench(NAME SOURCES ... DEPS ...): a Google Benchmark binary (not a test).
function(sluice_bench name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} benchmark::benchmark sluice_warnings)
endfunction()

# sluice_add_sink(NAME SOURCES ...): a sink plugin .so built against the public SDK only.
function(sluice_add_sink name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(sluice_sink_${name} MODULE ${ARG_SOURCES})
  target_link_libraries(sluice_sink_${name} PRIVATE sluice_sdk ${ARG_DEPS} sluice_warnings)
  set_target_properties(sluice_sink_${name} PROPERTIES
    OUTPUT_NAME ${name} PREFIX "" 
    LIBRARY_OUTPUT_DIRECTORY ${SLUICE_PLUGIN_OUTPUT_DIR}
    C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
endfunction()
