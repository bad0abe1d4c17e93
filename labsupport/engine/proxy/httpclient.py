"""mode http: the client-side protocol, on asyncio + httptools (upstream.py is the server side).

How it works. ``HttpClient`` (one per client connection) parses requests with httptools
(``RequestReader``, reader.py) and serves them one at a time, in order: each complete request is routed (use_backend /
default_backend), balanced on its own (``Session``), and sent to the chosen server over an idle
kept-alive ``ServerConn`` when the server has one, or a new connection. The server's answer is
relayed as it arrives, bytes untouched but for its ``connection`` header; httptools only watches
it to find its end, its status, and whether the server connection can be reused. Pipelined
requests wait their turn. The log line's timers and facts are gathered in ``timers`` and
``outcome`` (progress.py), set as the request goes.

http-request rules (actions.py) run on a complete request before routing (the frontend's) and
after it (the backend's); a redirect, return or deny among them answers at once (intercept.py),
and the http-response rules are kept in ``res_rules`` for upstream.py to run on the answer's head.
A proxy without rules pays one attribute test per request.

Persistence is per side, as in HAProxy's default http-keep-alive mode: ``connection`` is
hop-by-hop, so its close/keep-alive tokens are never forwarded. The server side is kept alive
(an HTTP/1.0 request gets ``connection: keep-alive``); the client side follows the client's
request (upstream.py writes the answer's header). Otherwise a server saying ``connection: close``
(Flask's dev server does, every time) would make every client reconnect for every request.

Errors, as HAProxy 2.6 answers them (pages.py holds the bytes): a request httptools rejects, or
that fails HAProxy's checks (request.py: head size, field count and name length, Transfer-Encoding,
Host, target, upgrades) -> 400 (422, 501) and close; no complete
request within ``timeout http-request`` (else ``timeout client``) -> 408 and close; an idle
kept-alive client is closed silently after the same delay; no server -> 503; a server that
answers garbage, or closes without answering -> 502; no answer within ``timeout server`` -> 504.

An upgrade request's body is read as HAProxy reads it (no desync: see reader.py). A client that
half-closes after its request (``eof_received``) still gets its answers.
"""
from __future__ import annotations

import asyncio
import collections

import httptools

from ..sample.fetches import Ctx
from .accesslog import httplog_record
from .actions import STOP, run_request
from .cookies import CookieTxn
from .intercept import RuleAnswers
from .localpages import LocalPages, wants_metrics
from .pages import page
from .reader import RequestReader
from .request import Req
from .session import Session
from .state import now, status_slot
from .statspage import wants_stats
from .stick import end as stick_end
from .stick import sticking_rules
from .upstream import MAX_IDLE, ServerConn


