# Fiber stacks as roots of the Boehm-Demers-Weiser collector (gc.h). Only the GC
# targets link libgc: sy_gc, gc_test and whatever links sy_gc (the gc_scan scenario).
# Without libgc-dev, sy_gc is an empty interface (SY_HAVE_BDWGC undefined) and the scenario
# reports itself skipped.
if(BDWGC_FOUND AND NOT SANITIZE)
  add_library(sy_gc STATIC ${CMAKE_SOURCE_DIR}/runtimes/src/gc.cpp)
  target_link_libraries(sy_gc PUBLIC sy_runtime PkgConfig::BDWGC)
  target_compile_definitions(sy_gc PUBLIC SY_HAVE_BDWGC=1)

  # Not labelled sanitize/tsan: bdwgc scans whole stacks conservatively (ASan would flag
  # the reads of other frames' redzones) and reads other threads' stacks while they are
  # stopped by signals (a data race by TSan's rules); the sanitizer builds skip it.
  add_executable(gc_test ${CMAKE_SOURCE_DIR}/runtimes/src/gc_test.cpp)
  target_link_libraries(gc_test PRIVATE sy_gc GTest::gtest_main)
  add_test(NAME gc_test COMMAND gc_test)
  set_tests_properties(gc_test PROPERTIES TIMEOUT 300)
else()
  add_library(sy_gc INTERFACE)
  target_link_libraries(sy_gc INTERFACE sy_runtime)
  if(NOT BDWGC_FOUND)
    message(STATUS "libgc-dev (bdw-gc) not found: gc_test not built, the gc_scan scenario reports skipped")
  endif()
endif()
