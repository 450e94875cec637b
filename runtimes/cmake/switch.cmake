# Switch layer: the three backends behind one interface (owner: switch layer).
add_library(sy_switch STATIC
  ${CMAKE_SOURCE_DIR}/asm/switch_x86_64_sysv_elf_gas.S
  ${CMAKE_SOURCE_DIR}/runtimes/src/switch.cpp)
target_include_directories(sy_switch PUBLIC ${CMAKE_SOURCE_DIR}/runtimes/include ${CMAKE_SOURCE_DIR})
target_link_libraries(sy_switch PUBLIC Boost::context Threads::Threads)

add_executable(switch_test ${CMAKE_SOURCE_DIR}/runtimes/src/switch_test.cpp)
target_link_libraries(switch_test PRIVATE sy_switch sy_stack GTest::gtest_main)
add_test(NAME switch_test COMMAND switch_test)
# `make test-asan` runs the tests labelled sanitize under ASan+UBSan, `make test-tsan` tsan.
set_tests_properties(switch_test PROPERTIES LABELS "sanitize;tsan")
