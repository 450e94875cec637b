#!/bin/bash
# pinned_ab.sh OUT ROUNDS FILTER NAME...: interleaved A/B of runtime_bench copies ./rb_NAME (each a
# runtime_bench built at one commit), pinned to CPU 1; per process the median of 5 repetitions; prints
# each NAME's median and its geometric-mean ratio to the first NAME over rounds (t interval).
out=$1; n=$2; flt=$3; shift 3; rm -f "$out"
for i in $(seq 1 $n); do for b in "$@"; do taskset -c 1 ./rb_$b --benchmark_filter="$flt" --benchmark_min_time=0.1 --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null | grep "_median" | awk -v b=$b -v i=$i '{print i, b, $1, $2}' >> $out; done; done
/usr/bin/python3 - "$out" "$@" <<'PY'
import collections, statistics, math, sys
out, bins = sys.argv[1], sys.argv[2:]
d=collections.defaultdict(dict)
for l in open(out):
    i,b,name,v=l.split(); d[(name,int(i))][b]=float(v)
for name in sorted({k[0] for k in d}):
    rows=[d[k] for k in d if k[0]==name]
    for b in bins:
        s = f"{name} {b} median {statistics.median(r[b] for r in rows)}"
        if b != bins[0]:
            lr=[math.log(r[b]/r[bins[0]]) for r in rows]; m=statistics.mean(lr); se=statistics.stdev(lr)/math.sqrt(len(lr))
            s += f"  /{bins[0]} {math.exp(m):.3f} [{math.exp(m-2.1*se):.3f}, {math.exp(m+2.1*se):.3f}]"
        print(s)
PY
