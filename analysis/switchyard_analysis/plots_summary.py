"""Figures across scenarios: the heat map of cost ratios to a reference variant."""

import math

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D

from . import captions, findings, layout, style
from .layout import Figure, new_figure
from .plot_engine import dpi
from .results import label_sort_key


# ---- heat map of cost ratios --------------------------------------------------------------

def fig_heatmap(sets, out):
    per = [(rs, findings.cost_ratios(rs)) for rs in sets]
    per = [(rs, r) for rs, r in per if r]
    if not per:
        return None
    panels = per
    labels_all = sorted({lab for _, r in per for col in r.values() for lab in col},
                        key=lambda lab: label_sort_key(next(e for rs in sets for e in rs.ok()
                                                            if e.label == lab)))
    cols_all = [c[0] for c in findings.COLUMNS if any(c[0] in r for _, r in per)]
    fig, axes = new_figure(len(panels), 1, 0.19 * len(labels_all) + 1.0, width=style.DOUBLE_IN)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-6.0, vmax=6.0)
    cmap = style.plt.get_cmap("PuOr_r")
    ns_flag = False
    image = None
    for ax, (rs, ratios) in zip(axes, panels):
        grid = np.full((len(labels_all), len(cols_all)), np.nan)
        for j, col in enumerate(cols_all):
            for i, lab in enumerate(labels_all):
                r = ratios.get(col, {}).get(lab)
                if r is None:
                    continue
                grid[i, j] = math.log2(r.value)
                if lab == findings.REFERENCE:
                    ax.text(j, i, "ref", ha="center", va="center", fontsize=7, color="#555555")
                    continue
                txt = f"{r.value:.2g}" if r.value < 100 else f"{r.value:.0f}"
                light = abs(math.log2(r.value)) > 3.5
                if r.interval is None:
                    txt += "°"
                    ns_flag = True
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color="white" if light else "black",
                        fontstyle="italic" if (r.includes_one or r.interval is None) else "normal")
                if r.includes_one:
                    ax.add_patch(style.plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False,
                                                     hatch="////", edgecolor="#bbbbbb", lw=0))
        image = ax.imshow(np.clip(grid, -6, 6), cmap=cmap, norm=norm, aspect="auto")
        ax.set_xticks(range(len(cols_all)))
        ax.set_xticklabels(cols_all, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(labels_all)))
        ax.set_yticklabels(labels_all)
        ax.grid(False)
        ax.set_title((rs.name + ": " if len(sets) > 1 else "") +
                     f"cost / {findings.REFERENCE}", loc="left")
    cax = axes[-1].inset_axes([1.02, 0.0, 0.025, 1.0])
    cax.grid(False)
    cb = fig.colorbar(image, cax=cax)
    cb.set_ticks([-6, -4, -2, 0, 2, 4, 6])
    cb.set_ticklabels(["1/64", "1/16", "1/4", "1", "4", "16", "≥64"])
    cb.set_label("cost ratio (log2 colour)")
    groups = {"cells": [
        (style.plt.Rectangle((0, 0), 1, 1, fill=False, hatch="////", edgecolor="#999999"),
         "hatched, italic: 95 % interval includes 1")]}
    if ns_flag:
        groups["cells"].append((Line2D([], [], ls="none"), "°: no interval (n < 3)"))
    title = "Which dimension matters where? Cost of each variant relative to " + findings.REFERENCE
    rec = layout.finish(fig, axes, out, "heatmap", title, groups, dpi())
    scen = sorted({c[1] for c in findings.COLUMNS if c[0] in cols_all})
    ns = sorted({len(e.metrics[c[2]].samples) for rs in sets for c in findings.COLUMNS
                 if c[0] in cols_all for e in rs.ok(c[1]) if c[2] in e.metrics and not e.is_peer})
    cap = captions.build(
        f"Each cell: the variant's cost over {findings.REFERENCE}'s in that scenario, matched "
        "on equal parameters (the geometric mean of the ratios where a scenario has several "
        "parameter sets); > 1 = costlier, throughput inverted so > 1 still means worse. "
        "Colour: log2 of the ratio. A hatched, italic cell's 95 % bootstrap interval "
        "includes 1 (no difference claimed)" + ("; ° marks a cell without an interval "
                                                "(fewer than 3 repetitions)" if ns_flag else ""),
        sets, ns, interval=False)
    return Figure("heatmap", None, title, cap, ticks=[cols_all], categories=[len(labels_all)],
                  claims=captions.claims(ns, scenarios=scen), scenarios=tuple(scen), **rec)
