"""The report: Markdown and HTML from one list of blocks, so both always say the same.

Sections: sources and machines, then per scenario (in the fixed order) its figures and a
table of medians, or "not run"; the seed's published numbers beside ours; entries that
were skipped or failed with their reasons; warnings from loading.
"""

import html
import os
from datetime import datetime, timezone

from . import plots
from .results import SCENARIOS, label_sort_key, metric_value, params_text

# Blocks: ("h", level, text) ("p", text) ("table", header, rows) ("img", path_rel, alt, pdf_rel)


def _fmt(v):
    if v is None:
        return "—"
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _machine_rows(rs):
    m, b = rs.machine, rs.build
    lim = m.get("limits") or {}
    rows = [
        ("host", m.get("hostname", "?")), ("CPU", m.get("cpu_model", "?")),
        ("cores", str(m.get("cores", "?"))), ("kernel", m.get("kernel", "?")),
        ("memory", f"{m['memory_kib'] / 1048576:.1f} GiB" if isinstance(m.get("memory_kib"), (int, float)) else "?"),
        ("limits", ", ".join(f"{k}={v}" for k, v in lim.items()) or "—"),
        ("settings applied", ", ".join(m.get("settings_applied") or []) or "none"),
        ("compiler / flags", f"{b.get('compiler', '?')} / {b.get('flags', '?')} ({b.get('build_type', '?')})"),
        ("sanitizer", b.get("sanitize") or "none"),
        ("commit", (b.get("commit") or "?") + (" (dirty tree)" if b.get("dirty") else "")),
        ("Boost", b.get("boost_version", "?")),
        ("files", ", ".join(os.path.basename(f) for f in rs.files)),
    ]
    return rows


def _median_table(sets, scenario):
    """Rows: folder (when several), label, params; columns: every metric present."""
    metrics = []
    for rs in sets:
        for e in rs.ok(scenario):
            for mname in e.metrics:
                if mname not in metrics:
                    metrics.append(mname)
    # The harness's per-entry peak resident memory, when it is not also a metric.
    entry_rss = "peak_rss_kib" not in metrics and any(
        e.peak_rss_kib is not None for rs in sets for e in rs.ok(scenario))
    header = (["folder"] if len(sets) > 1 else []) + ["label", "params", "n"] + [
        f"{m} ({next(e.metrics[m].unit for rs in sets for e in rs.ok(scenario) if m in e.metrics)})"
        for m in metrics] + (["peak RSS (KiB)"] if entry_rss else [])
    rows = []
    for rs in sets:
        for e in sorted(rs.ok(scenario), key=lambda e: (label_sort_key(e), params_text(e.params))):
            cells = [rs.name] if len(sets) > 1 else []
            cells += [e.label, params_text(e.params) or "—", str(e.repetitions)]
            for m in metrics:
                mv = metric_value(e, m) if m in e.metrics else None
                cells.append("—" if mv is None else
                             (_fmt(mv[0]) if mv[1] == mv[2] else f"{_fmt(mv[0])} [{_fmt(mv[1])}–{_fmt(mv[2])}]"))
            if entry_rss:
                cells.append(_fmt(e.peak_rss_kib))
            rows.append(cells)
    return header, rows


def _seed_blocks(sets):
    out = [("h", 2, "The seed's published numbers beside ours"),
           ("p", "The seed measured on a 16-core machine (design section 12); ours run on the "
                 "machines above, so compare shapes and ratios, not absolute values.")]
    # Yield.
    rows = []
    for rs in sets:
        for e in sorted(rs.ok("yield"), key=label_sort_key):
            mv = metric_value(e, "ns_per_yield")
            if mv and e.params.get("fibers", 2) == 2:
                rows.append(([rs.name] if len(sets) > 1 else []) + [
                    e.label, params_text(e.params), _fmt(mv[0]), _fmt(plots.SEED_YIELD_NS),
                    f"{plots.SEED_YIELD_NS / mv[0]:.1f}x"])
    out.append(("h", 3, "Two-fiber yield"))
    if rows:
        out.append(("table", ([("folder")] if len(sets) > 1 else []) + [
            "ours", "params", "ns per yield (median)", "seed ns per switch", "seed / ours"], rows))
    else:
        out.append(("p", "yield: not run."))
    # HTTP.
    out.append(("h", 3, "HTTP requests/s (wrk)"))
    any_http = False
    for rs in sets:
        es = [e for e in rs.ok("http") if metric_value(e, "requests_per_s")]
        if not es:
            continue
        any_http = True
        best_fiber, threads = {}, {}
        for e in rs.not_ok():
            if e.scenario == "http" and e.peer == "threads" and "connections" in e.params:
                threads[e.params["connections"]] = f"{e.status}: {e.reason}"
        for e in es:
            c = e.params.get("connections")
            v = metric_value(e, "requests_per_s")[0]
            if e.variant is not None and (c not in best_fiber or v > best_fiber[c][0]):
                best_fiber[c] = (v, e.label)
            if e.peer == "threads":
                threads[c] = v
        rows = []
        for c, st, sf in plots.SEED_HTTP:
            bf = best_fiber.get(c)
            th = threads.get(c)
            rows.append([f"{c:,}", f"{st:,}", f"{sf:,}",
                         "not run" if th is None else (th if isinstance(th, str) else f"{th:,.0f}"),
                         "not run" if bf is None else f"{bf[0]:,.0f} ({bf[1]})",
                         "—" if bf is None else f"{bf[0] / sf:.2f}"])
        title = f"{rs.name}: " if len(sets) > 1 else ""
        nofile = (rs.machine.get("limits") or {}).get("open_files")
        limit = (f" (open-file limit here: {nofile:,}; a connection needs a descriptor on each "
                 "side when wrk runs on the same machine)") if isinstance(nofile, int) else ""
        out.append(("p", f"{title}seed (16 cores, wrk -t4 -d10s) against ours; a connection count "
                         f"we did not run reads 'not run'{limit}."))
        out.append(("table", ["connections", "seed threads", "seed fibers", "our threads",
                              "our best fiber variant", "ours / seed fibers"], rows))
    if not any_http:
        out.append(("p", "http: not run."))
    return out


