"""Watch servers' health over time: who was UP, going down, DOWN, and when.

    rec = StateRecorder(lb).start()          # lb: a Balancer, or a real HAProxy
    fleet.kill(8081); rec.mark("kill")
    rec.wait_for("server02", "DOWN")         # blocks (bounded) until the balancer says DOWN
    rec.sequence("server02")   -> ['UP', 'UP 2/3', 'UP 1/3', 'DOWN']
    rec.seconds_between("kill", "server02", "DOWN")   -> 1.27

How it works: a daemon thread reads the target's stats CSV (``show stat`` on real HAProxy, the
same columns from the engine) every ``interval`` seconds and keeps each server's status string
and last check result whenever one changes. Times are seconds since ``start()`` on the
monotonic clock. The thread stops by itself after ``max_seconds`` (5 minutes by default) or on
``stop()``; ``changes`` is bounded.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from ... import lifecycle
from ...course.balancerlike import BalancerLike
from ...course.haproxy import parse_stat_csv
from ...course.snapshot import as_int, server_rows

MAX_CHANGES = 20_000


@dataclass(frozen=True)
class Change:
    """A server's status string (and last check) as seen at ``t`` seconds after the recorder started."""

    t: float
    server: str  # "backend/server"
    status: str  # "UP", "UP 2/3", "DOWN 1/2", "MAINT", "no check"...
    check_status: str = ""  # "L4OK", "L7STS"...
    check_code: int | None = None
    check_duration: int | None = None
    backup: bool = False

    @property
    def name(self) -> str:
        return self.server.rpartition("/")[2]


def stat_rows(target: BalancerLike, backend: str | None = None) -> list[dict]:
    """The server rows of ``show stat`` (engine or real HAProxy), optionally of one backend."""
    return server_rows(parse_stat_csv(target.stats_csv()), backend)


