"""mode tcp: one server per client connection, bytes relayed both ways untouched.

How it works: ``TcpClient`` stops reading until ``Session`` has picked a server and connected
(with the same queueing, retries and redispatch as mode http); then each side's bytes are
written to the other. A half-close is passed on (also one that arrives while the server connection
is still being opened: it follows the early bytes); either side closing ends both. With no usable
server the client connection is simply closed, as HAProxy does in tcp mode. ``timeout client``
and ``timeout server`` end a connection on which nothing moved in either direction for that
long (the smaller of the two when both are set).

A proxy with ``tcp-request content`` rules first reads what the client sends (src/tcp_rules.c,
tcp_inspect_request): the rules run on the bytes so far, and a rule whose sample is not there yet
(half a TLS ClientHello for ``req.ssl_sni``) waits for more, until ``tcp-request inspect-delay`` from
the first wait, the client's half-close, or a full buffer; then they run once more with what is there
("final": the sample is absent). A client silent for ``timeout client`` meanwhile has the rules decide
at once, then its connection closed (HAProxy's ``cR``, counted in ereq). ``reject`` counts ``dreq`` on
the frontend and closes the connection; ``accept``, or no rule matching, goes on to the switching rules
(on the same bytes), then the backend's own content rules, then a server. The bytes read are relayed
to the server first, unchanged: with TLS this is passthrough, the server makes the handshake.
"""
from __future__ import annotations

import asyncio
import time

from ..sample.clienthello import BUFSIZE
from ..sample.fetches import Ctx
from ..tcplog import tcplog_line
from .session import Session
from .state import now

# content inspection: not waiting, waiting for bytes, inspect-delay over, 'timeout client' over while waiting
IDLE, WAITING, EXPIRED, CLIENT_TIMEOUT = 0, 1, 2, 3


