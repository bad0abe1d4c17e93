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

``steady`` and ``TrafficGenerator`` (in generator.py) send at a fixed rate instead.
"""
from __future__ import annotations

import errno
import http.client
import itertools
import socket
import threading
import time
from typing import Sequence
from urllib.parse import urlsplit

from ... import lifecycle
from ...errors import UsageError
from ...ports import port_holder
from ..display.progress import Progress
from ..environment import in_notebook
from .results import Result, Run, server_of

MAX_REQUESTS = 100_000  # send(): a typo like n=10**9 must not hang a notebook
MAX_CONCURRENCY = 64
_BODY_LIMIT = 1 << 20


class Target:
    """A parsed URL plus how to reach it (source address, timeout, keep-alive) and the method to ask with."""

    def __init__(self, url: str, timeout: float, keep_alive: bool, method: str = "GET"):
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme != "http":
            raise UsageError(f"only http:// URLs are supported, not {url!r}")
        if not parts.hostname:
            raise UsageError(f"no host in URL {url!r}; write it like http://127.0.0.1:3000/")
        self.url, self.host, self.port = url, parts.hostname, parts.port or 80
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout, self.keep_alive = timeout, keep_alive
        if method not in ("GET", "POST", "HEAD"):
            raise UsageError(f"method must be GET, POST or HEAD, not {method!r}")
        self.method = method  # a POST goes without a body (Content-Length: 0): /login?user=NAME
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


def request_once(target: Target, n: int, t0: float, source: str | None,
             conn: http.client.HTTPConnection | None) -> tuple[Result, http.client.HTTPConnection | None]:
    """Send one request; return its Result and the connection to reuse (None if closed)."""
    sent = time.monotonic()
    reused = conn is not None
    for attempt in (0, 1):
        try:
            if conn is None:
                conn = target.connect(source)
            conn.request(target.method, target.path, headers=target.headers)
            resp = conn.getresponse()
            body = resp.read(_BODY_LIMIT).decode("utf-8", "replace")
            latency = (time.monotonic() - sent) * 1000
            result = Result(n, sent - t0, resp.status, server_of(body, resp.getheaders(), resp.status),
                            latency, None, source, _answer_text(resp, body) if resp.status >= 400 else None,
                            resp.getheader("X-Version"))
            if not target.keep_alive or resp.will_close:
                conn.close()
                conn = None
            return result, conn
        except Exception as exc:
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


def source_list(source: str | Sequence[str] | None) -> Sequence[str | None]:
    if source is None:
        return [None]
    if isinstance(source, str):
        return [source]
    if not source:
        raise UsageError("source is an empty list; give an address like '127.0.0.2' or a list of them")
    return list(source)


# ---------------------------------------------------------------------------- public API

def _ours(host: str, port: int) -> bool:
    """Does a balancer, real haproxy or application server this kernel started listen on host:port?"""
    ports = {p for b in lifecycle.running("balancer") if b.running for p in b.ports}
    servers = {(s.host, s.port) for s in lifecycle.running("server") if s.alive}
    return port in ports or (host, port) in servers


def _listening(host: str, port: int) -> bool:
    """Someone listens on host:port (found by binding it, which sends nothing to the listener; an ordinary
    user may not bind a port below 1024 at all, so there a connection attempt answers instead)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
        else:
            return False
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


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
    holder = port_holder(port, host) or "another program"
    return (f"Note: no balancer or server of this notebook listens on {host}:{port}; {holder} does. "
            f"The answers below come from it, not from a balancer of this notebook.")


def send(url: str, n: int = 10, *, concurrency: int = 1, keep_alive: bool = False,
         source: str | Sequence[str] | None = None, timeout: float = 5.0,
         progress: bool | None = None, method: str = "GET") -> Run:
    """Send ``n`` requests (GET, or ``method``) to ``url`` and return a :class:`Run`.

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
    target, sources = Target(url, timeout, keep_alive, method), source_list(source)
    note = stranger_note(target.host, target.port) if in_notebook() else None
    if note:
        print(note, flush=True)
    results: list[Result] = []
    counter, lock = itertools.count(), threading.Lock()
    bar = Progress(n, "requests", n >= 200 if progress is None else progress)
    t0 = time.monotonic()

    def worker() -> None:
        conn = None
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= n:  # the shared counter bounds every worker's loop
                    return
                result, conn = request_once(target, i, t0, sources[i % len(sources)], conn)
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
