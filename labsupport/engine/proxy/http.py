"""mode http: the client-side and server-side protocols, on asyncio + httptools.

How it works. ``HttpClient`` (one per client connection) parses requests with httptools and
serves them one at a time, in order: each complete request is routed (use_backend /
default_backend), balanced on its own (``Session``), and sent to the chosen server over an idle
kept-alive ``ServerConn`` when the server has one, or a new connection. The server's answer is
relayed as it arrives, bytes untouched but for its ``connection`` header; httptools only watches
it to find its end, its status, and whether the server connection can be reused. Pipelined
requests wait their turn.

Persistence is per side, as in HAProxy's default http-keep-alive mode: ``connection`` is
hop-by-hop, so its close/keep-alive tokens are never forwarded. The server side is kept alive
(an HTTP/1.0 request gets ``connection: keep-alive``); the client side follows the client's
request (upstream.py writes the answer's header). Otherwise a server saying ``connection: close``
(Flask's dev server does, every time) would make every client reconnect for every request.

Errors, as HAProxy 2.6 answers them (pages.py holds the bytes): a request httptools rejects, or
with a head over 15360 bytes (tune.bufsize - tune.maxrewrite) -> 400 and close; no complete
request within ``timeout http-request`` (else ``timeout client``) -> 408 and close; an idle
kept-alive client is closed silently after the same delay; no server -> 503; a server that
answers garbage, or closes without answering -> 502; no answer within ``timeout server`` -> 504.
"""
from __future__ import annotations

import asyncio
import collections
import time

import httptools

from .accesslog import httplog_record, metrics_response
from .pages import page
from .session import Session
from .statspage import stats_response, wants_stats
from .upstream import MAX_IDLE, ServerConn, other_tokens
from .state import now

MAX_HEAD = 15360  # tune.bufsize (16384) - tune.maxrewrite (1024): a bigger request head is a 400
_BAD = object()  # a pipelined request that failed to parse: answer 400 when its turn comes


class Req:
    """One request, buffered whole (retries may have to send it again)."""

    __slots__ = ("method", "url", "version", "headers", "body", "keep_alive", "host", "chunked", "t0", "data",
                 "date")

    def __init__(self, t0: float) -> None:
        self.url = b""
        self.headers: list[bytes] = []
        self.body = b""
        self.host = None
        self.chunked = False
        self.keep_alive = True
        self.t0 = t0
        self.date = time.time()  # the log's [%tr]
        self.data: bytes | None = None

    def build(self, xff: str | None) -> bytes:
        """The bytes sent to the server (with ``x-forwarded-for`` appended for option forwardfor)."""
        if self.data is None:
            parts = [b"%s %s HTTP/%s\r\n" % (self.method, self.url, self.version)]
            parts += self.headers
            if xff:
                parts.append(b"x-forwarded-for: %s\r\n" % xff.encode())
            if self.version == b"1.0":  # HTTP/1.0 closes by default: ask the server to keep it open
                parts.append(b"connection: keep-alive\r\n\r\n")
            else:
                parts.append(b"\r\n")
            if self.chunked:  # httptools gave us the body de-chunked: send it as one chunk
                if self.body:
                    parts.append(b"%x\r\n%s\r\n" % (len(self.body), self.body))
                parts.append(b"0\r\n\r\n")
            elif self.body:
                parts.append(self.body)
            self.data = b"".join(parts)
        return self.data


