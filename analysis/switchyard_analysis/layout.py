"""Figure scaffolding shared by every figure: paper sizes, grouped legends at the top,
the Figure record the tests and the report read, and the checks a reviewer would make
(text that overlaps other text, text smaller than 7 pt, more series than a panel holds).
"""

import math
import os
import textwrap
from dataclasses import dataclass, field

from . import style
from .style import plt


HEAD_IN = 0.9   # height kept for the title and the legends above the panels


@dataclass
class Figure:
    name: str
    scenario: object          # the report section it belongs to (None: the findings)
    title: str                # the question the figure answers
    caption: str              # generated from the data
    files: list = field(default_factory=list)
    legend: list = field(default_factory=list)          # every legend text, in order
    legend_groups: dict = field(default_factory=dict)   # encoding -> [texts]
    panels: list = field(default_factory=list)          # panel titles
    ticks: list = field(default_factory=list)           # each panel's category / x tick labels
    series: list = field(default_factory=list)          # legend-identified series per panel
    categories: list = field(default_factory=list)      # directly labelled rows per dot panel
    claims: dict = field(default_factory=dict)          # what the caption asserts (see captions)
    overlaps: list = field(default_factory=list)        # pairs of overlapping texts
    small_text: list = field(default_factory=list)      # texts under style.MIN_FONT_PT
    width_in: float = 0.0
    scenarios: tuple = ()     # every scenario whose data it draws


def new_figure(n_panels, ncols, panel_h, width=None, sharey=False):
    """A grid of n_panels (flowing left to right); unused cells are removed. Width: the
    double column when there are two or more columns, else the single column."""
    ncols = max(1, min(ncols, n_panels))
    nrows = math.ceil(n_panels / ncols)
    width = width or (style.DOUBLE_IN if ncols > 1 else style.SINGLE_IN)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, panel_h * nrows + HEAD_IN),
                             squeeze=False, sharey=sharey)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n_panels:]:
        fig.delaxes(ax)
    return fig, flat[:n_panels]


def wrap(text, width_in, pt=7.5, em=0.55):
    """Wrap text to a width in inches at a font size (average glyph about 0.55 em; more for
    bold)."""
    chars = max(20, int(width_in * 72 / (pt * em)))
    return "\n".join(textwrap.wrap(text, chars)) if text else ""


def _place_legends(fig, groups, top):
    """One legend per encoding group, left to right, wrapping to a new line when the next
    one would not fit. Returns (legends, y of their lower edge in figure coordinates)."""
    renderer = fig.canvas.get_renderer()
    W, H = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    x, y, line_h = 0.005, top, 0.0
    legends = []
    for title, items in groups.items():
        handles = [h for h, _ in items]
        texts = [t for _, t in items]
        ncol = len(items)
        while True:
            leg = fig.legend(handles, texts, title=title, loc="upper left", bbox_to_anchor=(x, y),
                             ncol=ncol, frameon=False, title_fontsize=7, fontsize=7,
                             alignment="left")
            box = leg.get_window_extent(renderer)
            if box.width / W <= 0.99 or ncol == 1:
                break
            leg.remove()
            ncol = max(1, ncol - 1)
        w, h = box.width / W, box.height / H
        if x > 0.01 and x + w > 0.995:     # next line
            leg.remove()
            x, y = 0.005, y - line_h
            line_h = 0.0
            leg = fig.legend(handles, texts, title=title, loc="upper left", bbox_to_anchor=(x, y),
                             ncol=ncol, frameon=False, title_fontsize=7, fontsize=7,
                             alignment="left")
            box = leg.get_window_extent(renderer)
            w, h = box.width / W, box.height / H
        legends.append(leg)
        x += w + 0.02
        line_h = max(line_h, h)
    return legends, y - line_h


def _texts(fig):
    """Every visible, non-empty text of the figure with its owner (for the overlap check)."""
    out = []
    for t in fig.texts:      # the suptitle is one of them
        out.append((t, "figure"))
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for t in [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]:
            out.append((t, f"axes{i}"))
        x0, x1 = sorted(ax.get_xlim())
        y0, y1 = sorted(ax.get_ylim())
        for tick in ax.xaxis.get_major_ticks():
            if tick.label1.get_visible() and x0 - 1e-9 * abs(x0) <= tick.get_loc() <= x1 + 1e-9 * abs(x1):
                out.append((tick.label1, f"axes{i}"))
        for tick in ax.yaxis.get_major_ticks():
            if tick.label1.get_visible() and y0 - 1e-9 * abs(y0) <= tick.get_loc() <= y1 + 1e-9 * abs(y1):
                out.append((tick.label1, f"axes{i}"))
        for t in ax.texts:
            out.append((t, f"axes{i}"))
    for k, leg in enumerate(fig.legends):
        for t in leg.get_texts():
            out.append((t, f"legend{k}"))
        out.append((leg.get_title(), f"legend{k}"))
    return [(t, o) for t, o in out if t.get_visible() and t.get_text().strip()]


