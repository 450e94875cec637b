"""Figures of the micro-benchmarks: the switch, its decomposition, the yield, spawn + join."""

from matplotlib import ticker
from matplotlib.lines import Line2D

from . import captions, findings, layout, seed, style
from .layout import Figure, new_figure
from .plot_engine import dot_figure, dpi, short_number
from .results import label_sort_key


def fig_switch_cost(sets, out):
    sig = any(e.label == "sigprocmask" for rs in sets for e in rs.ok("switch"))
    instr = any("instructions_per_op" in e.metrics for rs in sets for e in rs.ok("switch"))
    return dot_figure(
        sets, out, "switch_cost", "switch", ["ns_per_switch", "instructions_per_op"],
        "How much does one context switch cost per backend?",
        "One-way switch (round trip / 2) per switch backend"
        + (", and instructions per switch (callgrind: user-mode instructions only, "
           "deterministic within a build, n = 1)" if instr else "")
        + ("; sigprocmask (grey) is no switch but the system call ucontext's switch makes, alone, "
           "timed only" if sig else ""))


def fig_yield(sets, out):
    return dot_figure(
        sets, out, "yield", "yield", ["ns_per_yield", "instructions_per_op"],
        "What does a full scheduler yield cost per variant and peer?",
        "Full scheduler yield (not a bare switch) per variant and peer. Dash-dot: the seed's "
        f"two-fiber yield, {seed.YIELD_NS:.0f} ns per yield (its "
        f"{seed.YIELD_SWITCHES_PER_S / 1e6:.1f} M yields/s on its own {seed.CORES}-core machine: a "
        "shape to compare, not this machine)",
        refs={"ns_per_yield": [(seed.YIELD_NS, f"seed's two-fiber yield: {seed.YIELD_NS:.0f} ns "
                                               "(its machine)")]})


def _spawn_sort(e):
    k = label_sort_key(e)
    if e.variant is not None:   # pooled next to fresh for the same switch and scheduler
        return (k[0], k[1], k[3], k[2], k[4])
    return k


def fig_spawn_join(sets, out):
    return dot_figure(
        sets, out, "spawn_join", "spawn_join", ["ns_per_spawn_join", "instructions_per_op"],
        "What does a fresh stack add to spawn + join?",
        "Spawning a fiber and joining it, pooled (filled) beside fresh (hollow) stacks for "
        "each switch backend and scheduler; a peer run with other settings says them beside "
        "its name", sort_key=_spawn_sort)


# ---- switch-cost decomposition ------------------------------------------------------------

def fig_switch_decomposition(sets, out):
    per = [(rs, findings.switch_steps(rs)) for rs in sets]
    per = [(rs, s) for rs, s in per if len(s) >= 2]
    if not per:
        return None
    fig, axes = new_figure(len(per), 1, 0.32 * max(len(s) for _, s in per) + 0.7, width=style.DOUBLE_IN)
    ns = []
    for ax, (rs, steps) in zip(axes, per):
        for i, st in enumerate(steps):
            y = len(steps) - 1 - i
            col = style.SWITCH_COLOUR[st.path]
            left = max(st.start_ns, 0.5)
            ax.annotate("", xy=(st.end_ns, y), xytext=(left, y),
                        arrowprops=dict(arrowstyle="-|>", color=col, lw=1.6, shrinkA=0, shrinkB=0))
            if st.start_ns <= 0:
                ax.plot([st.end_ns], [y], ls="none", marker="o", color=col, ms=4)
            if st.interval is not None:
                lo, hi = st.interval
                ax.plot([st.start_ns + lo, st.start_ns + hi], [y - 0.22, y - 0.22], color=col, lw=0.8)
        def label(st):
            d = st.end_ns - st.start_ns
            ins = "" if st.instructions is None else f", {st.instructions:.4g} instructions"
            return (f"{st.name}\n{'+' if st.start_ns > 0 else ''}{findings.fmt3(d)} ns "
                    f"→ {findings.fmt3(st.end_ns)} ns{ins}")
        ax.set_yticks(range(len(steps)))
        ax.set_yticklabels([label(s) for s in steps][::-1])
        ax.set_xscale("log")
        hi = max(s.end_ns for s in steps)
        ax.set_xlim(0.5, hi * 2)
        ax.set_ylim(-0.7, len(steps) - 0.4)
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: short_number(v)))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("cumulative time per operation (ns, log)")
        ax.grid(axis="y", alpha=0)
        if len(sets) > 1:
            ax.set_title(rs.name, loc="left")
        ns += [len(e.metrics["ns_per_switch"].samples) for e in rs.ok("switch")
               if e.label in ("asm", "asm_nofpu", "ucontext", "sigprocmask")
               and "ns_per_switch" in e.metrics]
    groups = {"step": [(Line2D([], [], color=style.SWITCH_COLOUR["asm"], lw=1.6), "asm path"),
                       (Line2D([], [], color=style.SWITCH_COLOUR["ucontext"], lw=1.6),
                        "ucontext instead of asm")]}
    title = "Where does the time of a switch go?"
    rec = layout.finish(fig, axes, out, "switch_decomposition", title, groups, dpi())
    apart = [any(st.source == "switch sigprocmask" for st in steps) for _, steps in per]
    if all(apart):
        uc_text = ("what ucontext adds: its signal-mask system call, measured on its own "
                   "(rt_sigprocmask with the current mask, as swapcontext makes it, once per "
                   "one-way switch), then the rest of ucontext's switch (its larger save)")
    elif any(apart):
        uc_text = ("what ucontext adds: its signal-mask system call measured on its own where "
                   "the data has it (the sigprocmask entry), else ucontext's switch minus "
                   "asm's, which bounds the system call")
    else:
        uc_text = ("what ucontext adds (its sigprocmask system call and larger save: not "
                   "measured apart in this data, so the difference bounds the system call)")
    cap = captions.build(
        "Each arrow adds one part to the cost of a switch: the bare assembly switch, the "
        "save of the FP control words, the runtime's yield around it, the collector hooks "
        "(locked design over off, where gc_scan ran), and, from the asm switch, "
        + uc_text + ". Medians; the thin line under "
        "an arrow is the 95 % bootstrap interval of that step. Instruction counts from "
        "callgrind count user-mode instructions only: the system call's kernel work is not "
        "in them", sets, ns, interval=False)
    return Figure("switch_decomposition", "switch", title, cap, categories=[len(s) for _, s in per],
                  ticks=[[s.name for s in st] for _, st in per],
                  claims=captions.claims(ns, scenarios=["switch", "yield", "gc_scan"]),
                  scenarios=("switch", "yield", "gc_scan"), **rec)
