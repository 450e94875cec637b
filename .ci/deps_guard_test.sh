#!/bin/bash
# `make deps` must install with a policy-rc.d that forbids starting services (exit 101),
# remove it afterwards (also when apt-get fails or the install is interrupted), and leave
# one that existed before untouched. Runs the real deps recipe against fake dpkg-query,
# id, dpkg and apt-get, with POLICY_RC_D pointing into a temporary folder: nothing is installed.
#   bash .ci/deps_guard_test.sh        (from the top of the tree; exit 0 = all cases pass)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
policy="$tmp/policy-rc.d"
seen="$tmp/seen"

# Every package reads as missing; we run as root.
printf '#!/bin/sh\nexit 1\n' > "$tmp/bin/dpkg-query"
printf '#!/bin/sh\necho 0\n' > "$tmp/bin/id"
# The :arm64 packages make the recipe ask dpkg for the foreign architectures: answer arm64,
# so that nothing touches this machine's real list.
printf '#!/bin/sh\n[ "$1" = --print-foreign-architectures ] && echo arm64 && exit 0\nexit 1\n' > "$tmp/bin/dpkg"
# apt-get install records what a maintainer script would get from policy-rc.d, then
# succeeds, fails or interrupts the recipe's shell as FAKE_APT says.
cat > "$tmp/bin/apt-get" <<'FAKE'
#!/bin/sh
[ "$1" = update ] && exit 0
if [ -x "$POLICY" ]; then "$POLICY" nginx start; echo "policy-rc.d exit $?" > "$SEEN"
else echo "no policy-rc.d" > "$SEEN"; fi
case "$FAKE_APT" in
  fail) exit 100 ;;
  interrupt) kill -TERM "$PPID"; exit 0 ;;
esac
exit 0
FAKE
chmod 755 "$tmp/bin/"*

failures=0
check() {  # check WHAT CONDITION...
  local what=$1; shift
  if "$@"; then echo "ok:   $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}
deps() {  # deps FAKE_APT -> exit code of make deps
  rm -f "$seen"
  env PATH="$tmp/bin:$PATH" POLICY="$policy" SEEN="$seen" FAKE_APT="$1" \
    make --no-print-directory -C "$top" deps POLICY_RC_D="$policy" > "$tmp/out" 2>&1
}

deps ok; rc=$?
check "install succeeds" test $rc -eq 0
check "apt-get ran under a policy-rc.d exiting 101" grep -qx "policy-rc.d exit 101" "$seen"
check "policy-rc.d removed after the install" test ! -e "$policy"

deps fail; rc=$?
check "a failed apt-get fails make deps" test $rc -ne 0
check "policy-rc.d removed after a failed install" test ! -e "$policy"

deps interrupt; rc=$?
check "an interrupted install fails make deps" test $rc -ne 0
check "policy-rc.d removed after an interrupted install" test ! -e "$policy"

printf '#!/bin/sh\n# the administrator'"'"'s own\nexit 0\n' > "$policy"
chmod 755 "$policy"
cp "$policy" "$tmp/before"
deps ok; rc=$?
check "install succeeds with a policy-rc.d already there" test $rc -eq 0
check "the existing policy-rc.d is the one apt-get saw" grep -qx "policy-rc.d exit 0" "$seen"
check "the existing policy-rc.d is left as it was" cmp -s "$policy" "$tmp/before"
check "make deps says it left it" grep -q "exists and is left as it is" "$tmp/out"

[ $failures -eq 0 ] || { echo "make deps output of the last case:"; cat "$tmp/out"; }
exit $((failures > 0))
