"""The engine's runtime objects: one per frontend, backend and server, holding HAProxy's counters.

How it works: the engine builds these from a ``config.Config``; the protocols in ``httpclient.py`` and
``tcp.py`` bump the counters as bytes and requests pass (plain attribute increments: cheap enough
to do per request); ``stats.py`` turns them into rows named like HAProxy's stats columns. Only the
engine's event-loop thread touches them; other threads read them through ``Engine.snapshot``.

Queues follow HAProxy 2.6's src/queue.c (Willy Tarreau): a request the algorithm assigned to a
full server waits in that server's queue; a request no server could take waits in the backend's
queue. When a server frees a slot, ``process_srv_queue`` hands it the oldest request of its own
queue or of the backend's (the backend's only while the server may serve it), comparing arrival
times in whole milliseconds with the server's queue winning a tie (pendconn_process_next_strm),
and counts the slot without asking the algorithm again (``Algorithm.take``). A server coming up
grabs backend requests (pendconn_grab_from_px); a server going down with ``option redispatch``
sends its queue back to the algorithm (pendconn_redistribute). qcur/qmax count each queue, and
``queue_idx`` the requests served from it, so that a request logs its place in line as HAProxy's
%sq/%bq do (pendconn_add, __pendconn_unlink_srv/_prx).
"""
from __future__ import annotations

import collections
import socket
import time
from typing import Callable

from ..balance import Algorithm, make_algorithm
from ..config import Proxy, ServerConfig
from ..config.words import atol
from ..health import Health
from .interfaces import PooledConn

HASH_ALGOS = ("source", "uri")


now = time.monotonic  # the engine's clock (monotonic seconds); no wrapper: it runs ~8 times a request


