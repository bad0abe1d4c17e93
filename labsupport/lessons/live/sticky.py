"""Browsers that keep their server's cookie, and when each of them moved to another server.

    clients = StickyClients(lb.urls[0], n=8).start()     # 8 browsers, each a request every 0.2 s
    ...                                                   # a deploy
    clients.stop()
    clients.moves()      -> [Move(client=3, at=..., before='8301', after='8302'), ...]

Each browser keeps the cookie the balancer inserts (``cookie SERVERID insert`` in haproxy/live.cfg) and
sends it back with every request, on a new connection each time, as a browser with a cold connection pool
would. A browser "moves" when its answer comes from another server than its previous one; with a drain
first it should move only once its server was drained (the balancer still honours the cookie of a DRAIN
server, not of a MAINT one). Bounded: every browser stops after ``duration`` s, each request after ``timeout``.
"""
from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie

from ...course.traffic.results import server_of
from ...course.traffic.sender import Target
from ...errors import UsageError

MAX_CLIENTS = 64


@dataclass(frozen=True)
class Visit:
    client: int
    at: float  # time.monotonic() when the answer came
    status: int | None
    server: str | None  # who answered ('8301'), None on failure
    version: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


@dataclass(frozen=True)
class Move:
    client: int
    at: float  # time.monotonic() of the first answer from the new server
    before: str
    after: str


class StickyClients:
    """``n`` browsers keeping their ``cookie``, each sending a request every ``every`` s for ``duration`` s."""

    def __init__(self, url: str, n: int = 8, every: float = 0.2, duration: float = 60.0, *,
                 cookie: str = "SERVERID", timeout: float = 2.0):
        if not isinstance(n, int) or not 1 <= n <= MAX_CLIENTS:
            raise UsageError(f"n is a number of browsers from 1 to {MAX_CLIENTS}, not {n!r}")
        if not 0.01 <= every <= 60 or not 0 < duration <= 3600:
            raise UsageError("every is 0.01 to 60 seconds between requests, duration up to 3600 s")
        self.target = Target(url, timeout, keep_alive=False)
        self.n, self.every, self.duration, self.cookie_name = n, every, duration, cookie
        self.cookies: dict[int, str] = {}  # client -> its cookie's value
        self.visits: list[Visit] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "StickyClients":
        self._stop.clear()
        end = time.monotonic() + self.duration
        self._threads = [threading.Thread(target=self._browse, args=(i, end), name=f"lab-browser-{i}", daemon=True)
                         for i in range(self.n)]
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout: float = 5.0) -> "StickyClients":
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return self

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _browse(self, client: int, end: float) -> None:
        self._stop.wait(client * self.every / self.n)  # spread out, not all at once
        while not self._stop.is_set() and time.monotonic() < end:
            visit = self._visit(client)
            with self._lock:
                self.visits.append(visit)
            self._stop.wait(self.every)

    def _visit(self, client: int) -> Visit:
        headers = dict(self.target.headers)
        if client in self.cookies:
            headers["Cookie"] = f"{self.cookie_name}={self.cookies[client]}"
        conn = self.target.connect(None)
        try:
            conn.request("GET", self.target.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read(1 << 16).decode("utf-8", "replace")
            for value in resp.headers.get_all("Set-Cookie") or []:
                jar = SimpleCookie()
                jar.load(value)
                if self.cookie_name in jar:
                    self.cookies[client] = jar[self.cookie_name].value
            return Visit(client, time.monotonic(), resp.status, server_of(body, resp.getheaders(), resp.status),
                         resp.getheader("X-Version"))
        except (OSError, http.client.HTTPException) as e:
            return Visit(client, time.monotonic(), None, None, None, type(e).__name__)
        finally:
            conn.close()

    # ------------------------------------------------------------------ what they saw
    def of(self, client: int) -> list[Visit]:
        with self._lock:
            return [v for v in self.visits if v.client == client]

    def failed(self) -> list[Visit]:
        with self._lock:
            return [v for v in self.visits if not v.ok]

    def moves(self) -> list[Move]:
        """Every time a browser's answer came from another server than its previous answer."""
        out = []
        for client in range(self.n):
            last = None
            for v in self.of(client):
                if not v.ok or v.server is None:
                    continue
                if last is not None and v.server != last:
                    out.append(Move(client, v.at, last, v.server))
                last = v.server
        return out

    def __repr__(self) -> str:
        with self._lock:
            sent = len(self.visits)
        return (f"{self.n} sticky browsers: {sent} requests, {len(self.failed())} failed, "
                f"{len(self.moves())} moves to another server")
