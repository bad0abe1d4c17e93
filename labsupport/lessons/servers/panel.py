"""Lesson 02's fleet panel: one row per application server, with kill / restart buttons.

ipywidgets wiring only: the panel steers a ``Fleet`` and shows its processes; the lights follow the
real processes (a server killed from a terminal turns red within a second). The refresh loop is
bounded (a ``LiveLoop``); widgets carry stable CSS classes (``lab-kill-8080``) for browser tests.
"""
from __future__ import annotations

import time

import ipywidgets as w

from ... import lifecycle
from ...course.display.live import LiveLoop
from ...course.fleet import Fleet, Server

LIGHTS = {"running": "#2e9d43", "stopped": "#9a9a9a"}
RED = "#d64541"  # the light of any other state (killed, exited)


def _light(state: str) -> str:
    color = LIGHTS.get(state, RED)
    return f'<span style="color:{color};font-size:1.4em;line-height:1">&#9679;</span>'


class _ServerRow:
    def __init__(self, panel: "FleetPanel", server: Server):
        self.key = (server.host, server.port)
        tag = str(server.port) if server.host == panel.fleet.host else f"{server.host}-{server.port}"
        self.light = w.HTML(layout=w.Layout(width="2em"))
        self.label = w.HTML(layout=w.Layout(width="30em"))
        self.kill = w.Button(description="kill -9", button_style="danger", icon="skull",
                             tooltip="crash this server (SIGKILL)", layout=w.Layout(width="7em"))
        self.restart = w.Button(description="restart", icon="refresh", layout=w.Layout(width="7em"))
        self.kill.on_click(lambda _: panel._act(panel.fleet.kill, self.key))
        self.restart.on_click(lambda _: panel._act(panel.fleet.restart, self.key))
        self.box = w.HBox([self.light, self.label, self.kill, self.restart])
        for widget, cls in [(self.box, "lab-server-row"), (self.light, "lab-light"), (self.kill, "lab-kill"),
                            (self.restart, "lab-restart")]:
            widget.add_class(cls)
            widget.add_class(f"{cls}-{tag}")

    def show(self, server: Server, requests) -> None:
        state = server.state
        self.light.value = _light(state)
        self.state = state
        up = f" &middot; up {time.time() - server.started_at:.0f}s &middot; {requests} request{'' if requests == 1 else 's'}" \
            if state == "running" else ""
        self.label.value = (f"<code>{server.host}:{server.port}</code> &middot; <b>{state}</b>"
                            f" &middot; pid {server.pid}{up}")
        self.kill.disabled = state != "running"


class FleetPanel:
    """One row per server (status light, kill and restart buttons) and an "add server" button.

    The lights follow the real processes: a server killed from a terminal turns red within a second.
    """

    def __init__(self, fleet: Fleet, refresh: float = 0.5, max_seconds: float = 900):
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        self.fleet = fleet
        self._rows: dict[tuple[str, int], _ServerRow] = {}
        self.rows_box = w.VBox()
        self.add = w.Button(description="add a server", icon="plus", button_style="success")
        self.add.add_class("lab-add-server")
        self.add.on_click(lambda _: self._act(lambda: fleet.start(count=1)))
        self.message = w.HTML()
        self.message.add_class("lab-fleet-message")
        self.widget = w.VBox([self.rows_box, w.HBox([self.add, self.message])])
        self.widget.add_class("lab-fleet-panel")
        self.note = w.HTML()
        self.note.add_class("lab-fleet-note")
        self.widget.children += (self.note,)
        self.refresh()
        self.loop = LiveLoop(self.refresh, refresh, max_seconds, on_end=self._ended)
        lifecycle.register("live", self, self.close, label="the fleet panel")  # stop_all() gives it a last look

    def _ended(self) -> None:
        self.refresh()  # the final state: stopped servers show as stopped
        self.note.value = ('<span style="color:#666">no longer live: the lights show the servers as they were '
                           'at this moment; run the cell again to follow them</span>')

    def _act(self, action, *args) -> None:
        try:
            action(*args)
            self.message.value = ""
        except Exception as e:  # shown next to the buttons: a button has nowhere else to report
            self.message.value = f'<span style="color:#d64541">{type(e).__name__}: {e}</span>'
        self.refresh()

    def refresh(self) -> None:
        servers = {(s.host, s.port): s for s in self.fleet.servers}
        for key, server in servers.items():
            if key not in self._rows:
                self._rows[key] = _ServerRow(self, server)
            self._rows[key].show(server, self.fleet.requests_served(server))
        boxes = tuple(self._rows[k].box for k in servers)
        if self.rows_box.children != boxes:
            self.rows_box.children = boxes

    def lights(self) -> dict[int, str]:
        """What each light shows, by port (for tests and headless runs)."""
        return {k[1]: r.state for k, r in self._rows.items()}

    def close(self) -> None:
        """Stop following the servers, after one last look (the panel then shows how things ended)."""
        lifecycle.unregister(self)
        self.loop.stop()
        self._ended()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
