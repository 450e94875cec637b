"""The paper figures: which exist, which scenario feeds each, and drawing them all.

Each figure is one function, fig_<name>(sets, out) -> Figure (or a list, or None when its
data is absent), kept by area: plots_micro (switch, yield, spawn + join), plots_runtime
(skynet, channel, mutex, speedup), plots_io (socket round trips, timers, memory),
plots_http, plots_gc, plots_summary (the heat map across scenarios). What they share (dot
and line figures, axes, encodings, METRIC_TEXT) is the engine, plot_engine; the seed's
published numbers are in seed.py. A new figure is a function in its area's module and a
line in ALL_FIGURES and FIGURES_OF below.
"""

from . import style
# The axis words live in the engine; named here too for code that reads them as plots.*.
from .plot_engine import METRIC_TEXT, UNIT_TEXT, dpi  # noqa: F401
from .plots_gc import fig_gc_scan_rate, fig_gc_switch
from .plots_http import fig_http_latency, fig_http_ratio, fig_http_rps
from .plots_io import fig_io_pingpong, fig_memory, fig_timers
from .plots_micro import fig_spawn_join, fig_switch_cost, fig_switch_decomposition, fig_yield
from .plots_runtime import fig_channel, fig_mutex, fig_skynet, fig_speedup
from .plots_summary import fig_heatmap

ALL_FIGURES = [fig_heatmap, fig_switch_decomposition, fig_switch_cost, fig_yield,
               fig_spawn_join, fig_skynet, fig_speedup, fig_io_pingpong, fig_channel, fig_mutex,
               fig_timers, fig_memory, fig_http_ratio, fig_http_rps, fig_http_latency,
               fig_gc_scan_rate, fig_gc_switch]

# Which figures each scenario feeds (for CI checks and for removing stale files).
FIGURES_OF = {"switch": ["switch_cost", "switch_decomposition"], "yield": ["yield"],
              "spawn_join": ["spawn_join"], "skynet": ["skynet", "speedup"],
              "steal": ["speedup"], "io_pingpong": ["io_pingpong"], "channel": ["channel"],
              "mutex": ["mutex"], "timers": ["timers_cdf", "memory_fiber"],
              "stacks": ["memory_fiber"],
              "http": ["http_ratio", "http_rps", "http_latency", "memory_connection"],
              "gc_scan": ["gc_scan_rate", "gc_switch"]}
# Figures of several scenarios, and names of earlier versions removed when redrawing.
SUMMARY_FIGURES = ["heatmap"]
RETIRED = ["steal_scaling", "timers_lateness", "http_memory", "gc_pause"]


def render_all(sets, out_dir):
    style.setup()
    if dpi():
        # Draft mode (tests): Type 3 fonts skip the TrueType subsetting that is most of the
        # cost of a PDF; the layout and the checks are the same.
        style.plt.rcParams["pdf.fonttype"] = 3
    figures = []
    for fn in ALL_FIGURES:
        got = fn(sets, out_dir)
        for f in (got if isinstance(got, list) else [got]):
            if f is not None:
                figures.append(f)
    return figures
