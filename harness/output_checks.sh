#!/bin/bash
# usage: output_checks.sh SWITCHYARD SCRATCH_DIR
# Output destinations are checked before anything is measured or set: each bad one exits
# 2 at once with a message naming it, and leaves no temporary file behind.
SY=$1 D=$2
rm -rf "$D"; mkdir -p "$D/isdir"
status=0
expect() {  # description, wanted exit code, stderr regex, command...
  local what=$1 want=$2 regex=$3; shift 3
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -Eq -- "$regex" <<<"$err"; then
    echo "FAIL: $what: exit $rc (want $want), stderr: $err (want /$regex/)"; status=1
  else
    echo "ok: $what: $(head -1 <<<"$err")"
  fi
  # Nothing may have been measured: no progress line (execute.cpp prints "[i/n]").
  if grep -Eq '^\[[0-9]+/[0-9]+\]' <<<"$err"; then echo "FAIL: $what: something was measured"; status=1; fi
  # Nor any kernel setting touched (bench's messages when it sets or skips them).
  if grep -Eq 'kernel settings|bench: set|could not set' <<<"$err"; then
    echo "FAIL: $what: kernel settings were applied"; status=1
  fi
}

# skynet at its default size on every variant takes minutes: measuring first would time out.
expect "run --out DIR" 2 "--out $D/isdir: $D/isdir is a directory" \
  "$SY" run --scenario skynet --variant all --out "$D/isdir"
[ -e "$D/isdir.tmp" ] && { echo "FAIL: $D/isdir.tmp left behind"; status=1; }
expect "run --out in a missing directory" 2 "--out $D/missing/r.json: cannot create $D/missing/r.json.tmp" \
  "$SY" run --scenario skynet --variant all --out "$D/missing/r.json"
# A writable destination passes the check and leaves nothing (a dry run measures nothing).
"$SY" run --scenario yield --variant asm-pooled-fifo --out "$D/ok.json" --dry-run >/dev/null ||
  { echo "FAIL: a writable --out was refused"; status=1; }
ls "$D" | grep -q 'ok.json' && { echo "FAIL: the check left $(ls "$D")"; status=1; }

# bench: a filter that matches nothing, or an unusable directory, changes no setting.
expect "bench --filter matching nothing" 2 "nothing to run: --filter \^nothing\\$ matched no measurement" \
  "$SY" bench --profile quick --out-dir "$D/bench" --filter '^nothing$'
[ -e "$D/bench" ] && { echo "FAIL: bench created $D/bench with nothing to run"; status=1; }
: >"$D/afile"
expect "bench --out-dir under a file" 2 "--out-dir $D/afile/sub: cannot create it" \
  "$SY" bench --profile quick --out-dir "$D/afile/sub"
mkdir -p "$D/bench2/switch.json"
expect "bench --out-dir holding a directory where a results file goes" 2 "switch.json is a directory" \
  "$SY" bench --profile quick --out-dir "$D/bench2"
# A measurement's progress line ends with what it measured: name median [min–max] unit.
err=$("$SY" run --scenario timers --variant asm-pooled-fifo --param fibers=10 --param max_ms=1 --repetitions 2 \
  --out "$D/timers.json" 2>&1 >/dev/null)
if grep -Eq '^ +ok in [0-9.]+ s: lateness_max_us [0-9.e+-]+ \[[0-9.e+-]+–[0-9.e+-]+\] us; .*; time_s [0-9.e+-]+ \[[0-9.e+-]+–[0-9.e+-]+\] s$' <<<"$err"; then
  echo "ok: progress line with values: $(grep 'ok in' <<<"$err")"
else
  echo "FAIL: no 'name median [min–max] unit' on the progress line: $err"; status=1
fi
[ -e "$D/timers.json.tmp" ] && { echo "FAIL: $D/timers.json.tmp left behind"; status=1; }
# Standard output: a summary table by default, the results JSON with --format json.
tiny=(run --scenario timers --variant asm-pooled-fifo --peer coro --param fibers=10 --param max_ms=1 --repetitions 2)
table=$("$SY" "${tiny[@]}" 2>/dev/null)
if grep -q '^measurement  *status  *median \[min–max\] unit$' <<<"$table" &&
   grep -Eq '^timers/asm-pooled-fifo/\S+ +ok +lateness_max_us [0-9.e+-]+ \[' <<<"$table" &&
   grep -Eq '^timers/coro/\S+ +ok +frame_kib_per_task ' <<<"$table" && [ "$(wc -l <<<"$table")" -eq 3 ]; then
  echo "ok: summary table"
else
  echo "FAIL: summary table: $table"; status=1
fi
json=$("$SY" "${tiny[@]}" --format json 2>/dev/null)
# Two entries, both ok (each also holds its runs' records, which have a status of their own).
if grep -q '"schema": "switchyard-results"' <<<"$json" &&
   [ "$(/usr/bin/python3 -c 'import json,sys; print(sum(e["status"] == "ok" for e in json.load(sys.stdin)["entries"]))' <<<"$json")" = 2 ]; then
  echo "ok: --format json"
else
  echo "FAIL: --format json: $json"; status=1
fi
# The ETA estimates each scenario by its own mean: after two fast timers runs, the yield
# runs still to come are not priced at the timers' speed ("~0:00 left").
err=$("$SY" run --scenario timers,yield --variant asm-pooled-fifo,asm-fresh-fifo --param fibers=10 --param max_ms=1 \
  --repetitions 2 --min-time 0.001 2>&1 >/dev/null)
if grep -Eq '^\[3/4\] yield/asm-pooled-fifo .*left \+ 2 measurement\(s\) not yet estimated\)$' <<<"$err" &&
   grep -Eq '^\[4/4\] yield/asm-fresh-fifo .*~[0-9:]+ left\)$' <<<"$err"; then
  echo "ok: per-scenario ETA"
else
  echo "FAIL: per-scenario ETA: $err"; status=1
fi
exit $status
