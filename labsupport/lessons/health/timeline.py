"""The live health timeline: each server's state over the last minute, with kill / make sick / revive buttons.

ipywidgets wiring only: a ``recorder.StateRecorder`` reads the balancer's states, and
``plots.health_timeline_figure`` draws them. The redraw loop is bounded (``max_seconds``, a
few seconds when headless) and stops on ``close()``. Stable CSS classes for browser tests:
``lab-health-timeline`` (the whole widget), ``lab-health-chart`` (the image), ``lab-health-message``,
and per server ``lab-health-state-<name>`` (its status now, as the stats show it: "UP", "DOWN", "UP 1/3"),
``lab-health-kill-<name>``, ``lab-health-sick-<name>``, ``lab-health-revive-<name>``
(``<name>`` is the server's name in the configuration, e.g. ``server02``).
"""
from __future__ import annotations

import html

import ipywidgets as w

from ... import lifecycle
from ...course.display.charts import STATS_PAGE_COLORS, figure_to_png, state_class
from ...course.display.live import LiveLoop
from ...course.fleet import Fleet
from .plots import health_timeline_figure
from .recorder import StateRecorder, stat_rows


def _port_of(addr: str | None) -> int | None:
    try:
        return int(str(addr).rpartition(":")[2])
    except ValueError:
        return None


class HealthTimeline:
    """Live state bands of every server of ``target`` (a Balancer or an HAProxy).

    With a ``fleet``, each server whose port belongs to it gets three buttons: **kill** (SIGKILL),
    **make sick** (``/health`` answers 503 while ``/`` still works) and **revive** (restart, or heal).
    """

    def __init__(self, target, fleet: Fleet | None = None, *, backend: str | None = None, window: float = 60.0,
                 refresh: float = 0.5, max_seconds: float = 600, recorder: StateRecorder | None = None):
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        self.target, self.fleet, self.window = target, fleet, window
        self._own_recorder = recorder is None  # one given by the caller outlives this timeline's re-run
        self.recorder = recorder or StateRecorder(target, backend, max_seconds=max_seconds + 5).start()
        self.image = w.Image(format="png")
        self.image.add_class("lab-health-chart")
        self.message = w.HTML()
        self.message.add_class("lab-health-message")
        self.buttons: dict[str, dict[str, w.Button]] = {}
        self.states: dict[str, w.HTML] = {}  # "pxname/svname" -> the row's status label
        rows = [self._buttons(r) for r in stat_rows(target, backend)] if fleet is not None else []
        self.widget = w.VBox([self.image, *[r for r in rows if r is not None], self.message])
        self.widget.add_class("lab-health-timeline")
        self.refresh()
        self.loop = LiveLoop(self.refresh, refresh, max_seconds)
        lifecycle.register("live", self, self.close, label="the health timeline", replace=self._retire)

    def _buttons(self, row: dict) -> w.HBox | None:
        name, port = row["svname"], _port_of(row.get("addr"))
        if port is None or port not in self.fleet.ports:
            return None
        made = {}
        for action, text, style in (("kill", "kill", "danger"), ("sick", "make sick", "warning"),
                                    ("revive", "revive", "success")):
            b = w.Button(description=text, button_style=style, layout=w.Layout(width="90px"))
            b.add_class(f"lab-health-{action}-{name}")
            b.on_click(lambda _, a=action, p=port: self.act(a, p))
            made[action] = b
        self.buttons[name] = made
        label = w.HTML(f"<code>{name}</code> ({port})", layout=w.Layout(width="140px"))
        state = self.states[f"{row['pxname']}/{name}"] = w.HTML(layout=w.Layout(width="90px"))
        state.add_class(f"lab-health-state-{name}")
        return w.HBox([label, state, *made.values()])

    def act(self, action: str, port: int) -> None:
        """What a button does: 'kill', 'sick' or 'revive' the server on ``port``."""
        try:
            self.recorder.mark(f"{action} {port}")  # before acting: a restarted port accepts at once
            if action == "kill":
                self.fleet.kill(port)
            elif action == "sick":
                self.fleet.make_sick(port, "fail")
            else:
                server = next(s for s in self.fleet.servers if s.port == port)
                if server.alive:
                    self.fleet.make_healthy(port)
                else:
                    self.fleet.restart(port)
            self.message.value = ""
        except Exception as e:  # shown under the buttons: a button has nowhere else to report
            self.message.value = f'<span style="color:#d64541">{type(e).__name__}: {e}</span>'

    def figure(self):
        now = self.recorder.now
        start = max(0.0, now - self.window)
        marks = {k: t for k, t in self.recorder.marks.items() if t >= start}
        return health_timeline_figure(self.recorder.timeline(self.window), end=max(now, start + 1), start=start,
                                      marks=marks, backups=self.recorder.backups())

    def refresh(self) -> None:
        if not self.recorder.running:
            self.recorder.poll()
        for key, label in self.states.items():  # before the chart: a label is quick, a chart is not
            status = self.recorder.status(key)
            color = STATS_PAGE_COLORS[state_class(status, key in self.recorder.backups())]  # the chart's bands
            value = f'<b style="background:{color};padding:0 4px">{html.escape(status) or "?"}</b>'
            if label.value != value:
                label.value = value
        self.image.value = figure_to_png(self.figure())

    def close(self) -> None:
        """Stop redrawing and recording."""
        lifecycle.unregister(self)
        self.loop.stop()
        self.recorder.stop()

    def _retire(self) -> None:  # its cell ran again: a recorder from another cell keeps recording
        self.loop.stop()
        if self._own_recorder:
            self.recorder.stop()

    def __repr__(self) -> str:
        states = ", ".join(f"{k.rpartition('/')[2]} {v[-1][1]}" for k, v in self.recorder.timeline().items())
        return f"<HealthTimeline {states}>"

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
