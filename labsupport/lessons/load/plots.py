"""Charts of lesson 06 (algorithms under load): pure matplotlib, rows in, ``Figure`` out.

``hockey_figure`` draws the capacity sweep (throughput and latency against utilisation, with the
M/M/1 curves of queueing theory); ``algorithms_figure`` draws p99 and each server's share per
algorithm. Both take the plain rows that ``labsupport.lessons.load.experiments`` returns.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ...course.display.charts import show_figures_inline
from .experiments import SERVICE_MS, mm1_percentile_ms

show_figures_inline()  # a lesson that imports only this module still gets its charts as pictures

COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")


def hockey_figure(sweeps: Mapping[int, Sequence[dict]], service_ms: float = SERVICE_MS) -> Figure:
    """Left: answered vs offered requests/s per server count. Right: p50 and p99 vs utilisation,
    measured (dots) and M/M/1 (lines: each server its own queue)."""
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    for (n, rows), colour in zip(sorted(sweeps.items()), COLOURS):
        offered = [r["offered/s"] for r in rows]
        ax1.plot(offered, [r["answered/s"] for r in rows], "o-", color=colour, label=f"{n} server(s)")
        load = [r["load"] for r in rows]
        fewest = min((r["n"] for r in rows if "n" in r), default=None)
        of = f" (n ≥ {fewest})" if fewest is not None else ""
        ax2.plot(load, [r["p50 ms"] for r in rows], "o", color=colour, label=f"{n}: p50")
        ax2.plot(load, [r["p99 ms"] for r in rows], "^", color=colour, label=f"{n}: p99{of}")
    top = max((r["offered/s"] for rows in sweeps.values() for r in rows), default=1)
    ax1.plot([0, top], [0, top], ":", color="grey", label="answered = offered")
    ax1.set(xlabel="offered (requests/s)", ylabel="answered (requests/s)", title="Throughput")
    ax1.legend(fontsize=8)
    rho = np.linspace(0.05, 0.97, 60)
    ax2.plot(rho, [mm1_percentile_ms(r, 50, service_ms) for r in rho], "-", color="black", lw=1,
             label="M/M/1 p50")
    ax2.plot(rho, [mm1_percentile_ms(r, 99, service_ms) for r in rho], "--", color="black", lw=1,
             label="M/M/1 p99")
    ax2.set(xlabel="utilisation (offered / capacity)", ylabel="latency (ms)", yscale="log",
            title="Latency: the hockey stick")
    ax2.axvline(1.0, color="grey", lw=0.8)
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def algorithms_figure(rows: Sequence[dict], servers: Sequence[str], title: str = "") -> Figure:
    """Left: p50 and p99 per algorithm (log scale). Right: the share of requests each server took."""
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    names = [r["algorithm"] for r in rows]
    x = np.arange(len(rows))
    ax1.bar(x - 0.2, [r["p50 ms"] for r in rows], 0.4, label="p50", color=COLOURS[0])
    ax1.bar(x + 0.2, [r["p99 ms"] for r in rows], 0.4, label="p99", color=COLOURS[3])
    ax1.set_xticks(x, names, rotation=15)
    ax1.set(ylabel="latency (ms)", yscale="log", title="Latency")
    ax1.legend(fontsize=8)
    bottom = np.zeros(len(rows))
    for s, colour in zip(servers, COLOURS):
        share = np.array([float(str(r[s]).rstrip("%")) for r in rows])
        ax2.bar(x, share, 0.6, bottom=bottom, label=s, color=colour)
        bottom += share
    ax2.set_xticks(x, names, rotation=15)
    ax2.set(ylabel="share of requests (%)", title="Who served", ylim=(0, 100))
    ax2.legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
