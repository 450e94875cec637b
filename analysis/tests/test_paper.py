"""Paper-figure rules that can fail: series per panel, text that overlaps other text, captions
that claim what the data lacks, findings on data with known answers, the README's table in
step with the committed baseline."""

import copy
import json
import os

import pytest

import figures
from switchyard_analysis import captions, findings, layout, plot_engine, plots, report, style
from switchyard_analysis.results import Entry, Metric, ResultSet, ResultsError, load_folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- every figure of the shared render -----------------------------------------------------

def _figs(records):
    return [f for n, f in records.items() if not n.startswith("_")]


def test_every_panel_holds_at_most_six_series(records):
    for f in _figs(records):
        assert all(n <= style.MAX_SERIES_PER_PANEL for n in f.series), (f.name, f.series)
        # one legend group per encoding, each short enough to read
        for group, texts in f.legend_groups.items():
            assert len(texts) <= 8, (f.name, group, texts)


def test_no_text_overlaps_and_nothing_under_7_pt(records):
    for f in _figs(records):
        assert f.overlaps == [], (f.name, f.overlaps)
        assert f.small_text == [], (f.name, f.small_text)


def test_paper_widths(records):
    for f in _figs(records):
        assert f.width_in in (style.SINGLE_IN, style.DOUBLE_IN), (f.name, f.width_in)


def test_every_title_is_a_question_and_captions_say_n_whiskers_machine(records):
    for f in _figs(records):
        assert f.title.endswith("?") or "?" in f.title, f.title
        assert "Machine: full (SYNTHETIC FIXTURE CPU, 2 cores" in f.caption, f.name
        if f.claims.get("n"):
            assert "n = " in f.caption, f.name


def test_every_caption_claim_maps_to_data(records):
    rs = load_folder(records["_folder"])
    for f in _figs(records):
        assert captions.problems(f, [rs]) == [], f.name


# ---- the checks themselves fail on bad figures ---------------------------------------------

def test_overlap_detector_finds_overlapping_text():
    style.setup()
    fig, axes = layout.new_figure(1, 1, 2.0)
    axes[0].text(0.5, 0.5, "first label here", transform=axes[0].transAxes)
    axes[0].text(0.52, 0.5, "second label", transform=axes[0].transAxes)
    fig.canvas.draw()
    overlaps, small = layout.text_problems(fig)
    assert ("first label here", "second label") in overlaps
    axes[0].text(0.1, 0.1, "tiny", fontsize=5)
    fig.canvas.draw()
    assert layout.text_problems(fig)[1] == ["tiny"]
    style.plt.close(fig)


def _fig(caption, **claims):
    return layout.Figure("x", "timers", "Q?", caption, claims=captions.claims(**claims))


def test_caption_checker_rejects_claims_the_data_lacks(make_folder):
    rs = load_folder(make_folder(scenarios={"timers", "steal", "http"}))
    ok = _fig(f"Lateness p50 and p99. n = 9 repetitions per point. Machine: {rs.name}.",
              ns=[9], quantiles=[50, 99], scenarios=["timers"])
    assert captions.problems(ok, [rs]) == []
    # timers have no p90 (the old figure's caption promised it)
    p90 = _fig(f"p50, p90, p99. Machine: {rs.name}.", quantiles=[50, 99], scenarios=["timers"])
    assert any("p90" in p for p in captions.problems(p90, [rs]))
    # "min-max whiskers" over one repetition (the old http_memory caption)
    one = _fig(f"Whiskers min-max. Machine: {rs.name}.", ns=[1], scenarios=["timers"])
    assert any("min-max" in p for p in captions.problems(one, [rs]))
    # peers promised where none ran (the old steal caption)
    peers = _fig(f"Each variant and peer. Machine: {rs.name}.", ns=[9], scenarios=["timers"])
    assert any("peers" in p for p in captions.problems(peers, [rs]))
    # the seed mentioned but not drawn; a sample count the data does not have
    seed = _fig(f"Beside the seed. n = 7 repetitions per point. Machine: {rs.name}.", ns=[7],
                scenarios=["timers"])
    probs = captions.problems(seed, [rs])
    assert any("seed" in p for p in probs) and any("n = 7" in p for p in probs)
    # the machine not named
    assert any("machine" in p for p in captions.problems(_fig("Nothing.", scenarios=["timers"]), [rs]))


