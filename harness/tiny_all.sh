#!/bin/bash
# ctest harness_tiny_all: every scenario on every variant, each built peer, at tiny size;
# every file written must validate against the schema, and no entry may have failed.
# Also: Ctrl-C in the middle of a run leaves a valid file of what finished and exits 130.
# usage: tiny_all.sh SWITCHYARD PYTHON VALIDATOR OUTDIR
set -u
SY=$1 PY=$2 VALIDATE=$3 OUT=$4
rm -rf "$OUT" && mkdir -p "$OUT"
status=0
run() {  # name, then switchyard arguments
  local name=$1; shift
  echo "== $name: switchyard $*"
  if ! "$SY" "$@" --out "$OUT/$name.json" 2> "$OUT/$name.log"; then
    echo "FAIL: switchyard exited $? for $name"; tail -20 "$OUT/$name.log"; status=1
  fi
}
run timers run --scenario timers --variant all --peer all --param fibers=300 --param max_ms=5 --repetitions 2 --timeout 120
run skynet run --scenario skynet --variant all --peer all --param fibers=100 --param carriers=1,2 --repetitions 2 --timeout 120
run steal run --scenario steal --variant all --peer all --param workload=skynet,fib --param fibers=100 --param fib_n=16 \
    --param cutoff=8 --param carriers=1,2 --repetitions 2 --timeout 120
# A guarded FIFO tree of 1.1M fibers needs more mappings than vm.max_map_count allows:
# a skipped entry with the reason, decided before anything is mapped.
run skynet_guard run --scenario skynet --variant asm-pooled-fifo --param fibers=1000000 --param guard=on \
    --repetitions 1 --timeout 60
# skynet's tree is complete only for a power of 10 leaves: a usage error (exit 2) before
# anything runs, for the scenario and for steal's skynet workload.
for args in "--scenario skynet --param fibers=1234" "--scenario steal --param workload=skynet --param fibers=20"; do
  msg=$("$SY" run $args --out "$OUT/never.json" 2>&1); rc=$?
  if [ $rc -ne 2 ] || ! grep -q "must be a power of 10" <<<"$msg" || [ -e "$OUT/never.json" ]; then
    echo "FAIL: switchyard run $args: exit $rc, want 2 and 'must be a power of 10' ($msg)"; status=1
  fi
done
# stacks: every variant, both guard settings, two sizes, a few hundred parked fibers.
run stacks run --scenario stacks --variant all --param fibers=200 --param stack_kib=16,64 --param guard=on,off \
    --repetitions 2 --timeout 120
# gc_scan: a pause cell per switch backend (sp design, used and whole scans, one cell too
# deep for its stack: skipped) and the per-yield cost with the collector off and each design.
run gc_scan run --scenario gc_scan --variant asm-pooled-fifo,ucontext-pooled-fifo,boost-pooled-fifo \
    --param fibers=50 --param depth_kib=1,16 --param stack_kib=16 --param scan=used,whole --repetitions 2 --timeout 120
run gc_switch run --scenario gc_scan --variant asm-pooled-fifo --param measure=switch \
    --param design=off,sp,locked --repetitions 2 --timeout 120
# channel, mutex, io_pingpong: every variant and each peer at tiny size, plus the
# I/O knobs (registration x backend x carriers x active) on one variant.
run channel run --scenario channel --variant all --peer all --param ops=2000 --param carriers=1,2 \
    --repetitions 2 --timeout 120
run mutex run --scenario mutex --variant all --peer all --param fibers=2,50 --param ops=2000 --repetitions 2 \
    --timeout 120
run io_pingpong run --scenario io_pingpong --variant all --peer all --param pairs=1,200 --param ops=300 \
    --repetitions 2 --timeout 120
run io_knobs run --scenario io_pingpong --variant asm-pooled-chaselev --param pairs=50 --param ops=200 \
    --param registration=oneshot,persistent,level --param io_backend=epoll,poll --param carriers=1,2 \
    --param active=one,all --repetitions 1 --timeout 120
