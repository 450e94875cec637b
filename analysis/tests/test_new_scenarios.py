"""Figures and report tables of http, io_pingpong, channel, mutex and gc_scan, on synthetic
folders shaped like the harness's real output (tests/fixtures/make_fixtures.py)."""

import json
import os
import re

import figures
from switchyard_analysis import plots
from switchyard_analysis.results import load_folder

NEW_FIGURES = ["io_pingpong", "channel", "mutex", "http_ratio", "http_rps", "http_latency",
               "memory_connection", "gc_scan_rate", "gc_switch"]


def _all_ticks(fig):
    return [t for panel in fig.ticks for t in panel]


def test_each_new_figure_renders(records):
    for name in NEW_FIGURES:
        fig = records[name]
        for path in fig.files:
            assert os.path.getsize(path) > 1000, path
        assert fig.panels, name


def test_figures_of_lists_every_drawn_figure(records):
    drawable = {n for names in plots.FIGURES_OF.values() for n in names} | set(plots.SUMMARY_FIGURES)
    assert {n for n in records if not n.startswith("_")} <= drawable
    assert plots.FIGURES_OF["gc_scan"] == ["gc_scan_rate", "gc_switch"]
    # Earlier figure names are removed from a folder when it is redrawn.
    assert not set(plots.RETIRED) & drawable


def test_idle_memory_has_no_whiskers_it_cannot_have(records):
    fig = records["memory_connection"]
    # Idle entries at 9,000 connections only: a dot plot, a row per server.
    assert fig.panels == ["connections=9000"] and fig.categories == [7]
    for name in ("asm-pooled-chaselev (oneshot)", "asm-pooled-chaselev (level)", "go", "threads",
                 "eventloop", "nginx (1 worker)", "nginx (2 workers)"):
        assert name in fig.ticks[0], (name, fig.ticks)
    assert "min-max" not in fig.caption and "min–max" not in fig.caption
    assert "n = 3 repetitions per point" in fig.caption


def test_http_line_charts_use_load_entries_only_and_facet(records):
    for name in ("http_rps", "http_latency"):
        fig = records[name]
        text = " ".join(fig.legend + fig.panels)
        assert "mode=" not in text and "taskmaster" not in text, text
        ticks = _all_ticks(fig)
        assert "9k" not in ticks          # the idle connection count is not a load point
        assert {"100", "1k", "10k"} <= set(ticks)
        assert all(n <= 6 for n in fig.series), fig.series
        # the common registration draws solid, the rarer one dashed
        assert fig.legend_groups["line style"] == ["registration=oneshot", "registration=level"]
        assert "wrk errors at this point" in fig.legend    # threads' timeouts from 2,500
    # The seed's absolute numbers are no longer drawn beside ours.
    assert not any("seed" in t for t in records["http_rps"].legend)
    assert "coordinated omission" in records["http_latency"].caption


def test_http_ratio_beside_the_seeds_ratio(records):
    fig = records["http_ratio"]
    assert any(t.startswith("seed's fibers/threads") for t in fig.legend)
    assert "wrk errors (fibers or threads)" in fig.legend
    assert fig.panels[0].startswith("scheduler=fifo") and fig.panels[1].startswith("scheduler=chaselev")
    assert "requests per server CPU-second" in fig.caption.lower() or "CPU-second" in fig.caption


def test_io_pingpong_line_style_per_poller_and_registration(records):
    fig = records["io_pingpong"]
    assert fig.legend_groups["line style"] == [
        "io_backend=epoll, registration=oneshot", "io_backend=poll, registration=oneshot",
        "io_backend=epoll, registration=level", "io_backend=epoll, registration=persistent"]
    assert {"1", "100", "9k"} <= set(_all_ticks(fig))
    assert "skipped / failed" in fig.legend       # poll at 9,000 failed


def test_channel_dots_per_variant_and_peer_with_skipped_row(records):
    fig = records["channel"]
    assert fig.panels == ["carriers=1", "carriers=2"]
    for ticks in fig.ticks:
        assert ticks[-2:] == ["boost_fiber [skipped]", "go"]   # peers after the variants
        assert "asm-pooled-fifo" in ticks


def test_mutex_draws_the_whole_iteration(records):
    fig = records["mutex"]
    assert len(fig.panels) == 1                        # time_s is the same run: not drawn
    assert fig.series == [3]
    assert _all_ticks(fig) == ["2", "10", "100", "1k"]
    assert "not the lock alone" in fig.caption


def test_gc_scan_rate_colour_is_scan_mode(records):
    fig = records["gc_scan_rate"]
    assert fig.legend_groups["colour: scan"] == ["used part", "whole region"]
    assert fig.legend_groups["marker: stack"] == ["16 KiB", "256 KiB"]
    assert "MiB per ms" in fig.caption


def test_gc_switch_one_panel_per_design(records):
    fig = records["gc_switch"]
    assert fig.panels == ["design=off", "design=sp", "design=locked"]
    assert fig.ticks == [["asm-pooled-fifo", "ucontext-pooled-fifo"]] * 3


def test_gc_scan_with_only_the_switch_part_passes_check(make_folder, capsys):
    folder = make_folder(scenarios={"gc_scan"})
    path = os.path.join(folder, "gc_scan.json")
    doc = json.load(open(path))
    doc["entries"] = [e for e in doc["entries"] if e["params"]["measure"] == "switch"]
    json.dump(doc, open(path, "w"))
    assert figures.main([folder, "--check"]) == 0
    assert sorted(os.listdir(os.path.join(folder, "figures"))) == [
        "gc_switch.pdf", "gc_switch.png", "heatmap.pdf", "heatmap.png"]


def test_report_tables_for_the_new_scenarios(rendered):
    md = open(os.path.join(rendered, "report.md")).read()
    html = open(os.path.join(rendered, "report.html")).read()
    # http: a load table and an idle table, with only the parameters that vary per row
    assert ("**Under load (mode=load); latency closed-loop (wrk): subject to coordinated omission; "
            "errors = wrk's connect/read/write/timeout/status counts.**") in md
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


def test_report_sets_the_seed_beside_ours_as_shape(rendered):
    md = open(os.path.join(rendered, "report.md")).read()
    assert "## The seed's results, compared by shape" in md
    # fibers/threads per connection count: the seed's ratio beside ours
    assert re.search(r"\| 1,000 \| 1\.24x \| [\d.]+x \[[\d.]+–[\d.]+\] \(asm-pooled-\w+\) \|", md)
    assert "| 25,000 | 1.34x | out of reach here (open-file limit 20,000) |" in md
    assert "more than 19,936 connections cannot run on this machine" in md
    assert "| 10,000 | 1.85x | failed: FIXTURE: 312 socket timeouts |" in md
    assert "Level-triggered epoll at 10,000 connections: seed 3,219 req/s" in md
    assert re.search(r"ours with registration=level: [\d,]+ \(asm-pooled-chaselev \(level\)\)", md)
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
    assert sky.panels == ["carriers=2"] * 2      # time, then memory
    assert all({"asm-pooled-fifo", "go", "boost_fiber"} <= set(t) for t in sky.ticks)
    yld = records["yield"]
    assert yld.panels[0] == "time per yield"
    assert {"asm-pooled-fifo", "boost_fiber", "go", "threads"} <= set(yld.ticks[0])
    # The seed's yield in ns on the ns axis, labelled as another machine's.
    assert yld.legend_groups["seed"] == ["seed's two-fiber yield: 476 ns (its machine)"]
