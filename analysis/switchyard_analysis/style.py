"""One visual language for every figure.

Okabe-Ito palette (colour-blind safe). Each variant dimension owns one visual channel, so
a reader learns it once: switch backend -> colour, stacks -> marker (lines) / hatch (bars),
scheduler -> line style (lines) / edge style (bars). Peers have fixed colours of their own,
and the seed's published numbers are always black.
"""

import matplotlib

matplotlib.use("Agg")   # no display on CI machines; set before pyplot is imported
import matplotlib.patheffects as patheffects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

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
SEED_COLOUR = OKABE_ITO["black"]
FALLBACK = ["#666666", "#333333", "#AAAAAA"]

OUTLINE = [patheffects.Stroke(linewidth=2.0, foreground="#666666"), patheffects.Normal()]

STACKS_MARKER = {"pooled": "o", "fresh": "s"}
STACKS_HATCH = {"pooled": "", "fresh": "///"}
SCHEDULER_LINESTYLE = {"fifo": "-", "chaselev": "--"}
PEER_MARKER = {"go": "^", "boost_fiber": "v", "threads": "D", "nginx": "P", "eventloop": "X",
               "coro": "*", "asio": "h"}


def setup():
    plt.rcParams.update({
        "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
        "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "pdf.fonttype": 42,
        "savefig.dpi": 150,
    })


def _backend_of(entry):
    """Backend for colour: the switch dimension; a switch-scenario label like 'asm_nofpu'
    takes its family's colour."""
    sw = entry.dim("switch") or ""
    for name in SWITCH_COLOUR:
        if sw == name or sw.startswith(name + "_") or sw.startswith(name + "-"):
            return name
    return None


def colour(entry):
    if entry.is_peer:
        if entry.peer in PEER_COLOUR:
            return PEER_COLOUR[entry.peer]
        return FALLBACK[sum(map(ord, entry.peer)) % len(FALLBACK)]
    backend = _backend_of(entry)
    return SWITCH_COLOUR.get(backend, FALLBACK[0])


def marker(entry):
    if entry.is_peer:
        return PEER_MARKER.get(entry.peer, "*")
    return STACKS_MARKER.get(entry.dim("stacks"), "o")


def linestyle(entry):
    if entry.is_peer:
        return ":"
    return SCHEDULER_LINESTYLE.get(entry.dim("scheduler"), "-")


def hatch(entry):
    return "" if entry.is_peer else STACKS_HATCH.get(entry.dim("stacks"), "")


def bar_edge_style(entry):
    return "--" if (not entry.is_peer and entry.dim("scheduler") == "chaselev") else "-"


def style_note():
    return ("colour = switch backend (asm blue, boost green, ucontext vermillion) or peer; "
            "marker/hatch = stacks (pooled o/plain, fresh s/hatched); "
            "line style = scheduler (fifo solid, chaselev dashed); seed = black")
