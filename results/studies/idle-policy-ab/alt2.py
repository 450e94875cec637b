#!/usr/bin/python3
"""Alternate configurations (binary + child args), ROUNDS rounds, order rotated per round;
record wall, child CPU (wait4 rusage user+sys) and the child's metrics per run.
Usage: alt2.py ROUNDS OUT.json CONFIGS.json  (CONFIGS: {"name": [binary, args...]})"""
import json, os, subprocess, sys, time, statistics as st
rounds = int(sys.argv[1]); out = sys.argv[2]; cfgs = json.load(open(sys.argv[3]))
names = list(cfgs); res = {n: [] for n in names}; res["_configs"] = cfgs
for r in range(rounds):
    order = names[r % len(names):] + names[:r % len(names)]
    for n in order:
        cmd = cfgs[n]
        t0 = time.monotonic()
        p = subprocess.Popen([cmd[0], "child"] + cmd[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        o = p.stdout.read(); _, status, ru = os.wait4(p.pid, 0); wall = time.monotonic() - t0
        try: j = json.loads(o.decode().strip().splitlines()[-1])
        except Exception: j = {"status": "unparsed"}
        res[n].append({"round": r, "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "status": j.get("status"),
                       "metrics": {k: v["samples"] for k, v in j.get("metrics", {}).items()},
                       "carrier_counters": j.get("carrier_counters")})
json.dump(res, open(out, "w"), indent=1)
for n in names:
    rs = [x for x in res[n] if x["status"] == "ok"]
    if not rs: print(n, "no ok runs", [x["status"] for x in res[n]]); continue
    print(f"{n}: n={len(rs)} cpu/wall median {st.median(x['cpu_s']/x['wall_s'] for x in rs):.3f}  cpu_s median {st.median(x['cpu_s'] for x in rs):.3f}  wall_s median {st.median(x['wall_s'] for x in rs):.3f}")
    for k in rs[0]["metrics"]:
        if k in ("time_s", "ns_per_round_trip", "us_per_round_trip", "lateness_p99_us", "lateness_p50_us") or len(rs[0]["metrics"]) <= 3:
            vals = [v for x in rs for v in x["metrics"].get(k, [])]
            print(f"    {k}: median {st.median(vals):.6g}  all {[round(v, 6) for v in vals]}")