class HttpClient(asyncio.Protocol, RequestReader, RuleAnswers, LocalPages, Session):
    """A client connection on an http frontend."""

    __slots__ = ("engine", "fe", "loop", "transport", "src", "sport", "local", "req_ms",  # the connection
                 "closed", "active", "eof", "answered",  # its state
                 "stk",  # the request's stick-table state (stick.py), None without one
                 "parser", "req", "head_done", "partial", "held", "pending", "buffered",  # reading (reader.py)
                 "cur", "conn", "reused", "xff", "res_rules")  # the request being served (and Session's ck)

    def __init__(self, engine, fe) -> None:
        self.engine, self.fe, self.loop = engine, fe, engine.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.req: Req | None = None  # being parsed
        self.cur: Req | None = None  # being served
        self.pending: collections.deque = collections.deque()  # pipelined, parsed, waiting
        self.buffered: list[bytes] = []  # bytes received while a request is being served
        self.conn: ServerConn | None = None
        self.closed = self.active = self.reused = self.head_done = False
        self.eof = False  # the client half-closed
        self.held: Req | None = None  # an upgrade request whose body is being read
        self.partial = 0  # bytes of a head received after the read it started in
        self.src: str | None = None
        self.sport = 0
        self.local: tuple | None = None  # this end's (address, port), read when a rule first needs it
        self.answered = False  # a request of this connection has been served (it is now idle between requests)
        self.xff: str | None = None  # the X-Forwarded-For value the request gets (None: no header)
        self.res_rules: tuple = ()  # the http-response rule lists of the request being served (actions.py)
        self.stk = None
        t = fe.cfg.timeouts
        self.req_ms = t.http_request or t.client  # also the keep-alive idle delay
        self._init_session()

    # ----- connection
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.timers.accepted = now()
        peer = transport.get_extra_info("peername")
        self.src, self.sport = (peer[0], peer[1]) if peer else (None, 0)
        self.engine.accepted(self)

    def activate(self) -> None:
        """Start serving (at once, or when frontend/global maxconn leaves room)."""
        self.active = True
        self.fe.enter()
        self._arm(self.req_ms, self._request_timeout)
        self.transport.resume_reading()
        if self.buffered or self.eof:  # read before it was let in (some loops read despite the pause)
            self.loop.call_soon(self._next)

    def connection_lost(self, exc) -> None:
        if not self.closed and self.active and self.cur is None and not self.pending:
            self._gave_up(answer=False)  # the client closed before a request was complete
        self.closed = True
        if not self.connecting:  # else the timer still bounds the connection attempt
            self._drop_timer()
        if self.cur is not None:  # the client left mid-request
            if self.stk is not None:
                stick_end(self, None)
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
                o = self.outcome
                o.termination = "CD" if o.server_status >= 0 else "CH" if srv is not None else "CR"
                self._log(self.cur, be, srv, o.server_status, int((now() - self.cur.t0) * 1000))
        self.engine.left(self)
        self.parser = None  # it holds our callbacks: without that cycle the connection is freed now, not by the gc

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

    def eof_received(self) -> bool:
        """The client half-closed: answer what it sent, then close (as HAProxy does)."""
        self.eof = True
        if self.active and self.cur is None and not self.pending and not self.buffered:
            self._end_of_input()
        # keep the transport: the answers are still to be written (a TLS transport cannot half-close:
        # asyncio ends it after the client's close_notify whatever we answer, so say so and stay quiet)
        return self.ssl_object is None

    def _end_of_input(self) -> None:
        if not self.closed:
            self._gave_up(answer=True)
            self.closed = True
            self._disarm()
            self.transport.close()

    def _gave_up(self, answer: bool) -> None:
        """The client closed (``answer``: half-closed, so it still reads) with no request, or half a
        request, on the connection: HAProxy 2.6 counts a bad request, sends its 400 page to a client
        that still reads, and logs "400 0 CR-- <BADREQ>" with Ta from the request's first byte (from
        the accept for a connection that sent nothing), unless ``option dontlognull`` and nothing came.
        A connection idle after an answered request ends without a word."""
        partial = self.req is not None and not self.head_done
        if not partial and self.answered:
            return
        if answer:
            self.transport.write(page(400))
        self._bad_request(400, "CR", partial, record=False)  # no request reached the course's charts

    def _bad_request(self, code: int, term: str, came: bool, record: bool = True) -> None:
        """What the H1 mux of HAProxy 2.6 does for a request it answers itself with 400, 408 or 422
        (observed on 2.6.12): a request (req_tot) in error (ereq, hrsp_4xx) whose page counts in
        neither bout nor the log's bytes (0); the log says <BADREQ> with Ta from the request's first
        byte, or from the accept when nothing ``came``, and ``option dontlognull`` leaves out a
        connection that sent nothing."""
        fe = self.fe
        fe.req_tot += 1
        fe.ereq += 1
        fe.count_status(code)
        if record:
            self.engine.log_request(self.src, fe.name, None, code, 0)
        if fe.name in self.engine.httplog and (came or not fe.cfg.dontlognull):
            self.outcome.termination, self.outcome.logged_bytes = term, 0
            timers = self.timers
            timers.queue_ms = timers.connect_ms = timers.response_ms = -1
            accepted = timers.accepted
            req = self.req if came and self.req is not None else Req(accepted)  # dated from the accept
            self._log(req, None, None, code, int((now() - req.t0) * 1000), bad=True)

    # ----- serving one request
    def _start(self, req: Req) -> None:
        self.cur = req
        self.on_deadline = None  # _disarm, inline (per request)
        fe = self.fe
        # for the log line: start time, bytes sent so far, timers not reached yet (-1), flags
        self.timers.start(now())
        self.outcome.start(fe.bout)
        self.failures, self.target = 0, None
        fe.req_tot += 1
        prom = fe.cfg.prometheus
        if prom is not None and wants_metrics(prom, req.url):
            self._serve_metrics(req)
            return
        cfg = fe.cfg
        if cfg.http_request:  # the frontend's rules, before routing (AN_REQ_HTTP_PROCESS_FE)
            verdict = run_request(cfg.http_request, self, req)
            if verdict is not None and verdict is not STOP:
                self._intercept(verdict, None)
                return
        be = fe.route(self._sample_ctx(req), self.engine.backends) if fe.rules else fe.default_backend
        if be is None:
            self._reply_error(503)
            return
        self.be = be
        be.enter()
        be.req_tot += 1
        bcfg = be.cfg
        self.ck = CookieTxn(bcfg, self, req) if bcfg.cookie is not None else None  # cookie persistence (cookies.py)
        if bcfg.http_request and bcfg is not cfg:  # the backend's (a listen section's run once)
            verdict = run_request(bcfg.http_request, self, req)
            if verdict is not None and verdict is not STOP:
                self._intercept(verdict, be)
                return
        if bcfg.http_response or cfg.http_response:  # backend first, then frontend
            self.res_rules = tuple(r for r in (bcfg.http_response, cfg.http_response if cfg is not bcfg else ())
                                   if r)
        elif self.res_rules:
            self.res_rules = ()
        if be.cfg.stats.enabled and wants_stats(be, req.url):
            self._serve_stats(req)
            return
        self.xff = self.src if (fe.cfg.forwardfor or be.cfg.forwardfor) else None
        if self.ck is not None:
            self.ck.request(be, req.headers)
        if bcfg.stick_rules:  # stick match / on / store-request (stick.py), after the cookie as in HAProxy
            sticking_rules(self, be, self._sample_ctx(req))
        self._dispatch()

    def _sample_ctx(self, req: Req) -> Ctx:
        """The request as rules read it (engine/sample): fetches computed on first use."""
        local = self.local
        if local is None and self.transport is not None:  # once per connection
            local = self.local = self.transport.get_extra_info("sockname") or ()
        return Ctx(req, self.src, self.sport, local[0] if local else None, local[1] if local else None, self,
                   fe_name=self.fe.name)

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

    def _connect(self, srv) -> None:
        srv.connect += 1
        self.timers.connecting = now()
        self.reused = False
        self._open(lambda: ServerConn(srv), srv)

    def _connected(self, conn: ServerConn) -> None:
        if self.srv.cfg.observe != "none":
            self.engine.observed(self.srv, "L4_OK")
        if self.closed:  # the client left meanwhile: keep the connection for someone else
            conn.park()
            self._release()
            return
        self._send(conn)

    def _send(self, conn: ServerConn) -> None:
        self.conn = conn
        timers = self.timers
        timers.sent = now()
        timers.connect_ms = 0 if self.reused else int((timers.sent - timers.connecting) * 1000)
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
            self.outcome.termination = "sD"
            self._finish(conn.status, close=True)
        else:
            self.outcome.termination = "sH"
            self._reply_error(504)

    # ----- called by ServerConn
    def response_head(self, status: int) -> None:
        self.timers.response_ms = int((now() - self.timers.sent) * 1000)
        self.outcome.server_status = status
        srv = self.srv
        srv.req_tot += 1  # haproxy counts a server's requests by their answers (0 after a 502/504)
        k = status_slot(status)  # count_status on the three, with one slot lookup
        srv.hrsp[k] += 1
        self.be.hrsp[k] += 1
        self.fe.hrsp[k] += 1
        if srv.cfg.observe != "none":  # 5xx but 501 and 505 count as errors, as in HAProxy
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
        self.outcome.termination = "PH" if conn.got_data else "SH"  # garbage: blocked by the proxy; silence: the server
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
        rare = self.cur.rare
        close = not self.cur.keep_alive or (rare is not None and rare.upgrade)  # after an upgrade: not HTTP
        data = page(code, close)
        self.transport.write(data)
        self.fe.bout += len(data)
        self.fe.count_status(code)
        if self.be is not None:
            self.be.count_status(code)
        o = self.outcome
        if o.termination == "--":
            o.termination = "SC" if code == 503 else "PR"  # 503: no server could take it
        # HAProxy logs its own error page's size as its internal message's: the page without a
        # connection header, plus 3 (503: 217, 502: 209, 504: 198 bytes), whatever went on the wire
        o.logged_bytes = len(page(code, False)) + 3
        o.untimed = True
        self._finish(code, close)

    def _no_server(self) -> None:
        if not self.closed:
            self._reply_error(503)

    def _finish(self, status: int, close: bool) -> None:
        if self.stk is not None:
            stick_end(self, status)
        req, be, srv = self.cur, self.be, self.srv
        ms = int((now() - req.t0) * 1000)
        logging = self.fe.name in self.engine.httplog
        self.engine.log_request(self.src, be.name if be else self.fe.name, srv.name if srv else None, status, ms)
        self.on_deadline = None  # _disarm, inline (per request)
        outcome = self.outcome
        if be is not None:
            if not outcome.untimed:
                be.timed(ms)
            be.scur -= 1
            if srv is not None and not outcome.untimed:
                srv.timed(ms)
            self._release()
            self.be = None
        if logging:
            self._log(req, be, srv if srv is not None else self.target, status, ms)
        self.cur = None
        self.answered = True
        outcome.untimed = False
        if close or self.engine.stopping:  # a soft stop closes after each answer
            self.closed = True
            self.transport.close()
            return
        self._arm(self.req_ms, self._idle_timeout)
        if self.pending or self.buffered:
            self.loop.call_soon(self._next)
        elif self.eof:  # the client half-closed and has nothing more to ask
            self._end_of_input()

    def _log(self, req: Req, be, srv, status: int, ms: int, bad: bool = False) -> None:
        """HAProxy's httplog line for the request that just ended (accesslog.py)."""
        self.engine.logs.emit(httplog_record(self, req, be, srv, status, ms, bad))  # written when read

    def _next(self) -> None:
        if self.closed or self.cur is not None:
            return
        if self.pending:
            req = self.pending.popleft()
            if isinstance(req, int):  # a request HAProxy refuses: its error page, then close
                self._reject(req)
            else:
                self._start(req)
        elif self.buffered:
            data = b"".join(self.buffered)
            self.buffered.clear()
            self._feed(data)
        elif self.eof:
            self._end_of_input()

    def _reject(self, code: int) -> None:
        """400 / 408 / 422 / 501: HAProxy's raw page, then close."""
        if self.closed:
            return
        self.transport.write(page(code))
        # HAProxy's H1 mux answers 400, 408 and 422 itself (observed); 501 (CONNECT, which HAProxy
        # would tunnel) is the engine's own refusal, counted the same way
        came = code != 408 or (self.req is not None and not self.head_done)  # a timeout may come on silence
        self._bad_request(code, "cR" if code == 408 else "PR", came)
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

