"""Send requests to a load balancer and record who answered, how fast, and with what status.

How it works: every request is a plain ``http.client`` request. By default each one opens a NEW
TCP connection and asks the server to close it (``Connection: close``), like pressing refresh in
a browser with a cold cache: a load balancer gets a fresh decision for every request.
``keep_alive=True`` reuses one connection per sender instead. That difference matters:

- in ``mode tcp`` HAProxy chooses a server per *connection*, so a kept-alive connection stays
  pinned to one server for all its requests;
- in ``mode http`` HAProxy chooses a server per *request*, so even one connection is balanced.

Failures are data, not exceptions: a refused connection or a timeout becomes a row with
``error`` set, so a run across a dying server shows exactly which requests failed.

    run = send("http://127.0.0.1:3000/", 12)        # 12 requests, one after another
    run.servers   -> ['8080', '8081', '8082', '8083', '8080', ...]
    run.counts()  -> {'8080': 3, '8081': 3, '8082': 3, '8083': 3}

``steady(url, rate, duration)`` sends at a fixed rate; ``TrafficGenerator`` does the same in a
background thread for live dashboards (bounded by ``duration``, never prints).
"""
from __future__ import annotations

import errno
import http.client
import itertools
import os
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from .errors import UsageError
from .table import Table

MAX_REQUESTS = 100_000  # send(): a typo like n=10**9 must not hang a notebook
MAX_CONCURRENCY = 64
MAX_RATE = 1000.0  # requests per second
MAX_DURATION = 3600.0  # seconds
_BODY_LIMIT = 1 << 20

# "Hi!! from server 8081" (the course's app) and "Oops!! server 8081 failed on purpose" (--fail-rate).
_SERVER_PATTERNS = (re.compile(r"from server ([\w.:\-]+)"), re.compile(r"^Oops!! server ([\w.:\-]+)"))
# Other apps often say who they are in a header.
_SERVER_HEADERS = ("x-server", "x-served-by", "x-backend-server", "x-upstream")


def server_of(body: str, headers: Iterable[tuple[str, str]] = (), status: int | None = None) -> str | None:
    """Who answered: ``'Hi!! from server 8081'`` -> ``'8081'``; else a server header; else a short 2xx body."""
    for pattern in _SERVER_PATTERNS:
        m = pattern.search(body)
        if m:
            return m.group(1).rstrip(".:-")
    for name, value in headers:
        if name.lower() in _SERVER_HEADERS and value.strip():
            return value.strip()
    text = body.strip()
    # A student's own app ("Hello from A"): a one-line success body is the best name we have.
    if status is not None and 200 <= status < 300 and text and "\n" not in text and len(text) <= 40:
        return text
    return None


@dataclass(frozen=True)
class Result:
    """One request: when it was sent, what came back, from whom, and how long it took."""

    n: int  # order of sending, 0-based
    t: float  # seconds after the run started, when the request was sent
    status: int | None  # HTTP status, None when no response arrived
    server: str | None  # who answered (see server_of), None if unknown
    latency_ms: float
    error: str | None = None  # "connection refused", "timed out", ... when no response arrived
    source: str | None = None  # client address the socket was bound to, if one was chosen
    answer: str | None = field(default=None, repr=False)  # an error's whole answer (status >= 400), as received

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400

    @property
    def label(self) -> str:
        """The server's name, else ``'HTTP 503'``, else the error: one word for charts and counts."""
        if self.server is not None:
            return self.server
        if self.status is not None:
            return f"HTTP {self.status}"
        return self.error or "no answer"


_FAILURES = ("connection refused", "timed out", "closed without a response", "connection reset",
             "cannot use source address", "no answer")


def is_failure(label: str) -> bool:
    """True for labels that name no server: ``'HTTP 503'``, ``'connection refused'``, ..."""
    return label.startswith("HTTP ") or label.startswith(_FAILURES) or bool(re.match(r"[A-Za-z]+Error: ", label))


def label_order(label: str) -> tuple:
    """Sort key: servers first ('8080' < '8081' < '8100' numerically), then 'HTTP 503', then errors."""
    if label.isdigit():
        return (0, int(label), label)
    if not is_failure(label):
        return (1, 0, label)
    return (2 if label.startswith("HTTP ") else 3, 0, label)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


