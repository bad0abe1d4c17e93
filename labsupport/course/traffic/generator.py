"""Traffic at a steady rate: ``TrafficGenerator`` sends in a background thread for live dashboards
(bounded by ``duration``, never prints); ``steady`` sends and blocks, with a progress bar.
"""
from __future__ import annotations

import http.client
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from ... import lifecycle
from ...errors import UsageError
from ..display.progress import Progress
from .results import Result, Run, label_order
from .sender import MAX_CONCURRENCY, Target, request_once, source_list

MAX_RATE = 1000.0  # requests per second
MAX_DURATION = 3600.0  # seconds


class TrafficGenerator:
    """Send requests at ``rate`` per second in a background thread, for at most ``duration`` seconds.

    Results go into ``records`` (a bounded deque); nothing is printed. Change ``rate`` while it
    runs (0 pauses it); ``stop()`` ends it early. Up to ``workers`` requests may be in flight at
    once, so a slow server does not slow the whole stream (useful for ``leastconn``).

        gen = TrafficGenerator("http://127.0.0.1:3000/", rate=20, duration=60).start()
        gen.counts(last=5)      # who answered in the last 5 seconds
        gen.stop()
    """

    def __init__(self, url: str, rate: float = 10.0, duration: float = 60.0, *, keep_alive: bool = False,
                 source: str | Sequence[str] | None = None, timeout: float = 2.0, workers: int = 8,
                 maxlen: int = 10_000, method: str = "GET"):
        if not 0 < duration <= MAX_DURATION:
            raise UsageError(f"duration must be between 0 and {MAX_DURATION:g} seconds, not {duration}")
        if not 1 <= workers <= MAX_CONCURRENCY:
            raise UsageError(f"workers must be between 1 and {MAX_CONCURRENCY}, not {workers}")
        self.url, self.duration, self.keep_alive, self.workers = url, float(duration), keep_alive, workers
        self._target, self._sources = Target(url, timeout, keep_alive, method), source_list(source)
        self.rate = rate
        self.records: deque[Result] = deque(maxlen=maxlen)
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if not 0 <= value <= MAX_RATE:
            raise UsageError(f"rate must be between 0 and {MAX_RATE:g} requests per second, not {value}")
        self._rate = float(value)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def start(self) -> "TrafficGenerator":
        if self.running:
            return self
        lifecycle.rerun_replaces()  # this cell ran before: what it started then stops (one line says so)
        self._stop.clear()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="lab-traffic", daemon=True)
        self._thread.start()
        lifecycle.register("traffic", self, label=f"the traffic to {self.url}")
        return self

    def _send_one(self, n: int) -> None:
        conn = getattr(self._local, "conn", None)
        result, conn = request_once(self._target, n, self._t0, self._sources[n % len(self._sources)], conn)
        self._local.conn = conn
        if conn is not None:
            self._open.add(conn)  # kept-alive connections are closed when the loop ends
        self.records.append(result)

    def _loop(self) -> None:
        in_flight = threading.Semaphore(self.workers)
        end = self._t0 + self.duration
        with ThreadPoolExecutor(self.workers, thread_name_prefix="lab-traffic") as pool:
            next_at = time.monotonic()
            while not self._stop.is_set() and time.monotonic() < end:
                rate = self._rate  # read once: a widget may change it from another thread meanwhile
                if rate <= 0:  # paused
                    self._stop.wait(0.05)
                    next_at = time.monotonic()
                    continue
                if not in_flight.acquire(timeout=0.2):  # every worker busy: this tick is late
                    continue
                n, self.sent = self.sent, self.sent + 1

                def job(n: int = n) -> None:
                    try:
                        self._send_one(n)
                    finally:
                        in_flight.release()

                try:
                    pool.submit(job)
                except RuntimeError:  # the interpreter is exiting (a kernel restart): end quietly
                    in_flight.release()
                    break
                next_at += 1.0 / rate
                now = time.monotonic()
                if next_at < now - 1.0:  # fell behind (slow servers): carry on at the rate, no burst
                    next_at = now
                self._stop.wait(max(0.0, next_at - now))
            # leaving the `with` waits for requests in flight; each ends within its timeout
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        lifecycle.unregister(self)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sending and wait (at most ``timeout`` s) for requests in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the generator has run its ``duration`` (or was stopped), or ``timeout`` s passed."""
        if self._thread is not None:
            self._thread.join(self.duration + self._target.timeout * 2 + 5 if timeout is None else timeout)

    def __enter__(self) -> "TrafficGenerator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def recent(self, seconds: float) -> list[Result]:
        """Results of the requests sent in the last ``seconds``."""
        since = self.elapsed - seconds
        return [r for r in list(self.records) if r.t >= since]

    def counts(self, last: float | None = None) -> dict[str, int]:
        rows = list(self.records) if last is None else self.recent(last)
        c = Counter(r.label for r in rows)
        return {k: c[k] for k in sorted(c, key=label_order)}

    def run(self) -> Run:
        """Everything recorded so far, as a :class:`Run`."""
        return Run(self.url, list(self.records), self.elapsed, keep_alive=self.keep_alive, concurrency=self.workers,
                   rate=self._rate)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"TrafficGenerator({self.url!r}, rate={self._rate:g}/s, {state}, "
                f"{self.sent} sent, {len(self.records)} recorded)")


def steady(url: str, rate: float, duration: float, *, keep_alive: bool = False,
           source: str | Sequence[str] | None = None, timeout: float = 2.0, workers: int = 8,
           progress: bool | None = None) -> Run:
    """Send ``rate`` requests per second for ``duration`` seconds; block, then return the :class:`Run`."""
    gen = TrafficGenerator(url, rate, duration, keep_alive=keep_alive, source=source, timeout=timeout,
                           workers=workers, maxlen=max(1000, int(rate * duration * 1.2) + 10))
    bar = Progress(duration, "sending", duration >= 3 if progress is None else progress)
    gen.start()
    try:
        deadline = time.monotonic() + duration + timeout * 2 + 5
        while gen.running and time.monotonic() < deadline:
            gen.wait(0.1)
            bar.update(gen.elapsed)
    finally:
        gen.stop()
        bar.close()
    return gen.run()
