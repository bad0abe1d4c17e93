"""An incident to diagnose: during steady traffic, a hidden script drains one server, slows another and
kills a third, in a random order at random moments. The student watches the dashboard, the stats
page and the log, then names who suffered what; ``check`` compares the answer with what happened.

    inc = Incident(lb, fleet, {"s1": 8081, "s2": 8082, "s3": 8083}).start()
    ...                                   # watch; inc.done says when it is over
    inc.check({"drained": "s2", "slowed": "s1", "killed": "s3"})
    inc.restore()                         # ready again, normal speed, restarted

Nothing about the plan is printed or shown until ``reveal()``. The run is bounded (``duration``
seconds; a few seconds when headless), and ``stop()`` ends it early.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Mapping

from ... import lifecycle
from ...course.display.live import live_seconds
from ...course.exercise import ExerciseResult
from ...course.traffic.generator import TrafficGenerator
from ...errors import UsageError

ACTIONS = ("drained", "slowed", "killed")


class Incident:
    """Traffic through ``url`` plus three hidden actions on three distinct servers of ``backend``."""

    def __init__(self, lb, fleet, servers: Mapping[str, int], url: str | None = None, *, backend: str = "be",
                 duration: float = 90.0, rate: float = 20.0, slow_ms: int = 300, seed: int | None = None) -> None:
        if len(servers) < 3:
            raise UsageError("an incident needs at least 3 servers (one drained, one slowed, one killed)")
        self.lb, self.fleet, self.servers, self.backend = lb, fleet, dict(servers), backend
        self.url = url or lb.urls[0]
        self.duration = live_seconds(duration)
        self.rate, self.slow_ms = rate, slow_ms
        rng = random.Random(seed)
        victims = rng.sample(sorted(self.servers), 3)
        order = rng.sample(ACTIONS, 3)
        moments = sorted(rng.uniform(0.15, 0.7) * self.duration for _ in range(3))
        self._plan = [(t, action, victims[ACTIONS.index(action)]) for t, action in zip(moments, order)]
        self.happened: list[tuple[float, str, str]] = []  # filled as it goes (for reveal())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.traffic: TrafficGenerator | None = None

    def start(self) -> "Incident":
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        # enough workers that requests stuck on the killed server (3 s of retries each) do not hold up the rest
        self.traffic = TrafficGenerator(self.url, self.rate, self.duration, workers=32).start()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lab-incident")
        self._thread.start()
        # its cell run again: this incident ends and undoes what it did, so the new one starts from healthy servers
        lifecycle.register("traffic", self, label="the incident", replace=self.restore)
        return self

    def _run(self) -> None:
        t0 = time.monotonic()
        for moment, action, server in self._plan:
            if self._stop.wait(max(0.0, moment - (time.monotonic() - t0))):
                return
            try:
                self._do(action, server)
                self.happened.append((round(time.monotonic() - t0, 1), action, server))
            except Exception:  # a background script never prints; reveal() shows what did happen
                pass
        self._stop.wait(max(0.0, self.duration - (time.monotonic() - t0)))

    def _do(self, action: str, server: str) -> None:
        port = self.servers[server]
        if action == "drained":
            self.lb.set_state(f"{self.backend}/{server}", "drain")
        elif action == "slowed":
            self.fleet.restart(port, delay_ms=self.slow_ms)
        else:
            self.fleet.kill(port)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the incident is over (at most ``timeout`` s); True when it is."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done

    def stop(self) -> None:
        lifecycle.unregister(self)
        self._stop.set()
        if self.traffic is not None:
            # no new requests; those still waiting on the killed server end by themselves (their retries)
            self.traffic.stop(timeout=0.5)
        if self._thread is not None:
            self._thread.join(5)

    def restore(self) -> None:
        """Undo everything: the drained server ready, the slowed and killed ones restarted normally."""
        self.stop()
        for _, action, server in self._plan:
            if action == "drained":
                self.lb.set_state(f"{self.backend}/{server}", "ready")
            else:
                self.fleet.restart(self.servers[server], delay_ms=0)

    def check(self, answer: Mapping[str, str]) -> ExerciseResult:
        """PASS when ``answer`` ({"drained": name, "slowed": name, "killed": name}) matches the script."""
        truth = {action: server for _, action, server in self._plan}
        missing = [a for a in ACTIONS if a not in answer]
        if missing:
            return ExerciseResult(False, "answer with the three keys " + ", ".join(repr(a) for a in ACTIONS),
                               details=(f"missing: {', '.join(missing)}",))
        right = [a for a in ACTIONS if answer[a] == truth[a]]
        if len(right) == 3:
            return ExerciseResult(True, "you found all three: " + ", ".join(f"{truth[a]} {a}" for a in ACTIONS))
        return ExerciseResult(False, f"{len(right)} of 3 right", details=tuple(
            f"{a}: {'right' if a in right else 'not ' + repr(answer[a])}" for a in ACTIONS))

    def reveal(self) -> list[str]:
        """What the script did, and when (seconds after the start)."""
        return [f"{t:5.1f} s  {server} {action}" for t, action, server in self.happened]

    def __repr__(self) -> str:
        state = "over" if self.done else "running" if self._thread else "not started"
        return f"<Incident on {self.backend}: {state}, {self.duration:g} s of traffic at {self.rate:g}/s>"