def ip_literal(text: str) -> str | None:
    """An IPv4 or IPv6 literal as inet_ntop writes it back ('::ffff:127.0.0.1', '::1'), or None for
    anything inet_pton refuses (a name, '127.1', '127.000.0.1')."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, text))
        except (OSError, ValueError):
            pass
    return None


def status_slot(code: int) -> int:
    """The index in ``hrsp`` that counts a status code."""
    k = code // 100
    return k - 1 if 1 <= k <= 5 else 5


class Counters:
    """Counters shared by every row type (names as in HAProxy's CSV)."""

    __slots__ = ("scur", "smax", "stot", "bin", "bout", "hrsp", "req_tot", "econ", "eresp", "wretr",
                 "wredis", "cli_abrt", "srv_abrt", "lbtot", "qcur", "qmax", "ereq", "connect", "reuse",
                 "lastsess", "ttime_sum", "ttime_n", "ttime_max", "rate", "dreq", "dresp", "intercepted")

    def __init__(self) -> None:
        self.scur = self.smax = self.stot = self.bin = self.bout = self.req_tot = 0
        self.econ = self.eresp = self.wretr = self.wredis = self.cli_abrt = self.srv_abrt = 0
        self.lbtot = self.qcur = self.qmax = self.ereq = self.connect = self.reuse = 0
        self.hrsp = [0, 0, 0, 0, 0, 0]  # 1xx, 2xx, 3xx, 4xx, 5xx, other
        self.dreq = self.dresp = self.intercepted = 0  # denied requests/responses; answered by the frontend
        self.lastsess = 0.0  # time of the last session, 0 = never
        self.ttime_sum = self.ttime_n = self.ttime_max = 0
        self.rate = Rate()

    def enter(self) -> None:
        """A session starts (scur/smax/stot/rate)."""
        self.scur += 1
        self.stot += 1
        if self.scur > self.smax:
            self.smax = self.scur
        self.rate.hit()

    def count_status(self, code: int) -> None:
        self.hrsp[status_slot(code)] += 1

    def timed(self, ms: int) -> None:
        self.ttime_sum += ms
        self.ttime_n += 1
        if ms > self.ttime_max:
            self.ttime_max = ms


class Rate:
    """Events over the last second and the highest such figure (HAProxy's rate / rate_max)."""

    __slots__ = ("sec", "cur", "prev", "max")

    def __init__(self) -> None:
        self.sec, self.cur, self.prev, self.max = 0, 0, 0, 0

    def hit(self) -> None:
        s = int(now())
        if s != self.sec:
            self.prev = self.cur if s == self.sec + 1 else 0
            self.sec, self.cur = s, 0
        cur = self.cur + 1  # (each attribute read once: twice a request)
        self.cur = cur
        if cur > self.max:
            self.max = cur

    def value(self) -> int:
        s = int(time.monotonic())
        if s == self.sec:
            return max(self.cur, self.prev)
        return self.cur if s == self.sec + 1 else 0


class ServerRT(Counters):
    """A server at run time: its config, health, counters and idle keep-alive connections."""

    __slots__ = ("name", "backend", "cfg", "addr", "sid", "health", "idle", "lastchg", "down_since",
                 "downtime", "check_status", "check_code", "check_duration", "check_desc", "last_chk",
                 "checker", "queue", "queue_idx", "errors", "sessions", "warmup", "dynamic", "forced_id")

    def __init__(self, backend: "BackendRT", cfg: ServerConfig, sid: int) -> None:
        super().__init__()
        self.name, self.backend, self.cfg, self.sid = cfg.name, backend, cfg, sid
        self.addr = (cfg.host, cfg.port)
        self.health = Health(cfg.rise, cfg.fall, cfg.check, cfg.disabled)
        if not cfg.host:  # 'init-addr none' (or no address found): MAINT (resolution) until DNS answers
            self.health.set_rmaint(True)
        self.idle: list[PooledConn] = []  # kept-alive connections ready for the next request
        self.lastchg = now()
        self.down_since: float | None = now() if not self.health.usable else None
        self.downtime = 0.0
        self.check_status = "INI" if cfg.check else ""
        self.check_code: int | None = None
        self.check_duration: int | None = None
        self.check_desc = "Initializing" if cfg.check else ""
        self.last_chk = ""
        self.checker = None
        self.queue: collections.deque[Waiter] = collections.deque()  # assigned here, waiting for a slot
        self.queue_idx = 0  # requests served from that queue so far (the log's queue positions)
        self.errors = 0  # consecutive errors seen by 'observe' (passive checks)
        self.warmup = None  # warmup.Warmup while a slow start ramps the weight up
        self.sessions: set = set()  # client sessions using this server now (on-marked-down shutdown-sessions)
        self.forced_id = False  # its id came from an 'id' keyword ('show servers state' srv_f_forced_id)
        # added by 'add server': 1 (in maintenance) or 5 (with 'disabled': CMAINT too) until its admin state
        # first changes, then 2; 0 for a server of the configuration
        self.dynamic = 0

    @property
    def status(self) -> str:
        return self.health.status

    @property
    def weight(self) -> int:
        return self.backend.algo.weight(self.name)

    def sync_lb(self) -> None:
        """Tell the algorithm whether health lets this server take traffic: the one place the two meet.

        ``Health.usable`` decides (op running, admin ready); the algorithm keeps a copy because it must
        see each transition to move the server in or out of its trees (HAProxy's srv_lb_commit_status),
        and adds its own weight rule. Everything that counts usable servers asks ``algo.is_usable``."""
        self.backend.algo.set_usable(self.name, self.health.usable)

    def changed(self) -> None:
        """Record an UP/DOWN change for lastchg and downtime."""
        t = now()
        self.lastchg = t
        if self.health.usable or self.health.op != "stopped":
            if self.down_since is not None:
                self.downtime += t - self.down_since
                self.down_since = None
        elif self.down_since is None:
            self.down_since = t

    def set_addr(self, ip: str | None, port: str | None, reason: str) -> str:
        """Move the server to ``ip`` and/or ``port`` (text as typed) and say what changed, as HAProxy
        2.6's srv_update_addr_port words it (server.c): "IP changed from 'A' to 'B', port changed from
        'P' to 'Q' by 'REASON'". The one place a server's address changes (the runtime API's
        ``set server addr``; DNS resolution may call it too). Requests in flight keep their connection;
        idle ones to the old address are closed, so the next request connects to the new one."""
        msg, changed = [], False
        host, cur_port = self.addr
        if ip is not None:
            new_ip = ip_literal(ip)
            if new_ip is None:
                return f"Invalid addr '{ip}' by '{reason}'"
            if new_ip == ip_literal(host):
                msg.append("no need to change the addr")
            else:  # (the new address as typed, the old one as inet_ntop writes it)
                msg.append(f"IP changed from '{host}' to '{ip}'")
                host, changed = new_ip, True
        if port is not None:
            if port[:1] in ("+", "-"):  # 2.6 refuses a port map unless a 'port' keyword set the check's port,
                # which the engine never has (with or without 'check', measured)
                msg.append("can't change <port> to port map because it is incompatible with current health "
                           "check port configuration (use 'port' statement from the 'server' directive.")
            elif not port[:1].isascii() or not port[:1].isdigit():  # strtol: leading digits ('80x' is 80)
                msg.append(f"problem converting port '{port}' to an int")
            elif atol(port) & 0xFFFF == cur_port:
                msg.append("no need to change the port")
            else:
                new_port = atol(port) & 0xFFFF  # HAProxy keeps it in 16 bits: 99999 becomes 34463
                msg.append(f"port changed from '{cur_port}' to '{new_port}'")
                cur_port, changed = new_port, True
        if changed:
            self.addr = (host, cur_port)
            self.close_idle()
        return ", ".join(msg) + f" by '{reason}'"

    def close_idle(self) -> None:
        for c in self.idle:
            c.close()
        self.idle.clear()

    def __repr__(self) -> str:
        return f"{self.name} {self.status} w{self.weight}"


class BackendRT(Counters):
    """A backend at run time: its algorithm, servers, request queue and counters."""

    __slots__ = ("name", "cfg", "iid", "algo", "servers", "queue", "queue_idx", "lastchg", "down_since",
                 "downtime", "chkdown")

    def __init__(self, cfg: Proxy, iid: int, algo: Algorithm | None = None) -> None:
        super().__init__()
        self.name, self.cfg, self.iid = cfg.name, cfg, iid
        self.algo = algo or make_algorithm(cfg)
        self.servers: dict[str, ServerRT] = {}
        for sc in cfg.servers:
            srv = self.servers[sc.name] = ServerRT(self, sc, sc.id)
            srv.sync_lb()  # the algorithm starts from the server's health, whatever its own default
        # requests waiting for a free server slot (maxconn), oldest first
        self.queue: collections.deque[Waiter] = collections.deque()
        self.queue_idx = 0  # requests served from that queue so far (the log's queue positions)
        self.lastchg = now()
        self.down_since: float | None = None if self.algo.has_usable() else now()
        self.downtime = 0.0
        self.chkdown = 0

    @property
    def hashed(self) -> bool:
        return self.cfg.balance in HASH_ALGOS

    def add_server(self, cfg: ServerConfig, forced_id: bool = False) -> ServerRT:
        """``add server``: a server that joins at run time, in maintenance unless ``cfg`` says 'enabled'
        (``forced_id``: its id came from an 'id' keyword)."""
        srv = ServerRT(self, cfg, cfg.id)
        srv.forced_id = forced_id
        self.algo.add_server(cfg.name, cfg.id, cfg.weight, cfg.maxconn, cfg.maxqueue, cfg.backup,
                             node_id=cfg.id if forced_id else 0)
        self.servers[cfg.name] = srv
        # no sync_lb: HAProxy 2.6 leaves a server added with 'enabled' out of its algorithm's trees,
        # UP but without traffic, until a state change brings it in
        return srv

    def remove_server(self, name: str) -> ServerRT:
        """``del server``: the server leaves the backend and its algorithm (its checker stops)."""
        srv = self.servers.pop(name)
        self.algo.remove_server(name)
        if srv.checker is not None:
            srv.checker.cancel()
        srv.close_idle()
        return srv

    def active_usable(self) -> int:
        return sum(1 for s in self.servers.values() if not s.cfg.backup and self.algo.is_usable(s.name))

    def backup_usable(self) -> int:
        return sum(1 for s in self.servers.values() if s.cfg.backup and self.algo.is_usable(s.name))

    @property
    def status(self) -> str:
        return "UP" if self.algo.has_usable() or not self.servers else "DOWN"

    def release(self, server: ServerRT, algo: Algorithm) -> None:
        """A request on ``server`` ended: free its slot in ``algo`` (the one that picked it, which
        a reload may have replaced since) and offer the slot to a waiting request."""
        if algo is self.algo or server.name in algo.servers:
            try:
                algo.release(server.name)
            except ValueError:  # the server was re-created by a reload meanwhile
                pass
        server.scur -= 1
        if server.queue or self.queue:
            self.process_srv_queue(server)

    # ----- queues (src/queue.c)
    def enqueue(self, w: "Waiter", srv: ServerRT | None) -> None:
        """pendconn_add: into ``srv``'s queue when the request is assigned to it, else the backend's."""
        w.srv = srv
        owner = srv if srv is not None else self
        w.queue_idx = owner.queue_idx - 1  # so that the first in line logs position 1
        owner.queue.append(w)
        owner.qcur = len(owner.queue)
        if owner.qcur > owner.qmax:
            owner.qmax = owner.qcur
        if srv is not None:
            self.sync_queue(srv)

    def unlink(self, w: "Waiter") -> None:
        """pendconn_unlink: the request left its queue (timeout, client gone)."""
        owner = w.srv if w.srv is not None else self
        try:
            owner.queue.remove(w)
        except ValueError:
            return
        w.left(owner)
        owner.qcur = len(owner.queue)
        if w.srv is not None:
            self.sync_queue(w.srv)

    def sync_queue(self, srv: ServerRT) -> None:
        """Tell the algorithm the length of ``srv``'s own queue (leastconn and 'full' count it)."""
        if srv.name in self.algo.servers and self.servers.get(srv.name) is srv:
            self.algo.set_queued(srv.name, len(srv.queue))

    def _px_ok(self, srv: ServerRT) -> bool:
        """May ``srv`` take requests from the backend's queue? Usable, and not a backup while
        active servers serve (process_srv_queue's px_ok)."""
        algo = self.algo
        if srv.name not in algo.servers or not algo.is_usable(srv.name):
            return False
        if not srv.cfg.backup:
            return True
        if self.active_usable():
            return False
        first = next((s for s in self.servers.values() if s.cfg.backup and algo.is_usable(s.name)), None)
        return self.cfg.allbackups or first is srv

    def process_srv_queue(self, srv: ServerRT) -> None:
        """Fill ``srv``'s free slots with the oldest waiting requests (its own queue or the backend's)."""
        algo = self.algo
        if srv.name not in algo.servers or self.servers.get(srv.name) is not srv:
            return
        maxconn = algo.maxconn(srv.name)  # 'set maxconn server' changes it at run time
        if not maxconn:
            return
        px_ok = self._px_ok(srv)
        while algo.inflight(srv.name) < maxconn:
            p = srv.queue[0] if srv.queue else None
            pp = self.queue[0] if px_ok and self.queue else None
            if p is None and pp is None:
                return
            self._hand_over(self if p is None or (pp is not None and pp.ms < p.ms) else srv, srv, advance=True)

    def _hand_over(self, owner, srv: ServerRT, advance: bool) -> None:
        """The oldest request of ``owner``'s queue (the backend's or a server's) gets a slot on ``srv``.
        ``advance``: served from its queue, it moves the others up (queue_idx, the logged positions)."""
        w = owner.queue.popleft()
        w.left(owner)
        if advance:
            owner.queue_idx += 1
        owner.qcur = len(owner.queue)
        if owner is not self:
            self.sync_queue(owner)
        w.srv = None
        self.algo.take(srv.name)
        w.go(srv.name)

    def redistribute(self, srv: ServerRT) -> int:
        """pendconn_redistribute: with ``option redispatch``, a server going down hands its queue
        back to the algorithm. Returns how many requests it handed back."""
        if not self.cfg.redispatch:
            return 0
        moved = list(srv.queue)
        srv.queue.clear()
        srv.qcur = 0
        self.sync_queue(srv)
        for w in moved:
            w.left(srv)
            w.srv = None
            w.go("")
        return len(moved)

    def grab_from_px(self, srv: ServerRT) -> int:
        """pendconn_grab_from_px: a server that came back takes the oldest requests of the backend's
        queue (not of its own), as many as its maxconn lets in; the queue's index does not move, so
        the positions logged after them count as if they had not been served. Returns how many."""
        algo = self.algo
        if not self._px_ok(srv):
            return 0
        maxconn = algo.maxconn(srv.name)
        moved = 0
        while self.queue and not (maxconn and algo.inflight(srv.name) >= maxconn):
            self._hand_over(self, srv, advance=False)
            moved += 1
        return moved

    def __repr__(self) -> str:
        servers = ", ".join(repr(s) for s in self.servers.values()) or "no server"
        return f"{self.name} {self.algo.name}: {servers}"


class Waiter:
    """A request waiting in a server's or a backend's queue for a server slot."""

    __slots__ = ("src", "uri", "callback", "timer", "since", "ms", "srv", "queue_idx", "srv_pos", "prx_pos")

    def __init__(self, src: str | None, uri: str | None, callback: Callable[[str | None], None]) -> None:
        self.src, self.uri, self.callback = src, uri, callback
        self.timer = None
        self.since = time.monotonic()
        self.ms = int(self.since * 1000)  # HAProxy orders the two queues by arrival in ms
        self.srv: ServerRT | None = None  # the server whose queue holds it (None: the backend's)
        self.queue_idx = 0  # its queue's queue_idx - 1 when it entered (pendconn_add)
        self.srv_pos = self.prx_pos = 0  # the log's %sq and %bq once it has left

    def left(self, owner: "ServerRT | BackendRT") -> None:
        """It left ``owner``'s queue (__pendconn_unlink_srv/_prx): its position there, 1 for the
        first in line, counts the requests served from that queue meanwhile."""
        if isinstance(owner, ServerRT):
            self.srv_pos += owner.queue_idx - self.queue_idx
        else:
            self.prx_pos += owner.queue_idx - self.queue_idx

    def go(self, name: str | None) -> None:
        """Leave the queue: to server ``name``, to a 503 (None), or back to the algorithm ("")."""
        if self.timer is not None:
            self.timer.cancel()
        self.callback(name)


class FrontendRT(Counters):
    """A frontend at run time: its listeners, routing rules, connection limit and counters."""

    __slots__ = ("name", "cfg", "iid", "maxconn", "paused", "servers", "default_backend", "rules")

    def __init__(self, cfg: Proxy, iid: int, maxconn: int) -> None:
        super().__init__()
        self.name, self.cfg, self.iid, self.maxconn = cfg.name, cfg, iid, maxconn
        self.paused: collections.deque = collections.deque()  # connections over maxconn, waiting
        self.servers: list = []  # asyncio.Server objects
        self.default_backend: BackendRT | None = None
        self.rules: list[tuple[object, BackendRT]] = []  # (config.UseBackend, backend)

    def route(self, ctx, backends: dict) -> BackendRT | None:
        """The backend for a request (``ctx``: engine.sample.Ctx): the first use_backend rule whose
        condition holds, else default_backend (proxy.c process_switching_rules). A name worked out
        per request (%[...]) that names no backend stops the search there: default_backend serves it."""
        for rule, be in self.rules:
            if rule.cond is not None and not rule.cond.holds(ctx):
                continue
            if be is None:
                be = backends.get(rule.dynamic.render(ctx))
                if be is None:
                    break
            return be
        return self.default_backend


