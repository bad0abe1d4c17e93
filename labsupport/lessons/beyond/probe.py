"""A steady stream of requests from inside the lab, every one recorded: how an outage is measured.

    probe = Probe(lab["client"], "http://10.0.0.100/", count=300, interval=0.05)   # starts at once
    ...                                       # stop the active balancer meanwhile
    probe.wait()
    probe.failed, probe.gap()                 # 41 requests failed, for 3.6 s
    probe.table()                             # request by request: when, how long, who answered, what failed

The requests come from ``probeclient.py`` running in a host (the kernel cannot reach the lab's addresses,
labsupport/course/hosts.py); a thread here reads its lines as they come, so ``results`` grows while it runs
and a live chart can draw it. The stream is bounded: ``count`` requests, and ``max_seconds`` at most.
"""
from __future__ import annotations

import bisect
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from labsupport import lifecycle
from labsupport.course.display.table import Table
from labsupport.course.hosts import Host, end_process
from labsupport.errors import LabError, UsageError

CLIENT = Path(__file__).with_name("probeclient.py")


@dataclass(frozen=True)
class Shot:
    """One request: sent ``t`` seconds after the first, took ``ms``; ``address`` answered (DNS clients may
    have tried others first: ``error`` says so); ``body`` is the page, e.g. 'Hi!! from server 8080'."""

    i: int
    t: float
    ms: float
    ok: bool
    status: int
    address: str
    body: str
    error: str

    @property
    def server(self) -> str:
        """Who answered, short: the page's last word ('8080'), or '' when nothing did."""
        return self.body.split()[-1] if self.ok and self.body else ""


def longest_gap(shots: list[Shot]) -> float:
    """The longest outage in ``shots`` (in the order sent), in seconds: from the first failed request of a run
    of failures to the next request that succeeded (to the end of the last one, if none did). 0.0 when
    nothing failed."""
    longest, start = 0.0, None
    for shot in shots:
        if not shot.ok and start is None:
            start = shot.t
        elif shot.ok and start is not None:
            longest, start = max(longest, shot.t - start), None
    if start is not None:
        longest = max(longest, shots[-1].t + shots[-1].ms / 1000 - start)
    return round(longest, 3)


class Probe:
    """``count`` GETs of ``url`` from ``host`` (None: from this machine, for the loopback variant without
    namespaces), one every ``interval`` seconds, each a new connection. With ``dns`` (the DNS server's
    ADDRESS:PORT) the URL's name is resolved there and the answers tried in order; ``retry=False``: only the
    first answer, as a client that does not retry across addresses."""

    def __init__(self, host: Host | None, url: str, *, count: int = 100, interval: float = 0.05, timeout: float = 1.0,
                 dns: str | None = None, max_seconds: float = 120, retry: bool = True):
        if not 1 <= count <= 20_000:
            raise UsageError(f"count={count}: send between 1 and 20000 requests")
        if interval < 0 or not 0 < timeout <= 30 or not 0 < max_seconds <= 600:
            raise UsageError("interval >= 0, timeout in (0, 30] s and max_seconds in (0, 600] s")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme != "http" or not parts.hostname:
            raise UsageError(f"{url!r}: a probe sends plain HTTP; give http://ADDRESS[:PORT]/PATH, e.g. http://10.0.0.11/")
        self.host, self.url, self.count, self.interval, self.dns = host, url, count, interval, dns
        self.results: list[Shot] = []
        self._done = threading.Event()
        command = [sys.executable, str(CLIENT), url, "--count", str(count), "--interval", str(interval),
                   "--timeout", str(timeout), "--max-seconds", str(max_seconds)] + (["--dns", dns] if dns else []) + ([] if retry else ["--no-retry"])
        where = f"host {host.name}" if host else "this machine"
        start = host.popen if host else subprocess.Popen
        self._proc = start(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           text=True, bufsize=1)
        first = self._proc.stdout.readline()
        if not first.startswith('{"ready"'):
            self._proc.wait(10)
            raise LabError(f"the probe in {where} did not start: {(first + self._proc.stderr.read()).strip()}")
        self.started = time.monotonic()
        lifecycle.register("child", self, label=f"the probe from {where} to {url}")
        self._reader = threading.Thread(target=self._read, name=f"probe {url}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for line in self._proc.stdout:
                record = json.loads(line)
                if record.get("done"):
                    break
                shot = Shot(record["i"], record["t"], record["ms"], record["ok"], record["status"],
                            record["address"], record["body"], record["error"])
                # requests end out of order (each leaves at its time): keep them in the order they were sent
                bisect.insort(self.results, shot, key=lambda s: s.i)
        except (ValueError, KeyError, OSError):
            pass
        finally:
            self._done.set()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> Probe:
        """Until every request was sent and answered (or failed); ``timeout`` None: as long as that takes."""
        if not self._done.wait(timeout):
            raise LabError(f"the probe to {self.url} was still running after {timeout} s "
                           f"({len(self.results)} of {self.count} requests done)")
        self._finish()
        return self

    def stop(self) -> None:
        """End it now; what was recorded stays."""
        lifecycle.unregister(self)
        if self._proc.poll() is None:
            self._proc.terminate()
        self._done.wait(10)
        self._finish()

    def _finish(self) -> None:
        lifecycle.unregister(self)
        end_process(self._proc, terminate=False)

    # ---------------------------------------------------------------- what it saw
    @property
    def failed(self) -> int:
        return sum(not s.ok for s in self.results)

    @property
    def ok(self) -> int:
        return sum(s.ok for s in self.results)

    def gap(self) -> float:
        """The longest outage, in seconds (``longest_gap``); 0.0 when nothing failed."""
        return longest_gap(self.results)

    def answered_by(self) -> Counter:
        """How many requests each address answered (failed ones under '')."""
        return Counter(s.address if s.ok else "" for s in self.results)

    def table(self, rows: list[Shot] | None = None) -> Table:
        """Request by request (default: every one around each failure, and the first and last)."""
        shots = self.results if rows is None else rows
        if rows is None and len(shots) > 12:
            keep = {0, len(shots) - 1}
            for k, s in enumerate(shots):
                if not s.ok:
                    keep |= {k - 1, k, k + 1}
            shots = [shots[k] for k in sorted(keep) if 0 <= k < len(shots)]
        return Table([{"#": s.i, "sent (s)": s.t, "ms": s.ms, "answered by": s.address or "-",
                       "page": s.body[:40] if s.ok else "", "error": s.error[:60]} for s in shots],
                     title=f"{self.ok} answered, {self.failed} failed, longest gap {self.gap():.2f} s")

    def __repr__(self) -> str:
        state = "running" if self.running else "done"
        return f"<Probe {self.host.name if self.host else 'local'} -> {self.url}: {len(self.results)}/{self.count} {state}, {self.failed} failed>"