def test_facets_split_fourteen_series_into_panels_of_six():
    def entry(label, peer=None):
        dims = None if peer else dict(zip(("switch", "stacks", "scheduler"), label.split("-")))
        return Entry("mutex", None if peer else label, dims, peer, label, {}, "ok", None, 1, {},
                     None, [], "x")
    labels = [f"{a}-{b}-{c}" for a in ("asm", "boost", "ucontext") for b in ("pooled", "fresh")
              for c in ("fifo", "chaselev")]
    series = [(entry(lab), "", []) for lab in labels] + [(entry("go", "go"), "", []),
                                                         (entry("threads", "threads"), "", [])]
    groups = plot_engine.facet_series(series)
    assert [g for g, _ in groups] == ["asm", "boost", "ucontext"]
    assert all(len(s) == 6 for _, s in groups)          # 4 variants + the 2 peers in each
    many = series + [(entry(f"p{i}", f"p{i}"), "", []) for i in range(5)]
    groups = plot_engine.facet_series(many)
    assert all(len(s) <= 6 for _, s in groups) and groups[-1][0] == "peers"
    assert sum(len(s) for _, s in groups) == len(many)


def test_a_fourteen_series_mutex_figure_is_faceted(make_folder, tmp_path):
    folder = make_folder(scenarios={"mutex"})
    path = os.path.join(folder, "mutex.json")
    doc = json.load(open(path))
    base = [e for e in doc["entries"] if e["variant"] == "asm-pooled-chaselev"]
    for sw in ("asm", "boost", "ucontext"):
        for st in ("pooled", "fresh"):
            for sc in ("fifo", "chaselev"):
                if (sw, st, sc) == ("asm", "pooled", "chaselev"):
                    continue
                for e in base:
                    c = copy.deepcopy(e)
                    c["variant"] = c["label"] = f"{sw}-{st}-{sc}"
                    c["dimensions"] = {"switch": sw, "stacks": st, "scheduler": sc}
                    doc["entries"].append(c)
    json.dump(doc, open(path, "w"))
    rs = load_folder(folder)
    assert len({e.label for e in rs.ok("mutex")}) == 14
    style.setup()
    fig = plots.fig_mutex([rs], str(tmp_path))
    assert fig.series == [6, 6, 6] and fig.overlaps == []
    assert [p.split(" · ")[-1] for p in fig.panels] == ["asm", "boost", "ucontext"]


def _add_peer_like_go(folder, name):
    """A copy of the yield scenario's Go entry under another peer name."""
    path = os.path.join(folder, "yield.json")
    doc = json.load(open(path))
    peer = copy.deepcopy(next(e for e in doc["entries"] if e["peer"] == "go"))
    peer["peer"] = peer["label"] = name
    doc["entries"].append(peer)
    json.dump(doc, open(path, "w"))


def test_unknown_peers_get_a_neutral_style(make_folder, tmp_path):
    folder = make_folder(scenarios={"yield"})
    _add_peer_like_go(folder, "mystery")
    rs = load_folder(folder)
    e = next(e for e in rs.ok("yield") if e.peer == "mystery")
    assert style.colour(e) == style.NEUTRAL and style.marker(e) == style.UNKNOWN_PEER_MARKER
    style.setup()
    fig = plots.fig_yield([rs], str(tmp_path))
    assert "mystery" in fig.legend_groups["colour: switch / peer"] and "mystery" in fig.ticks[0]


# ---- findings on data with known answers ---------------------------------------------------

