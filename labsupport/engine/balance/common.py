"""What every algorithm shares: per-server state, the active/backup group rule, runtime changes.

``LbServer`` is one server as the algorithms see it (HAProxy's struct server, the fields the lb_*.c
files read: weights, served, queue length, positions); ``Algorithm`` is the base every lb_*.py
module extends (the interface backend.c calls: choose, take, release; server.c's runtime weight
and state changes). ``first_with_room`` is the lookup lb_fwlc.c and lb_fas.c share.

Follows HAProxy 2.6's include/haproxy/backend.h, src/backend.c (assign_server) and src/server.c
(server_recalc_eweight, the 'set weight' checks),
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from ...errors import CommandError, NotFoundError, UsageError
from ..config import Proxy

SRV_EWGHT_MAX = 4096  # 256 user units x 16
BE_WEIGHT_SCALE = 16
WEIGHT_RANGE_MSG = "Absolute weight can only be between 0 and 256 inclusive."
STATIC_WEIGHT_MSG = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."


@dataclass(eq=False)
class LbServer:
    name: str
    id: int
    backup: bool
    iweight: int  # weight from the config ("initial" in 'get weight')
    uweight: int  # weight set by the user, 0..256
    admin_up: bool  # False when DOWN / MAINT / DRAIN
    maxconn: int = 0
    maxqueue: int = 0  # leastconn still picks a full server while its queue is below this
    inflight: int = 0  # HAProxy's srv->served: requests holding a connection slot
    queued: int = 0  # requests waiting in this server's own queue
    cumw: int = 0  # cumulative_weight: weight of the usable servers declared before it (at start)
    e: int = 0  # effective weight the algorithm works with
    # fwrr bookkeeping
    npos: int = 0
    lpos: int = 0
    rw: int = 0
    tree: list | None = None  # the container this server sits in (fwrr, fwlc)
    entry: tuple | None = None
    # the id its ring points are hashed from (lb_chash.c): its id, but 0 for a server 'add server' gave no
    # 'id' (2.6 places its points before numbering it)
    node_id: int | None = None

    def __post_init__(self) -> None:
        if self.node_id is None:
            self.node_id = self.id

    @property
    def full(self) -> bool:
        return bool(self.maxconn) and (self.queued > 0 or self.inflight >= self.maxconn)


class Algorithm:
    """Base class: per-server state, the active/backup group rule, runtime changes."""

    name: str = "?"
    dynamic = True  # False for map-based algorithms: runtime weights only 0% or 100%
    wscale = BE_WEIGHT_SCALE

    def __init__(self, proxy: Proxy, seed: int | None = None):
        self._serving: tuple[str, LbServer | None] | None = None  # _in_use's answer until a server changes
        self.proxy_name = proxy.name
        self.allbackups = proxy.allbackups
        self._seq = itertools.count()  # insertion order: equal keys keep it
        self._srv: dict[str, LbServer] = {}
        for sc in proxy.servers:  # sc.id: assigned once, by the config model
            self._srv[sc.name] = LbServer(
                sc.name, sc.id, sc.backup, sc.weight, sc.weight, not sc.disabled, sc.maxconn, sc.maxqueue
            )
        for s in self._srv.values():
            s.e = self._eweight(s)

    # ----- helpers shared by the algorithms
    def _eweight(self, s: LbServer) -> int:
        return s.uweight * self.wscale

    def _usable(self, s: LbServer) -> bool:
        return s.admin_up and s.uweight > 0

    def _group(self, backup: bool) -> list[LbServer]:
        return [s for s in self._srv.values() if s.backup == backup and self._usable(s)]

    def _fbck(self) -> LbServer | None:
        """The backup that takes all traffic when no active server is usable (none with allbackups)."""
        if self.allbackups:
            return None
        return next(iter(self._group(True)), None)

    def _in_use(self) -> tuple[str, LbServer | None]:
        """Which group serves now: ("act", None), ("fbck", server), ("bck", None) or ("", None).
        Every request asks: the answer is kept until a server's weight or state changes (``_changed``)."""
        serving = self._serving
        if serving is None:
            serving = self._serving = self._which_group()
        return serving

    def _which_group(self) -> tuple[str, LbServer | None]:
        if any(not s.backup and self._usable(s) for s in self._srv.values()):
            return "act", None
        fb = self._fbck()
        if fb is not None:
            return "fbck", fb
        if self._group(True):
            return "bck", None
        return "", None

    def _changed(self) -> None:
        """A server's usability or weight changed: the group in use is to be worked out again."""
        self._serving = None

    def _get(self, name: str) -> LbServer:
        try:
            return self._srv[name]
        except KeyError:
            raise NotFoundError(
                f"No such server '{name}' in backend '{self.proxy_name}' "
                f"(servers: {', '.join(self._srv) or 'none'})"
            ) from None

    # ----- the interface
    # roundrobin, static-rr and first send a new request behind a non-empty backend queue
    # (assign_server: "with certain algos we know it's because all servers are full")
    queue_first = False
    # leastconn keeps its servers ordered by load: only it hears of each take and release (_took, _dropped)
    reorders = False

    def choose(self, src: str | None = None, uri: str | None = None, avoid: str | None = None) -> str | None:
        """The server HAProxy's assign_server designates, without counting it (see ``take``).
        None: no server usable, or (rotating algorithms, random) every candidate is full.
        A hash algorithm may designate a full server: the request then waits in its queue.
        ``avoid``: the server a redispatched request failed on, taken only when no other will do."""
        s = self._choose(src, uri, None if avoid is None else self._srv.get(avoid))
        return None if s is None else s.name

    def pick(self, src: str | None = None, uri: str | None = None) -> str | None:
        """Choose a server for a new connection and count it as in flight; None: none usable or all full."""
        s = self._choose(src, uri, None)
        if s is None or s.full:
            return None
        s.inflight += 1
        if self.reorders:  # (a test, not a call: most algorithms keep no order by load)
            self._took(s)
        return s.name

    def is_full(self, name: str) -> bool:
        """At its maxconn, or with requests in its own queue (HAProxy then queues behind them)."""
        return (self._srv.get(name) or self._get(name)).full  # get(): no frame on the hot path

    def set_queued(self, name: str, n: int) -> None:
        """The length of ``name``'s own queue (the proxy keeps it). leastconn counts it as load the
        next time the server takes or drops a connection: joining or leaving a queue does not move a
        server in its tree (queue.c pendconn_add and pendconn_unlink do not call server_take_conn)."""
        self._get(name).queued = n

    def served(self) -> int:
        """Requests in flight on every server (HAProxy's px->served)."""
        return sum(s.inflight for s in self._srv.values())

    def take_if_room(self, name: str) -> bool:
        """``take`` unless ``name`` is full (then False, and nothing counted): is_full + take in one."""
        s = self._srv.get(name) or self._get(name)
        if s.maxconn and s.full:  # (no maxconn: never full, and no property call)
            return False
        s.inflight += 1
        if self.reorders:  # (a test, not a call: most algorithms keep no order by load)
            self._took(s)
        return True

    def take(self, name: str) -> None:
        """Count a connection on ``name`` that no pick chose: HAProxy hands a queued request
        straight to the server that freed a slot (process_srv_queue), without the algorithm."""
        s = self._srv.get(name) or self._get(name)
        s.inflight += 1
        if self.reorders:  # (a test, not a call: most algorithms keep no order by load)
            self._took(s)

    def release(self, name: str) -> None:
        """A connection or request on ``name`` ended."""
        s = self._srv.get(name) or self._get(name)
        if s.inflight <= 0:
            raise UsageError(f"release('{name}') without a matching pick: it has no connection in flight. "
                             "Call release(name) once for each pick() that returned that name.")
        s.inflight -= 1
        if self.reorders:
            self._dropped(s)

    def has_usable(self) -> bool:
        return (self._serving or self._in_use())[0] != ""

    def inflight(self, name: str) -> int:
        return self._get(name).inflight

    def weight(self, name: str) -> int:
        """The current weight in user units (0..256)."""
        return self._get(name).uweight

    def initial_weight(self, name: str) -> int:
        return self._get(name).iweight

    def is_usable(self, name: str) -> bool:
        return self._usable(self._get(name))

    def maxconn(self, name: str) -> int:
        """The server's connection limit (0: none)."""
        return self._get(name).maxconn

    def set_maxconn(self, name: str, maxconn: int) -> None:
        """``set maxconn server be/s N``: the new limit counts from the next pick."""
        self._get(name).maxconn = maxconn

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(self._srv)

    def set_weight(self, name: str, weight: int) -> None:
        """``set server be/s weight N``: HAProxy's checks and messages, applied from the next pick."""
        s = self._get(name)
        if not 0 <= weight <= 256:
            raise CommandError(WEIGHT_RANGE_MSG)
        if not self.dynamic and weight not in (0, s.iweight):
            raise CommandError(STATIC_WEIGHT_MSG)
        was, old_e = self._usable(s), s.e
        s.uweight = weight
        s.e = self._eweight(s)
        self._changed()
        now = self._usable(s)
        if was and not now:
            self._down(s, old_e)
        elif now and not was:
            self._up(s)
        elif now and old_e != s.e:
            self._reweight(s, old_e)

    def add_server(self, name: str, sid: int, weight: int, maxconn: int = 0, maxqueue: int = 0,
                   backup: bool = False, node_id: int | None = None) -> None:
        """``add server``: a new server, out of the rotation (in maintenance) until ``set_usable``
        brings it in, as HAProxy's cli_parse_add_server inserts it (server.c)."""
        if name in self._srv:
            raise UsageError(f"add_server('{name}'): backend '{self.proxy_name}' already has that server")
        s = LbServer(name, sid, backup, weight, weight, False, maxconn, maxqueue, node_id=node_id)
        s.e = self._eweight(s)
        self._srv[name] = s
        self._changed()

    def remove_server(self, name: str) -> None:
        """``del server``: forget a server; it leaves the rotation first if it was in it
        (HAProxy only deletes servers in maintenance, which are out of it already)."""
        self.set_usable(name, False)
        s = self._srv.pop(name)
        self._remove(s)
        self._changed()

    def effective_weight(self, name: str) -> int:
        """The weight the algorithm works with, in 1/wscale units (HAProxy's cur_eweight)."""
        return self._get(name).e

    def throttle(self, name: str, eweight: int | None) -> None:
        """Slow start: work with ``eweight`` (1/wscale units) instead of the full weight, or with the
        full weight again when None. Static algorithms ignore it (HAProxy ramps dynamic ones only)."""
        s = self._get(name)
        new = self._eweight(s) if eweight is None or not self.dynamic else max(1, min(eweight, self._eweight(s)))
        old_e, s.e = s.e, new
        if self._usable(s) and old_e != new:
            self._reweight(s, old_e)

    def set_usable(self, name: str, usable: bool) -> None:
        """UP (True) or DOWN / MAINT / DRAIN (False) for load balancing; repeating a state is a no-op."""
        s = self._get(name)
        if s.admin_up == usable:
            return
        was = self._usable(s)
        s.admin_up = usable
        self._changed()
        now = self._usable(s)
        if was and not now:
            self._down(s, s.e)
        elif now and not was:
            self._up(s)

    def __repr__(self) -> str:
        parts = []
        for s in self._srv.values():
            state = "UP" if self._usable(s) else "DOWN"
            role = " backup" if s.backup else ""
            parts.append(f"{s.name}(w={s.uweight}{role} {state} inflight={s.inflight})")
        return f"<{type(self).__name__} balance {self.name}: {', '.join(parts)}>"

    # ----- hooks the algorithms override
    def _choose(self, src: str | None, uri: str | None, avoid: LbServer | None) -> LbServer | None:
        raise NotImplementedError

    def _took(self, s: LbServer) -> None:
        pass

    def _dropped(self, s: LbServer) -> None:
        pass

    def _down(self, s: LbServer, old_e: int) -> None:
        pass

    def _up(self, s: LbServer) -> None:
        pass

    def _reweight(self, s: LbServer, old_e: int) -> None:
        pass

    # sorted containers: a list of (key, seq, server); equal keys keep insertion order
    def _insert(self, tree: list, s: LbServer, key: int) -> None:
        s.entry = (key, next(self._seq), s.name)
        s.tree = tree
        bisect.insort(tree, s.entry)

    @staticmethod
    def _remove(s: LbServer) -> None:
        if s.tree is not None:
            s.tree.remove(s.entry)
        s.tree = s.entry = None



def first_with_room(servers, avoid: LbServer | None, full=lambda s: s.full) -> LbServer | None:
    """lb_fwlc.c / lb_fas.c: the first server in order with room that is not ``avoid``; else ``avoid``
    if it has room; else None."""
    avoided = None
    for s in servers:
        if not full(s):
            if s is not avoid:
                return s
            avoided = s
    return avoided