class Run:
    """The results of a batch of requests, in sending order."""

    def __init__(self, url: str, results: Iterable[Result], duration: float, *, keep_alive: bool = False,
                 concurrency: int = 1, rate: float | None = None):
        self.url = url
        self.results: list[Result] = sorted(results, key=lambda r: r.n)
        self.duration = duration
        self.keep_alive = keep_alive
        self.concurrency = concurrency
        self.rate = rate  # requests per second asked for (steady / TrafficGenerator), else None

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self):
        return iter(self.results)

    def __getitem__(self, i):
        return self.results[i]

    @property
    def servers(self) -> list[str]:
        """Who answered each request, in order (``Result.label``: a server, 'HTTP 503', or an error)."""
        return [r.label for r in self.results]

    def counts(self, last: float | None = None) -> dict[str, int]:
        """Requests per server (and per failure kind), servers sorted by name; ``last`` seconds only."""
        rows = self.results
        if last is not None and rows:
            end = max(r.t for r in rows)
            rows = [r for r in rows if r.t >= end - last]
        c = Counter(r.label for r in rows)
        return {k: c[k] for k in sorted(c, key=label_order)}

    def by_status(self) -> dict[int | str, int]:
        """Requests per HTTP status; requests without a response are counted under their error."""
        c = Counter(r.status if r.status is not None else (r.error or "no answer") for r in self.results)
        return dict(sorted(c.items(), key=lambda kv: (isinstance(kv[0], str), str(kv[0]))))

    def latencies(self, ok_only: bool = False) -> list[float]:
        return [r.latency_ms for r in self.results if r.ok or not ok_only]

    def summary(self) -> dict[str, float | int | None]:
        lat = self.latencies()
        ok = sum(r.ok for r in self.results)
        p50, p95 = percentile(lat, 50), percentile(lat, 95)
        return {
            "requests": len(self.results),
            "ok": ok,
            "errors": len(self.results) - ok,
            "p50_ms": None if p50 is None else round(p50, 2),
            "p95_ms": None if p95 is None else round(p95, 2),
            "seconds": round(self.duration, 3),
        }

    def table(self, limit: int | None = 50) -> Table:
        """One row per request (the first ``limit``), for display in a notebook."""
        rows = [
            {"#": r.n + 1, "t (s)": f"{r.t:.3f}", "status": r.status if r.status is not None else "-",
             "server": r.server or "-", "latency (ms)": f"{r.latency_ms:.1f}", "error": r.error or "",
             **({"source": r.source or ""} if any(x.source for x in self.results) else {})}
            for r in self.results[:limit]
        ]
        more = f" (first {limit} of {len(self.results)})" if limit is not None and len(self.results) > limit else ""
        return Table(rows, title=f"{len(self.results)} requests to {self.url}{more}")

    def _headline(self) -> str:
        s = self.summary()
        lat = "" if s["p50_ms"] is None else f", latency p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms"
        how = ("kept-alive connections" if self.keep_alive else "a new connection each") + (
            f", {self.rate:g} per second" if self.rate else
            f", {self.concurrency} at a time" if self.concurrency > 1 else "")
        return (f"{s['requests']} requests to {self.url} ({how}) in {s['seconds']} s: "
                f"{s['ok']} ok, {s['errors']} failed{lat}")

    def __repr__(self) -> str:
        counts = "  ".join(f"{k}: {v}" for k, v in self.counts().items())
        return f"{self._headline()}\n  {counts}" if counts else self._headline()

    def _repr_html_(self) -> str:
        import html
        counts = Table([{"answered by": k, "requests": v} for k, v in self.counts().items()])
        return f"<p>{html.escape(self._headline())}</p>{counts._repr_html_()}"


# ---------------------------------------------------------------------------- sending

class _Target:
    """A parsed URL plus how to reach it (source address, timeout, keep-alive)."""

    def __init__(self, url: str, timeout: float, keep_alive: bool):
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme != "http":
            raise UsageError(f"only http:// URLs are supported, not {url!r}")
        if not parts.hostname:
            raise UsageError(f"no host in URL {url!r}; write it like http://127.0.0.1:3000/")
        self.url, self.host, self.port = url, parts.hostname, parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout, self.keep_alive = timeout, keep_alive
        self.headers = {"User-Agent": "labsupport-traffic"}
        if not keep_alive:
            self.headers["Connection"] = "close"

    def connect(self, source: str | None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                          source_address=(source, 0) if source else None)


