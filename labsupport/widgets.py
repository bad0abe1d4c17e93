"""ipywidgets wiring only: panels that steer the library's objects. No computing, no printing.

Live panels refresh from a background thread that is always bounded: it stops after
``max_seconds`` (a few seconds when ``LAB_HEADLESS=1``, as in ``make test``) or on ``close()``.
Widgets that browser tests must find carry stable CSS classes (``lab-kill-8080``).
"""
from __future__ import annotations

import os
import threading
import time

import ipywidgets as w

from .fleet import Fleet, Server

LIGHTS = {"running": "#2e9d43", "stopped": "#9a9a9a"}  # anything else (killed, exited) is red


def live_seconds(requested: float) -> float:
    """How long a live loop may run: as asked, but only a moment when running headless."""
    return min(requested, 3.0) if os.environ.get("LAB_HEADLESS") == "1" else requested


class LiveLoop:
    """Call ``tick`` every ``interval`` seconds in a daemon thread until stopped or out of time."""

    def __init__(self, tick, interval: float, max_seconds: float):
        self._tick, self.interval, self.max_seconds = tick, interval, live_seconds(max_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                self._tick()
            except Exception:  # a background loop must never print or die noisily; next tick retries
                pass
            self._stop.wait(self.interval)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def _light(state: str) -> str:
    color = LIGHTS.get(state, "#d64541")
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
        up = f" &middot; up {time.time() - server.started_at:.0f}s &middot; {requests} requests" \
            if state == "running" else ""
        self.label.value = (f"<code>{server.host}:{server.port}</code> &middot; <b>{state}</b>"
                            f" &middot; pid {server.pid}{up}")
        self.kill.disabled = state != "running"


class FleetPanel:
    """One row per server (status light, kill and restart buttons) and an "add server" button.

    The lights follow the real processes: a server killed from a terminal turns red within a second.
    """

    def __init__(self, fleet: Fleet, refresh: float = 0.5, max_seconds: float = 900):
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
        self.refresh()
        self.loop = LiveLoop(self.refresh, refresh, max_seconds)

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
        self.loop.stop()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
