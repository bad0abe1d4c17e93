"""The engine: listeners, runtime state, health reports and runtime commands, on one event loop.

How it works: ``Engine(config, loop)`` builds a FrontendRT / BackendRT / ServerRT per section
(state.py); ``start()`` opens the listeners and health checkers. Every method runs on the
engine's loop (``balancer.Balancer`` hops threads for callers). Runtime commands mean what
HAProxy's runtime API means (tests/vectors/runtime-api.md section 9) and fail with its messages.
Events (server UP/DOWN, ...) go to a bounded in-memory log formatted like HAProxy's stderr, and
each answered request to a bounded request log; both can be read from an index onwards.
"""
from __future__ import annotations

import asyncio
import collections
import errno
import os
import re
import time
from typing import Callable

from ...errors import ConfigError, Message
from ..config import Config
from ..health import first_check_delays
from ..logs import Logs
from ..sticktable import tables_of
from . import peers
from .checker import Checker
from .control import Controls
from .httpclient import HttpClient
from .resolver import start_resolvers, stop_resolvers
from .runtime import Runtime
from .state import BackendRT, FrontendRT
from .tcp import TcpClient
from .tls import CertificateLoadError, FrontTLS

_NO_SERVER = re.compile(r"^backend '(.*)' has no server available!$")
DEFAULT_MAXCONN = 4096  # haproxy derives it from ulimit -n when global maxconn is not set


class Log:
    """A bounded log whose entries keep a global index: ``since(i)`` -> (entries, next index)."""

    def __init__(self, size: int) -> None:
        self.entries: collections.deque = collections.deque(maxlen=size)
        self.total = 0

    def add(self, entry) -> None:
        self.entries.append(entry)
        self.total += 1

    def since(self, index: int = 0) -> tuple[list, int]:
        first = self.total - len(self.entries)
        skip = max(index - first, 0)
        return list(self.entries)[skip:], self.total


