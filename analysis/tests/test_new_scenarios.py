"""Figures and report tables of http, io_pingpong, channel, mutex and gc_scan, on synthetic
folders shaped like the harness's real output (tests/fixtures/make_fixtures.py)."""

import json
import os
import re

import figures
from switchyard_analysis import plots
from switchyard_analysis.results import load_folder

NEW_FIGURES = ["io_pingpong", "channel", "mutex", "http_rps", "http_latency", "http_memory",
               "gc_pause", "gc_switch"]


def _all_ticks(fig):
    return [t for panel in fig.ticks for t in panel]


def test_each_new_figure_renders(records):
    for name in NEW_FIGURES:
        fig = records[name]
        for path in fig.files:
            assert os.path.getsize(path) > 2000, path
        assert fig.panels, name


def test_figures_of_lists_every_drawn_figure():
    drawable = {n for names in plots.FIGURES_OF.values() for n in names}
    assert set(NEW_FIGURES) <= drawable
    assert plots.FIGURES_OF["gc_scan"] == ["gc_pause", "gc_switch"]


def test_http_memory_is_one_row_per_connection_count(records):
    fig = records["http_memory"]
    # Idle entries at 9,000 connections carry different registration, carriers, workers
    # and taskmaster values: still one row, a bar per server.
    assert len(fig.panels) == 1 and fig.panels[0].startswith("9,000 idle connections")
    assert "mode=" not in fig.panels[0] and "duration_s" not in fig.panels[0]
    ticks = _all_ticks(fig)
    for name in ("asm-pooled-chaselev (oneshot)", "asm-pooled-chaselev (level)", "go", "threads",
                 "eventloop", "nginx (1 worker)", "nginx (2 workers)"):
        assert name in ticks, (name, ticks)
    assert len(ticks) == 7
    assert "kernel stacks (new threads x 16 KiB)" in fig.legend


def test_http_line_charts_use_load_entries_only(records):
    for name in ("http_rps", "http_latency"):
        fig = records[name]
        text = " ".join(fig.legend + fig.panels)
        assert "mode=" not in text and "taskmaster" not in text, text
        ticks = _all_ticks(fig)
        assert "9,000" not in ticks          # the idle connection count is not a load point
        assert {"100", "1,000", "10,000", "25,000"} <= set(ticks)
        # the 1 s run at 100 connections joins the 10 s series instead of starting its own
        assert sum(1 for t in fig.legend if t.startswith("asm-pooled-chaselev (oneshot)")) == 1
        assert "asm-pooled-chaselev (level)" in fig.legend
        assert "nginx (1 worker)" in fig.legend
        assert "beyond this machine's open-file limit (20,000): not runnable" in fig.legend
        assert "duration_s=1,10" in " ".join(fig.panels)   # merged runs are said in the title
    rps = records["http_rps"].legend
    assert "seed: threads (16-core)" in rps and "seed: fibers (16-core)" in rps
    assert "seed: fibers, level-triggered epoll (livelock)" in rps


def test_http_out_of_reach_band_needs_a_known_limit(records, tmp_path):
    rs = load_folder(records["_folder"])
    rs.machine["limits"] = {}
    fig = plots.fig_http_rps([rs], str(tmp_path))
    assert not any("open-file limit" in t for t in fig.legend)
    assert "seed: fibers (16-core)" in fig.legend


def test_http_name():
    rs = load_folder_from_entries([
        {"variant": "asm-pooled-fifo", "params": {"registration": "level", "io_backend": "poll",
                                                  "carriers": 4}},
        {"peer": "nginx", "params": {"workers": 2}},
        {"peer": "threads", "params": {"taskmaster": "threads"}}])
    v, ng, th = rs.entries
    assert plots.http_name(v) == "asm-pooled-fifo (level)"
    assert plots.http_name(v, {"io_backend", "carriers"}) == "asm-pooled-fifo (level, poll, 4 carriers)"
    assert plots.http_name(ng) == "nginx (2 workers)"
    assert plots.http_name(th) == "threads"


def test_io_pingpong_series_per_variant_registration_and_backend(records):
    fig = records["io_pingpong"]
    for name in ("asm-pooled-fifo (epoll, oneshot)", "asm-pooled-fifo (poll, oneshot)",
                 "asm-pooled-fifo (epoll, level)", "asm-pooled-fifo (epoll, persistent)",
                 "ucontext-pooled-fifo (epoll, oneshot)", "threads"):
        assert name in fig.legend, (name, fig.legend)
    assert {"1", "100", "9,000"} <= set(_all_ticks(fig))
    assert fig.panels == ["active=one carriers=1  ops=20000"]
    assert "x at the foot: skipped / failed (see report)" in fig.legend   # poll at 9,000


def test_channel_bars_per_variant_and_peer_with_skipped_slot(records):
    fig = records["channel"]
    assert fig.panels == ["carriers=1 ops=1000000", "carriers=2 ops=1000000"]
    for ticks in fig.ticks:
        assert ticks[-2:] == ["boost_fiber", "go"]       # peers after the variants
        assert "asm-pooled-fifo" in ticks
    assert "x: skipped / failed (see report)" in fig.legend


def test_mutex_draws_ns_per_lock_against_fibers(records):
    fig = records["mutex"]
    assert len(fig.panels) == 1                        # time_s is the same run: not drawn
    assert set(fig.legend) == {"asm-pooled-chaselev", "threads", "go"}
    assert _all_ticks(fig) == ["2", "10", "100", "1,000"]


