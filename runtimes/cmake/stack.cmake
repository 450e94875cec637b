# Stacks: fresh and pooled, guarded or carved from slabs (owner: stacks).
add_library(sy_stack STATIC ${CMAKE_SOURCE_DIR}/runtimes/src/stack.cpp)
target_include_directories(sy_stack PUBLIC ${CMAKE_SOURCE_DIR}/runtimes/include)
target_link_libraries(sy_stack PUBLIC Threads::Threads)

# stack_test needs only switch.h's StackRange (header-only), not the switch backends: it
# switches onto a test stack with its own makecontext/swapcontext.
add_executable(stack_test ${CMAKE_SOURCE_DIR}/runtimes/src/stack_test.cpp)
target_link_libraries(stack_test PRIVATE sy_stack GTest::gtest_main)
add_test(NAME stack_test COMMAND stack_test)
set_tests_properties(stack_test PROPERTIES LABELS sanitize)

# switch_bench holds BM_Switch (switch_bench.cpp) and BM_Stack (stack_bench.cpp).
add_executable(switch_bench
  ${CMAKE_SOURCE_DIR}/runtimes/src/switch_bench.cpp
  ${CMAKE_SOURCE_DIR}/runtimes/src/stack_bench.cpp)
target_link_libraries(switch_bench PRIVATE sy_switch sy_stack benchmark::benchmark_main)
