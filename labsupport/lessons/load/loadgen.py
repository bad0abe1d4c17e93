"""An honest load generator: open loop, arrivals at a fixed rate whether or not answers came back.

How it works: ``open_loop(url, rate, seconds)`` hands the run to ``python -m labsupport.lessons.load.loadchild`` in a
process of its own (so it never competes for this kernel's GIL with a balancer running here; an idle
child is kept for the next run, which then starts at once). The child
draws every arrival time in advance -- ``poisson`` (exponential gaps, like independent users) or
``constant`` -- and at each one opens a new connection and sends ``GET``, however many earlier
requests are still waiting. Latency is counted from the *scheduled* arrival, so a generator that
falls behind cannot hide the wait (no "coordinated omission"). Each request is one record
(scheduled time, latency, status, server) printed as a JSON line; the parent collects them,
shows a progress bar on long runs, and returns a :class:`LoadRun` with the course's nearest-rank percentiles.

Bounded: at most MAX_REQUESTS arrivals, MAX_SECONDS of sending, and each request gives up after
``timeout``. Headless runs (``LAB_HEADLESS=1``) show no bar. ``run_together`` drives several
generators at once (several clients, or several balancers).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

import numpy as np

from ... import lifecycle
from ...course.cputime import cpu_seconds
from ...course.display.progress import Progress
from ...course.display.table import Table
from ...course.traffic.results import percentile, percentile_table
from ...errors import LabError
from .loadchild import schedule

__all__ = ["ChildPool", "LoadError", "LoadRun", "OpenLoop", "children", "cpu_seconds", "open_loop", "run_together",
           "schedule"]

ROOT = Path(__file__).resolve().parents[3]  # the course folder: the child runs "-m labsupport..." from it
MAX_REQUESTS = 200_000
MAX_SECONDS = 600.0
MAX_RATE = 5000.0


class LoadError(LabError):
    """Bad arguments for the load generator."""


# ----------------------------------------------------------------------------- the records
@dataclass(frozen=True)
class LoadRun:
    """Every request of one open-loop run. Arrays share one index; times in seconds, latency in ms."""

    url: str
    rate: float
    seconds: float
    arrivals: str
    sched: np.ndarray  # scheduled send time, s after start
    latency_ms: np.ndarray  # from the scheduled time to the last byte (nan: no answer)
    status: np.ndarray  # HTTP status, 0 when no answer
    server: tuple[str, ...]  # who answered ("" when unknown)
    error: tuple[str, ...]
    t0: float = 0.0  # wall-clock time (time.time()) of second 0 of ``sched``

    def __len__(self) -> int:
        return len(self.sched)

    @property
    def ok(self) -> np.ndarray:
        return (self.status >= 200) & (self.status < 400)

    def percentile(self, q: float | Sequence[float], ok_only: bool = True) -> float | np.ndarray:
        """Latency percentile(s) in ms over answered requests (failed ones too with ok_only=False:
        a request with no answer counts as infinitely slow)."""
        lat = self.latency_ms[self.ok] if ok_only else np.where(np.isnan(self.latency_ms), np.inf,
                                                                 self.latency_ms)
        if lat.size == 0:
            return float("nan") if np.isscalar(q) else np.full(len(q), np.nan)
        values = lat.tolist()
        if np.isscalar(q):
            return float(percentile(values, float(q)))  # type: ignore[arg-type]
        return np.array([percentile(values, float(x)) for x in q])

    @property
    def throughput(self) -> float:
        """Answered requests per second, over the time from the start to the last answer (at least
        ``seconds``): an overloaded server answers everything in the end, only later, so dividing by
        ``seconds`` alone would show it keeping up."""
        if not self.ok.any():
            return 0.0
        last = float(np.max(self.sched[self.ok] + self.latency_ms[self.ok] / 1000))
        span = max(self.seconds, last)
        return float(self.ok.sum()) / span if span else 0.0

    def percentile_table(self, qs: Sequence[float] = (50, 90, 99)) -> Table:
        """The latency percentiles of the answered requests, with how many answers they come from."""
        return percentile_table(self.latency_ms[self.ok], qs, "ms", what="answers")

    @property
    def answered(self) -> int:
        """How many requests got an answer: the number of values the percentiles come from."""
        return int(self.ok.sum())

    def shares(self) -> dict[str, float]:
        """The fraction of answered requests each server took, servers sorted by name."""
        names = [s for s, ok in zip(self.server, self.ok) if ok and s]
        total = len(names) or 1
        return {n: names.count(n) / total for n in sorted(set(names), key=lambda n: (len(n), n))}

    def summary(self) -> dict:
        p50, p99 = (self.percentile([50, 99]) if self.ok.any() else (float("nan"), float("nan")))
        return {"offered/s": round(self.rate, 1), "throughput/s": round(self.throughput, 1),
                "requests": len(self), "failed": int((~self.ok).sum()),
                "p50 ms": round(float(p50), 1), "p99 ms": round(float(p99), 1), "n": self.answered}

    def table(self) -> Table:
        return Table([self.summary()], title=f"{self.arrivals} arrivals to {self.url}")

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<LoadRun {s['requests']} requests at {s['offered/s']}/s: {s['throughput/s']}/s answered, "
                f"{s['failed']} failed, p50 {s['p50 ms']} ms, p99 {s['p99 ms']} ms of {s['n']} answers>")


# ----------------------------------------------------------------------------- the parent side
class ChildPool:
    """Idle ``loadchild --serve`` processes kept for the next run: a run then starts without paying
    for a new interpreter (about 0.2 s). Each ends when its input closes, so none outlives this one."""

    MAX_IDLE = 8

    def __init__(self) -> None:
        self._idle: list[subprocess.Popen] = []
        self._lock = threading.Lock()

    def take(self) -> subprocess.Popen:
        with self._lock:
            while self._idle:
                proc = self._idle.pop()
                if proc.poll() is None:
                    return proc
                self.close(proc)
        # its standard error goes to a file, not a pipe: a pipe nobody reads could fill over many runs
        err = tempfile.TemporaryFile("w+")
        proc = subprocess.Popen([sys.executable, "-m", "labsupport.lessons.load.loadchild", "--serve"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True,
                                cwd=ROOT)
        proc.errfile = err  # type: ignore[attr-defined]
        return proc

    def give_back(self, proc: subprocess.Popen) -> None:
        with self._lock:
            if len(self._idle) < self.MAX_IDLE and proc.poll() is None:
                self._idle.append(proc)
                # stop_all() and the exit close the idle ones; a re-run of a cell does not (every cell shares them)
                lifecycle.register("child", self, self.close_all, cell=False)
                return
        self.close(proc)

    @staticmethod
    def errors(proc: subprocess.Popen) -> str:
        """What the child printed on its standard error (its traceback, if it died)."""
        try:
            proc.errfile.seek(0)  # type: ignore[attr-defined]
            return proc.errfile.read()  # type: ignore[attr-defined]
        except (OSError, ValueError):
            return ""

    @staticmethod
    def close(proc: subprocess.Popen) -> None:
        for pipe in (proc.stdin, proc.stdout, proc.errfile):  # type: ignore[attr-defined]
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        try:
            proc.wait(2)  # its input closed: it ends by itself
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for proc in idle:
            self.close(proc)


children = ChildPool()


class OpenLoop:
    """One generator process. ``start()`` then ``wait()`` (or ``run()``); ``stop()`` ends it early."""

    def __init__(self, url: str, rate: float, seconds: float, *, arrivals: str = "poisson",
                 timeout: float = 5.0, seed: int | None = None, max_requests: int | None = None,
                 sources: int = 1, paths: Sequence[str] | None = None) -> None:
        if arrivals not in ("poisson", "constant"):
            raise LoadError(f"arrivals={arrivals!r}: use 'poisson' or 'constant'")
        if not 0 < rate <= MAX_RATE:
            raise LoadError(f"rate={rate}: use a rate between 0 and {MAX_RATE:g} requests per second")
        if not 0 < seconds <= MAX_SECONDS:
            raise LoadError(f"seconds={seconds}: use a duration between 0 and {MAX_SECONDS:g} s")
        u = urlsplit(url)
        if u.scheme != "http" or not u.port:
            raise LoadError(f"url={url!r}: write it as http://HOST:PORT/path")
        n = min(max_requests or MAX_REQUESTS, MAX_REQUESTS)
        self.url, self.rate, self.seconds, self.arrivals = url, float(rate), float(seconds), arrivals
        if not 1 <= sources <= 250:
            raise LoadError(f"sources={sources}: use 1 to 250 client addresses (127.0.0.1 ...)")
        self.args = {"url": url, "rate": rate, "seconds": seconds, "arrivals": arrivals, "timeout": timeout,
                     "seed": seed, "max": n, "sources": sources, "paths": list(paths or [])}
        self.t0 = 0.0  # wall-clock time (time.time()) of the child's second 0
        self.expected = min(n, int(rate * seconds * 1.2) + 10)
        self.records: list[list] = []
        self.ended = False  # the child finished the run and said END
        self._done = threading.Event()
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._deadline = 0.0
        self.timeout = timeout

    def start(self) -> "OpenLoop":
        self.proc = children.take()
        self._done.clear()
        self._deadline = time.monotonic() + self.seconds + self.timeout + 10
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        try:
            self.proc.stdin.write(json.dumps(self.args) + "\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except OSError:  # the child died meanwhile: wait() says so
            pass
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("["):
                self.records.append(json.loads(line))
            elif line.startswith("T0 "):
                self.t0 = float(line[3:])
            elif line == "END\n":
                self.ended = True
                break
        self._done.set()

    @property
    def running(self) -> bool:
        return self.proc is not None and not self._done.is_set()

    def stop(self) -> None:
        """End the run now (its child process is killed, not kept for another run)."""
        if self.running:
            self.proc.kill()  # type: ignore[union-attr]
        if self.proc is not None:
            self._done.wait(5)

    def wait(self) -> LoadRun:
        """Block until the run ends (bounded by its duration plus the request timeout), then the records."""
        assert self.proc is not None, "start() first"
        if not self._done.wait(max(0.1, self._deadline - time.monotonic())):
            self.proc.kill()
            self._done.wait(5)
        if self.ended:
            children.give_back(self.proc)
        else:
            self.proc.kill()
            self.proc.wait()
            err = children.errors(self.proc)
            children.close(self.proc)
            if self.proc.returncode != -9 and not self.records:
                tail = err.strip()[-400:]
                raise LoadError(f"the load generator stopped before its run ended (exit code "
                                f"{self.proc.returncode})" + (f": {tail}" if tail else ""))
        return self.result()

    def result(self) -> LoadRun:
        recs = sorted(self.records, key=lambda r: r[0])
        return LoadRun(self.url, self.rate, self.seconds, self.arrivals,
                       np.array([r[0] for r in recs], dtype=float),
                       np.array([np.nan if r[1] is None else r[1] for r in recs], dtype=float),
                       np.array([r[2] for r in recs], dtype=int),
                       tuple(r[3] for r in recs), tuple(r[4] for r in recs), self.t0)


def run_together(loops: Sequence[OpenLoop], progress: bool | None = None, label: str = "load") -> list[LoadRun]:
    """Start every generator, show one progress bar (runs of 3 s or more), return their runs."""
    seconds = max(g.seconds for g in loops)
    bar = Progress(seconds, label, seconds >= 3 if progress is None else progress)
    t0 = time.monotonic()
    started = []
    try:
        for g in loops:
            started.append(g.start())
        while (busy := [g for g in loops if g.running]) and time.monotonic() - t0 < seconds + 30:
            busy[0]._done.wait(0.1)  # wakes as soon as that run ends
            bar.update(time.monotonic() - t0)
        return [g.wait() for g in loops]
    finally:
        for g in started:
            g.stop()
        bar.close()


def open_loop(url: str, rate: float, seconds: float, *, arrivals: str = "poisson", timeout: float = 5.0,
              seed: int | None = None, max_requests: int | None = None, progress: bool | None = None,
              sources: int = 1, paths: Sequence[str] | None = None, samples: int = 0) -> LoadRun:
    """Send GET ``url`` at ``rate`` per second for ``seconds``, open loop; the :class:`LoadRun`.
    ``sources=N`` sends from 127.0.0.1 .. 127.0.0.N in turn (N clients); ``paths`` cycles the paths.
    ``samples=N`` runs longer than ``seconds`` when needed, until N requests were sent (the arrival
    times are drawn here from ``seed``, so the count is known before the run)."""
    if samples > 0 and rate > 0:
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "big")
        seconds = max(seconds, schedule(rate, float("inf"), arrivals, samples, seed)[-1] + 1e-6)
    g = OpenLoop(url, rate, seconds, arrivals=arrivals, timeout=timeout, seed=seed, max_requests=max_requests,
                 sources=sources, paths=paths)
    return run_together([g], progress, f"{rate:g}/s")[0]


