"""Lesson 09's exercise: roll version 3 out to the whole fleet under load, without one failed request, and
keep every sticky browser on its server until that server is drained.

    def my_rollout(lb, fleet, version):
        ...                                  # runtime commands, fleet.restart(port, version=version), waits
    check_rollout(my_rollout, lb, fleet)     # PASS / NOT YET, with what the load and the browsers saw

The check runs the student's function on the student's running balancer (haproxy/live.cfg, the engine or
real HAProxy) and fleet (8301-8304), while a ``SteadyLoad`` sends ``RATE`` requests per second and
``BROWSERS`` sticky browsers (``StickyClients``: each keeps the balancer's cookie) ask every 0.2 s. A
watcher reads ``show stat`` every ``WATCH`` s and notes when each server was out of rotation (DRAIN or
MAINT, the operator's states; a health check's DOWN does not count). It passes when, at the end, every
server of the backend is UP and answers version 3, the load saw 0 failed requests, the browsers saw 0
failed requests, and every browser that changed server left a server that was drained or in MAINT then.
"""
from __future__ import annotations

import threading
import time

from ...course.exercise import ExerciseResult
from ...errors import LabError, UsageError
from .load import SteadyLoad
from .servers import servers
from .sticky import StickyClients

BACKEND = "app"
VERSION = "3"
RATE = 50.0  # requests per second of the steady load
BROWSERS = 8
WATCH = 0.05  # seconds between two reads of the stats
LAG = 0.3  # seconds a move may lead or trail what the watcher saw (it reads the stats every WATCH s)
TIME_LIMIT = 120.0  # seconds the student's rollout may take


class _Watcher:
    """Reads the backend's states every WATCH s; the windows in which each server (by port) was out."""

    def __init__(self, balancer, backend: str):
        self.balancer, self.backend = balancer, backend
        self.windows: dict[int, list[list[float]]] = {}  # port -> [[from, to], ...]
        self._last_up: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lab-rollout-watch")

    def _run(self) -> None:
        end = time.monotonic() + TIME_LIMIT + 30
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                rows = servers(self.balancer, self.backend)
            except LabError:
                rows = {}
            now = time.monotonic()
            for r in rows.values():
                out = r.state in ("DRAIN", "MAINT")
                wins = self.windows.setdefault(r.port, [])
                if out:
                    if wins and wins[-1][1] is None:
                        continue
                    wins.append([self._last_up.get(r.port, now), None])  # it left after the last time seen UP
                else:
                    if wins and wins[-1][1] is None:
                        wins[-1][1] = now
                    self._last_up[r.port] = now
            self._stop.wait(WATCH)

    def start(self) -> "_Watcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for wins in self.windows.values():
            if wins and wins[-1][1] is None:
                wins[-1][1] = time.monotonic()

    def was_out(self, port: int, at: float) -> bool:
        return any(a - LAG <= at <= b + LAG for a, b in self.windows.get(port, []))


def check_rollout(rollout, balancer, fleet, backend: str = BACKEND, version: str | int = VERSION) -> ExerciseResult:
    """Run ``rollout(balancer, fleet, version)`` under load and with sticky browsers; judge what they saw.
    The rollout runs in the calling thread (the load, the browsers and the watcher in their own)."""
    title = f"version {version} on every server of {backend}, 0 failed requests, sticky browsers kept until drained"
    if not callable(rollout):
        raise UsageError("give your rollout function itself: check_rollout(my_rollout, lb, fleet)")
    version = str(version)
    try:
        before = servers(balancer, backend)
    except LabError as e:
        return ExerciseResult(False, title, details=(f"cannot read the balancer's stats: {e}",))
    ports = {s.port for s in fleet.servers if s.alive}
    missing = [f"{r.name} ({r.port})" for r in before.values() if r.port not in ports]
    if missing:
        return ExerciseResult(False, title, details=(f"the fleet runs no server for {', '.join(missing)}: run the "
                                                     "cell that starts the fleet again",))
    url = balancer.urls[0]
    load = SteadyLoad(url, RATE, TIME_LIMIT + 10, name="load during your rollout").start()
    browsers = StickyClients(url, BROWSERS, duration=TIME_LIMIT + 10).start()
    watcher = _Watcher(balancer, backend).start()
    time.sleep(1.0)  # the browsers get their cookies, the load its first answers
    outcome: dict = {}
    began = time.monotonic()
    try:  # in this thread: a server started from a thread that then ends would die with it (PR_SET_PDEATHSIG)
        rollout(balancer, fleet, version)
    except Exception as e:  # the student's code: its error is part of the verdict
        outcome["error"] = f"{type(e).__name__}: {e}"
    took = time.monotonic() - began
    time.sleep(1.0)  # the browsers ask once more after the last step
    watcher.stop()
    browsers.stop()
    load.stop()
    details: list[str] = [repr(load), repr(browsers)]
    ok = True
    if took > TIME_LIMIT:
        ok = False
        details.append(f"your rollout took {took:.0f} s; the load and the browsers stop after {TIME_LIMIT:g} s")
    if "error" in outcome:
        ok = False
        details.append(f"your rollout raised {outcome['error']}")
    after = servers(balancer, backend)
    versions = {}
    for r in after.values():
        try:
            versions[r.name] = fleet.version(r.port)
        except (LabError, OSError):
            versions[r.name] = "not running"
    wrong = [f"{n}: {v}" for n, v in versions.items() if v != version]
    if wrong:
        ok = False
        details.append(f"not every server runs version {version}: {', '.join(wrong)}")
    down = [f"{r.name}: {r.status}" for r in after.values() if not r.fully_up]
    if down:
        ok = False
        details.append(f"not every server is back in rotation (UP): {', '.join(down)}")
    failed = load.summary()["failed"] + len(browsers.failed())
    if failed:
        ok = False
        details.append(f"{failed} requests failed: take a server out of rotation (drain, then maint) before it "
                       "stops, and bring it back (ready) only once the new version answers")
    if not browsers.cookies:
        ok = False
        details.append("no browser got a cookie: the backend needs 'cookie SERVERID insert' and a cookie per server")
    port_of = {r.port: r.name for r in before.values()}
    early = [m for m in browsers.moves() if m.before.isdigit() and not watcher.was_out(int(m.before), m.at)]
    if early:
        ok = False
        m = early[0]
        details.append(f"{len(early)} browsers moved off a server still in rotation, e.g. browser {m.client} from "
                       f"{port_of.get(int(m.before), m.before)} to {port_of.get(int(m.after), m.after) if m.after.isdigit() else m.after}"
                       ": drain a server (and wait) before it goes to maint")
    if ok:
        details.append(f"every server runs version {version}; {len(browsers.moves())} browser moves, each off a "
                       "drained server; not one request lost")
    return ExerciseResult(ok, title, details=tuple(details))


__all__ = ["check_rollout"]
