#!/usr/bin/env bash
# The emulated AArch64 stage of `make test`: cross-build with Debian's g++-aarch64-linux-gnu
# and the multiarch arm64 libraries (`make deps` installs them), then run under qemu-user:
#   - switch_test (every switch backend: registers d8-d15/x19-x29 survive, FPCR policy,
#     entry alignment, exceptions and unwinding inside a fiber, registers() for backtraces),
#   - stack_test and deque_test,
#   - the runtime tests on one representative variant per switch backend
#     (asm-pooled-fifo, ucontext-fresh-chaselev, boost-pooled-chaselev),
#   - the sanitizer builds compile-checked only (switch_test under ASan+UBSan and TSan).
# Iteration counts are divided by SY_TEST_SCALE (qemu runs 10-50x slower than native).
# qemu-user runs guest memory accesses with the x86 host's ordering, so this stage checks
# the ABI, the registers saved and the unwinding, never the memory orderings
# (runtimes/MEMORY_ORDER.md holds that argument; run natively on ARM64 for it, see README).
# Timings under emulation are not measurements and are not reported.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
BUILD=${AARCH64_BUILD:-build-aarch64-ci}
TOOLCHAIN=cmake/toolchain-aarch64.cmake
# qemu-aarch64 runs with the multiarch arm64 runtime (/lib/ld-linux-aarch64.so.1 and
# /lib/aarch64-linux-gnu from libc6:arm64 and friends), never with QEMU_LD_PREFIX (or -L)
# set to the cross toolchain's /usr/aarch64-linux-gnu: its ld.so paired with the multiarch
# libc.so.6 hangs in pthread_create (see cmake/toolchain-aarch64.cmake).
unset QEMU_LD_PREFIX
export SY_TEST_EMULATED=1
export SY_TEST_SCALE=${SY_TEST_SCALE:-20}
export CCACHE_BASEDIR=$PWD

for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "aarch64: $tool missing: run make deps" >&2; exit 1; }
done
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

# Ninja builds the six test targets in parallel (make builds listed targets one after
# another, and each of these is one source file: one core idle).
generator=()
if command -v ninja >/dev/null; then
  generator=(-G Ninja)
  if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=Ninja" "$BUILD/CMakeCache.txt"; then
    rm -rf "$BUILD"
  fi
fi

t0=$(date +%s)
# Release's -O2 without -g (build type "Emulated"): debug info is a fifth of the compile
# time and nothing here reads it (unwinding uses .eh_frame, backtraces the symbol table).
cmake -S . -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE=$TOOLCHAIN -DCMAKE_BUILD_TYPE=Emulated \
  -DCMAKE_CXX_FLAGS_EMULATED="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_EMULATED="-O2 -DNDEBUG" \
  -DCMAKE_ASM_FLAGS_EMULATED="" -DSY_TEST_ONE_VARIANT_PER_BACKEND=ON "${generator[@]}" "${launcher[@]}" >/dev/null
# One runtime test binary per switch backend of the variant registry (its SY_SWITCH lines).
mapfile -t runtime_tests < <(sed -n 's/^SY_SWITCH(\([a-z0-9_]*\),.*/runtime_test_\1/p' runtimes/include/switchyard/variants.def)
tests=(switch_test stack_test deque_test "${runtime_tests[@]}")
cmake --build "$BUILD" -j"$JOBS" --target "${tests[@]}"
t1=$(date +%s)
echo "aarch64: cross build of ${#tests[@]} tests in $((t1 - t0))s"
aarch64-linux-gnu-readelf -h "$BUILD/bin/switch_test" | grep -q "AArch64" || { echo "aarch64: not an AArch64 binary" >&2; exit 1; }

# One process per test binary; ctest would also work (the toolchain sets the emulator),
# but the runtime test binaries hold their time limits for native runs.
failed=0
for t in "${tests[@]}"; do
  echo "--- qemu-aarch64 $t"
  if ! timeout 300 qemu-aarch64 "$BUILD/bin/$t" --gtest_brief=1; then
    echo "aarch64: $t FAILED"
    failed=$((failed + 1))
  fi
done
t2=$(date +%s)
echo "aarch64: emulated tests in $((t2 - t1))s"

# Sanitizers on AArch64: compile-checked only (ASan/TSan under qemu-user need their shadow
# memory layouts, which qemu's guest address space does not provide reliably).
for san in address,undefined thread; do
  dir="$BUILD-san-${san%%,*}"
  cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE=$TOOLCHAIN -DCMAKE_BUILD_TYPE=Emulated \
    -DCMAKE_CXX_FLAGS_EMULATED="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_EMULATED="-O2 -DNDEBUG" \
    -DCMAKE_ASM_FLAGS_EMULATED="" -DSANITIZE=$san "${generator[@]}" "${launcher[@]}" >/dev/null
  cmake --build "$dir" -j"$JOBS" --target switch_test
  echo "aarch64: switch_test compiles with -fsanitize=$san"
done
echo "aarch64: stage total $(( $(date +%s) - t0 ))s"
[ "$failed" -eq 0 ]
