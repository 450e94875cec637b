#!/bin/bash
# usage: expect_output.sh CODE REGEX... -- COMMAND...   passes when COMMAND exits with CODE
# and its stdout matches every REGEX (extended, case-sensitive): e.g. that --help describes
# every option.
want=$1; shift
regexes=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do regexes+=("$1"); shift; done
[ "$1" = "--" ] || { echo "usage: expect_output.sh CODE REGEX... -- COMMAND..."; exit 1; }
shift
out=$("$@"); rc=$?
echo "exit $rc; stdout:"; echo "$out"
[ "$rc" -eq "$want" ] || { echo "FAIL: exit code $rc, want $want"; exit 1; }
for r in "${regexes[@]}"; do
  grep -Eq -- "$r" <<<"$out" || { echo "FAIL: stdout does not match /$r/"; exit 1; }
done
echo PASS
