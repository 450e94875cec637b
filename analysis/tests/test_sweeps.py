"""The stack-size and guard sweep (memory_fiber from the stacks scenario), ucontext's
signal-mask system call as its own step of the switch decomposition, the speedup figure's
peers named from the data, and the report's account of open-loop HTTP latency."""

import re

import pytest

from switchyard_analysis import captions, findings, plots_runtime, report, style
from switchyard_analysis.results import load_folder

from test_paper import _entry, _known


# ---- memory per fiber against stack size and guard -----------------------------------------

def test_memory_fiber_is_drawn_from_the_stacks_sweep(records):
    f = records["memory_fiber"]
    assert f.scenarios == ("stacks",)
    # resident and mapped: one panel each; 2 stack strategies x 2 guard settings a panel
    assert len(f.series) == 2 and all(n <= style.MAX_SERIES_PER_PANEL for n in f.series), f.series
    for group, texts in f.legend_groups.items():
        assert len(texts) <= 8, (group, texts)
    styles = [t for texts in f.legend_groups.values() for t in texts]
    assert any("guard=on" in t for t in styles) and any("guard=off" in t for t in styles), styles
    # the x ticks are the swept sizes
    assert all({"16", "64", "256"} <= set(t) for t in f.ticks), f.ticks


def test_memory_fiber_caption_claims_map_to_data(records):
    f = records["memory_fiber"]
    rs = load_folder(records["_folder"])
    assert captions.problems(f, [rs]) == []
    es = rs.ok("stacks")
    # every fiber count it names ran; every mapping range it states is the data's
    named = {int(x.replace(",", "")) for x in re.findall(r"([\d,]+) fibers sit parked", f.caption)[0].split(", ")}
    assert named == {int(e.params["fibers"]) for e in es}
    for guard, lo, hi in re.findall(r"guard=(on|off): ([\d.]+)–([\d.]+) mappings per fiber", f.caption):
        got = [e.metrics["mappings_per_fiber"].median for e in es if e.params["guard"] == guard]
        assert float(lo) == pytest.approx(min(got), rel=1e-2) and float(hi) == pytest.approx(max(got), rel=1e-2)
    assert "guard=on" in f.caption and "guard=off" in f.caption


def test_the_sweep_is_no_longer_listed_as_not_measured(rendered):
    md = open(f"{rendered}/report.md").read()
    assert "memory per fiber across stack sizes and guard settings" not in md
    assert "| stacks | ok | memory_fiber |" in md


# ---- ucontext's signal-mask system call, measured on its own --------------------------------

def _with_sigprocmask(ns):
    rs = _known()      # switch: asm_nofpu 2, asm 6, ucontext 300 ns
    e = _entry("switch", "sigprocmask", {}, ns_per_switch=[ns] * 9)
    e.variant, e.peer, e.dimensions = None, None, {"switch": "sigprocmask"}
    rs.entries.append(e)
    return rs


def test_the_system_call_is_a_step_of_its_own():
    steps = findings.switch_steps(_with_sigprocmask(200.0))
    uc = [s for s in steps if s.path == "ucontext"]
    assert [s.source for s in uc] == ["switch sigprocmask", "switch ucontext"]
    sig, rest = uc
    assert (sig.start_ns, sig.end_ns) == pytest.approx((6.0, 206.0))
    assert sig.interval == pytest.approx((200.0, 200.0))
    assert (rest.start_ns, rest.end_ns) == pytest.approx((206.0, 300.0))
    assert rest.interval == pytest.approx((94.0, 94.0))
    text = "\n".join(findings.sentences(_with_sigprocmask(200.0)))
    assert "ucontext's signal-mask system call alone costs 200 ns [200–200]" in text
    assert "ucontext's switch costs 300 ns [300–300], 50x asm's" in text


def test_without_the_entry_ucontext_is_one_step_by_subtraction():
    uc = [s for s in findings.switch_steps(_known()) if s.path == "ucontext"]
    assert len(uc) == 1 and (uc[0].start_ns, uc[0].end_ns) == pytest.approx((6.0, 300.0))


def test_the_decomposition_figure_says_the_call_was_measured(records, make_folder):
    cap = records["switch_decomposition"].caption
    assert "measured on its own" in cap and "not measured apart" not in cap
    assert any("sigprocmask" in t for t in records["switch_decomposition"].ticks[0])
    md = open(f"{records['_folder']}/report.md").read()
    assert "signal-mask system call on its own: the decomposition bounds it" not in md


# ---- the speedup figure's peers come from the data ------------------------------------------

def test_speedup_caption_names_the_peers_that_ran(records):
    cap = records["speedup"].caption
    # the fixture's steal has Go on 1 and 2 carriers; its skynet has Go on 2 only
    assert "Go on steal with GOMAXPROCS = carriers" in cap
    assert "go" in records["speedup"].claims["peers"]


def test_speedup_caption_without_peers_mentions_none():
    rs = _known()
    rs.entries = [e for e in rs.entries if not (e.scenario == "skynet" and e.is_peer)]
    text = plots_runtime._speedup_peer_text([findings.speedups(rs)])
    assert not re.search(r"\bpeers?\b", text) and "Go" not in text
    text = plots_runtime._speedup_peer_text([findings.speedups(_known())])
    assert text == "each peer against its own 1-carrier time: Go on skynet with GOMAXPROCS = carriers"


# ---- HTTP latency: closed-loop, said everywhere it is shown ---------------------------------

def test_http_latency_is_called_closed_loop_with_the_reason(records):
    f = records["http_latency"]
    assert "closed-loop (wrk)" in f.title
    assert "Closed-loop (wrk): latency subject to coordinated omission" in f.caption
    md = open(f"{records['_folder']}/report.md").read()
    assert "latency closed-loop (wrk): subject to coordinated omission" in md
    assert report.OPEN_LOOP_WHY in md


def test_stack_memory_finding_on_known_data():
    from switchyard_analysis.results import ResultSet
    rs = ResultSet("known", machine={"cores": 2, "limits": {"vm.max_map_count": 65530},
                                     "memory_kib": 8 * 1024 * 1024})
    for lab in ("asm-pooled-fifo", "asm-fresh-fifo"):
        for kib in (16, 256):
            for guard, maps, rss in (("on", 2.0, 4.0), ("off", 0.01, 8.0)):
                rs.entries.append(_entry("stacks", lab, {"fibers": 20000, "stack_kib": kib, "guard": guard},
                                         rss_kib_per_fiber=[rss] * 5, mappings_per_fiber=[maps] * 5,
                                         mapped_kib_per_fiber=[kib + 4.0] * 5))
    got = findings.stack_memory_sentence(rs)
    assert got == ("Resident memory per parked fiber (medians over stack strategies): guard=off 8 KiB "
                   "at a 16 KiB stack and 8 KiB at 256 KiB; guard=on 4 KiB at a 16 KiB stack and 4 KiB "
                   "at 256 KiB, so it follows the pages a fiber touches, not its stack size; guard "
                   "pages take 2 memory mappings per fiber against 0.01 without and 260 against "
                   "260 KiB of address space at 256 KiB; with vm.max_map_count 65,530 the mappings "
                   "stop guarded fibers at about 32,800, which hold only 128 MiB of this machine's 8 GiB")
    assert any(s.startswith("Resident memory per parked fiber") for s in findings.sentences(rs))
    # one stack size: nothing to compare
    rs.entries = [e for e in rs.entries if e.params["stack_kib"] == 16]
    assert findings.stack_memory_sentence(rs) is None
