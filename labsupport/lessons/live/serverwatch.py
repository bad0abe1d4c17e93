"""Watch a backend's servers change on their own (DNS service discovery, health checks): every change of a
server's address or status, with the time it was seen.

    watch = ServerWatch(lb, "web").start()          # reads show stat every 0.1 s, for at most 120 s
    dns.set("app.lab", [...]); watch.mark("record added")
    watch.wait_until(lambda now: now["web3"].status == "UP", timeout=10)
    watch.stop()
    watch.changes()      -> a table: seconds, server, address, status (and the marks, in order)

Reads through ``servers`` (one ``show stat``, the course's CSV parser), so it works on the engine and on
real HAProxy alike.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from ... import lifecycle
from ...course.display.table import Table
from ...errors import UsageError
from .servers import ServerRow, servers

MAX_SECONDS = 120.0


class ServerWatch:
    """Every change of the servers of ``backend``: (seconds since start, server, address, status)."""

    def __init__(self, balancer, backend: str, every: float = 0.1, max_seconds: float = MAX_SECONDS) -> None:
        if not 0.01 <= every <= 10:
            raise UsageError(f"every is a number of seconds from 0.01 to 10, such as 0.1, not {every!r}")
        self.balancer, self.backend, self.every = balancer, backend, every
        self.max_seconds = min(max_seconds, MAX_SECONDS)
        self.now: dict[str, ServerRow] = servers(balancer, backend)  # a wrong name fails here, in the cell
        self.events: list[tuple[float, str, str, str]] = []
        self._t0 = time.monotonic()
        self._seen = {name: self._state(r) for name, r in self.now.items()}
        for name, (addr, status) in self._seen.items():
            self.events.append((0.0, name, addr, status))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lab-server-watch", daemon=True)

    @staticmethod
    def _state(r: ServerRow) -> tuple[str, str]:
        return (f"{r.host}:{r.port}" if r.host else "-"), r.status

    def start(self) -> "ServerWatch":
        lifecycle.register("live", self, self.stop, label=f"the watch on backend {self.backend}")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every) and self.elapsed < self.max_seconds:
            try:
                now = servers(self.balancer, self.backend)
            except Exception:  # the balancer stopped or is reloading: try again, bounded by max_seconds
                continue
            t = round(self.elapsed, 2)
            with self._lock:
                self.now = now
                for name, r in now.items():
                    state = self._state(r)
                    if self._seen.get(name) != state:
                        self._seen[name] = state
                        self.events.append((t, name, *state))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def mark(self, label: str) -> float:
        """Note what you just did, in the list of changes."""
        t = round(self.elapsed, 2)
        with self._lock:
            self.events.append((t, "--", label, ""))
        return t

    def wait_until(self, condition: Callable[[dict[str, ServerRow]], bool], timeout: float = 10.0) -> float:
        """Wait until ``condition(servers now)`` holds (at most ``timeout`` s); the seconds it took.
        Raises TimeoutError naming what the servers were when the time ran out."""
        start = time.monotonic()
        while True:
            with self._lock:
                now = dict(self.now)
            if condition(now):
                return round(time.monotonic() - start, 2)
            if time.monotonic() - start > timeout or not self._thread.is_alive():
                states = ", ".join(f"{n} {r.status}" for n, r in now.items())
                raise TimeoutError(f"not within {timeout:g} s; the servers now: {states}")
            time.sleep(self.every / 2)

    def stop(self) -> "ServerWatch":
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)
        lifecycle.unregister(self)
        return self

    def changes(self, since: float = 0.0) -> Table:
        """The changes seen (and the marks), in order, from ``since`` seconds on."""
        with self._lock:
            rows = [{"seconds": t, "server": s, "address": a, "status": st} for t, s, a, st in self.events
                    if t >= since]
        return Table(rows, ["seconds", "server", "address", "status"], title=f"backend {self.backend}")

    def __repr__(self) -> str:
        return repr(self.changes())
