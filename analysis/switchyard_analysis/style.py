"""One visual language for every figure.

Okabe-Ito palette (colour-blind safe). Each variant dimension owns one channel, the same in
every figure, so a reader learns it once:
- switch backend -> colour (asm blue, boost green, ucontext vermillion);
- scheduler      -> marker (fifo circle, chaselev square);
- stacks         -> fill (pooled filled, fresh hollow).
Peers have colours and markers of their own (a peer this code does not know gets a neutral
grey and a star, never an error); the seed's published numbers are always black. Line
style is left free for a figure's own extra parameter (an epoll registration, say), and
each figure's legend has one group per encoding it uses.

Sizes: a paper column is 3.5 in wide, a double column 7 in; figures are saved at exactly
that width, so the 7 pt text here is 7 pt in print.
"""

import matplotlib

matplotlib.use("Agg")   # no display on CI machines; set before pyplot is imported
import matplotlib.patheffects as patheffects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

SINGLE_IN = 3.5
DOUBLE_IN = 7.0
MIN_FONT_PT = 7.0
MAX_SERIES_PER_PANEL = 6

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
    "grey": "#999999",
}

SWITCH_COLOUR = {"asm": OKABE_ITO["blue"], "boost": OKABE_ITO["green"],
                 "ucontext": OKABE_ITO["vermillion"]}
PEER_COLOUR = {"go": OKABE_ITO["sky"], "boost_fiber": OKABE_ITO["purple"],
               "threads": OKABE_ITO["orange"], "nginx": OKABE_ITO["yellow"],
               "eventloop": OKABE_ITO["grey"],
               # The stackless peers: Okabe-Ito has no colour left, so two dark ones from
               # Paul Tol's colour-blind safe muted scheme (indigo, wine).
               "coro": "#332288", "asio": "#882255"}
PEER_NAME = {"go": "Go", "boost_fiber": "Boost.Fiber", "threads": "threads",
             "nginx": "nginx", "eventloop": "event loop", "coro": "C++20 coroutines",
             "asio": "Boost.Asio"}
NEUTRAL = "#555555"        # any peer this code does not know
SEED_COLOUR = OKABE_ITO["black"]

OUTLINE = [patheffects.Stroke(linewidth=2.0, foreground="#666666"), patheffects.Normal()]

SCHEDULER_MARKER = {"fifo": "o", "chaselev": "s"}
STACKS_FILL = {"pooled": "full", "fresh": "none"}
PEER_MARKER = {"go": "^", "boost_fiber": "v", "threads": "D", "nginx": "P", "eventloop": "X",
               "coro": "h", "asio": "p"}
UNKNOWN_PEER_MARKER = "*"
# Free for one extra parameter per figure (registration, scan mode, ...).
EXTRA_LINESTYLES = ["-", "--", ":", "-."]


def setup():
    plt.rcParams.update({
        "font.size": 7.5, "axes.titlesize": 7.5, "axes.labelsize": 7.5, "legend.fontsize": 7,
        "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 8.5,
        "axes.grid": True, "grid.alpha": 0.25, "grid.linewidth": 0.5,
        "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
        "lines.linewidth": 1.0, "lines.markersize": 4.0, "pdf.fonttype": 42,
        "savefig.dpi": 200, "legend.handlelength": 1.6, "legend.columnspacing": 1.0,
        "legend.borderaxespad": 0.2, "legend.handletextpad": 0.4,
    })


def backend_of(entry):
    """Backend for colour: the switch dimension; a switch-scenario label like 'asm_nofpu'
    takes its family's colour."""
    sw = entry.dim("switch") or ""
    for name in SWITCH_COLOUR:
        if sw == name or sw.startswith(name + "_") or sw.startswith(name + "-"):
            return name
    return None


def colour(entry):
    if entry.is_peer:
        return PEER_COLOUR.get(entry.peer, NEUTRAL)
    return SWITCH_COLOUR.get(backend_of(entry), NEUTRAL)


def marker(entry):
    if entry.is_peer:
        return PEER_MARKER.get(entry.peer, UNKNOWN_PEER_MARKER)
    return SCHEDULER_MARKER.get(entry.dim("scheduler"), "o")


def fill(entry):
    if entry.is_peer:
        return "full"
    return STACKS_FILL.get(entry.dim("stacks"), "full")


def peer_name(peer):
    return PEER_NAME.get(peer, peer)


def point_kwargs(entry, size=4.0):
    """Marker keywords for one entry: colour, marker, fill (hollow = white face)."""
    c = colour(entry)
    kw = {"color": c, "marker": marker(entry), "markersize": size, "markeredgecolor": c,
          "markeredgewidth": 0.9, "ls": "none"}
    if fill(entry) == "none":
        kw["markerfacecolor"] = "white"
    if c == PEER_COLOUR["nginx"]:   # Okabe-Ito yellow needs an outline on white
        kw["markeredgecolor"] = "#666666"
    return kw


def encoding_legend(entries, extra=None):
    """Legend groups for the encodings these entries use: {group title: [(handle, text)]}.
    `extra` adds groups of a figure's own (line style for a parameter, the seed, ...)."""
    groups = {}
    variants = [e for e in entries if not e.is_peer]
    backends = [b for b in SWITCH_COLOUR if any(backend_of(e) == b for e in variants)]
    peers = []
    for e in entries:
        if e.is_peer and e.peer not in peers:
            peers.append(e.peer)
    col = [(Line2D([], [], ls="none", marker="o", color=SWITCH_COLOUR[b], markersize=5), b)
           for b in backends]
    for p in peers:
        col.append((Line2D([], [], ls="none", marker=PEER_MARKER.get(p, UNKNOWN_PEER_MARKER),
                           color=PEER_COLOUR.get(p, NEUTRAL), markersize=5,
                           markeredgecolor="#666666" if p == "nginx" else None), peer_name(p)))
    if col:
        groups["colour: switch" + (" / peer" if peers else "")] = col
    scheds = [s for s in SCHEDULER_MARKER if any(e.dim("scheduler") == s for e in variants)]
    if scheds:
        groups["marker: scheduler"] = [
            (Line2D([], [], ls="none", marker=SCHEDULER_MARKER[s], color="#444444", markersize=5), s)
            for s in scheds]
    stacks = [s for s in STACKS_FILL if any(e.dim("stacks") == s for e in variants)]
    if stacks:
        groups["fill: stacks"] = [
            (Line2D([], [], ls="none", marker="o", color="#444444", markersize=5,
                    markerfacecolor="#444444" if STACKS_FILL[s] == "full" else "white"), s)
            for s in stacks]
    for title, items in (extra or {}).items():
        if items:
            groups[title] = items
    return groups


def style_note():
    return ("colour = switch backend (asm blue, boost green, ucontext vermillion) or peer; "
            "marker = scheduler (fifo circle, chaselev square); fill = stacks (pooled filled, "
            "fresh hollow); the seed's numbers in black")