class TcpClient(asyncio.Protocol, Session):
    """A client connection on a tcp frontend."""

    __slots__ = ("engine", "fe", "loop", "transport", "relay", "early", "closed", "active", "eof_early", "src",
                 "last", "idle_ms", "inspect", "inspect_until", "sport", "wall", "got", "sent", "shut")

    def __init__(self, engine, fe) -> None:
        self.engine, self.fe, self.loop = engine, fe, engine.loop
        self.transport: asyncio.Transport | None = None
        self.relay: ServerRelay | None = None
        self.early: list[bytes] = []  # bytes received before the server connection was up
        self.closed = self.active = self.eof_early = False
        self.src: str | None = None
        self.sport = 0
        self.wall = 0.0  # the accept's date, for the log
        self.got = self.sent = 0  # bytes from the client, to the client (the log's %B; dontlognull)
        self.shut = 0  # who has half-closed: 1 the client, 2 the server; both ends the connection
        self.last = 0.0
        t = fe.cfg.timeouts
        self.idle_ms = min((v for v in (t.client, t.server) if v), default=None)
        self.inspect = IDLE
        self.inspect_until = 0.0  # the loop's time when inspect-delay runs out (rules_exp)
        self._init_session()

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.pause_reading()  # until a server is connected
        peer = transport.get_extra_info("peername")
        self.src, self.sport = (peer[0], peer[1]) if peer else (None, 0)
        self.wall, self.timers.accepted = time.time(), now()
        self.engine.accepted(self)

    def activate(self) -> None:
        self.active = True
        self.fe.enter()
        self.fe.req_tot += 1
        if self.fe.cfg.tcp_request:
            self._inspect()
        else:
            self._route()

    def _route(self) -> None:
        """The switching rules (always final: on the bytes read so far), then the backend's content rules."""
        fe = self.fe
        be = fe.route(self._sample_ctx(), self.engine.backends) if fe.rules else fe.default_backend
        if be is None:
            self._no_server()
            return
        self.be = be
        be.enter()
        if be.cfg.tcp_request and be.name != fe.name:  # (a listen section's rules ran as the frontend's)
            self._inspect()
        else:
            self._after_rules()

    def _after_rules(self) -> None:
        """Routed: on to a server, unless the client timed out while the rules waited (HAProxy's cR: the
        log names the backend the rules chose, and no server)."""
        if self.inspect == CLIENT_TIMEOUT:
            self.engine.log_request(self.src, self.be.name, None, None, 0)
            self._close()
        else:
            self._dispatch()

    def _inspect(self) -> None:
        """tcp_inspect_request: the content rules of the frontend (before routing) or of the backend."""
        cfg = (self.fe if self.be is None else self.be).cfg
        ctx = self._sample_ctx(final=False)
        ctx.final = (self.eof_early or not cfg.inspect_delay or self.inspect >= EXPIRED
                     or len(ctx.payload) >= BUFSIZE)
        for rule in cfg.tcp_request:
            if rule.cond is not None:
                hit = rule.cond.test(ctx)
                if hit is None:  # a sample may still come: read on, until inspect-delay from the first wait
                    if self.inspect == IDLE:
                        self.inspect = WAITING
                        self.inspect_until = self.loop.time() + cfg.inspect_delay / 1000
                        self.transport.resume_reading()
                    self._arm_inspect()
                    return
                if not hit:
                    continue
            if rule.action == "reject":
                self._reject()
                return
            break  # accept
        if self.inspect != IDLE:
            if self.inspect != CLIENT_TIMEOUT:
                self.inspect = IDLE
            self._disarm()
            self.transport.pause_reading()  # until a server is connected
        if self.be is None:
            self._route()
        else:
            self._after_rules()

    def _arm_inspect(self) -> None:
        """Wake up when inspect-delay runs out, or earlier when the client stays silent for 'timeout client'
        (each byte read starts that one again)."""
        left = (self.inspect_until - self.loop.time()) * 1000
        client = self.fe.cfg.timeouts.client
        if client and client < left:
            self._arm(client, self._client_timeout)
        else:
            self._arm(max(left, 0.001), self._inspect_expired)

    def _inspect_expired(self) -> None:
        self.inspect = EXPIRED
        self._inspect()

    def _client_timeout(self) -> None:
        """'timeout client' while the rules wait: they decide with what is there, then the connection ends
        (counted as a request error, ereq, as HAProxy counts it)."""
        self.inspect = CLIENT_TIMEOUT
        self.fe.ereq += 1
        self.outcome.termination = "cR"
        self._inspect()

    def _reject(self) -> None:
        """'tcp-request content reject' (the frontend's or the backend's): dreq on the frontend, and the
        connection closed (the client sees its end, as from HAProxy 2.6: a FIN, not a reset)."""
        self.fe.dreq += 1
        if self.outcome.termination == "--":  # (a client timeout that made the rules decide stays cR)
            self.outcome.termination = "PR"
        self.inspect = IDLE
        self._disarm()
        self.engine.log_request(self.src, (self.be or self.fe).name, None, None, 0)
        self._close()

    def _sample_ctx(self, final: bool = True) -> Ctx:
        """The connection as rules read it in mode tcp: addresses, TLS state and the bytes the client sent
        so far (an HTTP fetch finds no sample)."""
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        local = self.transport.get_extra_info("sockname") if self.transport is not None else None
        return Ctx(None, self.src, peer[1] if peer else None, local[0] if local else None,
                   local[1] if local else None, self, fe_name=self.fe.name, payload=b"".join(self.early),
                   final=final)

    def _no_server(self) -> None:
        if self.outcome.termination == "--":  # (a queue's sQ/SQ is set already)
            self.outcome.termination = "SC"
        self.engine.log_request(self.src, self.be.name if self.be else self.fe.name, None, None, 0)
        self._close()

    def server_down(self) -> None:
        """'on-marked-down shutdown-sessions': our server went DOWN; cut the connection."""
        if self.transport is not None:
            self.transport.abort()

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def _attempt(self) -> None:
        t = self.timers
        t.connecting = now()
        if not self.failures:  # %Tw: from the accept to the (first) assignment
            t.queue_ms = int((t.connecting - t.accepted) * 1000)
        self.srv.connect += 1
        self._open(lambda: ServerRelay(self), self.srv)  # Session._open: as mode http does

    def _connected(self, relay: ServerRelay) -> None:
        srv = self.srv
        if srv.cfg.observe != "none":
            self.engine.observed(srv, "L4_OK")
        self.timers.connect_ms = int((now() - self.timers.connecting) * 1000)
        if self.closed:
            relay.transport.close()
            self._release()
            return
        self.relay = relay
        if self.early:
            data, self.early = b"".join(self.early), []
            srv.bin += len(data)
            self.be.bin += len(data)
            relay.transport.write(data)
        if self.eof_early and relay.transport.can_write_eof():  # the client half-closed meanwhile
            relay.transport.write_eof()
            self.shut |= 1
        self.engine.log_request(self.src, self.be.name, srv.name, None, 0)
        self.last = self.loop.time()
        self._arm(self.idle_ms, self._idle_check)
        self.transport.resume_reading()

    def _idle_check(self) -> None:
        idle = (self.loop.time() - self.last) * 1000
        if idle < self.idle_ms:
            self._arm(self.idle_ms - idle, self._idle_check)
        else:
            t = self.fe.cfg.timeouts
            self.outcome.termination = "cD" if t.client and t.client == self.idle_ms else "sD"
            self._close()

    # ----- client side
    def data_received(self, data: bytes) -> None:
        n = len(data)
        self.last = self.loop.time()
        self.fe.bin += n
        self.got += n
        if self.relay is not None and self.relay.transport is not None:
            self.srv.bin += n
            self.be.bin += n
            self.relay.transport.write(data)
        elif self.relay is None and not self.closed:  # not connected yet (some loops read despite the pause)
            self.early.append(data)
            if self.inspect == WAITING:
                self._inspect()

    def eof_received(self) -> bool:
        """The client half-closed: pass it on, and keep the connection open for the answer."""
        relay = self.relay
        if relay is None:  # not connected yet: pass it on once connected
            self.eof_early = not self.closed
            keep = self.eof_early and self.ssl_object is None
            if self.inspect == WAITING:  # no more bytes will come: the rules decide now
                self._inspect()
            return keep
        self.shut |= 1
        if self.shut == 3:  # both sides are done: the connection ends now, not at the idle timeout
            self._close()
            return False
        if relay.transport is not None and relay.transport.can_write_eof():
            relay.transport.write_eof()
            return self.ssl_object is None  # a TLS transport cannot stay half-open (asyncio closes it)
        return False

    def pause_writing(self) -> None:
        if self.relay is not None and self.relay.transport is not None:
            self.relay.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.relay is not None and self.relay.transport is not None:
            self.relay.transport.resume_reading()

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.connecting:  # else the timer still bounds the connection attempt
            self._drop_timer()
        if self.active:
            if exc is not None and self.outcome.termination == "--":  # a reset
                self.outcome.termination = "CD" if self.relay is not None else "CR" if self.be is None else "CC"
            self._leave_queue()
            relay, self.relay = self.relay, None
            if relay is not None and relay.transport is not None:
                relay.transport.close()
            if self.be is not None:
                self.be.scur -= 1
            if not self.connecting:
                self._release()
            cfg = self.fe.cfg
            if (cfg.log_global and (cfg.tcplog or cfg.httplog) and self.engine.config.log_targets
                    and (self.got or not cfg.dontlognull)):
                self.engine.logs.emit(self._tcplog())
        self.engine.left(self)

    def _tcplog(self) -> str:
        """The connection's ``option tcplog`` line (tcplog.py), as it ends."""
        t, o, be, srv, eng = self.timers, self.outcome, self.be, self.target, self.engine
        rc = min(self.failures, be.cfg.retries) if be is not None else 0
        return tcplog_line(
            self.src, self.sport, self.wall, self.fe.name if self.ssl_object is None else self.fe.name + "~",
            (be or self.fe).name, srv.name if srv is not None and o.termination not in ("PR", "cR") else "<NOSRV>",
            t.queue_ms if srv is not None else -1, t.connect_ms, int((now() - t.accepted) * 1000), self.sent,
            o.termination, eng.cur_conns, self.fe.scur, be.scur if be is not None else 0,
            srv.scur if srv is not None else 0, f"+{rc}" if o.redispatched else str(rc), o.srv_queue_pos,
            o.be_queue_pos)

    # ----- server side (called by ServerRelay)
    def from_server(self, data: bytes) -> None:
        n = len(data)
        self.last = self.loop.time()
        self.sent += n
        if self.srv is not None:
            self.srv.bout += n
        if self.be is not None:
            self.be.bout += n
        self.fe.bout += n
        self.transport.write(data)

    def server_eof(self) -> bool:
        self.shut |= 2
        if self.shut == 3:  # both sides are done
            self._close()
            return False
        if not self.closed and self.transport.can_write_eof():
            self.transport.write_eof()
            return True
        return False

    def server_closed(self) -> None:
        self.relay = None
        self._close()


class ServerRelay(asyncio.Protocol):
    """The server side of a tcp-mode connection."""

    __slots__ = ("client", "transport")

    def __init__(self, client: TcpClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.client.from_server(data)

    def eof_received(self) -> bool:
        keep = self.client.server_eof()
        return keep and self.transport is not None and self.transport.get_extra_info("ssl_object") is None

    def pause_writing(self) -> None:
        self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        self.client.transport.resume_reading()

    def connection_lost(self, exc) -> None:
        self.transport = None
        if exc is not None and self.client.outcome.termination == "--":  # the server reset the connection
            self.client.outcome.termination = "SD"
        self.client.server_closed()
