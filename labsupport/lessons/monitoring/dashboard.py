"""The live monitoring dashboard: ``MonitorHistory`` + ``monitor_figure`` redrawn by a bounded loop.

    dash = MonitorDashboard(lb)      # lb: a running Balancer (its log needs 'option httplog')
    dash                             # shows it; dash.close() stops it

Like every live panel of the course it stops by itself after ``max_seconds`` (a moment when
headless). Widgets carry stable CSS classes: ``lab-monitor`` (the whole panel),
``lab-monitor-chart``, ``lab-monitor-summary`` (the latest numbers) and ``lab-monitor-stop``.
"""
from __future__ import annotations

import html
import math
import time

import ipywidgets as w

from ... import lifecycle
from ...course.balancerlike import BalancerLike
from ...course.display.charts import figure_to_png
from ...course.display.live import LiveLoop, LivePanel
from .plots import MonitorHistory, monitor_figure


class MonitorDashboard(LivePanel):
    """Requests/s, 5xx/s, p99 per server, their states over time and the queue, live."""

    def __init__(self, target: BalancerLike, backend: str | None = None, refresh: float = 1.0, points: int = 120,
                 window: float = 10.0, max_seconds: float = 600) -> None:
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        self.target = target
        self.history = MonitorHistory(backend, points, window)
        self._seen = 0
        self.frames = 0
        self.chart = w.Image(format="png", layout=w.Layout(width="760px"))
        self.summary = w.HTML()
        self.stop_button = w.Button(description="stop", icon="stop", layout=w.Layout(width="8em"))
        self.stop_button.on_click(lambda _: self.close())
        self.widget = w.VBox([self.chart, w.HBox([self.stop_button, self.summary])])
        for widget, cls in [(self.widget, "lab-monitor"), (self.chart, "lab-monitor-chart"),
                            (self.summary, "lab-monitor-summary"), (self.stop_button, "lab-monitor-stop")]:
            widget.add_class(cls)
        self.tick()
        self.loop = LiveLoop(self.tick, refresh, max_seconds)
        lifecycle.register("live", self, self.close, label="the monitoring dashboard")

    def _lines(self) -> list[str]:
        lines, self._seen = self.target.logs(self._seen)  # the engine or real haproxy: new lines only
        return lines

    def tick(self) -> None:
        """One point and one frame (the loop calls it; tests may too)."""
        self.history.update(self.target.snapshot(), self._lines())
        self.chart.value = figure_to_png(monitor_figure(self.history))
        self.frames += 1
        parts = []
        for name, last in self.history.last().items():
            fmt = lambda v, unit="": "-" if v is None or (isinstance(v, float) and math.isnan(v)) \
                else f"{v:.0f}{unit}"  # noqa: E731
            parts.append(f"<b>{html.escape(name)}</b> {last.get('state', '?')} "
                         f"{fmt(last.get('rate'))} req/s, p99 {fmt(last.get('p99'), ' ms')}")
        self.summary.value = " &nbsp;|&nbsp; ".join(parts) + f" <i>({time.strftime('%H:%M:%S')})</i>"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
