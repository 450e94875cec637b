# Chase-Lev deque (owner: deque). Header-only; tests here.
add_executable(deque_test ${CMAKE_SOURCE_DIR}/runtimes/src/deque_test.cpp)
target_include_directories(deque_test PRIVATE ${CMAKE_SOURCE_DIR}/runtimes/include)
target_link_libraries(deque_test PRIVATE GTest::gtest_main Threads::Threads)
add_test(NAME deque_test COMMAND deque_test)
