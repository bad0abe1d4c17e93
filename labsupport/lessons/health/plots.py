"""Pure matplotlib for the health-check lesson: numbers in, ``Figure`` out (no pyplot, no display).

- ``health_timeline_figure``: each server's status string over time, one band per server, coloured
  the way HAProxy's stats page colours its rows (green UP, yellow going down, orange going up, red
  DOWN, blue DRAIN/NOLB, brown MAINT; backups in their own shades).
- ``request_timeline_figure``: one dot per request (when it was sent, how long it took), coloured
  by who answered; failures are red crosses.
- ``tradeoff_figure``: detection time against check traffic, one point per setting.

Each has a model function (the exact numbers drawn) that tests read without a screen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ...course.display.charts import PALETTE, STATS_PAGE_COLORS, state_class
from ...course.traffic.results import is_failure, label_order


@dataclass(frozen=True)
class Band:
    server: str
    start: float
    end: float
    status: str
    color: str


def health_timeline_model(timeline: Mapping[str, Sequence[tuple[float, str]]], end: float,
                          start: float = 0.0, backups: Iterable[str] = ()) -> list[Band]:
    """Coloured bands: ``timeline`` maps a server to its [(t, status)] changes (``StateRecorder.timeline``)."""
    backups = set(backups)
    bands = []
    for server, changes in timeline.items():
        for i, (t, status) in enumerate(changes):
            t_next = changes[i + 1][0] if i + 1 < len(changes) else end
            lo, hi = max(t, start), min(t_next, end)
            if hi > lo:
                bands.append(Band(server, lo, hi, status, STATS_PAGE_COLORS[state_class(status, server in backups)]))
    return bands


def health_timeline_figure(timeline: Mapping[str, Sequence[tuple[float, str]]], end: float, start: float = 0.0,
                           marks: Mapping[str, float] | None = None, backups: Iterable[str] = (),
                           title: str = "Each server's state, as the balancer sees it", width: float = 8) -> Figure:
    """One horizontal band per server; status strings written where they fit; marks as dashed lines."""
    bands = health_timeline_model(timeline, end, start, backups)
    servers = list(timeline)
    fig = Figure(figsize=(width, 0.9 + 0.45 * max(len(servers), 1)), layout="constrained")
    ax = fig.subplots()
    row = {s: i for i, s in enumerate(servers)}
    span = max(end - start, 1e-6)
    for b in bands:
        y = len(servers) - 1 - row[b.server]
        ax.barh(y, b.end - b.start, left=b.start, height=0.7, color=b.color, edgecolor="#606060", linewidth=0.5)
        if (b.end - b.start) / span > 0.06:
            ax.text((b.start + b.end) / 2, y, b.status, ha="center", va="center", fontsize=7)
    for label, t in (marks or {}).items():
        if start <= t <= end:
            ax.axvline(t, color="#333333", linestyle="--", linewidth=1)
            ax.text(t, len(servers) - 0.45, " " + label, fontsize=7, va="bottom", ha="left")
    ax.set_yticks(range(len(servers)), [s.rpartition("/")[2] for s in reversed(servers)], fontsize=8)
    ax.set_xlim(start, start + span)
    ax.set_ylim(-0.6, len(servers) - 0.1 + (0.4 if marks else 0))
    ax.set_xlabel("seconds", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=10)
    return fig


@dataclass(frozen=True)
class RequestDot:
    t: float  # seconds after the run started
    ms: float
    label: str  # '8080', 'HTTP 503', 'connection refused'...
    failed: bool


def request_timeline_model(results: Iterable[Any]) -> list[RequestDot]:
    """One dot per request of a ``Run`` / ``TrafficGenerator.records`` (anything with t, latency_ms, label, ok)."""
    return [RequestDot(r.t, r.latency_ms, r.label, not r.ok) for r in results]


def request_timeline_figure(results: Iterable[Any], marks: Mapping[str, float] | None = None,
                            title: str = "Every request: when it was sent, how long it took", width: float = 8) -> Figure:
    dots = request_timeline_model(results)
    fig = Figure(figsize=(width, 3.2), layout="constrained")
    ax = fig.subplots()
    labels = sorted({d.label for d in dots}, key=label_order)
    ok_labels = [lb for lb in labels if not is_failure(lb)]
    colors = {lb: PALETTE[i % len(PALETTE)] for i, lb in enumerate(ok_labels)}
    handles = []
    for lb in labels:
        pts = [d for d in dots if d.label == lb]
        failed = is_failure(lb)
        ax.scatter([d.t for d in pts], [d.ms for d in pts], s=30 if failed else 12, marker="x" if failed else "o",
                   color="#d64541" if failed else colors[lb], zorder=3 if failed else 2)
        handles.append(Patch(color="#d64541" if failed else colors[lb], label=f"{lb} ({len(pts)})"))
    for label, t in (marks or {}).items():
        ax.axvline(t, color="#333333", linestyle="--", linewidth=1)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylim(0, max([d.ms for d in dots] + [10]) * 2.5)
    for label, t in (marks or {}).items():
        ax.text(t, ax.get_ylim()[1], " " + label, fontsize=7, va="top")
    ax.set_xlabel("sent at (seconds)", fontsize=8)
    ax.set_ylabel("answered after (ms)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=10)
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False)
    return fig


def tradeoff_figure(points: Sequence[Mapping[str, Any]], title: str = "Faster detection costs more checks",
                    width: float = 6) -> Figure:
    """``points``: dicts with 'label', 'checks_per_s' and 'detect_s' (measured, or what the timers add up to)."""
    fig = Figure(figsize=(width, 3.4), layout="constrained")
    ax = fig.subplots()
    for i, p in enumerate(points):
        ax.scatter(p["checks_per_s"], p["detect_s"], color=PALETTE[i % len(PALETTE)], s=40, zorder=2)
        ax.annotate(p["label"], (p["checks_per_s"], p["detect_s"]), fontsize=7, xytext=(5, 3),
                    textcoords="offset points")
    ax.set_xlabel("checks per second, per server (while it is UP)", fontsize=8)
    ax.set_ylabel("time to mark a dead server DOWN (s)", fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def share_figure(shares: Sequence[float], labels: Sequence[str], title: str, ideal: float | None = None,
                 width: float = 6) -> Figure:
    """Bars: a server's share of the requests (percent) in successive rounds, with the share it
    gets at full weight as a dashed line."""
    fig = Figure(figsize=(width, 2.8), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(len(shares)), shares, color=PALETTE[1])
    for i, v in enumerate(shares):
        ax.text(i, v + 1, f"{v:.0f} %", ha="center", fontsize=7)
    if ideal is not None:
        ax.axhline(ideal, color="#333333", linestyle="--", linewidth=1)
        ax.text(-0.4, ideal + 1, "share at full weight", fontsize=7, ha="left")
    ax.set_xticks(range(len(shares)), labels, fontsize=8)
    ax.set_ylabel("share of the requests (%)", fontsize=8)
    ax.set_ylim(0, max(list(shares) + [ideal or 0]) * 1.3 + 1)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=10)
    return fig