def _describe(exc: BaseException, source: str | None) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed without a response"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRNOTAVAIL and source:
        return f"cannot use source address {source}"
    return f"{type(exc).__name__}: {exc}"


_RETRYABLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest)


def _request(target: _Target, n: int, t0: float, source: str | None,
             conn: http.client.HTTPConnection | None) -> tuple[Result, http.client.HTTPConnection | None]:
    """Send one request; return its Result and the connection to reuse (None if closed)."""
    sent = time.monotonic()
    reused = conn is not None
    for attempt in (0, 1):
        try:
            if conn is None:
                conn = target.connect(source)
            conn.request("GET", target.path, headers=target.headers)
            resp = conn.getresponse()
            body = resp.read(_BODY_LIMIT).decode("utf-8", "replace")
            latency = (time.monotonic() - sent) * 1000
            result = Result(n, sent - t0, resp.status, server_of(body, resp.getheaders(), resp.status),
                            latency, None, source, _answer_text(resp, body) if resp.status >= 400 else None)
            if not target.keep_alive or resp.will_close:
                conn.close()
                conn = None
            return result, conn
        except Exception as exc:  # noqa: BLE001 - every failure becomes a row
            if conn is not None:
                conn.close()
                conn = None
            # A kept-alive connection the server closed while idle: reconnect once, as browsers do.
            if attempt == 0 and reused and isinstance(exc, _RETRYABLE):
                continue
            return Result(n, sent - t0, None, None, (time.monotonic() - sent) * 1000,
                          _describe(exc, source), source), None
    raise AssertionError("unreachable")


def _answer_text(resp: http.client.HTTPResponse, body: str) -> str:
    """The answer as the client received it: status line, headers, a blank line, the body."""
    head = [f"HTTP/{resp.version // 10}.{resp.version % 10} {resp.status} {resp.reason}"]
    head += [f"{name}: {value}" for name, value in resp.getheaders()]
    return "\n".join(head) + "\n\n" + body


def _sources(source: str | Sequence[str] | None) -> Sequence[str | None]:
    if source is None:
        return [None]
    if isinstance(source, str):
        return [source]
    if not source:
        raise UsageError("source is an empty list; give an address like '127.0.0.2' or a list of them")
    return list(source)


# ---------------------------------------------------------------------------- progress

