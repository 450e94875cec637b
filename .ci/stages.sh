#!/usr/bin/env bash
# The stages of `make test`, each with a time budget, so that the whole fits in 40 minutes
# on 2 cores (CI stops at 90). `make deps` has already run. Every stage runs even if an
# earlier one failed (a red stage should not hide another), and the last line is the
# summary CI reads: "test: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
JOBS=${JOBS:-$(nproc)}
BUILD=${BUILD:-build}
passed=0
failed=0
failures=()
t_start=$(date +%s)

stage() {  # stage NAME BUDGET_SECONDS COMMAND...
  local name=$1 budget=$2
  shift 2
  local t0=$(date +%s)
  echo
  echo "=== stage: $name (budget ${budget}s)"
  timeout --kill-after=30 "$budget" bash -c "$*"
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "=== stage: $name: ok in ${dt}s"
  else
    failed=$((failed + 1))
    failures+=("$name")
    [ $rc -eq 124 ] && echo "=== stage: $name: OVER BUDGET (${budget}s)" || echo "=== stage: $name: FAILED (exit $rc) in ${dt}s"
  fi
}

stage build 1500 "cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build $BUILD -j$JOBS"
stage unit-tests 900 "cd $BUILD && ctest --output-on-failure -j$JOBS -LE 'slow|harness'"
# Sanitizer builds compile one representative variant per switch backend (asm-pooled-fifo,
# ucontext-fresh-chaselev, boost-pooled-chaselev: every stack and scheduler choice appears),
# see runtime_test_<backend>.cpp; the switch, stack and deque tests run whole.
stage asan-ubsan 1200 "cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DSANITIZE=address,undefined >/dev/null &&
  cmake --build build-asan -j$JOBS --target switch_test stack_test deque_test runtime_unit_test runtime_test_asm runtime_test_ucontext runtime_test_boost io_test &&
  cd build-asan && ctest --output-on-failure -j$JOBS -L sanitize"
# ThreadSanitizer: the lock-free pieces, the multi-carrier runtime and the blocking
# primitives (label tsan), with zero reports.
stage tsan 1200 "cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Release -DSANITIZE=thread >/dev/null &&
  cmake --build build-tsan -j$JOBS --target switch_test deque_test runtime_mc_test primitives_test io_test &&
  cd build-tsan && ctest --output-on-failure -L tsan"
stage aarch64 600 "bash .ci/aarch64.sh"
if [ -x "$BUILD/bin/switchyard" ]; then
  stage harness-tests 600 "cd $BUILD && ctest --output-on-failure -L harness"
  stage bench-quick 420 "make --no-print-directory bench-quick BUILD=$BUILD"
  if [ -f analysis/figures.py ]; then
    stage figures 300 "$PYTHON analysis/figures.py results/quick --check"
    stage variant-comparison 120 "$PYTHON analysis/compare.py --variants results/quick --check-invariants"
  fi
fi
if [ -d analysis/tests ]; then
  stage analysis-pytest 300 "$PYTHON -m pytest -q analysis/tests"
fi

echo
echo "make test: $(( $(date +%s) - t_start ))s in all"
[ $failed -gt 0 ] && echo "failed stages: ${failures[*]}"
echo "test: $passed passed, $failed failed"
[ $failed -eq 0 ]