def text_problems(fig):
    """(overlaps, small texts): pairs of texts whose boxes intersect by more than a pixel
    each way, and texts under the minimum size. Legends lay out their own texts, so only
    texts of different owners (or two texts of one axes) are compared."""
    renderer = fig.canvas.get_renderer()
    items = []
    for t, owner in _texts(fig):
        bb = t.get_window_extent(renderer)
        items.append((t, owner, bb))
    small = sorted({t.get_text() for t, _, _ in items if t.get_fontsize() < style.MIN_FONT_PT - 1e-6})
    overlaps = []
    for i in range(len(items)):
        ti, oi, bi = items[i]
        for j in range(i + 1, len(items)):
            tj, oj, bj = items[j]
            if oi == oj and oi.startswith("legend"):
                continue
            dx = min(bi.x1, bj.x1) - max(bi.x0, bj.x0)
            dy = min(bi.y1, bj.y1) - max(bi.y0, bj.y0)
            if dx > 1.0 and dy > 1.0:
                overlaps.append((ti.get_text(), tj.get_text()))
    # Legends against axes: a legend box over a tick label or title is an overlap too.
    for leg in fig.legends:
        lb = leg.get_window_extent(renderer)
        for t, owner, bb in items:
            if owner.startswith("legend"):
                continue
            dx = min(lb.x1, bb.x1) - max(lb.x0, bb.x0)
            dy = min(lb.y1, bb.y1) - max(lb.y0, bb.y0)
            if dx > 1.0 and dy > 1.0:
                overlaps.append(("legend " + (leg.get_title().get_text() or "?"), t.get_text()))
    # Text cut off by the figure's edge.
    W, H = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    for t, owner, bb in items:
        if bb.x0 < -1 or bb.y0 < -1 or bb.x1 > W + 1 or bb.y1 > H + 1:
            overlaps.append((t.get_text(), "(figure edge)"))
    return overlaps, small


def finish(fig, axes, out_dir, name, title, groups, dpi=None):
    """Title (the question), legends per encoding at the top, layout, the text checks, and
    the PDF and PNG at the figure's exact size. Returns the record's drawing fields."""
    W = fig.get_figwidth()
    fig.suptitle(wrap(title, W * 0.97, 8.5, 0.62), fontsize=8.5, fontweight="bold", x=0.005, ha="left",
                 y=0.995, va="top")
    renderer = fig.canvas.get_renderer()

    def place():
        H = fig.get_figheight()
        fig._suptitle.set_y(1 - 0.04 / H)
        tb = fig._suptitle.get_window_extent(renderer)
        top = tb.y0 / (H * fig.dpi) - 0.005
        return _place_legends(fig, groups, top)
    # new_figure reserves HEAD_IN for the title and legends; grow the figure by what they
    # take beyond it, so the panels keep their height.
    legends, bottom = place()
    head = (1 - bottom) * fig.get_figheight()
    if head > HEAD_IN:
        for leg in legends:
            leg.remove()
        fig.set_size_inches(W, fig.get_figheight() + head - HEAD_IN + 0.05)
        legends, bottom = place()
    fig.tight_layout(rect=(0, 0, 1, bottom - 0.005), h_pad=0.6, w_pad=0.6)
    # Panel titles are wrapped to their panel: narrower each pass while one runs past the
    # figure's edge or into other text, then laid out again.
    for _ in range(4):
        fig.canvas.draw()
        overlaps, small = text_problems(fig)
        bad = {a for pair in overlaps for a in pair}
        titles = [t for ax in axes for t in (ax.title, ax._left_title)
                  if t.get_text() and t.get_text() in bad]
        if not titles:
            break
        for t in titles:
            words = t.get_text().replace("\n", " ")
            lines = t.get_text().count("\n") + 1
            t.set_text(textwrap.fill(words, max(12, len(words) // (lines + 1) + 1)))
        fig.tight_layout(rect=(0, 0, 1, bottom - 0.005), h_pad=0.6, w_pad=0.6)
    fig.canvas.draw()
    overlaps, small = text_problems(fig)
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for ext in ("pdf", "png"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, dpi=dpi if ext == "png" and dpi else None)
        files.append(path)
    record = {
        "files": files, "width_in": W,
        "legend": [t for items in groups.values() for _, t in items],
        "legend_groups": {k: [t for _, t in items] for k, items in groups.items()},
        "panels": [ax.get_title() or ax.get_title(loc="left") for ax in axes],
        "overlaps": overlaps, "small_text": small,
    }
    plt.close(fig)
    return record