class StateRecorder:
    """Records every status change of the servers of ``target`` (a Balancer or an HAProxy)."""

    def __init__(self, target: BalancerLike, backend: str | None = None, interval: float = 0.05, max_seconds: float = 300):
        self.target, self.backend, self.interval, self.max_seconds = target, backend, interval, max_seconds
        self.changes: deque[Change] = deque(maxlen=MAX_CHANGES)
        self.marks: dict[str, float] = {}
        self._last: dict[str, Change] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = time.monotonic()
        self.error: str | None = None  # the last reason a poll failed (the target stopped...)

    # ----- life cycle
    def start(self) -> "StateRecorder":
        if self.running:
            return self
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        self._stop.clear()
        self.poll()  # the state at t = 0, before the caller acts
        self._thread = threading.Thread(target=self._run, name="lab-health-recorder", daemon=True)
        self._thread.start()
        lifecycle.register("live", self, label="the state recorder")
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        lifecycle.unregister(self)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def __enter__(self) -> "StateRecorder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        while not self._stop.wait(self.interval) and time.monotonic() < end:
            self.poll()

    @property
    def now(self) -> float:
        return time.monotonic() - self.t0

    def poll(self) -> None:
        """Read the stats once and note what changed."""
        try:
            rows = stat_rows(self.target, self.backend)
        except Exception as e:  # a stopped target: keep what we have, say why
            self.error = str(e) or type(e).__name__
            return
        t = self.now
        with self._lock:
            for r in rows:
                key = f"{r['pxname']}/{r['svname']}"
                c = Change(t, key, str(r.get("status") or ""), str(r.get("check_status") or "").lstrip("* "),
                           as_int(r.get("check_code"), None),
                           as_int(r.get("check_duration"), None), bool(as_int(r.get("bck"))))
                last = self._last.get(key)
                if last is None or (last.status, last.check_status, last.check_code) != (
                        c.status, c.check_status, c.check_code):
                    self.changes.append(c)
                    self._last[key] = c

    # ----- marks and questions
    def mark(self, label: str) -> float:
        """Note that something happened now (``"kill server02"``); returns its time."""
        self.marks[label] = self.now
        return self.marks[label]

    def _key(self, server: str) -> str:
        if "/" in server:
            return server
        keys = {c.server for c in list(self.changes) if c.name == server}
        if len(keys) != 1:
            raise KeyError(f"no single server named {server!r} (seen: {', '.join(sorted(self._last)) or 'none'})")
        return keys.pop()

    def history(self, server: str) -> list[Change]:
        key = self._key(server)
        with self._lock:
            return [c for c in self.changes if c.server == key]

    def sequence(self, server: str, since: float | str = 0.0) -> list[str]:
        """The status strings ``server`` went through (each once per change), from ``since`` on;
        ``since`` may name a mark. The status in force at ``since`` comes first."""
        t0 = self.marks[since] if isinstance(since, str) else since
        hist = self.history(server)
        before = [c for c in hist if c.t <= t0][-1:]
        out: list[str] = []
        for c in before + [c for c in hist if c.t > t0]:
            if not out or out[-1] != c.status:
                out.append(c.status)
        return out

    def status(self, server: str) -> str:
        hist = self.history(server)
        return hist[-1].status if hist else ""

    def first(self, server: str, status: str, since: float | str = 0.0) -> float | None:
        """When ``server`` first showed exactly ``status`` from ``since`` on (a time or a mark), or
        None; a server already in that state at ``since`` gives ``since`` itself."""
        t0 = self.marks[since] if isinstance(since, str) else since
        hist = self.history(server)
        before = [c for c in hist if c.t < t0][-1:]
        if before and before[0].status == status:
            return t0
        return next((c.t for c in hist if c.t >= t0 and c.status == status), None)

    def seconds_between(self, mark: str, server: str, status: str) -> float | None:
        """Seconds from the mark to the first time ``server`` showed ``status`` after it."""
        t = self.first(server, status, mark)
        return None if t is None else t - self.marks[mark]

    def wait_for(self, server: str, status: str, since: float | str = 0.0, timeout: float = 30.0) -> float:
        """Block until ``server`` shows ``status`` (after ``since``); its time. TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                self.poll()
            try:
                t = self.first(server, status, since)
            except KeyError:  # not in the stats yet (a reload is adding it)
                t = None
            if t is not None:
                return t
            time.sleep(self.interval)
        try:
            seen = " -> ".join(self.sequence(server)) or "nothing"
        except KeyError as e:
            seen = str(e)
        raise TimeoutError(f"{server} did not show {status!r} within {timeout:g} s (it went through {seen})")

    def timeline(self, window: float | None = None) -> dict[str, list[tuple[float, str]]]:
        """server -> [(t, status), ...] over the last ``window`` seconds (all when None)."""
        end = self.now
        start = 0.0 if window is None else max(0.0, end - window)
        out: dict[str, list[tuple[float, str]]] = {}
        with self._lock:
            for c in self.changes:
                seg = out.setdefault(c.server, [])
                if c.t <= start:
                    seg[:] = [(start, c.status)]
                elif not seg or seg[-1][1] != c.status:
                    seg.append((c.t, c.status))
        return out

    def backups(self) -> set[str]:
        with self._lock:
            return {k for k, c in self._last.items() if c.backup}

    def last_checks(self) -> list[dict]:
        """Each server's status and last check result, as the stats page shows them."""
        rows = stat_rows(self.target, self.backend)
        return [{"server": f"{r['pxname']}/{r['svname']}", "status": r.get("status"),
                 "check_status": str(r.get("check_status") or "").lstrip("* "), "check_code": r.get("check_code"),
                 "check_duration": r.get("check_duration"), "last_chk": r.get("last_chk")} for r in rows]

    def __repr__(self) -> str:
        state = "recording" if self.running else "stopped"
        return f"<StateRecorder {state}, {len(self.changes)} changes over {self.now:.1f} s>"
