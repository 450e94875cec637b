#!/usr/bin/python3
"""Google Benchmark interop: export our results as Google Benchmark JSON, import its JSON.

    gbench.py export RESULTS... [-o OUT.json]
    gbench.py import GB.json --scenario NAME [-o OUT.json] [--metric M] [--value FIELD]
                     [--filter REGEX] [--param k=v ...] [--created TIME]

export: results files or folders -> one Google Benchmark JSON document, on which Google
Benchmark's own compare.py works (Debian libbenchmark-tools):
    /usr/bin/python3 /usr/share/benchmark/compare.py benchmarks OLD.json NEW.json
Every time metric becomes a run `<scenario>.<metric>/<label>/<param>:<value>...` with one
row per repetition (compare.py's U test needs them) and mean/median/stddev/cv rows.
requests_per_s goes out as ns_per_request (its inverse); sizes and counts are not times
and are left out (listed on stderr).

import: the output of any Google Benchmark binary (--benchmark_out=GB.json
--benchmark_out_format=json, with --benchmark_repetitions=N for N samples) -> a results
file of scenario NAME that validates and that figures.py and compare.py read. Each
repetition is a sample; aggregate rows are skipped. `BM_Family/<label>/k:v/8` gives label
<label> (a variant or peer name makes a variant or peer entry), params k=v and arg0=8.

Exit codes: 0 done, 2 bad input or usage (the message says what).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from switchyard_analysis.gbench import GbenchError, export, import_gbench, read_json  # noqa: E402
from switchyard_analysis.results import ResultsError  # noqa: E402


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {message}\n")


def _param(text):
    k, sep, v = text.partition("=")
    if not sep or not k:
        raise argparse.ArgumentTypeError(f"{text!r}: expected k=v")
    try:
        v = int(v)
    except ValueError:
        pass
    return k, v


def _write(doc, out):
    text = json.dumps(doc, indent=1) + "\n"
    if out in (None, "-"):
        sys.stdout.write(text)
        return
    tmp = out + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, out)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise GbenchError(f"{out}: cannot write: {err.strerror}") from None


def main(argv=None):
    ap = _Parser(prog="gbench.py", description=__doc__.splitlines()[1],
                 epilog="See the module docstring (head of analysis/gbench.py) or analysis/README.md.")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="{export,import}", parser_class=_Parser)
    ex = sub.add_parser("export", help="results files or folders -> Google Benchmark JSON",
                        description="Write Switchyard results as Google Benchmark JSON (compare.py reads it).")
    ex.add_argument("results", nargs="+", metavar="RESULTS", help="results file or folder")
    ex.add_argument("-o", "--out", help="output file (default: standard output)")
    im = sub.add_parser("import", help="Google Benchmark JSON -> a Switchyard results file",
                        description="Turn Google Benchmark JSON into a results file of one scenario.")
    im.add_argument("gb", metavar="GB.json", help="Google Benchmark JSON output")
    im.add_argument("--scenario", required=True, help="the scenario the entries belong to (switch, yield, ...)")
    im.add_argument("-o", "--out", help="output file (default: standard output)")
    im.add_argument("--metric", help="metric to fill (default: the scenario's headline metric)")
    im.add_argument("--value", help="row field giving the value: real_time, cpu_time or a counter "
                                    "(default: the counter named like the metric if present, else real_time)")
    im.add_argument("--filter", help="keep only runs whose name matches this regular expression")
    im.add_argument("--param", action="append", type=_param, default=[], metavar="K=V",
                    help="a parameter to record on every entry (repeatable)")
    im.add_argument("--created", help="UTC time of the run (default: the file's context.date)")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "export":
            doc, skipped = export(a.results)
            _write(doc, a.out)
            if skipped:
                print("gbench.py export: not times, left out: " +
                      ", ".join(f"{m} ({n} entries)" for m, n in skipped), file=sys.stderr)
        else:
            gb = read_json(a.gb)
            doc = import_gbench(gb, a.scenario, source=a.gb, metric=a.metric, value=a.value,
                                params=dict(a.param), name_filter=a.filter, created=a.created)
            _write(doc, a.out)
    except (GbenchError, ResultsError) as err:
        print(f"gbench.py {a.cmd}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