def _entry(scenario, label, params, **metrics):
    if "-" in label:
        sw, st, sc = label.split("-")
        var, dims, peer = label, {"switch": sw, "stacks": st, "scheduler": sc}, None
    else:
        var, dims, peer = None, None, label
    ms = {}
    for name, samples in metrics.items():
        unit = {"time_s": "s", "requests_per_s": "req/s"}.get(name, "ns")
        ms[name] = Metric(name, unit, list(samples), sorted(samples)[len(samples) // 2],
                          min(samples), max(samples))
    return Entry(scenario, var, dims, peer, label, dict(params), "ok", None,
                 max(len(s) for s in metrics.values()), ms, None, [], "known")


def _known():
    """Spawn+join: fresh stacks cost exactly 30x pooled, the switch backend nothing, the
    scheduler nothing; yield: ucontext 10x asm. Switch: asm_nofpu 2, asm 6, ucontext 300.
    HTTP at 1,000 connections: fibers 150k, threads 100k requests/s (1.5x; the seed 1.24x).
    Skynet: 1 s on one carrier, 0.5 s on two (speedup 2), Go 2 s and 1.6 s (1.25)."""
    rs = ResultSet("known", machine={"cores": 2, "cpu_model": "KNOWN", "hostname": "k"})
    flat = [10.0] * 5
    for sw in ("asm", "boost", "ucontext"):
        for st in ("pooled", "fresh"):
            for sc in ("fifo", "chaselev"):
                lab = f"{sw}-{st}-{sc}"
                cost = 100.0 * (30 if st == "fresh" else 1)
                rs.entries.append(_entry("spawn_join", lab, {"carriers": 1},
                                         ns_per_spawn_join=[cost] * 5))
                rs.entries.append(_entry("yield", lab, {"fibers": 2},
                                         ns_per_yield=[x * (10 if sw == "ucontext" else 1) * 2.5 for x in flat]))
    for lab, ns in (("asm_nofpu", 2.0), ("asm", 6.0), ("ucontext", 300.0)):
        e = _entry("switch", lab, {}, ns_per_switch=[ns] * 9)
        e.variant, e.peer, e.dimensions = None, None, {"switch": lab}
        rs.entries.append(e)
    rs.entries.append(_entry("http", "asm-pooled-fifo", {"connections": 1000, "registration": "oneshot"},
                             requests_per_s=[150000.0] * 3))
    rs.entries.append(_entry("http", "threads", {"connections": 1000}, requests_per_s=[100000.0] * 3))
    for c, t in ((1, 1.0), (2, 0.5)):
        rs.entries.append(_entry("skynet", "asm-pooled-chaselev", {"carriers": c}, time_s=[t] * 5))
    for c, t in ((1, 2.0), (2, 1.6)):
        rs.entries.append(_entry("skynet", "go", {"carriers": c}, time_s=[t] * 5))
    return rs


def test_dimension_effects_and_dominance_on_known_data():
    rs = _known()
    effects = {(ef.column, ef.dimension, ef.level): ef.ratio for ef in findings.dimension_effects(rs)}
    assert effects[("spawn_join", "stacks", "fresh")].value == pytest.approx(30.0)
    assert effects[("spawn_join", "stacks", "fresh")].interval == pytest.approx((30.0, 30.0))
    assert effects[("spawn_join", "switch", "ucontext")].includes_one
    assert effects[("yield", "switch", "ucontext")].value == pytest.approx(10.0)
    dom = findings.dominant(findings.dimension_effects(rs))
    assert dom["spawn_join"].dimension == "stacks" and dom["yield"].dimension == "switch"
    ratios = findings.cost_ratios(rs)
    assert ratios["spawn_join"]["ucontext-fresh-chaselev"].value == pytest.approx(30.0)
    assert ratios["yield"]["ucontext-pooled-fifo"].value == pytest.approx(10.0)


def test_findings_sentences_on_known_data():
    rs = _known()
    sents = findings.sentences(rs)
    text = "\n".join(sents)
    assert 5 <= len(sents) <= 10, sents
    assert ("The stack strategy is the dimension that moves cost most in spawn_join "
            "(fresh/pooled 30x [30–30])") in text
    assert "The switch backend is the dimension that moves cost most in yield (ucontext/asm 10x [10–10])" in text
    assert "The switch backend makes no difference the intervals can show in spawn_join" in text
    assert "A bare switch (asm, no FP control save) costs 2 ns [2–2]" in text
    assert "ucontext's switch costs 300 ns [300–300], 50x asm's" in text
    assert "skynet 2x [2–2] (asm-pooled-chaselev, from 1 s, go's own 1.25x [1.25–1.25])" in text
    assert "at 1,000 connections 1.5x to 1.5x [1.5–1.5] (asm-pooled-fifo to asm-pooled-fifo) against the seed's 1.24x" in text
    for s in sents:
        assert "(figure " in s, s


def test_memory_per_fiber_on_the_fixture(make_folder):
    rs = load_folder(make_folder(scenarios={"timers"}))
    got = findings.memory_per_fiber(rs)
    assert got and all(m.kib_per_fiber == pytest.approx(18.0) for m in got)
    assert {m.fibers for m in got} == {(10000.0, 100000.0)}


def test_scan_rate_on_the_fixture(make_folder):
    # The fixture's pause is 0.4 ms + fibers x scanned KiB x 1e-4 ms, pushed 100 + fibers x KiB:
    # 1e-4 ms per KiB = 0.1024 ms per MiB, a scan rate of about 9.77 MiB per ms.
    rs = load_folder(make_folder(scenarios={"gc_scan"}))
    fit = findings.scan_rate(rs)
    assert fit.ms_per_mib == pytest.approx(0.1024, rel=0.1)
    assert fit.interval[0] <= fit.ms_per_mib <= fit.interval[1]


# ---- a recorded lateness distribution ------------------------------------------------------

def _with_quantiles(make_folder, value):
    folder = make_folder(scenarios={"timers"})
    path = os.path.join(folder, "timers.json")
    doc = json.load(open(path))
    doc["entries"][0]["lateness_quantiles_ns"] = value
    json.dump(doc, open(path, "w"))
    return folder


def test_timers_figure_draws_a_recorded_distribution(make_folder, tmp_path):
    q = [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0]
    folder = _with_quantiles(make_folder, {"quantiles": q, "values": [
        [1000, 20000, 50000, 300000, 800000, 2000000, 4000000]] * 3})
    rs = load_folder(folder)
    e = next(e for e in rs.ok("timers") if e.quantiles)
    assert e.quantiles["lateness_quantiles_ns"][0] == q
    style.setup()
    fig = plots.fig_timers([rs], str(tmp_path))
    assert "recorded lateness distribution" in fig.caption
    assert captions.problems(fig, [rs]) == []
    md = report.not_measured([rs])
    assert not any("lateness distribution" in t for t in md)


def test_a_malformed_distribution_is_bad_input(make_folder):
    folder = _with_quantiles(make_folder, {"quantiles": [0.5, 0.9], "values": [[3, 2]]})
    with pytest.raises(ResultsError, match="decreases"):
        load_folder(folder)


# ---- report ---------------------------------------------------------------------------------

def test_report_opens_with_findings_then_tables_not_measured_and_the_seed(rendered):
    md = open(os.path.join(rendered, "report.md")).read()
    order = [md.index(h) for h in ("## Findings", "## Machines and builds", "## Scenarios",
                                   "## Not measured here", "## The seed's results, compared by shape")]
    assert order == sorted(order)
    findings_part = md[md.index("## Findings"):md.index("## Machines and builds")]
    items = [ln for ln in findings_part.splitlines() if ln.startswith("- ")]
    assert 5 <= len(items) <= 10
    assert all("(figure " in ln for ln in items)
    assert "(figures/heatmap.png)" in findings_part
    assert "- scaling past 2 carriers: the machine has 2 CPUs" in md
    assert "the whole timer lateness distribution" in md


def test_the_report_has_the_stackless_table_when_a_stackless_peer_ran(make_folder):
    plain = load_folder(make_folder(scenarios={"yield"}))
    assert report.stackless_blocks([plain]) == []
    folder = make_folder(scenarios={"yield"})
    _add_peer_like_go(folder, "coro")
    blocks = report.stackless_blocks([load_folder(folder)])
    assert blocks[0][0] == "h"
    tables = [b for b in blocks if b[0] == "table"]
    assert tables and "ours / coro" in tables[0][1] and tables[0][2][0][0] == "yield"


def test_readme_table_is_generated_from_the_committed_baseline(capsys):
    folders = sorted(d for d in os.listdir(os.path.join(REPO, "results"))
                     if d != "quick" and os.path.isdir(os.path.join(REPO, "results", d))
                     and any(n.endswith(".json") for n in os.listdir(os.path.join(REPO, "results", d))))
    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    shown = [f for f in folders if report.README_BEGIN.format(folder=f"results/{f}") in readme]
    assert shown, "README.md has no generated results table (figures.py DIR --readme-table)"
    for f in shown:
        assert figures.main([os.path.join(REPO, "results", f), "--readme-table"]) == 0
        block = capsys.readouterr().out.strip()
        body = block.split("\n", 1)[1]     # the table and the end marker
        assert body in readme, f"README.md's results table for {f} differs from the data: regenerate it"


def test_readme_table_picks_no_scheduler(make_folder):
    rs = load_folder(make_folder(scenarios={"http", "switch"}))
    table = report.readme_table(rs)
    assert "FIFO / Chase-Lev" in table
    row = next(ln for ln in table.splitlines() if ln.startswith("| HTTP, 100 connections"))
    assert row.count(" / ") >= 1


def test_readme_table_shows_each_row_at_its_stated_parameters():
    """A row names its parameters (skynet 1M, HTTP at the sweep's registration): an entry at
    another size, idle policy or registration never fills a cell, even when it comes first."""
    rs = ResultSet("rows", machine={"cores": 2, "cpu_model": "KNOWN", "hostname": "k"})
    sky = {"carriers": 2, "guard": "off", "stack_kib": 16}
    rs.entries += [
        _entry("skynet", "asm-pooled-fifo", {**sky, "fibers": 10000, "idle_spin_us": -1}, time_s=[0.2] * 3),
        _entry("skynet", "asm-pooled-chaselev", {**sky, "fibers": 1000000, "idle_spin_us": 50}, time_s=[0.07] * 3),
        _entry("skynet", "asm-pooled-chaselev", {**sky, "fibers": 1000000, "idle_spin_us": -1}, time_s=[0.08] * 3),
        _entry("skynet", "go", {"carriers": 2, "fibers": 1000000}, time_s=[0.785] * 3),
        _entry("skynet", "go", {"carriers": 2, "fibers": 10000}, time_s=[0.01] * 3),
    ]
    http = {"connections": 100, "mode": "load"}
    rs.entries += [
        _entry("http", "asm-pooled-chaselev", {**http, "registration": "oneshot"}, requests_per_s=[50000.0] * 3),
        _entry("http", "asm-pooled-chaselev", {**http, "registration": "persistent"}, requests_per_s=[100000.0] * 3),
        _entry("http", "asm-pooled-fifo", {**http, "registration": "persistent"}, requests_per_s=[96000.0] * 3),
        _entry("http", "boost-pooled-fifo", {**http, "registration": "persistent"}, requests_per_s=[93000.0] * 3),
    ]
    rows = {ln.split(" | ")[0].lstrip("| "): ln.split(" | ")[1:] for ln in report.readme_table(rs).splitlines()}
    assert rows["skynet 1M, 2 carriers (s)"][0] == "— / 0.08"  # not FIFO's 10,000, not the spin's 0.07
    assert "go 0.785" in rows["skynet 1M, 2 carriers (s)"][-1] and "0.01" not in rows["skynet 1M, 2 carriers (s)"][-1]
    assert rows["HTTP, 100 connections (requests/s)"][0] == "96k / 100k"  # persistent, the sweep's


def test_http_ratios_follow_the_registration_the_variant_sweep_ran_with():
    """The sweep runs every variant at the runtime's default registration and one variant
    at the others: the fibers/threads ratios come from the sweep's, whichever it is, and
    results from before the parameter (no registration recorded) count as oneshot."""
    rs = ResultSet("reg", machine={"cores": 2, "cpu_model": "KNOWN", "hostname": "k"})
    for lab in ("asm-pooled-fifo", "boost-pooled-fifo", "asm-pooled-chaselev"):
        rs.entries.append(_entry("http", lab, {"connections": 1000, "registration": "persistent"},
                                 requests_per_s=[120000.0] * 3))
    for reg, rps in (("oneshot", 90000.0), ("level", 80000.0)):
        rs.entries.append(_entry("http", "asm-pooled-chaselev", {"connections": 1000, "registration": reg},
                                 requests_per_s=[rps] * 3))
    rs.entries.append(_entry("http", "threads", {"connections": 1000}, requests_per_s=[100000.0] * 3))
    assert findings.sweep_registration(rs) == "persistent"
    ratios = findings.http_ratios(rs)
    assert sorted(r.entry.label for r in ratios) == ["asm-pooled-chaselev", "asm-pooled-fifo", "boost-pooled-fifo"]
    assert all(r.ratio.value == pytest.approx(1.2) for r in ratios)
    assert [r.ratio.value for r in findings.http_ratios(rs, "oneshot")] == [pytest.approx(0.9)]
    old = _known()   # its variant entry records oneshot; strip it: recorded before the parameter
    for e in old.entries:
        e.params.pop("registration", None)
    assert findings.sweep_registration(old) == "oneshot"
    assert len(findings.http_ratios(old)) == 1
