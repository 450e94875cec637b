"""Figures and report from synthetic fixture folders."""

import os
import struct

import figures

EXPECTED = ["heatmap", "switch_decomposition", "switch_cost", "yield", "spawn_join", "skynet",
            "speedup", "io_pingpong", "channel", "mutex", "timers_cdf", "memory_fiber",
            "memory_connection", "http_ratio", "http_rps", "http_latency", "gc_scan_rate",
            "gc_switch"]


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_every_figure_renders_as_pdf_and_png(rendered):
    for name in EXPECTED:
        for ext in ("pdf", "png"):
            path = os.path.join(rendered, "figures", f"{name}.{ext}")
            assert os.path.getsize(path) > 2000, path
        with open(os.path.join(rendered, "figures", f"{name}.pdf"), "rb") as f:
            assert f.read(5) == b"%PDF-"
        w, h = _png_size(os.path.join(rendered, "figures", f"{name}.png"))
        # Saved at a paper width exactly: 3.5 in (single column) or 7 in (double), at the
        # tests' draft resolution.
        dpi = int(os.environ["SWITCHYARD_FIG_DPI"])
        assert w in (round(3.5 * dpi), round(7.0 * dpi)), (name, w)
        assert h > 1.5 * dpi


def test_report_contains_every_figure_and_tables(rendered):
    md = open(os.path.join(rendered, "report.md")).read()
    html = open(os.path.join(rendered, "report.html")).read()
    for name in EXPECTED:
        assert f"(figures/{name}.png)" in md
        assert f'src="figures/{name}.png"' in html
        assert f'href="figures/{name}.pdf"' in html
    # machine, medians, seed numbers beside ours, skipped/failed with reasons
    assert "SYNTHETIC FIXTURE CPU" in md and "SYNTHETIC FIXTURE CPU" in html
    # parameters every row shares are said once above the table, not on each row
    assert "Every row (that has the parameter): carriers=1 fibers=2." in md
    assert "| asm-pooled-fifo | — | 9 |" in md
    assert "seed fibers/threads" in md and "1.24x" in md    # the seed's 160,947 / 129,724
    assert "FIXTURE: nginx not installed" in md
    assert "FIXTURE: 312 socket timeouts" in md
    assert "<table>" in html and html.rstrip().endswith("</html>")


def test_only_present_scenarios_are_drawn_and_missing_ones_listed(make_folder):
    folder = make_folder(scenarios={"channel"})
    assert figures.main([folder]) == 0
    drawn = sorted(os.listdir(os.path.join(folder, "figures")))
    assert drawn == ["channel.pdf", "channel.png", "heatmap.pdf", "heatmap.png"]
    md = open(os.path.join(folder, "report.md")).read()
    assert "| http | not run | — |" in md and "| yield | not run | — |" in md
    assert "| channel | ok | channel |" in md
    assert md.index("## Findings") < md.index("## Machines and builds")


def test_several_folders_side_by_side(make_folder, tmp_path, rendered):
    a = make_folder("machine-a", scenarios={"channel", "steal"}, host="fixture-a")
    b = make_folder("machine-b", scenarios={"channel"}, host="fixture-b", seed=7, scale=1.5)
    out = str(tmp_path / "both")
    assert figures.main([a, b, "--out", out]) == 0
    wide, _ = _png_size(os.path.join(out, "figures", "channel.png"))
    single, _ = _png_size(os.path.join(rendered, "figures", "channel.png"))   # same channel data
    assert wide > 1.5 * single          # two columns, one per folder
    # steal exists only in machine-a: its speedup is still drawn
    assert os.path.getsize(os.path.join(out, "figures", "speedup.png")) > 2000
    md = open(os.path.join(out, "report.md")).read()
    assert "machine-a" in md and "machine-b" in md and "fixture-b" in md
    assert not os.path.exists(os.path.join(b, "report.md"))   # --out: inputs untouched


def test_stale_figures_are_removed(make_folder):
    folder = make_folder(scenarios={"steal", "channel"})
    assert figures.main([folder]) == 0
    os.remove(os.path.join(folder, "steal.json"))
    assert figures.main([folder]) == 0
    assert sorted(os.listdir(os.path.join(folder, "figures"))) == [
        "channel.pdf", "channel.png", "heatmap.pdf", "heatmap.png"]


def test_check_flag_for_ci(make_folder, capsys):
    folder = make_folder(scenarios={"channel"})
    assert figures.main([folder, "--check"]) == 0
    assert "2 figures for 1 scenarios" in capsys.readouterr().err
    # a scenario whose entries carry none of the metrics its figure draws: --check fails
    import json
    path = os.path.join(folder, "channel.json")
    doc = json.load(open(path))
    for e in doc["entries"]:
        if e["status"] == "ok":
            e["metrics"] = {"peak_live_fibers": e["metrics"]["ns_per_handoff"] | {"unit": "count"}}
    json.dump(doc, open(path, "w"))
    assert figures.main([folder, "--check"]) == 1
    assert "scenario channel has results but no figure was drawn" in capsys.readouterr().err


def test_report_escapes_html_and_shows_entry_rss(make_folder, tmp_path):
    import json
    from switchyard_analysis import report
    from switchyard_analysis.results import load_folder
    folder = make_folder(scenarios={"http"})
    path = os.path.join(folder, "http.json")
    doc = json.load(open(path))
    doc["entries"][0]["peak_rss_kib"] = 4321
    skipped = next(e for e in doc["entries"] if e["status"] == "skipped")
    skipped["reason"] = "needs <nginx> & root"
    json.dump(doc, open(path, "w"))
    out = str(tmp_path / "rep")
    os.makedirs(out)
    report.write_report([load_folder(folder)], [], out)
    md = open(os.path.join(out, "report.md")).read()
    html = open(os.path.join(out, "report.html")).read()
    assert "peak RSS (KiB)" in md and "| 4,321 |" in md
    assert "needs &lt;nginx&gt; &amp; root" in html and "<nginx>" not in html
    assert "| yield | not run | — |" in md
