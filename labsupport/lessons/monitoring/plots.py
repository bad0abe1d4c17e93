"""The monitoring dashboard's numbers and chart: compute, then draw (no widgets, no display).

``MonitorHistory`` turns successive snapshots (``Balancer.snapshot()`` or ``HAProxy.snapshot()``)
and log lines into time series per server: requests per second and 5xx per second (from the
growth of ``stot`` and ``hrsp_5xx``), p99 response time (from the log, ``LatencyWindow``), the
state (UP, DOWN, MAINT, DRAIN...), and the backend's queue. ``monitor_figure(history)`` draws
them in four panels with matplotlib's object API.
"""
from __future__ import annotations

import collections
import math
from typing import Any, Iterable

from matplotlib.figure import Figure

from ...course.display.charts import PALETTE, STATE_COLORS, state_of
from ...course.snapshot import server_rows
from .monitor import LatencyWindow

STATES = ("UP", "DRAIN", "NOLB", "MAINT", "DOWN", "OTHER")


class MonitorHistory:
    """Bounded time series for one backend's servers; ``update`` once per tick."""

    def __init__(self, backend: str | None = None, points: int = 120, window: float = 10.0) -> None:
        self.backend, self.points = backend, points
        self.times: collections.deque[float] = collections.deque(maxlen=points)
        self.series: dict[str, dict[str, collections.deque]] = {}
        self.queue: collections.deque[int] = collections.deque(maxlen=points)
        self.latency = LatencyWindow(window=window)
        self.counts: dict[str, int] = {}
        self._prev: dict[str, tuple[float, int, int]] = {}
        self.t0: float | None = None

    def _deque(self, server: str, key: str) -> collections.deque:
        per = self.series.setdefault(server, {})
        if key not in per:  # a server seen late: pad its past with gaps
            per[key] = collections.deque([math.nan if key != "state" else "OTHER"] * len(self.times),
                                         maxlen=self.points)
        return per[key]

    def update(self, snapshot: dict[str, Any], log_lines: Iterable[str] = ()) -> None:
        """Add one point: rates since the previous snapshot, p99 over the window, states, queue."""
        now = float(snapshot["time"])
        self.t0 = now if self.t0 is None else self.t0
        self.latency.add(log_lines)
        rows = server_rows(snapshot, self.backend)
        if self.backend is None and rows:
            self.backend = str(rows[0]["pxname"])
        stats = [r for r in self.latency.stats(now) if r["backend"] == self.backend]
        p99 = {r["server"]: r["p99"] for r in stats}
        self.counts = {r["server"]: r["count"] for r in stats if r["server"] not in ("", "(all)")}  # per server
        for r in rows:
            name = str(r["svname"])
            stot, err = int(r.get("stot") or 0), int(r.get("hrsp_5xx") or 0)
            prev = self._prev.get(name)
            rate = errs = math.nan
            if prev is not None and now > prev[0] and stot >= prev[1] and err >= prev[2]:
                rate, errs = (stot - prev[1]) / (now - prev[0]), (err - prev[2]) / (now - prev[0])
            self._prev[name] = (now, stot, err)
            self._deque(name, "rate").append(rate)
            self._deque(name, "errors").append(errs)
            self._deque(name, "p99").append(p99.get(name, math.nan))
            self._deque(name, "state").append(state_of(str(r.get("status"))))
        self.times.append(now - self.t0)  # after the rows: a new server's padding counts past points only
        backend_row = next((r for r in snapshot.get("backends", ()) if r.get("pxname") == self.backend), {})
        self.queue.append(int(backend_row.get("qcur") or 0))

    def last(self) -> dict[str, dict[str, Any]]:
        """The latest point per server: {server: {rate, errors, p99, state}}."""
        return {s: {k: v[-1] for k, v in per.items() if v} for s, per in self.series.items()}


def p99_caption(history: MonitorHistory) -> str:
    """What the p99 panel shows, with how many answers each server's p99 comes from right now."""
    window = f"p99 of each server's answers in the last {history.latency.window:g} s"
    if not history.counts:
        return window
    lo, hi = min(history.counts.values()), max(history.counts.values())
    n = f"{lo}" if lo == hi else f"{lo} to {hi}"
    return f"{window}, from {n} answers" + ("; under 100 answers, that is the slowest one" if lo < 100 else "")


def monitor_figure(history: MonitorHistory, title: str = "") -> Figure:
    """Four panels sharing the time axis: requests/s, 5xx/s and queue, p99, and the states strip."""
    fig = Figure(figsize=(9.5, 6.2))
    fig.subplots_adjust(left=0.08, right=0.82, top=0.93, bottom=0.08, hspace=0.45)
    axes = fig.subplots(4, 1, sharex=True, gridspec_kw={"height_ratios": (3, 2, 3, 1.4)})
    t = list(history.times)
    names = list(history.series)
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        per = history.series[name]
        axes[0].plot(t, list(per["rate"]), color=color, label=name)
        axes[1].plot(t, list(per["errors"]), color=color)
        axes[2].plot(t, list(per["p99"]), color=color)
        for x, state in zip(t, per["state"]):
            axes[3].barh(i, 1.0 if len(t) < 2 else (t[-1] - t[0]) / max(len(t) - 1, 1), left=x,
                         color=STATE_COLORS.get(state, STATE_COLORS["OTHER"]), height=0.8)
    axes[1].plot(t, list(history.queue), color="black", linestyle=":", label="queue (backend)")
    axes[0].set_ylabel("requests/s")
    axes[1].set_ylabel("5xx/s, queue")
    axes[2].set_ylabel("p99 ms")
    axes[2].set_title(p99_caption(history), fontsize=8, loc="left")
    axes[3].set_yticks(range(len(names)), names)
    axes[3].set_xlabel("seconds")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    handles = [axes[3].barh(0, 0, color=STATE_COLORS[s], label=s) for s in ("UP", "DRAIN", "MAINT", "DOWN")]
    axes[3].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.2), fontsize=8, frameon=False)
    for ax in axes[:3]:
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"backend {history.backend}: live", fontsize=11)
    return fig
