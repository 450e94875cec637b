#!/usr/bin/env bash
# ctest ci_stress_selftest: .ci/stress.sh's verdicts on stand-in test binaries that print
# what Google Test prints: one passes, one fails one test in every repeat, one hangs in a
# named test, one fails only its second repeat, one is missing. The summary must name
# each outcome, and the exit code must be 1; with only the passing binary, 0.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/stress-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
status=0

fake() {  # fake NAME BODY: a stand-in binary; $repeat is its --gtest_repeat
  { echo '#!/usr/bin/env bash'
    echo 'repeat=1; for a in "$@"; do case $a in --gtest_repeat=*) repeat=${a#*=} ;; esac; done'
    echo "$2"
  } >"$tmp/bin/$1"
  chmod +x "$tmp/bin/$1"
}
ok_repeat='echo "[ RUN      ] A.Ok"; echo "[       OK ] A.Ok (1 ms)"; echo "[==========] 1 test from 1 test suite ran. (1 ms total)"'
fake deque_test "for i in \$(seq \$repeat); do $ok_repeat; done"
fake runtime_mc_test 'for i in $(seq $repeat); do echo "[ RUN      ] Mc.Racy"
  echo "[  FAILED  ] Mc.Racy, where TypeParam = X<1> (3 ms)"; echo "[==========] 1 test ran. (3 ms total)"; done
  echo "[  FAILED  ] Mc.Racy, where TypeParam = X<1>"; exit 1'
fake primitives_test 'echo "[ RUN      ] P.Hangs"; exec sleep 600'
fake io_test "$ok_repeat"'; echo "[ RUN      ] Io.Second"; echo "[  FAILED  ] Io.Second (2 ms)"; exit 1'
# gc_test is missing.

out=$(bash .ci/stress.sh --build "$tmp" --repeat 2 --copies 2 --max-seconds 3 2>&1)
rc=$?
expect() {  # expect DESCRIPTION REGEX
  if ! grep -qE "$2" <<<"$out"; then echo "FAIL: $1: no line matching /$2/"; status=1; fi
}
[ $rc -eq 1 ] || { echo "FAIL: exit $rc with failures, want 1"; status=1; }
expect "passing binary" '^  deque_test: ok, 2 x 2 repeats'
expect "failing test counted per repeat, in each copy" \
  '^  runtime_mc_test: FAILED.*copy 1: exit 1; failed: Mc.Racy x2; copy 2: exit 1; failed: Mc.Racy x2'
expect "hang named with its test" '^  primitives_test: FAILED.*copy 1: over its 3s budget \(a hang\?\) in P.Hangs'
expect "a failure in one repeat" '^  io_test: FAILED.*failed: Io.Second x1'
expect "missing binary" '^  gc_test: MISSING'
expect "summary line" '^stress: 1 passed, 4 failed \(REPEAT=2, COPIES=2, cpu 0\)$'

# Only the passing binary present: exit 0.
rm "$tmp/bin/runtime_mc_test" "$tmp/bin/primitives_test" "$tmp/bin/io_test"
for b in runtime_mc_test primitives_test io_test gc_test; do fake $b "for i in \$(seq \$repeat); do $ok_repeat; done"; done
out=$(bash .ci/stress.sh --build "$tmp" --repeat 1 --copies 2 2>&1)
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: exit $rc when every binary passed, want 0"; status=1; }
expect "all passed" '^stress: 5 passed, 0 failed'
[ $status -eq 0 ] && echo "stress selftest: ok" || echo "$out"
exit $status
