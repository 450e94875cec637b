# Switch layer: the three backends behind one interface (owner: switch layer).
# The assembly routine for the target architecture (one file per arch/ABI, named as in
# Boost.Context: operation_arch_abi_format_assembler).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(SY_SWITCH_ASM ${CMAKE_SOURCE_DIR}/asm/switch_x86_64_sysv_elf_gas.S)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(SY_SWITCH_ASM ${CMAKE_SOURCE_DIR}/asm/switch_arm64_aapcs_elf_gas.S)
else()
  message(FATAL_ERROR "no assembly switch for CMAKE_SYSTEM_PROCESSOR=${CMAKE_SYSTEM_PROCESSOR} "
                      "(supported: x86_64, aarch64)")
endif()
add_library(sy_switch STATIC ${SY_SWITCH_ASM} ${CMAKE_SOURCE_DIR}/runtimes/src/switch.cpp)
target_include_directories(sy_switch PUBLIC ${CMAKE_SOURCE_DIR}/runtimes/include ${CMAKE_SOURCE_DIR})
target_link_libraries(sy_switch PUBLIC Boost::context Threads::Threads)

add_executable(switch_test ${CMAKE_SOURCE_DIR}/runtimes/src/switch_test.cpp)
target_link_libraries(switch_test PRIVATE sy_switch sy_stack GTest::gtest_main)
add_test(NAME switch_test COMMAND switch_test)
# `make test-asan` runs the tests labelled sanitize under ASan+UBSan, `make test-tsan` tsan.
set_tests_properties(switch_test PROPERTIES LABELS "sanitize;tsan")
