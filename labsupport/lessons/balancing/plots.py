"""Pure matplotlib: numbers in, ``Figure`` out. No pyplot, no global state, no display needed.

Compute, then draw: each chart has a *model* function that turns its input into the exact
numbers the chart shows (testable without a screen), and a figure function that draws them.

Input for the server charts is a list of per-server dicts keyed by HAProxy's stats CSV columns
(``pxname, svname, status, weight, stot, lbtot, hrsp_5xx``...), or a snapshot dict holding such a
list under ``'servers'``: the engine's ``Balancer.snapshot()`` and real haproxy's ``show stat``
(``HAProxy.snapshot()``) both give that. FRONTEND and BACKEND rows are skipped.

    fig = requests_figure(snapshot, previous)        # bars: total + since the previous snapshot
    png = figure_to_png(fig)                         # bytes for ipywidgets.Image(value=png)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ...course.display.charts import (
    FAILURE_COLOR,
    NO_ANSWER_COLOR,
    PALETTE,
    STATE_COLORS,
    figure_to_png,
    show_figures_inline,
    state_color,
    state_of,
)
from ...course.snapshot import as_int, server_rows
from ...course.traffic.results import is_failure, label_order, percentile

__all__ = ["ServerBar", "dashboard_model", "figure_to_png", "latency_figure", "latency_model", "recent_counts",
           "requests_figure", "sequence_figure", "sequence_model", "show_figures_inline"]


@dataclass(frozen=True)
class ServerBar:
    """One bar of the requests chart."""

    backend: str
    server: str
    status: str
    state: str  # UP, DOWN, MAINT, DRAIN, NOLB, OTHER
    color: str
    weight: int
    total: int  # the counter now
    recent: int  # the counter's increase since the previous snapshot (0 without one)
    errors: int  # hrsp_5xx now


def _log_entry(e: Any) -> tuple[float, str | None, str | None] | None:
    """(time, backend, server) of a request-log entry: a dict, or a tuple (time, client, backend, server, ...)."""
    if isinstance(e, Mapping):
        t, be, srv = e.get("time"), e.get("backend"), e.get("server")
    elif isinstance(e, (tuple, list)) and len(e) >= 4:
        t, be, srv = e[0], e[2], e[3]
    else:
        return None  # text lines (events) carry no request
    return (t, be, srv) if isinstance(t, (int, float)) else None


def recent_counts(snapshot: Mapping, seconds: float, key: str = "requests") -> dict[tuple[str, str], int]:
    """Requests per (backend, server) in the last ``seconds`` before ``snapshot['time']``, from its request log."""
    entries = [x for x in (_log_entry(e) for e in snapshot.get(key, ()) or ()) if x]
    if not entries:
        return {}
    end = snapshot.get("time") or max(t for t, _, _ in entries)
    out: dict[tuple[str, str], int] = {}
    for t, be, srv in entries:
        if srv is not None and end - seconds <= t <= end:
            out[(str(be), str(srv))] = out.get((str(be), str(srv)), 0) + 1
    return out


def dashboard_model(snapshot: Mapping | Iterable[Mapping], previous: Mapping | Iterable[Mapping] | None = None,
                    counter: str = "lbtot", backend: str | None = None,
                    window: float | None = None) -> list[ServerBar]:
    """The numbers the requests chart shows, one ServerBar per server, in config order.

    ``counter`` is the column counted: ``lbtot`` (times the algorithm chose the server; the default)
    or ``stot`` (sessions, retries included). A row without it falls back to the other one.
    ``recent`` compares with ``previous`` by (backend, server); a counter that went down (a restart)
    counts from zero. With ``window`` (seconds) and no ``previous``, ``recent`` counts the entries of
    the snapshot's request log (``snapshot['requests']``) instead.
    """
    other = "stot" if counter == "lbtot" else "lbtot"
    logged = recent_counts(snapshot, window) if window is not None and isinstance(snapshot, Mapping) else None

    def value(r: Mapping) -> int:
        return as_int(r.get(counter) if r.get(counter) is not None else r.get(other))

    before = {(r.get("pxname"), r.get("svname")): value(r) for r in server_rows(previous, backend)} if previous else {}
    bars = []
    for r in server_rows(snapshot, backend):
        key = (r.get("pxname"), r.get("svname"))
        total = value(r)
        old = before.get(key, total if previous is None else 0)
        recent = total - old if total >= old else total
        if logged is not None and previous is None:
            recent = logged.get((str(key[0]), str(key[1])), 0)
        status = str(r.get("status") or "")
        bars.append(ServerBar(str(key[0]), str(key[1]), status, state_of(status), state_color(status),
                              as_int(r.get("weight")), total, recent, as_int(r.get("hrsp_5xx"))))
    return bars


def _bar_labels(bars: Sequence[ServerBar]) -> list[str]:
    several = len({b.backend for b in bars}) > 1  # name the backend only when it is ambiguous
    return [f"{b.backend}/{b.server}" if several else b.server for b in bars]


def requests_figure(snapshot: Mapping | Iterable[Mapping] | Sequence[ServerBar],
                    previous: Mapping | Iterable[Mapping] | None = None, counter: str = "lbtot",
                    backend: str | None = None, window: float | None = None, title: str = "Requests per server",
                    size: tuple[float, float] = (7, 3.2)) -> Figure:
    """Bars of requests per server, coloured by state; with ``previous`` or ``window``, a second panel
    for the recent ones (a list of ServerBar is drawn as given, with the recent panel)."""
    items = list(snapshot) if not isinstance(snapshot, Mapping) else None
    given = bool(items) and isinstance(items[0], ServerBar)
    bars = items if given else dashboard_model(snapshot, previous, counter, backend, window)
    panels = [("total", [b.total for b in bars])]
    if previous is not None or window is not None or given:
        name = "since last update" if previous is not None or given else f"last {window:g} s"
        panels.append((name, [b.recent for b in bars]))
    # Fixed margins rather than layout="constrained": the dashboard redraws this one to three times a
    # second, and the automatic layout was about 40% of each frame.
    fig = Figure(figsize=size)
    fig.subplots_adjust(left=0.09, right=0.86, top=0.82, bottom=0.22 if len(bars) > 5 else 0.12, wspace=0.25)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    labels, colors = _bar_labels(bars), [b.color for b in bars]
    for ax, (name, values) in zip(axes, panels):
        rects = ax.bar(range(len(bars)), values, color=colors, edgecolor="#333333", linewidth=0.5)
        ax.bar_label(rects, padding=2, fontsize=8)
        ax.set_xticks(range(len(bars)), labels, rotation=30 if len(bars) > 5 else 0, fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, max(values + [1]) * 1.2)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("requests")
    states = list(dict.fromkeys(b.state for b in bars))
    if states:
        fig.legend(handles=[Patch(color=STATE_COLORS[s], label=s) for s in states], loc="upper right",
                   fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------- sequence strip

@dataclass(frozen=True)
class SequenceModel:
    """Which server answered each request: ``codes[i]`` indexes ``names`` and ``colors``."""

    names: tuple[str, ...]  # servers sorted by name, then failures ('HTTP 503', 'connection refused')
    colors: tuple[str, ...]
    codes: tuple[int, ...]  # one per request, in order


def sequence_model(servers: Iterable[str] | Any) -> SequenceModel:
    """From a list of labels (``Run.servers``) or a Run: the colour code of each request."""
    labels = [str(s) for s in (servers.servers if hasattr(servers, "servers") else servers)]
    names = sorted(set(labels), key=label_order)  # the same order as Run.counts()
    colors, k = [], 0
    for name in names:
        if not is_failure(name):
            colors.append(PALETTE[k % len(PALETTE)])
            k += 1
        else:
            colors.append(FAILURE_COLOR if name.startswith("HTTP 5") else "#9a9a9a" if name.startswith("HTTP")
                          else NO_ANSWER_COLOR)
    index = {n: i for i, n in enumerate(names)}
    return SequenceModel(tuple(names), tuple(colors), tuple(index[s] for s in labels))


def _cell_text(name: str) -> str:
    if name.startswith("HTTP "):
        return name[5:]  # 'HTTP 503' -> '503'
    if is_failure(name):
        return "err"
    return name if len(name) <= 5 else name[:4] + "…"


def sequence_figure(servers: Iterable[str] | Any, per_row: int = 20, title: str = "Who answered each request",
                    width: float = 7) -> Figure:
    """Coloured cells, one per request in order (left to right, then the next row): rr order at a glance."""
    model = sequence_model(servers)
    n = len(model.codes)
    per_row = max(1, min(per_row, n or 1))
    rows = max(1, -(-n // per_row))
    grid = [[-1] * per_row for _ in range(rows)]
    for i, code in enumerate(model.codes):
        grid[i // per_row][i % per_row] = code
    fig = Figure(figsize=(width, 0.9 + 0.45 * rows), layout="constrained")
    ax = fig.subplots()
    data = np.ma.masked_less(np.array(grid), 0)  # empty cells after the last request stay blank
    cmap = ListedColormap(list(model.colors) or ["#ffffff"])
    ax.imshow(data, cmap=cmap, vmin=-0.5, vmax=max(len(model.colors), 1) - 0.5, aspect="auto")
    if n <= 60:  # small runs: write the server in each cell
        for i, code in enumerate(model.codes):
            ax.text(i % per_row, i // per_row, _cell_text(model.names[code]), ha="center", va="center",
                    fontsize=7, color="white")
    ax.set_xticks([c - 0.5 for c in range(per_row + 1)], minor=True)
    ax.set_yticks([r - 0.5 for r in range(rows + 1)], minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0)
    ax.set_xticks([])
    ax.set_yticks(range(rows), [f"#{r * per_row + 1}" for r in range(rows)], fontsize=7)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=10)
    if model.names:
        fig.legend(handles=[Patch(color=c, label=nm) for nm, c in zip(model.names, model.colors)],
                   loc="outside lower center", ncols=min(len(model.names), 6), fontsize=8, frameon=False)
    return fig


# ---------------------------------------------------------------------------- latency

@dataclass(frozen=True)
class LatencyModel:
    counts: tuple[int, ...]
    edges: tuple[float, ...]  # len(counts) + 1 bin edges, in ms
    p50: float | None
    p95: float | None


def latency_model(latencies: Iterable[float] | Any, bins: int = 30) -> LatencyModel:
    """Histogram numbers for latencies in ms (or a Run: its ``latencies()``)."""
    values = list(latencies.latencies() if hasattr(latencies, "latencies") else latencies)
    if not values:
        return LatencyModel((), (), None, None)
    counts, edges = np.histogram(values, bins=max(1, bins))
    return LatencyModel(tuple(int(c) for c in counts), tuple(float(e) for e in edges),
                        percentile(values, 50), percentile(values, 95))


def latency_figure(latencies: Iterable[float] | Any, bins: int = 30, title: str = "Response time",
                   size: tuple[float, float] = (6, 3)) -> Figure:
    """Histogram of latencies with p50 and p95 marked."""
    model = latency_model(latencies, bins)
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    if model.counts:
        ax.stairs(model.counts, model.edges, fill=True, color="#5b7db1", alpha=0.85)
        for q, value, style in (("p50", model.p50, "-"), ("p95", model.p95, "--")):
            ax.axvline(value, color="#333333", linestyle=style, linewidth=1)
            ax.annotate(f"{q} {value:.1f} ms", (value, max(model.counts)), xytext=(3, -10),
                        textcoords="offset points", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no requests yet", ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title, fontsize=10)
    return fig