class _Progress:
    """A progress bar: an ipywidgets bar in a notebook, a one-line text bar on a terminal, else nothing.

    Headless runs (``LAB_HEADLESS=1``, pipes, CI logs) show nothing, so saved outputs stay stable.
    """

    def __init__(self, total: float, label: str, enabled: bool):
        self.total, self.label, self.kind, self._last = max(total, 1e-9), label, None, 0.0
        if not enabled or os.environ.get("LAB_HEADLESS") == "1":
            return
        if _in_notebook():
            try:
                import ipywidgets
                from IPython.display import display

                self.bar = ipywidgets.FloatProgress(value=0, min=0, max=self.total, description=label)
                display(self.bar)
                self.kind = "widget"
            except Exception:
                self.kind = None
        elif sys.stderr.isatty():
            self.kind = "text"

    def update(self, done: float, force: bool = False) -> None:
        now = time.monotonic()
        if self.kind is None or (not force and now - self._last < 0.1):  # at most 10 redraws a second
            return
        self._last = now
        if self.kind == "widget":
            self.bar.value = min(done, self.total)
        else:
            frac = min(1.0, done / self.total)
            sys.stderr.write(f"\r{self.label} [{'#' * int(frac * 30):<30}] {frac:4.0%}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.kind == "widget":
            self.bar.close()
        elif self.kind == "text":
            sys.stderr.write("\r" + " " * (len(self.label) + 40) + "\r")
            sys.stderr.flush()
        self.kind = None


# ---------------------------------------------------------------------------- public API

def _ours(host: str, port: int) -> bool:
    """Does a balancer, real haproxy or application server this kernel started listen on host:port?"""
    from . import fleet, haproxy
    from .engine import balancer

    with balancer._RUNNING_LOCK:
        engines = list(balancer._RUNNING)
    with haproxy._REGISTRY_LOCK:
        reals = [h for h in haproxy._REGISTRY if h.running]
    with fleet._REGISTRY_LOCK:
        servers = [key for key, s in fleet._REGISTRY.items() if s.alive]
    ports = {p for b in engines + reals for p in b.ports}
    return port in ports or (host, port) in servers


def _in_notebook() -> bool:
    """Running in an IPython kernel (a student's cell), not in a script or a test."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


def _listening(host: str, port: int) -> bool:
    """Someone listens on host:port (found by binding it, which sends nothing to the listener)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def stranger_note(host: str, port: int) -> str | None:
    """A plain warning when nothing this kernel started listens at host:port, before traffic goes there.

    Only for this machine's addresses: a cell that talks to another machine is never second-guessed.
    """
    host = "127.0.0.1" if host == "localhost" else host
    if not host.startswith("127.") or _ours(host, port):
        return None
    if not _listening(host, port):
        return (f"Note: nothing listens on {host}:{port}. Did the cell that starts the balancer (or the "
                f"servers) run without an error?")
    from .ports import port_holder

    holder = port_holder(port, host) or "another program"
    return (f"Note: no balancer or server of this notebook listens on {host}:{port}; {holder} does. "
            f"The answers below come from it, not from a balancer of this notebook.")


def send(url: str, n: int = 10, *, concurrency: int = 1, keep_alive: bool = False,
         source: str | Sequence[str] | None = None, timeout: float = 5.0,
         progress: bool | None = None) -> Run:
    """Send ``n`` GET requests to ``url`` and return a :class:`Run`.

    ``concurrency`` senders work at once (each with its own connection); ``keep_alive=True`` reuses
    a connection per sender (pinned to one server in ``mode tcp``, balanced per request in
    ``mode http``). ``source`` binds the client socket to that address (``'127.0.0.2'``) before
    connecting, or cycles through a list of addresses, one per request. ``progress`` shows a bar
    (default: only for 200 requests or more).
    """
    if not 0 <= n <= MAX_REQUESTS:
        raise UsageError(f"n must be between 0 and {MAX_REQUESTS}, not {n}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency}")
    target, sources = _Target(url, timeout, keep_alive), _sources(source)
    note = stranger_note(target.host, target.port) if _in_notebook() else None
    if note:
        print(note, flush=True)
    results: list[Result] = []
    counter, lock = itertools.count(), threading.Lock()
    bar = _Progress(n, "requests", n >= 200 if progress is None else progress)
    t0 = time.monotonic()

    def worker() -> None:
        conn = None
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= n:  # the shared counter bounds every worker's loop
                    return
                result, conn = _request(target, i, t0, sources[i % len(sources)], conn)
                with lock:
                    results.append(result)
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(concurrency, max(n, 1)))]
    try:
        for th in threads:
            th.start()
        # Bounded: every request ends within `timeout` (twice, with one reconnect), so each thread ends.
        for th in threads:
            while th.is_alive():
                th.join(0.1)
                bar.update(len(results))
    finally:
        bar.close()
    return Run(url, results, time.monotonic() - t0, keep_alive=keep_alive, concurrency=concurrency)


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
                 maxlen: int = 10_000):
        if not 0 < duration <= MAX_DURATION:
            raise UsageError(f"duration must be between 0 and {MAX_DURATION:g} seconds, not {duration}")
        if not 1 <= workers <= MAX_CONCURRENCY:
            raise UsageError(f"workers must be between 1 and {MAX_CONCURRENCY}, not {workers}")
        self.url, self.duration, self.keep_alive, self.workers = url, float(duration), keep_alive, workers
        self._target, self._sources = _Target(url, timeout, keep_alive), _sources(source)
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
        self._stop.clear()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="lab-traffic", daemon=True)
        self._thread.start()
        return self

    def _send_one(self, n: int) -> None:
        conn = getattr(self._local, "conn", None)
        result, conn = _request(self._target, n, self._t0, self._sources[n % len(self._sources)], conn)
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

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sending and wait (at most ``timeout`` s) for requests in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self) -> None:
        """Block until the generator has run its ``duration`` (or was stopped)."""
        if self._thread is not None:
            self._thread.join(self.duration + self._target.timeout * 2 + 5)

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
    bar = _Progress(duration, "sending", duration >= 3 if progress is None else progress)
    gen.start()
    try:
        deadline = time.monotonic() + duration + timeout * 2 + 5
        while gen.running and time.monotonic() < deadline:
            gen._thread.join(0.1)  # type: ignore[union-attr]
            bar.update(gen.elapsed)
    finally:
        gen.stop()
        bar.close()
    return gen.run()
