#!/usr/bin/python3
"""ctests harness_runs and harness_merge: fresh-process rounds and merging, end to end.

    runs_test.py runs  SWITCHYARD VALIDATOR OUTDIR
    runs_test.py merge SWITCHYARD VALIDATOR OUTDIR

runs: `switchyard run --scenario switch --runs 3 --repetitions 2` on two backends: the file
validates, has 3 rounds, every sample tagged with its round (2 per round), one run record
per round, the design recorded (shuffled, the seed given) and a noise floor around every
round; the same seed gives the same order, printed on the progress lines.
merge: two shards of a selection are disjoint and merge into exactly the unsharded job set;
a shard merged with itself pools (rounds renumbered, samples doubled); folders merge by
file name.
"""
import json
import os
import re
import shutil
import subprocess
import sys

# Two backends, each a Google Benchmark process of a few milliseconds.
SWITCH = ["run", "--scenario", "switch", "--filter", "^switch/(asm|boost)$", "--repetitions", "2",
          "--min-time", "0.001", "--timeout", "60"]
# For sharding: enough measurements that a split by name gives both parts some.
TIMERS = ["run", "--scenario", "timers", "--param", "fibers=50", "--param", "max_ms=2", "--repetitions", "1",
          "--timeout", "60"]


def sy(binary, args, **kw):
    r = subprocess.run([binary] + args, capture_output=True, text=True, timeout=600, **kw)
    if r.returncode != 0:
        sys.exit(f"FAIL: switchyard {' '.join(args)} exited {r.returncode}:\n{r.stderr[-3000:]}")
    return r