def test_gc_pause_rows_by_depth_and_names_by_stack_and_scan(records):
    fig = records["gc_pause"]
    assert [p.split()[0] for p in fig.panels] == ["depth_kib=1", "depth_kib=16"]
    assert not any("measure" in p for p in fig.panels)
    for name in ("asm-pooled-fifo (16 KiB stack, used scan)",
                 "asm-pooled-fifo (256 KiB stack, used scan)",
                 "asm-pooled-fifo (256 KiB stack, whole scan)"):
        assert name in fig.legend
    assert "0" in _all_ticks(fig) and "10,000" in _all_ticks(fig)


def test_gc_switch_bars_per_variant_and_design(records):
    fig = records["gc_switch"]
    assert fig.ticks == [["asm-pooled-fifo off", "asm-pooled-fifo sp", "asm-pooled-fifo locked",
                          "ucontext-pooled-fifo off", "ucontext-pooled-fifo sp",
                          "ucontext-pooled-fifo locked"]]
    assert "seed: 2.1 M switches/s (16-core)" in fig.legend


def test_gc_scan_with_only_the_switch_part_passes_check(make_folder, capsys):
    folder = make_folder(scenarios={"gc_scan"})
    path = os.path.join(folder, "gc_scan.json")
    doc = json.load(open(path))
    doc["entries"] = [e for e in doc["entries"] if e["params"]["measure"] == "switch"]
    json.dump(doc, open(path, "w"))
    assert figures.main([folder, "--check"]) == 0
    assert sorted(os.listdir(os.path.join(folder, "figures"))) == ["gc_switch.pdf", "gc_switch.png"]


def test_report_tables_for_the_new_scenarios(rendered):
    md = open(os.path.join(rendered, "report.md")).read()
    html = open(os.path.join(rendered, "report.html")).read()
    # http: a load table and an idle table, with only the parameters that vary per row
    assert "**Under load (mode=load); errors = wrk's connect/read/write/timeout/status counts.**" in md
    assert "<strong>Idle connections (mode=idle).</strong>" in html
    assert re.search(r"\| threads \| connections=5000 duration_s=10 \| 3 \| [\d,]+ .*\| 0/0/0/40/0 \|", md)
    assert "Every row (that has the parameter): carriers=2 connections=9000 io_backend=epoll." in md
    assert re.search(r"\| nginx \| workers=2 \| 3 \| 0\.\d+", md)
    # gc_scan: pause table and per-switch table with the cost over design=off
    assert "**Collection pause (measure=pause).**" in md
    assert re.search(r"\| ucontext-pooled-fifo \| design=locked \| 9 \| [\d.,]+ \[[^]]+\] \| \+\d", md)
    # io_pingpong: the round trip against the same series at one pair
    assert re.search(r"\| asm-pooled-fifo \| io_backend=poll pairs=100 registration=oneshot \| 9 "
                     r"\| [\d,]+ \[[^]]+\] \| \d\.\d\dx \|", md)
    # mutex and channel
    assert "ns_per_lock (ns)" in md and "ns_per_handoff (ns)" in md


def test_report_sets_the_seed_beside_ours(rendered):
    md = open(os.path.join(rendered, "report.md")).read()
    assert "| 25,000 | 62,107 | 83,036 | out of reach here (open-file limit 20,000) |" in md
    assert "more than 19,936 connections cannot run on this machine" in md
    assert "| 10,000 | 55,493 | 102,710 | failed: FIXTURE: 312 socket timeouts |" in md
    assert "Level-triggered epoll at 10,000 connections: seed 3,219 req/s" in md
    assert re.search(r"ours with registration=level: [\d,]+ \(asm-pooled-chaselev \(level\)\)", md)
    # address space per added connection: VmSize growth between the fewest and the most
    # connections of one server (the synthetic threads server grows 8,200 KiB per thread)
    assert ("| threads | 8,192 KiB (stack reservation) | 8,200.0 KiB (peak VmSize growth from "
            "100 to 5,000 connections, threads) |") in md
    assert "| fibers | 256 KiB (stack reservation) |" in md
    assert "The seed published no GC pause numbers" in md


def load_folder_from_entries(specs):
    """A ResultSet from a few hand-written entries (for naming tests)."""
    from switchyard_analysis.results import Entry, ResultSet
    rs = ResultSet("x")
    for s in specs:
        rs.entries.append(Entry("http", s.get("variant"), None, s.get("peer"),
                                s.get("variant") or s.get("peer"), s["params"], "ok", None, 1,
                                {}, None, [], "x"))
    return rs


def test_peers_share_panels_with_variants_despite_fewer_params(make_folder):
    # Go's skynet carries no guard/stack_kib; the yield peers carry ops counts of their own.
    path = make_folder("peers", scenarios={"skynet", "yield"})
    records = {f.name: f for f in plots.render_all([load_folder(path)], os.path.join(path, "figures"))}
    sky = records["skynet"]
    assert sky.panels == ["carriers=2 guard=off stack_kib=16"] * 2      # time, then memory
    assert all({"asm-pooled-fifo", "go", "boost_fiber"} <= set(t) for t in sky.ticks)
    yld = records["yield"]
    assert yld.panels[0] == "carriers=1 fibers=2"
    assert {"asm-pooled-fifo", "boost_fiber", "go", "threads"} <= set(yld.ticks[0])
