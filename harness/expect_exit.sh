#!/bin/bash
# usage: expect_exit.sh CODE REGEX COMMAND...   passes when COMMAND exits with CODE and its
# stderr matches REGEX (extended, case-sensitive) and it printed nothing on stdout.
want=$1 regex=$2; shift 2
out=$("$@" 2>/tmp/expect_exit.$$); rc=$?
err=$(cat /tmp/expect_exit.$$); rm -f /tmp/expect_exit.$$
echo "exit $rc; stderr: $err"
[ "$rc" -eq "$want" ] || { echo "FAIL: exit code $rc, want $want"; exit 1; }
grep -Eq -- "$regex" <<<"$err" || { echo "FAIL: stderr does not match /$regex/"; exit 1; }
[ -z "$out" ] || { echo "FAIL: printed on stdout: $out"; exit 1; }
echo PASS