class HttpClient(asyncio.Protocol, Session):
    """A client connection on an http frontend."""

    def __init__(self, engine, fe) -> None:
        self.engine, self.fe, self.loop = engine, fe, engine.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.req: Req | None = None  # being parsed
        self.cur: Req | None = None  # being served
        self.pending: collections.deque = collections.deque()  # pipelined, parsed, waiting
        self.buffered: list[bytes] = []  # bytes received while a request is being served
        self.conn: ServerConn | None = None
        self.opening = self.waiting = None  # a connection attempt: its coroutine, the future it awaits
        self.closed = self.active = self.connecting = self.reused = self.head_done = False
        self.untimed = False  # an error page of ours: haproxy keeps no time stats without a server answer
        self.hsize = 0
        self.t_start = self.t_sent = self.t_c0 = 0.0
        self.bout0, self.term, self.tc, self.tr, self.resp_status = 0, "--", -1, -1, -1
        self.log_bytes: int | None = None
        self.src: str | None = None
        self.sport = 0
        t = fe.cfg.timeouts
        self.req_ms = t.http_request or t.client  # also the keep-alive idle delay
        self._init_session()

    # ----- connection
    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.src, self.sport = (peer[0], peer[1]) if peer else (None, 0)
        self.engine.accepted(self)

    def activate(self) -> None:
        """Start serving (at once, or when frontend/global maxconn leaves room)."""
        self.active = True
        self.fe.enter()
        self._arm(self.req_ms, self._request_timeout)
        self.transport.resume_reading()
        if self.buffered:  # read before it was let in (some loops read despite the pause)
            self.loop.call_soon(self._next)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.connecting:  # else the timer still bounds the connection attempt
            self._drop_timer()
        if self.cur is not None:  # the client left mid-request
            self._leave_queue()
            conn, self.conn = self.conn, None
            if conn is not None:
                conn.client = None
                conn.close()
            be, srv = self.be, self.srv
            if be is not None:
                be.cli_abrt += 1
                if srv is not None:
                    srv.cli_abrt += 1
                be.scur -= 1
            if not self.connecting:
                self._release()
            if self.fe.name in self.engine.httplog:  # the client left: C, at the stage it had reached
                self.term = "CD" if self.resp_status >= 0 else "CH" if srv is not None else "CR"
                self._log(self.cur, be, srv, self.resp_status, int((now() - self.cur.t0) * 1000))
        self.engine.left(self)

    def pause_writing(self) -> None:  # the client reads slower than the server sends
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.cur is not None or self.pending or not self.active:
            self.buffered.append(data)  # read on when the current request is done
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        self.fe.bin += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # the request was dispatched already; what follows is not HTTP/1
        except httptools.HttpParserError:
            if self.cur is not None:
                self.pending.append(_BAD)
            elif not self.closed:
                self._reject(400)
            return
        if not self.head_done and self.req is not None and self.hsize + len(self.req.url) > MAX_HEAD:
            self._reject(400)

    # ----- httptools callbacks (requests)
    def on_message_begin(self) -> None:
        self.req = Req(now())
        self.hsize = 0
        if self.cur is None and not self.pending:
            self._arm(self.req_ms, self._request_timeout)

    def on_url(self, url: bytes) -> None:
        self.req.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        line = b"%s: %s\r\n" % (name, value)
        self.hsize += len(line)
        if self.hsize > MAX_HEAD:
            raise ValueError("request head too large")  # httptools turns it into HttpParserError
        n = len(name)
        if n == 4 and name.lower() == b"host":
            self.req.host = value
        elif n == 17 and name.lower() == b"transfer-encoding":
            self.req.chunked = b"chunked" in value.lower()
        elif n == 10 and name.lower() == b"connection":  # hop-by-hop: keep only other tokens (upgrade...)
            value = other_tokens(value)
            if not value:
                return
            line = b"%s: %s\r\n" % (name, value)
        self.req.headers.append(line)

    def on_headers_complete(self) -> None:
        p, req = self.parser, self.req
        req.method = p.get_method()
        req.version = p.get_http_version().encode()
        req.keep_alive = p.should_keep_alive()
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.req.body += body

    def on_message_complete(self) -> None:
        req, self.req = self.req, None
        self.head_done = False
        if self.closed:
            return
        if self.cur is None and not self.pending:
            self._start(req)
        else:
            self.pending.append(req)

    # ----- serving one request
    def _start(self, req: Req) -> None:
        self.cur = req
        self._disarm()
        fe = self.fe
        # for the log line: start time, bytes sent so far, timers not reached yet (-1), flags
        self.t_start, self.bout0, self.term = now(), fe.bout, "--"
        self.tw = self.tc = self.tr = self.resp_status = -1
        self.failures, self.bq, self.redispatched = 0, 0, False
        self.log_bytes = None
        fe.req_tot += 1
        prom = fe.cfg.prometheus
        if prom is not None and _wants_metrics(prom, req.url):
            self._serve_metrics(req)
            return
        be = fe.route(req.url, req.host)
        if be is None:
            self._reply_error(503)
            return
        self.be = be
        be.enter()
        be.req_tot += 1
        if be.cfg.stats.enabled and wants_stats(be, req.url):
            self._serve_stats(req)
            return
        self.failures = 0
        self.xff = self.src if (fe.cfg.forwardfor or be.cfg.forwardfor) else None
        self._dispatch()

    def _uri(self) -> str | None:
        if self.be.cfg.balance == "uri":
            return self.cur.url.decode("latin-1")
        return None

    def _attempt(self) -> None:
        srv = self.srv
        idle = srv.idle
        while idle:
            conn = idle.pop()
            if conn.transport is not None and not conn.transport.is_closing():
                srv.reuse += 1
                self.reused = True
                self._send(conn)
                return
        self._connect(srv)

    # A new server connection: create_connection's coroutine driven by hand (``_step`` resumes it
    # when the future it waits on is done), under the session's timer for ``timeout connect``,
    # which is free meanwhile. A Task plus wait_for cost ~15 us of CPU per connection, and the
    # lesson's Flask servers close theirs after every answer, so every request pays for one.
    def _connect(self, srv) -> None:
        srv.connect += 1
        self.t_c0 = now()
        self.reused = False
        self.connecting = True
        self.opening = self.loop.create_connection(lambda: ServerConn(srv), srv.addr[0], srv.addr[1])
        self.waiting = None
        self._arm(self.be.cfg.timeouts.connect, self._connect_timeout)
        self._step()

    def _step(self, fut=None) -> None:
        if fut is not self.waiting:  # the future of an attempt given up on: read it, or asyncio complains
            if not fut.cancelled():
                fut.exception()
            return
        try:
            self.waiting = self.opening.send(None)
        except StopIteration as done:
            self._connected(done.value[1])
        except OSError:
            self._connected(None, refused=True)
        else:
            if self.waiting is None:  # a bare yield (asyncio's sleep(0)): resume on the next turn
                self.loop.call_soon(self._step)
            else:
                self.waiting.add_done_callback(self._step)

    def _connect_timeout(self) -> None:
        self.opening.close()  # GeneratorExit in create_connection: it closes its half-made transport
        self._connected(None)

    def _connected(self, conn: ServerConn | None, refused: bool = False) -> None:
        self.opening = self.waiting = None
        self.connecting = False
        self._disarm()
        if conn is None:
            self._connect_failed(refused)
            return
        if self.srv.cfg.observe != "none":
            self.engine.observed(self.srv, "L4_OK")
        if self.closed:  # the client left meanwhile: keep the connection for someone else
            conn.park()
            self._release()
            return
        self._send(conn)

    def _send(self, conn: ServerConn) -> None:
        self.conn = conn
        self.t_sent = now()
        self.tc = 0 if self.reused else int((self.t_sent - self.t_c0) * 1000)
        data = self.cur.build(self.xff)
        req = self.cur
        conn.start(self, data, req.method == b"HEAD", req.keep_alive, req.version == b"1.0")
        n = len(data)
        self.srv.bin += n
        self.be.bin += n
        ms = self.be.cfg.timeouts.server
        if ms:
            self._arm(ms, self._server_timeout)

    def _server_timeout(self) -> None:
        conn = self.conn
        if conn is None or self.closed:
            return
        ms = self.be.cfg.timeouts.server
        idle = self.loop.time() - conn.last
        if conn.fwd and idle * 1000 < ms:  # the answer is still flowing: wait on
            self._arm(ms - idle * 1000, self._server_timeout)
            return
        self.conn = None
        conn.client = None
        conn.close()
        self.srv.eresp += 1
        self.be.eresp += 1
        if self.srv.cfg.observe != "none":
            self.engine.observed(self.srv, "HTTP_READ_TIMEOUT")
        if conn.fwd:  # cut in the middle of the answer: nothing sensible to add
            self.term = "sD"
            self._finish(conn.status, close=True)
        else:
            self.term = "sH"
            self._reply_error(504)

    # ----- called by ServerConn
    def response_head(self, status: int) -> None:
        self.tr = int((now() - self.t_sent) * 1000)
        self.resp_status = status
        self.srv.req_tot += 1  # haproxy counts a server's requests by their answers (0 after a 502/504)
        self.srv.count_status(status)
        self.be.count_status(status)
        self.fe.count_status(status)
        if self.srv.cfg.observe != "none":  # 5xx but 501 and 505 count as errors, as in HAProxy
            good = 100 <= status and (status < 500 or status in (501, 505))
            self.engine.observed(self.srv, "HTTP_OK" if good else "HTTP_STS")

    def response_done(self, conn: ServerConn, keep: bool) -> None:
        self.conn = None
        conn.client = None
        srv = self.srv
        if keep and conn.transport is not None and len(srv.idle) < MAX_IDLE:
            srv.idle.append(conn)
        else:
            conn.close()
        self._finish(conn.status, close=not self.cur.keep_alive)

    def response_eof(self, conn: ServerConn) -> None:
        """The server closed: the end of an answer without length, or a cut one."""
        self.conn = None
        self._finish(conn.status, close=True)

    def response_failed(self, conn: ServerConn) -> None:
        """Garbage, or the server closed before answering."""
        self.conn = None
        conn.client = None
        conn.close()
        if self.reused and not conn.got_data:  # an idle connection the server had closed: try anew
            self._connect(self.srv)
            return
        self.srv.eresp += 1
        self.be.eresp += 1
        self.term = "PH" if conn.got_data else "SH"  # garbage: blocked by the proxy; silence: the server
        if self.srv.cfg.observe != "none":
            self.engine.observed(self.srv, "HTTP_HDRRSP" if conn.got_data else "HTTP_BROKEN_PIPE")
        self._reply_error(502)

    def server_down(self) -> None:
        """'on-marked-down shutdown-sessions': our server went DOWN. Before its answer began, the
        client gets a 502 (as from HAProxy); in the middle of it, the connection is cut."""
        conn = self.conn
        if conn is None or conn.fwd:
            if self.transport is not None:
                self.transport.abort()
            return
        self.conn = None
        conn.client = None
        conn.close()
        self._disarm()
        self.cur.keep_alive = False
        self._reply_error(502)

    # ----- endings
    def _reply_error(self, code: int) -> None:
        close = not self.cur.keep_alive
        data = page(code, close)
        self.transport.write(data)
        self.fe.bout += len(data)
        self.fe.count_status(code)
        if self.be is not None:
            self.be.count_status(code)
        if self.term == "--":
            self.term = "SC" if code == 503 else "PR"  # 503: no server could take it
        # HAProxy logs its own error page's size as its internal message's: the page without a
        # connection header, plus 3 (503: 217, 502: 209, 504: 198 bytes), whatever went on the wire
        self.log_bytes = len(page(code, False)) + 3
        self.untimed = True
        self._finish(code, close)

    def _serve_stats(self, req: Req) -> None:
        code, data = stats_response(self.engine, self.be, req.url, req.headers, not req.keep_alive, req.method,
                                    req.body)
        self.transport.write(data)
        self.fe.bout += len(data)
        self.fe.count_status(code)
        self.be.count_status(code)
        self.term = "LR"  # answered locally by the proxy
        self._finish(code, not req.keep_alive)

    def _serve_metrics(self, req: Req) -> None:
        """``http-request use-service prometheus-exporter``: the frontend answers by itself."""
        close = not req.keep_alive
        data = metrics_response(self.engine, close)
        self.transport.write(data)
        self.fe.bout += len(data)
        self.fe.count_status(200)
        self.term = "LR"
        self._finish(200, close)

    def _no_server(self) -> None:
        if not self.closed:
            self._reply_error(503)

    def _finish(self, status: int, close: bool) -> None:
        req, be, srv = self.cur, self.be, self.srv
        ms = int((now() - req.t0) * 1000)
        logging = self.fe.name in self.engine.httplog
        self.engine.log_request(self.src, be.name if be else self.fe.name, srv.name if srv else None, status, ms)
        self._disarm()
        if be is not None:
            if not self.untimed:
                be.timed(ms)
            be.scur -= 1
            if srv is not None and not self.untimed:
                srv.timed(ms)
            self._release()
            self.be = None
        if logging:
            self._log(req, be, srv, status, ms)
        self.cur = None
        self.untimed = False
        if close:
            self.closed = True
            self.transport.close()
            return
        self._arm(self.req_ms, self._idle_timeout)
        if self.pending or self.buffered:
            self.loop.call_soon(self._next)

    def _log(self, req: Req, be, srv, status: int, ms: int, bad: bool = False) -> None:
        """HAProxy's httplog line for the request that just ended (accesslog.py)."""
        self.engine.logs.emit(httplog_record(self, req, be, srv, status, ms, bad).httplog())

    def _next(self) -> None:
        if self.closed or self.cur is not None:
            return
        if self.pending:
            req = self.pending.popleft()
            if req is _BAD:
                self._reject(400)
            else:
                self._start(req)
        elif self.buffered:
            data = b"".join(self.buffered)
            self.buffered.clear()
            self._feed(data)

    def _reject(self, code: int) -> None:
        """400 / 408: HAProxy's raw page, then close."""
        if self.closed:
            return
        data = page(code)
        self.transport.write(data)
        fe = self.fe
        fe.bout += len(data)
        fe.ereq += 1
        fe.count_status(code)
        self.engine.log_request(self.src, fe.name, None, code, 0)
        if fe.name in self.engine.httplog:
            self.term = "cR" if code == 408 else "PR"
            self.bout0 = fe.bout - len(data)
            self._log(self.req or Req(now()), None, None, code, 0, bad=True)
        self.closed = True
        self._disarm()
        self.transport.close()

    def _request_timeout(self) -> None:
        if self.cur is None:
            self._reject(408)

    def _idle_timeout(self) -> None:
        if self.cur is None and self.req is None and not self.closed:
            self.closed = True
            self.transport.close()


def _wants_metrics(rule: tuple[str, str], url: bytes) -> bool:
    kind, value = rule
    if kind == "always":
        return True
    path = url.split(b"?", 1)[0].decode("latin-1")
    return path == value if kind == "path" else path.startswith(value)
