#!/usr/bin/env bash
# The stages of `make test`, each with a time budget, so that the whole fits in 45 minutes
# (2700 s) on 2 cores (CI stops at 90). `make deps` has already run. Every stage runs even
# if an earlier one failed (a red stage should not hide another), and the last line is the
# summary CI reads: "test: N passed, N failed".
#
#   .ci/stages.sh                  run every stage
#   .ci/stages.sh --check-budget   check the budget table only (ctest ci_stage_budget)
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
JOBS=${JOBS:-$(nproc)}
BUILD=${BUILD:-build}

# ---- The budget table: every stage below, seconds on the 2-core CI machine -------------
# A budget is the stage's timeout. The sum may not exceed TOTAL_BUDGET: a stage that needs
# more takes it from another, with measured times (the summary prints each stage's time
# beside its budget, and $BUILD/ci-stage-times.tsv keeps them). Rebalanced from the last
# CI run (1392 s in all for the stages then present; its per-stage times were not kept,
# which the times file now fixes), then from a clean-clone `make test` on the 2-vCPU
# development VM on 2026-12-06 (2284 s in all, some stages beside other work): about
# 1.2-2x each measurement. The stress stage bounds itself at 90 s.
TOTAL_BUDGET=2700
declare -A BUDGET=(
  [build]=880               # every target, cold (no ccache): 979 s with -g beside other work; -g1 about 28% less
  [unit-tests]=110          # ctest -LE 'slow|harness': 68 s measured
  [stress]=100              # .ci/stress.sh --quick: 60 s measured, at most 90 s by construction
  [asan-ubsan]=560          # Ninja, -g1: 667 s with a stress run holding the other CPU; -g and Makefiles cut at 380
  [tsan]=300                # 265 s with -g and Makefiles beside a stress run
  [aarch64]=310             # .ci/aarch64.sh: 248 s measured (277 s cold at load 17)
  [harness-tests]=80        # ctest -L harness: 46 s measured
  [bench-quick]=170         # profile quick: 128 s measured
  [figures]=90              # 46 s measured; a fresh machine first builds matplotlib's font cache
  [variant-comparison]=10   # 1 s measured
  [analysis-pytest]=80      # 61 s measured
  [deps-guard]=10           # 1 s measured
)
STAGE_ORDER=(build unit-tests stress asan-ubsan tsan aarch64 harness-tests bench-quick figures
             variant-comparison analysis-pytest deps-guard)

