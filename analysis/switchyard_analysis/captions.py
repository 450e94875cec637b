"""Captions generated from the data, and the check that a caption claims nothing the data
lacks (a percentile not recorded, a peer not run, whiskers over one repetition, the seed
where it is not drawn)."""

import re

from . import style

PEER_WORDS = {p: style.peer_name(p) for p in style.PEER_NAME}


def n_text(ns, runs=()):
    """'n = 9 repetitions per point'; with `runs` (per point, how many fresh processes its
    samples come from; None where the data does not say) the runs too, since samples of
    one process move together: 'n = 15 repetitions per point, from 3 runs'."""
    ns = sorted(set(ns))
    if not ns:
        return ""
    if len(ns) == 1:
        text = f"n = {ns[0]} repetition{'s' if ns[0] != 1 else ''} per point"
    else:
        text = f"n = {ns[0]}–{ns[-1]} repetitions per point"
    rs = sorted({r for r in runs if r is not None})
    if rs:
        text += (f", from {rs[0]} run{'s' if rs[0] != 1 else ''}" if len(rs) == 1
                 else f", from {rs[0]}–{rs[-1]} runs")
        text += " (fresh processes; whiskers resample whole runs)" if rs[-1] > 1 else ""
    return text


def whisker_text(ns, strip=True):
    from .stats import BOOTSTRAP_MIN_N
    ns = set(ns)
    if not ns:
        return ""
    if max(ns) >= BOOTSTRAP_MIN_N:
        t = "whiskers: 95 % bootstrap interval of the median"
        if min(ns) < BOOTSTRAP_MIN_N:
            t += f" (none where n < {BOOTSTRAP_MIN_N})"
    else:
        t = f"no interval (n < {BOOTSTRAP_MIN_N})"
    if strip and min(ns) <= 20:
        t += "; small grey dots: each repetition"
    return t


def machine_text(sets):
    parts = []
    for rs in sets:
        m = rs.machine
        parts.append(f"{rs.name} ({m.get('cpu_model', '?')}, {m.get('cores', '?')} cores, "
                     f"kernel {m.get('kernel', '?')})")
    return "Machine: " + "; ".join(parts)


def build(what, sets, ns, strip=True, notes=(), interval=True, runs=()):
    parts = [what.rstrip(".")]
    parts += [n for n in notes if n]
    if ns:
        parts.append(n_text(ns, runs))
        if interval:
            parts.append(whisker_text(ns, strip))
    parts.append(machine_text(sets))
    return ". ".join(p.rstrip(".") for p in parts) + "."


def claims(ns=(), peers=(), seed=False, metrics=(), quantiles=(), scenarios=()):
    return {"n": sorted(set(ns)), "peers": sorted(set(peers)), "seed": bool(seed),
            "metrics": sorted(set(metrics)), "quantiles": sorted(set(quantiles)),
            "scenarios": sorted(set(scenarios))}


def problems(fig, sets):
    """What the caption of `fig` says that its claims or the data do not back."""
    from .stats import BOOTSTRAP_MIN_N
    out = []
    cap = fig.caption
    cl = fig.claims or {}
    ns = cl.get("n", [])
    # Percentiles: each one named must be recorded (as a metric or a quantile sketch).
    for p in sorted(set(re.findall(r"\bp(\d{2,4})\b", cap))):
        if p not in {str(q) for q in cl.get("quantiles", [])}:
            out.append(f"{fig.name}: caption names p{p}, which the data does not hold")
    have_q = set()
    for rs in sets:
        for s in cl.get("scenarios", []):
            for e in rs.ok(s):
                for m in e.metrics:
                    mm = re.search(r"_p(\d+)_", m)
                    if mm:
                        have_q.add(mm.group(1))
                if getattr(e, "quantiles", None):
                    have_q |= {"50", "90", "99", "999"}
    for q in cl.get("quantiles", []):
        if str(q) not in have_q:
            out.append(f"{fig.name}: claims quantile p{q}, absent from the data")
    if "bootstrap" in cap and (not ns or max(ns) < BOOTSTRAP_MIN_N):
        out.append(f"{fig.name}: caption promises bootstrap intervals, no point has n >= {BOOTSTRAP_MIN_N}")
    if re.search(r"min.max", cap) and (not ns or max(ns) < 2):
        out.append(f"{fig.name}: caption promises min-max whiskers over one repetition")
    for m in re.findall(r"n = (\d+)(?:–(\d+))?", cap):
        for v in m:
            if v and int(v) not in ns:
                out.append(f"{fig.name}: caption says n = {v}, the points have {ns}")
    if re.search(r"\bpeers?\b", cap) and not cl.get("peers"):
        out.append(f"{fig.name}: caption mentions peers, none is drawn")
    for p, word in PEER_WORDS.items():
        if re.search(rf"\b{re.escape(word)}\b", cap) and p not in cl.get("peers", []) \
                and p != "threads":
            out.append(f"{fig.name}: caption names {word}, which is not drawn")
    if re.search(r"\bseed\b", cap, re.I) and not cl.get("seed"):
        out.append(f"{fig.name}: caption mentions the seed, which is not drawn")
    # The claims themselves against the data: sample counts and peers must exist.
    real_n, real_peers = set(), set()
    for rs in sets:
        for s in cl.get("scenarios", []):
            for e in rs.ok(s):
                real_n |= {len(m.samples) for m in e.metrics.values()}
                if e.peak_rss_kib is not None:
                    real_n.add(1)
                for _, reps in e.quantiles.values():
                    real_n.add(len(reps))
                if e.is_peer:
                    real_peers.add(e.peer)
    for n in ns:
        if n not in real_n:
            out.append(f"{fig.name}: claims n = {n}, no metric has that many samples")
    for p in cl.get("peers", []):
        if p not in real_peers:
            out.append(f"{fig.name}: claims peer {p}, not in the data")
    for rs in sets:
        if rs.name not in cap:
            out.append(f"{fig.name}: caption does not name the machine {rs.name}")
    return out
