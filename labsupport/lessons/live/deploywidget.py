"""A backend's servers, live: each one's state (UP, DRAIN, MAINT, DOWN) in the stats page's colours, its
version and its sessions, redrawn while a deploy walks through them.

    panel = DeployWidget(lb, "app", fleet)      # lb: the engine's Balancer or real HAProxy
    panel                                        # shows it; print(panel) is the same as text
    log = panel.deploy(3, load=load)             # a rolling deploy (blocks the cell; the panel follows it)
    log = panel.deploy(3, naive=True)            # the kill-and-restart way, for comparison

Every ``refresh`` seconds a bounded loop (course/display/live.py; a moment when headless) reads ``show stat``
(servers.servers) and redraws; a deploy also redraws after each of its steps. The state's colour is the one
HAProxy's stats page gives that status (``STATS_PAGE_COLORS`` by ``state_class``, the engine's copy of
src/stats.c); the version is the one the fleet started the server at (``Fleet.start/restart(version=)``).

Compute, then draw: ``rows()`` is plain values; ``_html()`` draws them. Stable CSS classes for browser
tests: ``lab-deploy`` (the panel), one ``lab-deploy-row`` per server (``data-server``, ``data-state``,
``data-version``), its cells ``lab-deploy-state`` and ``lab-deploy-version``, ``lab-deploy-step`` (the
deploy's last step), ``lab-deploy-clock`` and the ``lab-deploy-stop`` button.
"""
from __future__ import annotations

import html
import threading
import time

import ipywidgets as w

from ... import lifecycle
from ...course import environment
from ...course.display.charts import FAILURE_COLOR, STATS_PAGE_COLORS, state_class
from ...course.display.live import LiveLoop, LivePanel
from ...course.display.table import Table
from ...errors import LabError, UsageError
from .deploy import DeployLog, Step, kill_and_restart_deploy, rolling_deploy
from .servers import ServerRow, servers


class DeployWidget(LivePanel):
    """The servers of ``backend`` on ``balancer`` (their processes in ``fleet``), redrawn every ``refresh`` s."""

    def __init__(self, balancer, backend: str, fleet, refresh: float = 0.2, max_seconds: float = 600) -> None:
        if refresh <= 0:
            raise UsageError(f"refresh is a number of seconds above 0, such as 0.2, not {refresh!r}")
        self.last: dict[str, ServerRow] = servers(balancer, backend)  # a wrong name fails here, in the cell
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        self.balancer, self.backend, self.fleet = balancer, backend, fleet
        self.step: Step | None = None
        self.log: DeployLog | None = None
        self.error = ""
        self.frames = 0
        self._lock = threading.Lock()
        self.body = w.HTML()
        self.step_line = w.HTML()
        self.clock = w.HTML()
        self.stop_button = w.Button(description="stop", icon="stop", layout=w.Layout(width="8em"))
        self.stop_button.on_click(lambda _: self.close())
        self.widget = w.VBox([self.body, self.step_line, w.HBox([self.stop_button, self.clock])])
        for widget, cls in [(self.widget, "lab-deploy"), (self.step_line, "lab-deploy-step"),
                            (self.clock, "lab-deploy-clock"), (self.stop_button, "lab-deploy-stop")]:
            widget.add_class(cls)
        self._draw()
        self.loop = LiveLoop(self.tick, refresh, max_seconds, on_end=self._ended)
        lifecycle.register("live", self, self.close, label="the deploy panel")

    # ------------------------------------------------------------------ compute
    def tick(self) -> None:
        """Read the stats, then redraw (the loop calls it; a deploy after each step; tests may too)."""
        try:
            rows, error = servers(self.balancer, self.backend), ""
        except LabError as e:  # a stopped balancer: say so, keep the last rows
            rows, error = self.last, str(e)
        with self._lock:
            self.last, self.error = rows, error
        self._draw()

    def _versions(self) -> dict[int, str]:
        return {s.port: (s.options.get("version") or "1") if s.alive else "-" for s in self.fleet.servers}

    def rows(self) -> list[dict]:
        """One row per server: name, address, state, HAProxy's status text, version, sessions now."""
        with self._lock:
            last = dict(self.last)
        versions = self._versions()
        return [{"server": r.name, "address": f"{r.host}:{r.port}", "state": r.state, "status": r.status,
                 "version": versions.get(r.port, "?"), "sessions": r.scur} for r in last.values()]

    # ------------------------------------------------------------------ draw
    def _html(self) -> str:
        td = 'style="text-align:{};padding:1px 8px"'
        head = "".join(f"<th {td.format(a)}>{c}</th>" for c, a in (
            ("server", "left"), ("address", "left"), ("state", "left"), ("version", "left"), ("sessions", "right")))
        body = []
        for r in self.rows():
            colour = STATS_PAGE_COLORS[state_class(r["status"])]
            body.append(
                f'<tr class="lab-deploy-row" data-server="{html.escape(r["server"])}" data-state="{r["state"]}" '
                f'data-version="{html.escape(r["version"])}">'
                f"<td {td.format('left')}><b>{html.escape(r['server'])}</b></td>"
                f"<td {td.format('left')}><code>{html.escape(r['address'])}</code></td>"
                f'<td class="lab-deploy-state" title="{html.escape(r["status"])}" '
                f'style="text-align:left;padding:1px 8px;background:{colour}">{r["state"]}</td>'
                f'<td class="lab-deploy-version" {td.format("left")}>{html.escape(r["version"])}</td>'
                f"<td {td.format('right')}>{r['sessions']}</td></tr>")
        error = f'<div style="color:{FAILURE_COLOR}">{html.escape(self.error)}</div>' if self.error else ""
        return (f'<div style="margin-bottom:4px">backend <b>{html.escape(self.backend)}</b></div>{error}'
                f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table>')

    def _step_text(self) -> str:
        if self.step is None:
            return "no deploy yet" if self.log is None else repr(self.log).splitlines()[0]
        return f"{self.step.server} {self.step.action}: {self.step.detail}"

    def _draw(self) -> None:
        self.body.value = self._html()
        self.step_line.value = html.escape(self._step_text())
        self.clock.value = f'<span style="color:#666">live, {time.strftime("%H:%M:%S")}</span>'
        self.frames += 1

    def _ended(self) -> None:
        self.clock.value = '<span style="color:#666">stopped: run the cell again to watch again</span>'
        self.stop_button.disabled = True

    # ------------------------------------------------------------------ the deploy
    def _on_step(self, step: Step) -> None:
        self.step = step
        self.tick()

    def deploy(self, version, *, naive: bool = False, load=None, **options) -> DeployLog:
        """Deploy ``version`` to every server (or ``servers=[...]``), redrawing after each step: a rolling
        deploy, or with ``naive=True`` the kill-and-restart one. Blocks the cell until done (the deploy
        restarts servers: a server started from a thread that then ends would end with it)."""
        how = kill_and_restart_deploy if naive else rolling_deploy
        self.step, self.log = None, None
        log = how(self.balancer, self.backend, self.fleet, version, load=load, on_step=self._on_step, **options)
        self.step, self.log = None, log
        self.tick()
        return log

    # ------------------------------------------------------------------ control and display
    def text(self) -> Table:
        """What the panel shows now, as a Table (without the sessions, which differ from run to run, so that
        a notebook's reference output stays the same)."""
        return Table(self.rows(), ["server", "address", "state", "version"], title=f"backend {self.backend}")

    def __repr__(self) -> str:
        return repr(self.text()) + "\n" + self._step_text()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        if environment.HEADLESS:  # nbval, CI: the reference output is the table as text
            print(repr(self))