# Checks the table: every stage the script runs has a budget and every budget a stage
# (no placeholders), and the sum is within TOTAL_BUDGET. Prints the total.
check_budget() {
  local ok=0 sum=0 name
  local -a called
  mapfile -t called < <(grep -oE '^[[:space:]]*stage [a-z0-9-]+' "$0" | awk '{print $2}' | sort -u)
  for name in "${called[@]}"; do
    [ -n "${BUDGET[$name]+x}" ] || { echo "budget: stage $name has no budget in the table"; ok=1; }
  done
  for name in "${!BUDGET[@]}"; do
    printf '%s\n' "${called[@]}" | grep -qx "$name" || { echo "budget: $name has a budget but no stage"; ok=1; }
    sum=$((sum + BUDGET[$name]))
  done
  [ ${#STAGE_ORDER[@]} -eq ${#BUDGET[@]} ] || { echo "budget: STAGE_ORDER and BUDGET differ"; ok=1; }
  if [ $sum -gt $TOTAL_BUDGET ]; then
    echo "budget: the stages' budgets sum to ${sum}s, over the ${TOTAL_BUDGET}s allowed"; ok=1
  fi
  echo "budget: ${#BUDGET[@]} stages, ${sum}s of ${TOTAL_BUDGET}s"
  BUDGET_SUM=$sum
  return $ok
}
if [ "${1:-}" = "--check-budget" ]; then
  check_budget
  exit
fi
if ! check_budget; then
  echo "test: 0 passed, 1 failed (the budget table is wrong: nothing was run)"
  exit 1
fi

passed=0
failed=0
failures=()
declare -A TOOK=()
t_start=$(date +%s)

stage() {  # stage NAME COMMAND...   (the budget comes from the table)
  local name=$1
  shift
  local budget=${BUDGET[$name]}
  local t0=$(date +%s)
  echo
  echo "=== stage: $name (budget ${budget}s)"
  timeout --kill-after=30 "$budget" bash -c "$*"
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  TOOK[$name]=$dt
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "=== stage: $name: ok in ${dt}s"
  else
    failed=$((failed + 1))
    failures+=("$name")
    [ $rc -eq 124 ] && echo "=== stage: $name: OVER BUDGET (${budget}s)" || echo "=== stage: $name: FAILED (exit $rc) in ${dt}s"
  fi
}

stage build "cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release -DSY_DEBUG_INFO=-g1 >/dev/null && cmake --build $BUILD -j$JOBS"
stage unit-tests "cd $BUILD && ctest --output-on-failure -j$JOBS -LE 'slow|harness'"
# The concurrency tests all at once on one CPU, one copy each, each suite once; at most 90 s
# (`make stress` runs more copies and repeats).
stage stress "bash .ci/stress.sh --quick --build $BUILD"
# The sanitizer stages name their targets: with Makefiles, `cmake --build --target a b c` builds
# them one after another (and most are one source file: one core idle), so a new build tree
# uses Ninja when it is there (`make deps` installs ninja-build); an existing tree keeps its
# generator.
generator() { [ ! -f "$1/CMakeCache.txt" ] && command -v ninja >/dev/null && echo "-G Ninja"; }
# One runtime test binary per switch backend of the variant registry (its SY_SWITCH lines).
runtime_tests=$(sed -n 's/^SY_SWITCH(\([a-z0-9_]*\),.*/runtime_test_\1/p' runtimes/include/switchyard/variants.def | tr '\n' ' ')
# Sanitizer builds compile one representative variant per switch backend (asm-pooled-fifo,
# ucontext-fresh-chaselev, boost-pooled-chaselev: every stack and scheduler choice appears),
# see runtime_test_<backend>.cpp; the switch, stack and deque tests run whole.
stage asan-ubsan "cmake -S . -B build-asan $(generator build-asan) -DCMAKE_BUILD_TYPE=Release -DSY_DEBUG_INFO=-g1 -DSANITIZE=address,undefined >/dev/null &&
  cmake --build build-asan -j$JOBS --target switch_test stack_test deque_test runtime_unit_test $runtime_tests io_test &&
  cd build-asan && ctest --output-on-failure -j$JOBS -L sanitize"
# ThreadSanitizer: the lock-free pieces, the multi-carrier runtime and the blocking
# primitives (label tsan), with zero reports.
stage tsan "cmake -S . -B build-tsan $(generator build-tsan) -DCMAKE_BUILD_TYPE=Release -DSY_DEBUG_INFO=-g1 -DSANITIZE=thread >/dev/null &&
  cmake --build build-tsan -j$JOBS --target switch_test deque_test runtime_mc_test primitives_test io_test &&
  cd build-tsan && ctest --output-on-failure -L tsan"
stage aarch64 "bash .ci/aarch64.sh"
if [ -x "$BUILD/bin/switchyard" ]; then
  stage harness-tests "cd $BUILD && ctest --output-on-failure -L harness"
  stage bench-quick "make --no-print-directory bench-quick BUILD=$BUILD"
  if [ -f analysis/figures.py ]; then
    stage figures "$PYTHON analysis/figures.py results/quick --check"
    stage variant-comparison "$PYTHON analysis/compare.py --variants results/quick --check-invariants"
  fi
fi
if [ -d analysis/tests ]; then
  stage analysis-pytest "$PYTHON -m pytest -q analysis/tests"
fi
stage deps-guard "bash .ci/deps_guard_test.sh"

echo
echo "stage times (s, budget):"
mkdir -p "$BUILD"
: >"$BUILD/ci-stage-times.tsv"
for name in "${STAGE_ORDER[@]}"; do
  took=${TOOK[$name]:-}
  printf '  %-20s %6s %6s\n' "$name" "${took:-not run}" "${BUDGET[$name]}"
  printf '%s\t%s\t%s\n' "$name" "${took:--}" "${BUDGET[$name]}" >>"$BUILD/ci-stage-times.tsv"
done
echo "make test: $(( $(date +%s) - t_start ))s in all; the stages' budgets sum to ${BUDGET_SUM}s of ${TOTAL_BUDGET}s"
[ $failed -gt 0 ] && echo "failed stages: ${failures[*]}"
echo "test: $passed passed, $failed failed"
[ $failed -eq 0 ]