run micro run --scenario yield,spawn_join --variant all --peer all --repetitions 2 --min-time 0.005 --timeout 120
# In two rounds (fresh processes, shuffled per round, the noise floor around each).
run switch run --scenario switch --repetitions 2 --min-time 0.005 --timeout 120 --runs 2
# http: one variant and every peer (threads, eventloop, go, nginx) at 50 connections, 1 s of
# wrk, and the idle-memory mode; a server not built or installed is skipped with the reason.
run http run --scenario http --variant asm-pooled-fifo --peer all --param connections=50 --param mode=load,idle \
    --param duration_s=1 --repetitions 1 --timeout 120
# The seed's 25,000 connections need more open files than a 20,000 limit allows: skipped,
# saying so, before any server starts.
run http_fd_limit run --scenario http --peer nginx --param connections=25000 --param duration_s=1 \
    --repetitions 1 --timeout 120
# Instruction counts under callgrind: two variants (one per scheduler and stack kind) and
# the backends that have the mode; a few thousand operations keep valgrind fast.
run instructions run --scenario yield,spawn_join,switch --variant asm-pooled-fifo,boost-fresh-chaselev \
    --instructions --instr-ops 2000 --filter -'_direct|_ret' --timeout 120

# Interrupted mid-run: a valid file with what finished, exit code 130.
"$SY" run --scenario timers --variant all --param fibers=20000 --param max_ms=300 --repetitions 3 \
    --out "$OUT/interrupted.json" 2> "$OUT/interrupted.log" &
pid=$!
# Interrupt once the first measurement has finished (at most 60 s on a loaded machine).
for _ in $(seq 600); do grep -q "ok in" "$OUT/interrupted.log" 2>/dev/null && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
if [ $rc -ne 130 ]; then echo "FAIL: interrupted run exited $rc, want 130"; status=1; fi

# A child that crashes: a failed entry naming the signal, and the run goes on.
SY_CHILD_CRASH_FOR_TEST=1 "$SY" run --scenario timers --variant asm-pooled-fifo,asm-fresh-fifo --param fibers=10 \
    --repetitions 1 --out "$OUT/crash.json" 2> "$OUT/crash.log" || { echo "FAIL: crash run exited $?"; status=1; }

