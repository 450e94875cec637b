# The fiber runtime (owner: runtime core). Header templates instantiated per variant; the
# variant-independent parts live in sy_runtime.
add_library(sy_runtime STATIC ${CMAKE_SOURCE_DIR}/runtimes/src/runtime.cpp ${CMAKE_SOURCE_DIR}/runtimes/src/io.cpp)
target_include_directories(sy_runtime PUBLIC ${CMAKE_SOURCE_DIR}/runtimes/include)
target_link_libraries(sy_runtime PUBLIC sy_switch sy_stack PkgConfig::UNWIND Threads::Threads)

# The switch backends, read from the variant registry (variants.def, which the C++ includes):
# one runtime_test_<switch> per SY_SWITCH line, so they build in parallel and a failure names
# its backend; each tests every variant on its switch. CMake re-runs when the registry changes.
set(SY_VARIANT_REGISTRY ${CMAKE_SOURCE_DIR}/runtimes/include/switchyard/variants.def)
set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${SY_VARIANT_REGISTRY})
file(STRINGS ${SY_VARIANT_REGISTRY} _sy_switch_lines REGEX "^SY_SWITCH\\([a-z0-9_]+,")
set(SY_SWITCHES)
foreach(line IN LISTS _sy_switch_lines)
  string(REGEX REPLACE "^SY_SWITCH\\(([a-z0-9_]+),.*" "\\1" name "${line}")
  list(APPEND SY_SWITCHES ${name})
endforeach()
if(NOT SY_SWITCHES)
  message(FATAL_ERROR "no SY_SWITCH(name, Type) line found in ${SY_VARIANT_REGISTRY}")
endif()
# SY_TEST_ONE_VARIANT_PER_BACKEND: build the runtime tests for one representative variant
# per backend, as the sanitizer builds do (the emulated AArch64 stage: a third of the
# compile time and of the qemu run time).
option(SY_TEST_ONE_VARIANT_PER_BACKEND "runtime_test_<backend>: one representative variant each" OFF)
foreach(backend IN LISTS SY_SWITCHES)
  add_executable(runtime_test_${backend} ${CMAKE_SOURCE_DIR}/runtimes/src/runtime_test_backend.cpp)
  target_compile_definitions(runtime_test_${backend} PRIVATE SY_TEST_SWITCH=${backend})
  if(SY_TEST_ONE_VARIANT_PER_BACKEND)
    target_compile_definitions(runtime_test_${backend} PRIVATE SY_TEST_ONE_VARIANT_PER_BACKEND=1)
  endif()
  target_link_libraries(runtime_test_${backend} PRIVATE sy_runtime GTest::gtest_main)
  add_test(NAME runtime_test_${backend} COMMAND runtime_test_${backend})
  set_tests_properties(runtime_test_${backend} PROPERTIES LABELS "sanitize" TIMEOUT 600)
endforeach()
add_executable(runtime_unit_test ${CMAKE_SOURCE_DIR}/runtimes/src/runtime_unit_test.cpp)
target_link_libraries(runtime_unit_test PRIVATE sy_runtime GTest::gtest_main)
add_test(NAME runtime_unit_test COMMAND runtime_unit_test)
set_tests_properties(runtime_unit_test PROPERTIES LABELS "sanitize")

add_executable(runtime_bench
  ${CMAKE_SOURCE_DIR}/runtimes/src/runtime_bench.cpp
  ${CMAKE_SOURCE_DIR}/scenarios/peers/boost_fiber_bench.cpp)
target_link_libraries(runtime_bench PRIVATE sy_runtime Boost::fiber Boost::context benchmark::benchmark_main)

# Many carriers (every variant); also run under ThreadSanitizer by `make test`.
add_executable(runtime_mc_test ${CMAKE_SOURCE_DIR}/runtimes/src/runtime_mc_test.cpp)
target_link_libraries(runtime_mc_test PRIVATE sy_runtime GTest::gtest_main)
add_test(NAME runtime_mc_test COMMAND runtime_mc_test)
set_tests_properties(runtime_mc_test PROPERTIES LABELS "tsan" TIMEOUT 900)

# Fiber I/O (epoll per carrier, the poll backend, socket helpers); also under TSan.
add_executable(io_test ${CMAKE_SOURCE_DIR}/runtimes/src/io_test.cpp)
target_link_libraries(io_test PRIVATE sy_runtime GTest::gtest_main)
add_test(NAME io_test COMMAND io_test)
set_tests_properties(io_test PROPERTIES LABELS "sanitize;tsan" TIMEOUT 600)

# Proof that a variant is one policy header plus one registry line (ADDING_A_VARIANT.md): a
# throwaway scheduler registered from the test's own .def, shown in variants(), through the
# typed runtime tests and through the skynet scenario. The matrix is narrowed to asm x pooled
# (3 variants), so the binary costs about a scenario file and a quarter of a runtime test.
add_executable(variant_registration_test
  ${CMAKE_SOURCE_DIR}/runtimes/src/variant_registration_test.cpp
  ${CMAKE_SOURCE_DIR}/scenarios/skynet.cpp
  ${CMAKE_SOURCE_DIR}/scenarios/helpers.cpp)
target_include_directories(variant_registration_test PRIVATE ${CMAKE_SOURCE_DIR}/runtimes/src ${CMAKE_SOURCE_DIR}/scenarios)
target_compile_definitions(variant_registration_test PRIVATE
  SY_REGISTRY_EXTRA="variant_registration/registry_extra.def"
  SY_MATRIX_ONLY_SWITCH="asm" SY_MATRIX_ONLY_STACKS="pooled")
target_link_libraries(variant_registration_test PRIVATE sy_runtime nlohmann_json::nlohmann_json GTest::gtest_main)
add_test(NAME variant_registration_test COMMAND variant_registration_test)
set_tests_properties(variant_registration_test PROPERTIES TIMEOUT 300)