class Engine(Controls):
    """The running balancer; use it from its event loop only."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop, host: str = "127.0.0.1",
                 request_log: int = 10000) -> None:
        self.loop, self.host, self.pid = loop, host, os.getpid()
        self.frontends: dict[str, FrontendRT] = {}
        self.backends: dict[str, BackendRT] = {}
        self.conns: set = set()  # open client connections
        self.cur_conns = 0
        self.events = Log(1000)
        # called on the engine's loop with (unix time, level, text) for every event; the text is
        # what HAProxy sends to a 'log' target, the events log adds stderr's "[LEVEL] (pid) : " prefix
        self.event_hooks: list[Callable[[float, str, str], None]] = []
        self.requests = Log(request_log)
        self.checkers: list[Checker] = []
        self.resolving: list = []  # resolver.ResolverTask, one per resolvers section in use
        self.listeners: dict[tuple[str, int], tuple[FrontendRT, asyncio.base_events.Server]] = {}
        self.bind_tls: dict[tuple[str, int], object] = {}  # each listener's TlsBind (None: clear text)
        self.running = False
        self.stopping = False  # soft_stop() began: each answer then closes its connection
        # listening sockets opened by a master process (master.py), used instead of binding
        self.inherited: dict[tuple[str, int], object] = {}
        self.reuse_port = False  # SO_REUSEPORT (the command line's, so '-sf' can bind next to an old process)
        self.config = config
        self.runtime = Runtime(self)
        self.logs = Logs(request_log)
        self.httplog: set[str] = set()  # frontends that log each request (log global + option httplog)
        self._build(config)

    # ----- building
    def _build(self, config: Config) -> None:
        self.config = config
        self.maxconn = config.maxconn or DEFAULT_MAXCONN
        shift = 1 if config.stats_socket else 0
        self.httplog = {p.name for p in config.proxies
                        if p.has_frontend and p.log_global and p.httplog and config.log_targets}
        old_fe, old_be = self.frontends, self.backends
        self.frontends, self.backends = {}, {}
        for iid, p in enumerate(config.proxies, 1 + shift):
            if p.has_backend:
                be = old_be.get(p.name)
                self.backends[p.name] = self._backend(p, iid, be)
            if p.has_frontend:
                fe = old_fe.get(p.name)
                if fe is None:
                    fe = FrontendRT(p, iid, p.maxconn or self.maxconn)
                fe.cfg, fe.iid, fe.maxconn = p, iid, p.maxconn or self.maxconn
                self.frontends[p.name] = fe
        for fe in self.frontends.values():
            fe.default_backend = self.backends.get(fe.cfg.default_backend or "")
            # (rule, its backend); a rule whose name is worked out per request (%[...]) has None here
            fe.rules = [(r, None if r.dynamic is not None else self.backends[r.backend])
                        for r in fe.cfg.use_backends if r.dynamic is not None or r.backend in self.backends]
            if fe.default_backend is None and fe.cfg.has_backend:
                fe.default_backend = self.backends[fe.name]  # a listen section serves itself

    def _backend(self, p, iid: int, old: BackendRT | None) -> BackendRT:
        new = BackendRT(p, iid)
        if old is None:
            return new
        # A reload keeps the backend object (sessions in flight hold it) with its counters and
        # queue, and every server still there (same name and address) with its health.
        old.cfg, old.iid, old.algo = p, iid, new.algo
        servers = {}
        for name, s in new.servers.items():
            prev = old.servers.get(name)
            if prev is not None and prev.addr == s.addr:
                if (prev.cfg.check, prev.cfg.rise, prev.cfg.fall) != (s.cfg.check, s.cfg.rise, s.cfg.fall):
                    prev.health, prev.check_status, prev.check_desc = s.health, s.check_status, s.check_desc
                prev.cfg, prev.sid = s.cfg, s.sid
                prev.dynamic, prev.forced_id = 0, False  # an 'add server' server the new config now declares
                s = prev
            s.backend = old
            s.sync_lb()  # the new algorithm learns each kept server's health
            servers[name] = s
        gone = [s for name, s in old.servers.items() if servers.get(name) is not s]
        old.servers = servers
        for s in servers.values():
            old.sync_queue(s)  # the new algorithm learns each kept server's queue length
        for s in gone:
            s.close_idle()
            while s.queue:  # requests waiting for a server that is gone choose again
                w = s.queue.popleft()
                w.srv = None
                w.go("")
            s.qcur = 0
        return old

    # ----- start / stop
    async def start(self) -> None:
        """Open every listener (PortInUseError when one is taken: nothing stays open) and start checks."""
        try:
            for fe in self.frontends.values():
                for b in fe.cfg.binds:
                    await self._listen(fe, b)
            for path, level in self.config.stats_sockets:
                await self.runtime.serve(path, level)
            await peers.serve(self)  # the local peer: where a next process hands its tables over
        except BaseException:
            await self.stop()
            raise
        self.running = True
        self._start_checkers()
        self.resolving = start_resolvers(self, self.resolving)

    async def _listen(self, fe: FrontendRT, bind) -> None:
        host = bind.host if bind.host not in ("", "*", "0.0.0.0", "::") else self.host
        key = (host, bind.port)
        def factory():  # the mode is read per connection: a reload may change it
            return (HttpClient if fe.cfg.mode == "http" else TcpClient)(self, fe)

        try:
            try:
                tls = FrontTLS(bind.tls).context if bind.tls is not None else None
            except CertificateLoadError as e:  # read at parse time; changed on disk since
                raise ConfigError([Message("ALERT", f"'bind :{bind.port}' : {e}.", self.config.path, bind.line,
                                           "Write the certificate again (cert, key and chain in one PEM file), "
                                           "then start or reload.")], self.config.path) from None
            # a client that never ends its handshake is bounded by 'timeout client', as in HAProxy 2.6
            # (asyncio's own default, 60 s, when the frontend has none: HAProxy would wait for ever)
            hs = (fe.cfg.timeouts.client or 60000) / 1000 if tls is not None else None
            sock = self.inherited.pop(key, None)
            if sock is not None:
                server = await self.loop.create_server(factory, sock=sock, ssl=tls, ssl_handshake_timeout=hs,
                                                       backlog=1024)
            else:
                server = await self.loop.create_server(factory, host, bind.port, ssl=tls, ssl_handshake_timeout=hs,
                                                       reuse_address=True, reuse_port=self.reuse_port or None,
                                                       backlog=1024)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                from ...ports import in_use

                raise in_use(bind.port, host, doing=f"{fe.cfg.kind} '{fe.name}' cannot listen on it",
                             instead="change the 'bind' line") from None
            raise
        self.listeners[key] = (fe, server)
        self.bind_tls[key] = bind.tls

    def _start_checkers(self) -> None:
        for c in self.checkers:
            c.cancel()
        checked = [s for be in self.backends.values() for s in be.servers.values() if s.cfg.check]
        delays = first_check_delays([s.cfg.fastinter or s.cfg.inter for s in checked])
        self.checkers = []
        for srv, delay in zip(checked, delays):
            srv.checker = Checker(self, srv, delay)
            self.checkers.append(srv.checker)

    async def stop(self) -> None:
        """Close every listener, client and server connection, and stop the checks."""
        self.running = False
        await self.runtime.close()
        await peers.close(self)
        for c in self.checkers:
            c.cancel()
        self.checkers = []
        stop_resolvers(self.resolving)
        self.resolving = []
        for _, server in self.listeners.values():
            server.close()
        for c in list(self.conns):
            c.closed = True
            c.transport.abort()
        for be in self.backends.values():
            for s in be.servers.values():
                s.close_idle()
        for _, server in self.listeners.values():
            await server.wait_closed()
        self.listeners.clear()
        await asyncio.sleep(0)  # let the aborted transports call connection_lost

    async def soft_stop(self, hard_after_ms: int | None = None) -> None:
        """HAProxy's soft stop (SIGUSR1 to an old worker): stop accepting, end idle keep-alive
        connections, let requests in flight finish (their connection closes after the answer, no
        header added, as HAProxy 2.6 does), stop the checks; returns when no connection is left,
        or after ``hard_after_ms`` (global hard-stop-after), closing what remains."""
        await peers.teach(self)  # before the listeners close: the new process learns the stick tables
        self.stopping = True
        for _, server in self.listeners.values():
            server.close()  # our copy only: the master and the new worker keep theirs open
        self.listeners.clear()
        for c in self.checkers:
            c.cancel()
        self.checkers = []
        for c in list(self.conns):
            # an idle keep-alive connection (answered, nothing asked since) is closed at once; one accepted
            # but whose first request has not arrived yet is served, then closed after its answer
            if getattr(c, "answered", False) and c.cur is None and not c.pending and not c.buffered and not c.closed:
                c.closed = True
                c.transport.close()
        deadline = None if hard_after_ms is None else self.loop.time() + hard_after_ms / 1000
        while self.conns and (deadline is None or self.loop.time() < deadline):
            await asyncio.sleep(0.05)
        await self.stop()

    async def reload(self, config: Config) -> None:
        """Swap in a new configuration: backends and algorithms change, listeners stay open; tables bound
        to a peers section keep their entries (proxy/peers.py), the others start empty."""
        old_tables = tables_of(self)
        self._build(config)
        peers.carry(self, old_tables)
        await peers.serve(self)
        wanted = {}
        for fe in self.frontends.values():
            for b in fe.cfg.binds:
                host = b.host if b.host not in ("", "*", "0.0.0.0", "::") else self.host
                wanted[(host, b.port)] = (fe, b)
        for key in list(self.listeners):
            fe, server = self.listeners[key]
            # a TLS bind listens anew, so certificate files are read again (as a reload of HAProxy does),
            # and so does a bind that gained or lost 'ssl'
            tls = wanted[key][1].tls if key in wanted else None
            if key not in wanted or wanted[key][0] is not fe or tls is not None or self.bind_tls.get(key) is not None:
                server.close()
                del self.listeners[key]
        for key, (fe, b) in wanted.items():
            if key not in self.listeners:
                await self._listen(fe, b)
        self._start_checkers()
        self.resolving = start_resolvers(self, self.resolving)
        self.event("NOTICE", "Configuration reloaded: " + ", ".join(f"backend '{b}' ({be.algo.name})"
                                                                  for b, be in self.backends.items()))

    # ----- connections (called by the client protocols)
    def accepted(self, conn) -> None:
        self.conns.add(conn)
        fe = conn.fe
        if fe.scur < fe.maxconn and self.cur_conns < self.maxconn and not fe.paused:
            self.cur_conns += 1
            conn.activate()
        else:  # over maxconn: wait, unread, like a connection in haproxy's accept backlog
            conn.transport.pause_reading()
            fe.paused.append(conn)

    def left(self, conn) -> None:
        self.conns.discard(conn)
        fe = conn.fe
        if not conn.active:
            try:
                fe.paused.remove(conn)
            except ValueError:
                pass
            return
        fe.scur -= 1
        self.cur_conns -= 1
        for f in (fe, *self.frontends.values()):
            while f.paused and f.scur < f.maxconn and self.cur_conns < self.maxconn:
                self.cur_conns += 1
                f.paused.popleft().activate()

    def log_request(self, client: str | None, backend: str, server: str | None, status: int | None,
                    ms: int) -> None:
        log = self.requests  # Log.add, inline: once per request
        log.entries.append((time.time(), client, backend, server, status, ms))
        log.total += 1

    def event(self, level: str, text: str) -> None:
        when = time.time()
        self.events.add((when, level, f"{'[' + level + ']':<10} ({self.pid}) : {text}"))
        if self.config.log_targets and level in ("WARNING", "ALERT"):
            # HAProxy sends its health events to the log target too, bare, and names the backend
            # without quotes there: "backend be has no server available!"
            self.logs.emit(_NO_SERVER.sub(r"backend \1 has no server available!", text))
        for hook in list(self.event_hooks):
            try:
                hook(when, level, text)
            except Exception:  # a listener's bug must not stop the health checks that called us
                pass