def build_blocks(sets, figures, out_dir):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    b = [("h", 1, "Switchyard results"),
         ("p", f"Generated {now} by analysis/figures.py from: " +
          ", ".join(rs.folder for rs in sets) + ". Medians over repetitions; brackets give "
          "[min–max]; n = repetitions. Figures: " + _style_text())]
    b.append(("h", 2, "Machines and builds"))
    if len(sets) == 1:
        b.append(("table", ["", ""], [list(r) for r in _machine_rows(sets[0])]))
    else:
        rows = list(zip(*[_machine_rows(rs) for rs in sets]))
        b.append(("table", ["", *[rs.name for rs in sets]],
                  [[r[0][0], *[c[1] for c in r]] for r in rows]))
    by_scen = {}
    for f in figures:
        by_scen.setdefault(f.scenario, []).append(f)
    present = set().union(*(rs.scenarios_present() for rs in sets))
    b.append(("h", 2, "Scenarios"))
    summary = [[s, "ok" if s in present else "not run",
                ", ".join(f.name for f in by_scen.get(s, [])) or "—"] for s in SCENARIOS]
    extra = sorted(present - set(SCENARIOS))
    summary += [[s, "ok (unknown scenario name: table only)", "—"] for s in extra]
    b.append(("table", ["scenario", "status", "figures"], summary))
    for s in SCENARIOS + extra:
        b.append(("h", 3, s))
        if s not in present:
            reasons = [f"{e.label}: {e.status} ({e.reason})" for rs in sets for e in rs.not_ok()
                       if e.scenario == s]
            b.append(("p", "not run." + (" " + "; ".join(reasons) if reasons else "")))
            continue
        for f in by_scen.get(s, []):
            png = [p for p in f.files if p.endswith(".png")][0]
            pdf = [p for p in f.files if p.endswith(".pdf")][0]
            b.append(("img", os.path.relpath(png, out_dir), f.title, os.path.relpath(pdf, out_dir)))
            b.append(("p", f"*{f.title}.* {f.caption}"))
        header, rows = _median_table(sets, s)
        b.append(("table", header, rows))
    b += _seed_blocks(sets)
    b.append(("h", 2, "Skipped and failed entries"))
    rows = [([rs.name] if len(sets) > 1 else []) + [e.scenario, e.label, params_text(e.params) or "—",
                                                    e.status, e.reason]
            for rs in sets for e in rs.not_ok()]
    if rows:
        b.append(("table", (["folder"] if len(sets) > 1 else []) +
                  ["scenario", "label", "params", "status", "reason"], rows))
    else:
        b.append(("p", "None."))
    notes = sorted({f"{e.scenario} {e.label}: {n}" for rs in sets for e in rs.ok() for n in e.notes})
    if notes:
        b.append(("h", 2, "Notes recorded with the results"))
        b.append(("list", notes))
    warns = [f"{rs.name}: {w}" for rs in sets for w in rs.warnings] + [
        f"{rs.name}: {os.path.basename(p)} was NOT used: {msg}" for rs in sets for p, msg in rs.bad_files]
    if warns:
        b.append(("h", 2, "Warnings"))
        b.append(("list", warns))
    return b


def _style_text():
    from . import style
    return style.style_note() + "; whiskers and bands span min–max over repetitions."


def _md_cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks):
    out = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h":
            out.append("#" * blk[1] + " " + blk[2])
        elif kind == "p":
            out.append(blk[1])
        elif kind == "list":
            out.append("\n".join(f"- {x}" for x in blk[1]))
        elif kind == "img":
            out.append(f"![{blk[2]}]({blk[1]})  \n[PDF]({blk[3]})")
        elif kind == "table":
            header, rows = blk[1], blk[2]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
                     "|" + "|".join("---" for _ in header) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            out.append("\n".join(lines))
        out.append("")
    return "\n".join(out)


def to_html(blocks):
    e = html.escape
    body = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h":
            body.append(f"<h{blk[1]}>{e(blk[2])}</h{blk[1]}>")
        elif kind == "p":
            text = e(blk[1])
            if text.startswith("*") and ".*" in text:     # the figure caption's italic title
                head, rest = text[1:].split(".*", 1)
                text = f"<em>{head}.</em>{rest}"
            body.append(f"<p>{text}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in blk[1]) + "</ul>")
        elif kind == "img":
            body.append(f'<figure><img src="{e(blk[1])}" alt="{e(blk[2])}">'
                        f'<figcaption><a href="{e(blk[3])}">PDF</a></figcaption></figure>')
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in blk[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>"
                           for r in blk[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    css = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
           "table{border-collapse:collapse;font-size:85%;margin:.5em 0 1.5em}"
           "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}th{background:#f2f2f2}"
           "img{max-width:100%;border:1px solid #eee}figure{margin:1em 0}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Switchyard results</title><style>{css}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(sets, figures, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    blocks = build_blocks(sets, figures, out_dir)
    paths = []
    for name, text in (("report.md", to_markdown(blocks)), ("report.html", to_html(blocks))):
        path = os.path.join(out_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)   # a failed run never leaves half a report
        paths.append(path)
    return paths