def validate(validator, *paths):
    r = subprocess.run([sys.executable, validator, *paths], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: not valid:\n{r.stdout}{r.stderr}")


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")


def runs_test(binary, validator, out):
    path = os.path.join(out, "rounds.json")
    r = sy(binary, SWITCH + ["--runs", "3", "--seed", "7", "--out", path])
    validate(validator, path)
    d = json.load(open(path))
    check(d["schema_version"] == 2, "schema_version 2")
    des = d["design"]
    check(des["runs"] == 3 and des["order"] == "shuffled" and des["seed"] == 7 and des["shard"] is None,
          f"design recorded: {des}")
    check([e["label"] for e in d["entries"]] == ["asm", "boost"], "entries in plan order")
    for e in d["entries"]:
        check(e["status"] == "ok", f"{e['label']} ok: {e['reason']}")
        check([x["round"] for x in e["runs"]] == [0, 1, 2], f"{e['label']}: one run record per round")
        check(all(x["elapsed_s"] > 0 for x in e["runs"]), "elapsed_s recorded")
        m = e["metrics"]["ns_per_switch"]
        check(len(m["samples"]) == 6 and sorted(m["runs"]) == [0, 0, 1, 1, 2, 2],
              f"{e['label']}: 2 samples tagged per round, got {m['runs']}")
    nf = d["noise_floor"]
    check(nf is not None and [x["round"] for x in nf["rounds"]] == [0, 1, 2], "a noise floor for every round")
    check(all(x["start"] and x["end"] for x in nf["rounds"]), "noise floor measured at start and end")
    check(isinstance(nf["drift"], float) and 0 <= nf["floor"] < 1, f"drift and floor: {nf['drift']}, {nf['floor']}")
    # The progress lines say the round, and the order of each round is the seed's.
    order = re.findall(r"round (\d)/3 switch/(\w+)", r.stderr)
    check(len(order) == 6, f"6 progress lines naming the round, got {order}")
    again = sy(binary, SWITCH + ["--runs", "3", "--seed", "7", "--dry-run"])
    check(json.loads(again.stdout)["design"]["seed"] == 7, "dry-run shows the design")
    r2 = sy(binary, SWITCH + ["--runs", "3", "--seed", "7", "--no-noise-floor", "--out", path])
    check(re.findall(r"round (\d)/3 switch/(\w+)", r2.stderr) == order, "the same seed, the same order")
    check(json.load(open(path))["noise_floor"] is None, "--no-noise-floor: null")
    print("runs: 3 rounds x 2 backends, samples tagged, noise floor drift "
          f"{nf['drift']:+.3%}, floor {nf['floor']:.3%}; order {order}")


def names_of(binary, args):
    jobs = json.loads(sy(binary, args + ["--dry-run"]).stdout)["jobs"]
    return [j["name"] for j in jobs]


def entry_name(e):
    return "/".join([e["scenario"], e["label"]] + [f"{k}={v}" for k, v in sorted(e["params"].items())])


def merge_test(binary, validator, out):
    whole = names_of(binary, TIMERS)
    parts = [names_of(binary, TIMERS + ["--shard", f"{k}/2"]) for k in (1, 2)]
    check(parts[0] and parts[1], f"both shards hold measurements: {parts}")
    check(not set(parts[0]) & set(parts[1]), "shards are disjoint")
    check(sorted(parts[0] + parts[1]) == sorted(whole), "the shards' union is the whole plan")
    files = []
    for k in (1, 2):
        d = os.path.join(out, f"shard{k}")
        os.makedirs(d)
        files.append(os.path.join(d, "timers.json"))
        sy(binary, TIMERS + ["--shard", f"{k}/2", "--out", files[-1]])
        check(json.load(open(files[-1]))["design"]["shard"] == f"{k}/2", "design.shard recorded")
    merged = os.path.join(out, "merged")
    sy(binary, ["merge", merged, os.path.dirname(files[0]), os.path.dirname(files[1])])
    mpath = os.path.join(merged, "timers.json")
    validate(validator, mpath)
    m = json.load(open(mpath))
    # Every measurement of the unsharded plan, once; the whole split merged: shard null.
    got = sorted(e["scenario"] + "/" + e["label"] for e in m["entries"])
    want = sorted("/".join(n.split("/")[:2]) for n in whole)
    check(got == want, f"merged entries are the unsharded job set:\n{got}\n{want}")
    check(m["design"]["shard"] is None and m["design"]["runs"] == 1, f"merged design: {m['design']}")
    # One shard merged with itself: the same measurements repeated, pooled into 2 rounds.
    twice = os.path.join(out, "twice.json")
    sy(binary, ["merge", twice, files[0], files[0]])
    validate(validator, twice)
    t = json.load(open(twice))
    one = json.load(open(files[0]))
    check(len(t["entries"]) == len(one["entries"]) and t["design"]["runs"] == 2, "repeats pooled, not appended")
    check(t["design"]["shard"] == "1/2", "a merge of one part keeps it")
    for e, o in zip(t["entries"], one["entries"]):
        check(sorted(x["round"] for x in e["runs"]) == [0, 1], "rounds renumbered to stay distinct")
        for name, mo in o["metrics"].items():
            check(sorted(e["metrics"][name]["samples"]) == sorted(mo["samples"] * 2), f"{name}: samples pooled")
    # A version-1 file (the committed baseline's shape) merges too, as round 0.
    v1 = dict(one, schema_version=1)
    for k in ("design", "noise_floor"):
        v1.pop(k)
    for e in v1["entries"]:
        e.pop("runs")
        for mm in list(e["metrics"].values()) + [v for k, v in e.items() if k.endswith("_quantiles_ns")]:
            mm.pop("runs")
    v1path = os.path.join(out, "v1.json")
    json.dump(v1, open(v1path, "w"))
    validate(validator, v1path)
    mixed = os.path.join(out, "mixed.json")
    sy(binary, ["merge", mixed, v1path, files[0]])
    validate(validator, mixed)
    check(json.load(open(mixed))["design"]["runs"] == 2, "a version-1 file is one round")
    # Shards from two builds: every entry keeps its own build, and a warning says so.
    other = json.load(open(files[1]))
    other["build"]["commit"] = "0" * 40
    opath = os.path.join(out, "other_build.json")
    json.dump(other, open(opath, "w"))
    builds = os.path.join(out, "builds.json")
    r = sy(binary, ["merge", builds, files[0], opath])
    validate(validator, builds)
    commits = {e["label"]: e["build"]["commit"] for e in json.load(open(builds))["entries"]}
    want = {e["label"]: "0" * 40 for e in other["entries"]}
    want.update({e["label"]: one["build"]["commit"] for e in one["entries"]})
    check(commits == want and "different builds" in r.stderr, f"each entry's own build: {commits}")
    # Bad inputs: a usage error.
    bad = subprocess.run([binary, "merge", os.path.join(out, "x.json"), files[0], os.path.dirname(files[1])],
                         capture_output=True, text=True)
    check(bad.returncode == 2 and "mix folders and files" in bad.stderr, f"mixed inputs refused: {bad.stderr}")
    print(f"merge: shards of {len(parts[0])} and {len(parts[1])} measurements merged into the {len(whole)} of the "
          "whole plan; repeats pooled; version 1 read")


def main(argv):
    if len(argv) != 4 or argv[0] not in ("runs", "merge"):
        print(__doc__, file=sys.stderr)
        return 2
    what, binary, validator, out = argv
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    (runs_test if what == "runs" else merge_test)(binary, validator, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
