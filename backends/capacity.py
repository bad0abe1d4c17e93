"""Capacity mode for backends/app.py: a server that can only do so much at once.

    python3 backends/app.py 8080 --workers 1 --service-ms 20          # about 50 requests/s
    python3 backends/app.py 8080 --workers 2 --service-ms 20 --service-dist exp

At most ``workers`` requests are served at the same time; the others wait in line, first come
first served. Each request then takes a service time drawn from a distribution with mean
``service_ms``: ``fixed`` (always the mean), ``exp`` (exponential: the M in M/M/c) or ``pareto``
(a heavy tail: shape 2.5, most requests quick, a few very slow; capped at 50 x the mean). The
service time is a sleep, so a lab of several "busy" servers costs no CPU. A runtime factor
(``POST /admin/slowdown?factor=K``) makes every service time K times longer, without a restart.
"""
from __future__ import annotations

import collections
import random
import threading
import time

DISTRIBUTIONS = ("fixed", "exp", "pareto")
PARETO_SHAPE = 2.5
PARETO_CAP = 50  # a draw never exceeds 50 x the mean: one request cannot stall a lesson


class Capacity:
    """A FIFO line in front of ``workers`` slots, and the service-time draw."""

    def __init__(self, workers: int = 0, service_ms: float = 0.0, dist: str = "fixed",
                 seed: int | None = None) -> None:
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"--service-dist {dist!r}: expected one of {', '.join(DISTRIBUTIONS)}")
        if workers < 0 or service_ms < 0:
            raise ValueError("--workers and --service-ms must be 0 or more")
        self.workers, self.service_ms, self.dist = workers, service_ms, dist
        self.slowdown = 1.0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._line: collections.deque[threading.Event] = collections.deque()
        self.busy = 0
        self.served = 0

    def draw_ms(self) -> float:
        """One service time in ms (before the slowdown factor)."""
        mean = self.service_ms
        if not mean or self.dist == "fixed":
            return mean
        if self.dist == "exp":
            return self._rng.expovariate(1 / mean)
        xm = mean * (PARETO_SHAPE - 1) / PARETO_SHAPE  # so that the mean is ``mean``
        return min(xm / (1 - self._rng.random()) ** (1 / PARETO_SHAPE), PARETO_CAP * mean)

    def _enter(self) -> None:
        with self._lock:
            if not self.workers or (self.busy < self.workers and not self._line):
                self.busy += 1
                return
            ev = threading.Event()
            self._line.append(ev)
        ev.wait()  # the leaving request hands its slot over (busy stays counted)

    def _leave(self) -> None:
        with self._lock:
            self.served += 1
            if self._line:
                self._line.popleft().set()
            else:
                self.busy -= 1

    def serve(self) -> float:
        """Wait for a slot, hold it for one service time, give it to the next in line; the ms slept."""
        self._enter()
        try:
            with self._lock:
                ms = self.draw_ms() * self.slowdown
            if ms:
                time.sleep(ms / 1000)
            return ms
        finally:
            self._leave()

    def set_slowdown(self, factor: float) -> None:
        if not factor > 0:
            raise ValueError(f"slowdown factor {factor}: must be more than 0 (1 = normal speed)")
        with self._lock:
            self.slowdown = float(factor)

    def state(self) -> dict:
        with self._lock:
            return {"workers": self.workers, "service_ms": self.service_ms, "service_dist": self.dist,
                    "slowdown": self.slowdown, "busy": self.busy, "waiting": len(self._line),
                    "served": self.served}