"$PY" "$VALIDATE" "$OUT"/*.json || status=1
# No measurement may have failed: failed = a crash, a timeout, or a broken child.
"$PY" - "$OUT"/*.json <<'PY' || status=1
import json, os, sys
bad = 0
for path in sys.argv[1:]:
    d = json.load(open(path))
    if path.endswith("crash.json"):
        reasons = [e["reason"] or "" for e in d["entries"]]
        if len(reasons) != 2 or not all("signal 11 (SIGSEGV)" in r for r in reasons):
            print(f"FAIL {path}: want 2 failed entries naming SIGSEGV, got {reasons}"); bad += 1
        continue
    for e in d["entries"]:
        if e["status"] == "failed":
            print(f"FAIL {path}: {e['scenario']}/{e['label']}: {e['reason']}")
            bad += 1
    if path.endswith("skynet.json") or path.endswith("steal.json"):
        # 12 variants x carriers {1,2} (x 2 workloads for steal), each ok: a wrong sum is `failed`.
        want = 24 if path.endswith("skynet.json") else 48
        got = [e for e in d["entries"] if e["variant"] and e["status"] == "ok"]
        if len(got) != want:
            print(f"FAIL {path}: {len(got)} ok variant entries, want {want}"); bad += 1
    if path.endswith("skynet_guard.json"):
        # 1,111,111 guarded stacks: 2 mappings each, + 1000 (skynet_cannot_run). Some
        # distributions raise vm.max_map_count past that (Fedora: 2^31 - 5); there the
        # tree may run, or be skipped for memory instead.
        need = 2 * 1111111 + 1000
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
        reasons = [e["reason"] or "" for e in d["entries"] if e["status"] == "skipped"]
        if limit < need and (len(reasons) != 1 or "max_map_count" not in reasons[0]):
            print(f"FAIL {path}: want one skipped entry naming max_map_count, got {reasons}"); bad += 1
        if limit >= need and not all(e["status"] == "ok" or "MemAvailable" in (e["reason"] or "")
                                     for e in d["entries"]):
            print(f"FAIL {path}: vm.max_map_count {limit} allows the tree: want ok or skipped for memory"); bad += 1
    if path.endswith("timers.json"):
        got = {e["variant"] for e in d["entries"] if e["variant"] and e["status"] == "ok"}  # peers beside them
        if len(got) != 12:
            print(f"FAIL {path}: timers ran ok on {len(got)} variants, want 12"); bad += 1
    if path.endswith("interrupted.json") and not 0 < len(d["entries"]) < 12:
        print(f"FAIL {path}: {len(d['entries'])} entries after an interrupt, want some but not all"); bad += 1
    if path.endswith("http.json"):
        labels = sorted({e["label"] for e in d["entries"]})
        want_labels = sorted(["asm-pooled-fifo", "threads", "eventloop", "go", "nginx", "asio"])
        if labels != want_labels or len(d["entries"]) != 2 * len(want_labels):
            print(f"FAIL {path}: want load and idle entries for 1 variant and {len(want_labels) - 1} peers, "
                  f"got {labels} ({len(d['entries'])} entries)"); bad += 1
        for e in d["entries"]:
            if e["status"] == "skipped":
                print(f"note: http {e['label']} {e['params'].get('mode')}: skipped: {e['reason']}")
            elif e["status"] == "ok":
                want = {"load": ["requests_per_s", "latency_p50_us", "latency_p90_us", "latency_p99_us",
                                 "latency_max_us", "server_cpu_s"],
                        "idle": ["kib_per_conn", "rss_kib_per_conn", "pte_kib_per_conn", "kstack_kib_per_conn"]}
                missing = [m for m in want[e["params"]["mode"]] if m not in e["metrics"]]
                if missing or e["params"].get("connections") != 50:
                    print(f"FAIL {path}: http {e['label']}: missing {missing} or wrong params {e['params']}"); bad += 1
                elif e["params"]["mode"] == "load" and not e["metrics"]["requests_per_s"]["median"] > 0:
                    print(f"FAIL {path}: http {e['label']}: no requests/s"); bad += 1
    # every variant ran ok (a wrong echo, count or lost update is `failed`).
    want_ok = {"channel.json": 24, "mutex.json": 24, "io_pingpong.json": 24, "io_knobs.json": 24}
    for name, want in want_ok.items():
        if path.endswith("/" + name):
            got = [e for e in d["entries"] if e["variant"] and e["status"] == "ok"]
            if len(got) != want:
                print(f"FAIL {path}: {len(got)} ok variant entries, want {want}"); bad += 1
            for e in d["entries"]:
                # Built with the harness, so it must run; except with more carriers than this
                # process has CPUs (each thread carrier gets its own): skipped, saying so.
                fewer_cpus = e["status"] == "skipped" and "sched_getaffinity" in (e["reason"] or "") and \
                    e["params"].get("carriers", 1) > len(os.sched_getaffinity(0))
                if e["peer"] == "threads" and e["status"] != "ok" and not fewer_cpus:
                    print(f"FAIL {path}: peer {e['label']} {e['params']}: {e['status']} {e['reason']}"); bad += 1
    if path.endswith("http_fd_limit.json"):
        import resource
        e = d["entries"][0]
        if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 25064 and not (
                e["status"] == "skipped" and "RLIMIT_NOFILE" in e["reason"] and "25,000" in e["reason"]):
            print(f"FAIL {path}: want skipped naming RLIMIT_NOFILE and the seed's 25,000, got {e['status']}: {e['reason']}")
            bad += 1
    if path.endswith("/switch.json"):
        rounds = [sorted(r["round"] for r in e["runs"]) for e in d["entries"] if e["status"] == "ok"]
        if d["design"]["runs"] != 2 or not rounds or any(r != [0, 1] for r in rounds) or d["noise_floor"] is None:
            print(f"FAIL {path}: want 2 rounds of every ok backend and a noise floor, got {d['design']}, {rounds}")
            bad += 1
    if path.endswith("instructions.json"):
        ipo = {e["label"]: e["metrics"]["instructions_per_op"]["median"] for e in d["entries"]
               if e["scenario"] == "switch" and e["status"] == "ok"}
        print("instructions per switch:", {k: round(v, 1) for k, v in ipo.items()})
        if not ipo.get("asm", 1e9) < ipo.get("ucontext", 0):
            print("FAIL: asm switch should execute fewer instructions than ucontext"); bad += 1
sys.exit(1 if bad else 0)
PY
exit $status
