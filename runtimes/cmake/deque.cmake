# Chase-Lev deque (owner: deque). Header-only (runtimes/include/switchyard/deque.h);
# its tests live here.
add_executable(deque_test ${CMAKE_SOURCE_DIR}/runtimes/src/deque_test.cpp)
target_include_directories(deque_test PRIVATE ${CMAKE_SOURCE_DIR}/runtimes/include)
target_link_libraries(deque_test PRIVATE GTest::gtest_main Threads::Threads)
add_test(NAME deque_test COMMAND deque_test)
set_tests_properties(deque_test PROPERTIES LABELS "sanitize;tsan" TIMEOUT 300)

# The same stress against a deque built without the seq_cst fence in pop(): the test
# passes only if the stress catches a lost or doubled item (exit 0); exit 1 means it
# never did, and a crash fails it too. Not registered under SANITIZE=thread: TSan's
# instrumentation around each atomic access hides the store-buffer reordering it needs.
add_executable(deque_broken_test ${CMAKE_SOURCE_DIR}/runtimes/src/deque_broken_test.cpp)
target_include_directories(deque_broken_test PRIVATE ${CMAKE_SOURCE_DIR}/runtimes/include)
target_compile_definitions(deque_broken_test PRIVATE SY_DEQUE_TEST_BROKEN_TAKE_FENCE=1)
target_link_libraries(deque_broken_test PRIVATE Threads::Threads)
if(NOT SANITIZE MATCHES "thread")
  add_test(NAME deque_broken_fence_is_caught COMMAND deque_broken_test --seconds 60)
  set_tests_properties(deque_broken_fence_is_caught PROPERTIES TIMEOUT 120)
endif()
