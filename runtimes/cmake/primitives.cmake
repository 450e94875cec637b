# Fiber-aware blocking primitives: Mutex, CondVar, Semaphore, Channel. Header-only
# templates over the runtime type (runtimes/include/switchyard/primitives.h).
add_executable(primitives_test ${CMAKE_SOURCE_DIR}/runtimes/src/primitives_test.cpp)
target_link_libraries(primitives_test PRIVATE sy_runtime GTest::gtest_main)
add_test(NAME primitives_test COMMAND primitives_test)
# tsan: also run by the ThreadSanitizer build (the primitives are cross-carrier code).
set_tests_properties(primitives_test PROPERTIES LABELS "tsan" TIMEOUT 900)
