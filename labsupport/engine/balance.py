"""Load-balancing algorithms as pure objects: ``pick`` / ``release``, no sockets, no clocks.

How it works: ``make_algorithm(proxy)`` builds one object per backend from its ``balance`` line.
Every algorithm keeps the same per-server state (weight, usable, connections in flight) and
the same group rule: active servers when any is usable; otherwise the first usable backup in
declaration order takes everything, or, with ``option allbackups``, the backups are balanced
like the active ones. Each algorithm mirrors HAProxy 2.6's own data structure, so the order of
picks is the real one, tie-breaks included (see tests/vectors/algorithms.md sections 1-5):

- roundrobin: fwrr, a weighted window of positions (``_Fwrr``);
- static-rr, and source/uri with ``hash-type map-based``: a table of T slots (``_MapBased``);
- leastconn: servers sorted by (connections + 1) / weight (``LeastConn``);
- first: the lowest id that still has room (``First``);
- source/uri with ``hash-type consistent``, and random(N): a hash ring (``_Chash``).

Queues (HAProxy's backend.c assign_server and the lb_*.c lookups): a server is *full* when it has
a ``maxconn`` and either requests waiting in its own queue or ``maxconn`` requests in flight. The
rotating algorithms (roundrobin, static-rr, leastconn, first) and random skip full servers and
``choose`` answers None when all are full: the proxy queues the request on the backend. Hash
algorithms designate their server even when it is full: the proxy queues the request on that
server. ``pick`` is ``choose`` + ``take`` for callers without queues (a full pick is None).

Redispatch (backend.c assign_server): a request that failed on a server and chooses again passes
that server as ``avoid``. Each lookup skips it like a full server and takes it only when nothing
else has room (roundrobin, static-rr, leastconn, first, random, and the consistent ring); a
map-based hash designates its slot's server regardless, as HAProxy's map_get_server_hash does.

``hash-balance-factor`` (lb_chash.c chash_server_is_eligible, "consistent hashing with bounded
loads"): on the consistent ring, and for random's draws, a server is skipped (the walk goes on
clockwise) while its connections in flight reach its share of
ceil((all in flight + 1) x factor / 100), shared out by weight.

Follows HAProxy 2.6's sources, Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence):
round robin src/lb_fwrr.c, the map table src/lb_map.c, leastconn src/lb_fwlc.c, first src/lb_fas.c,
the hash ring src/lb_chash.c, and the choice of key and of random draws src/backend.c.
"""
from __future__ import annotations

import bisect
import itertools
import math
import random as _random
import re
from dataclasses import dataclass
from typing import Callable

from ..errors import CommandError, NotFoundError, UsageError
from . import hashing
from .config import ALGORITHMS, Proxy

SRV_EWGHT_MAX = 4096  # 256 user units x 16
BE_WEIGHT_SCALE = 16
WEIGHT_RANGE_MSG = "Absolute weight can only be between 0 and 256 inclusive."
STATIC_WEIGHT_MSG = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'."


@dataclass(eq=False)
class _Srv:
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

    @property
    def full(self) -> bool:
        return bool(self.maxconn) and (self.queued > 0 or self.inflight >= self.maxconn)


class Algorithm:
    """Base class: per-server state, the active/backup group rule, runtime changes."""

    name: str = "?"
    dynamic = True  # False for map-based algorithms: runtime weights only 0% or 100%
    wscale = BE_WEIGHT_SCALE

    def __init__(self, proxy: Proxy, seed: int | None = None):
        self.proxy_name = proxy.name
        self.allbackups = proxy.allbackups
        self._seq = itertools.count()  # insertion order: equal keys keep it
        self._srv: dict[str, _Srv] = {}
        for sc in proxy.servers:  # sc.id: assigned once, by the config model
            self._srv[sc.name] = _Srv(
                sc.name, sc.id, sc.backup, sc.weight, sc.weight, not sc.disabled, sc.maxconn, sc.maxqueue
            )
        for s in self._srv.values():
            s.e = self._eweight(s)

    # ----- helpers shared by the algorithms
    def _eweight(self, s: _Srv) -> int:
        return s.uweight * self.wscale

    def _usable(self, s: _Srv) -> bool:
        return s.admin_up and s.uweight > 0

    def _group(self, backup: bool) -> list[_Srv]:
        return [s for s in self._srv.values() if s.backup == backup and self._usable(s)]

    def _fbck(self) -> _Srv | None:
        """The backup that takes all traffic when no active server is usable (none with allbackups)."""
        if self.allbackups:
            return None
        return next(iter(self._group(True)), None)

    def _in_use(self) -> tuple[str, _Srv | None]:
        """Which group serves now: ("act", None), ("fbck", server), ("bck", None) or ("", None)."""
        if any(not s.backup and self._usable(s) for s in self._srv.values()):  # no list: every request asks
            return "act", None
        fb = self._fbck()
        if fb is not None:
            return "fbck", fb
        if self._group(True):
            return "bck", None
        return "", None

    def _get(self, name: str) -> _Srv:
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

    def choose(self, src: str | None = None, uri: str | None = None, avoid: str | None = None) -> str | None:
        """The server HAProxy's assign_server designates, without counting it (see ``take``).
        None: no server usable, or (rotating algorithms, random) every candidate is full.
        A hash algorithm may designate a full server: the request then waits in its queue.
        ``avoid``: the server a redispatched request failed on, taken only when no other will do."""
        s = self._choose(src, uri, self._srv.get(avoid) if avoid is not None else None)
        return None if s is None else s.name

    def pick(self, src: str | None = None, uri: str | None = None) -> str | None:
        """Choose a server for a new connection and count it as in flight; None: none usable or all full."""
        s = self._choose(src, uri, None)
        if s is None or s.full:
            return None
        s.inflight += 1
        self._took(s)
        return s.name

    def is_full(self, name: str) -> bool:
        """At its maxconn, or with requests in its own queue (HAProxy then queues behind them)."""
        return self._get(name).full

    def set_queued(self, name: str, n: int) -> None:
        """The length of ``name``'s own queue (the proxy keeps it). leastconn counts it as load the
        next time the server takes or drops a connection: joining or leaving a queue does not move a
        server in its tree (queue.c pendconn_add and pendconn_unlink do not call server_take_conn)."""
        self._get(name).queued = n

    def served(self) -> int:
        """Requests in flight on every server (HAProxy's px->served)."""
        return sum(s.inflight for s in self._srv.values())

    def take(self, name: str) -> None:
        """Count a connection on ``name`` that no pick chose: HAProxy hands a queued request
        straight to the server that freed a slot (process_srv_queue), without the algorithm."""
        s = self._get(name)
        s.inflight += 1
        self._took(s)

    def release(self, name: str) -> None:
        """A connection or request on ``name`` ended."""
        s = self._get(name)
        if s.inflight <= 0:
            raise UsageError(f"release('{name}') without a matching pick: it has no connection in flight. "
                             "Call release(name) once for each pick() that returned that name.")
        s.inflight -= 1
        self._dropped(s)

    def has_usable(self) -> bool:
        return self._in_use()[0] != ""

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
        now = self._usable(s)
        if was and not now:
            self._down(s, old_e)
        elif now and not was:
            self._up(s)
        elif now and old_e != s.e:
            self._reweight(s, old_e)

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
    def _choose(self, src: str | None, uri: str | None, avoid: _Srv | None) -> _Srv | None:
        raise NotImplementedError

    def _took(self, s: _Srv) -> None:
        pass

    def _dropped(self, s: _Srv) -> None:
        pass

    def _down(self, s: _Srv, old_e: int) -> None:
        pass

    def _up(self, s: _Srv) -> None:
        pass

    def _reweight(self, s: _Srv, old_e: int) -> None:
        pass

    # sorted containers: a list of (key, seq, server); equal keys keep insertion order
    def _insert(self, tree: list, s: _Srv, key: int) -> None:
        s.entry = (key, next(self._seq), s.name)
        s.tree = tree
        bisect.insort(tree, s.entry)

    @staticmethod
    def _remove(s: _Srv) -> None:
        if s.tree is not None:
            s.tree.remove(s.entry)
        s.tree = s.entry = None


# --------------------------------------------------------------------------- roundrobin
class _FwrrGroup:
    def __init__(self) -> None:
        self.curr: list = []
        self.init: list = []
        self.next: list = []
        self.wn = self.wc = self.pos = 0  # next weight, current window weight, position


class RoundRobin(Algorithm):
    """``balance roundrobin``: HAProxy's fwrr, dynamic weights (tests/vectors/algorithms.md section 1)."""

    name = "roundrobin"
    queue_first = True

    def __init__(self, proxy: Proxy, seed: int | None = None):
        super().__init__(proxy, seed)
        self._grp = {False: _FwrrGroup(), True: _FwrrGroup()}
        for backup, g in self._grp.items():
            g.wn = g.wc = g.pos = sum(s.e for s in self._group(backup))
            for s in self._group(backup):
                self._by_weight(g.init, s)

    def _by_weight(self, tree: list, s: _Srv) -> None:
        self._insert(tree, s, SRV_EWGHT_MAX - s.e)  # heaviest first

    def _queue(self, g: _FwrrGroup, s: _Srv) -> None:
        """Step 5: back into CUR at its next position, or into NEXT if beyond this window."""
        if s.npos >= 2 * g.wc or s.npos >= g.wc + g.wn:
            s.npos = (s.npos - g.wc) & hashing.M32
            self._by_weight(g.next, s)
        else:
            self._insert(g.curr, s, 256 * s.npos + (SRV_EWGHT_MAX + s.rw - s.e) // BE_WEIGHT_SCALE)

    def _from_group(self, g: _FwrrGroup) -> _Srv | None:
        a = self._srv[g.curr[0][2]] if g.curr else None
        if a is not None and a.npos <= g.pos:
            return a
        if g.init:
            b = self._srv[g.init[0][2]]
            self._remove(b)
            b.npos = b.rw = 0
            return b
        return a  # a "hole": positions jump ahead

    def _choose(self, src: str | None, uri: str | None, avoid: _Srv | None) -> _Srv | None:
        which, fb = self._in_use()
        if which in ("", "fbck"):
            return None if fb is None or fb.full else fb
        g = self._grp[which == "bck"]
        switched, full, srv, avoided = False, [], None, None
        while True:
            if g.wc == 0:
                g.pos = g.wc = g.wn
            while True:
                srv = self._from_group(g)
                if srv is not None or switched:
                    break
                switched = True
                g.init, g.next = g.next, g.init
                g.wc = g.pos = g.wn
            if srv is None:
                srv = avoided  # nothing else had room: the avoided server after all (or None)
                break
            # step 3: advance the chosen server
            if srv.npos == 0:
                srv.npos = g.pos
            srv.lpos = srv.npos
            srv.npos += g.wn // srv.e
            srv.rw += g.wn % srv.e
            if srv.rw >= srv.e:
                srv.rw -= srv.e
                srv.npos += 1
            self._remove(srv)
            g.pos += 1
            if not srv.full:
                if srv is not avoid or avoided is not None:
                    break
                avoided = srv  # the server to avoid: remembered, in case no other has room
            full.append(srv)  # saturated or avoided: put back afterwards, most recent first (as HAProxy)
        if srv is not None:
            self._queue(g, srv)
        for f in reversed(full):
            if f is srv:
                continue
            if switched:
                self._by_weight(g.init, f)  # the window moved on: only the weight matters now
            else:
                self._queue(g, f)
        return srv

    def _down(self, s: _Srv, old_e: int) -> None:
        self._grp[s.backup].wn -= old_e
        self._remove(s)

    def _up(self, s: _Srv) -> None:
        g = self._grp[s.backup]
        g.wn += s.e
        s.npos = (g.pos + ((g.wn + g.wc - g.pos) & hashing.M32) // s.e) & hashing.M32
        self._queue(g, s)

    def _reweight(self, s: _Srv, old_e: int) -> None:
        g = self._grp[s.backup]
        g.wn += s.e - old_e
        if s.tree is g.init:
            self._remove(s)
            self._by_weight(g.init, s)
            return
        if s.tree is g.next:
            s.npos += g.wc
        prev_next = s.npos
        step = g.wn // s.e
        s.npos = s.lpos + step
        s.rw = 0
        if s.npos > prev_next:
            s.npos = prev_next
        if s.npos < g.pos + 2:
            s.npos = g.pos + step
        self._remove(s)
        self._queue(g, s)


# --------------------------------------------------------------------------- leastconn, first
class LeastConn(Algorithm):
    """``balance leastconn``: fwlc; key 0 when idle, else (inflight+1)*4096//e
    (tests/vectors/algorithms.md section 3)."""

    name = "leastconn"

    def __init__(self, proxy: Proxy, seed: int | None = None):
        super().__init__(proxy, seed)
        self._tree = {False: [], True: []}
        for s in self._srv.values():
            if self._usable(s):
                self._insert(self._tree[s.backup], s, self._key(s))

    @staticmethod
    def _key(s: _Srv) -> int:
        n = s.inflight + s.queued  # lb_fwlc.c: served + queue length
        return (n + 1) * SRV_EWGHT_MAX // s.e if n else 0

    def _choose(self, src: str | None, uri: str | None, avoid: _Srv | None) -> _Srv | None:
        which, fb = self._in_use()
        if which in ("", "fbck"):
            return None if fb is None or fb.full else fb
        return _first_with_room((self._srv[name] for _key, _seq, name in self._tree[which == "bck"]), avoid,
                                self._no_room)

    @staticmethod
    def _no_room(s: _Srv) -> bool:
        """lb_fwlc.c: served + queue >= maxconn + maxqueue (C's unsigned sum: a negative maxqueue wraps)."""
        return bool(s.maxconn) and s.inflight + s.queued >= (s.maxconn + s.maxqueue) & hashing.M32

    def _reposition(self, s: _Srv) -> None:
        if s.tree is not None and s.entry[0] != self._key(s):
            tree = s.tree
            self._remove(s)
            self._insert(tree, s, self._key(s))

    _took = _dropped = _reposition

    def _down(self, s: _Srv, old_e: int) -> None:
        self._remove(s)

    def _up(self, s: _Srv) -> None:
        self._insert(self._tree[s.backup], s, self._key(s))

    def _reweight(self, s: _Srv, old_e: int) -> None:
        self._remove(s)
        self._up(s)


class First(Algorithm):
    """``balance first``: the usable server with the lowest id that is not at its maxconn."""

    name = "first"
    queue_first = True

    def _choose(self, src: str | None, uri: str | None, avoid: _Srv | None) -> _Srv | None:
        which, fb = self._in_use()
        if which in ("", "fbck"):
            return None if fb is None or fb.full else fb
        return _first_with_room(sorted(self._group(which == "bck"), key=lambda s: s.id), avoid)


def _first_with_room(servers, avoid: _Srv | None, full=lambda s: s.full) -> _Srv | None:
    """lb_fwlc.c / lb_fas.c: the first server in order with room that is not ``avoid``; else ``avoid``
    if it has room; else None."""
    avoided = None
    for s in servers:
        if not full(s):
            if s is not avoid:
                return s
            avoided = s
    return avoided


# --------------------------------------------------------------------------- hash keys
def _key_function(proxy: Proxy, algo: str) -> Callable[[str | None, str | None], int | None]:
    """The 32-bit key of a request for ``source`` / ``uri`` (None when the request has none)."""
    aval = hashing.uses_avalanche(proxy.hash_type, proxy.hash_function, proxy.hash_avalanche)
    if algo == "source":

        def key(src: str | None, uri: str | None) -> int | None:
            if src is None:
                return None
            h = hashing.source_key(src)  # the hash function is not used for source (as HAProxy)
            return hashing.full_hash(h) if aval else h

        return key
    whole, length, depth, path_only = hashing.parse_uri_options(proxy.balance_args)
    function = proxy.hash_function

    def ukey(src: str | None, uri: str | None) -> int | None:
        if uri is None:
            return None
        h = hashing.uri_key(uri, function, whole=whole, length=length, depth=depth, path_only=path_only)
        return hashing.full_hash(h) if aval else h

    return ukey


# --------------------------------------------------------------------------- map-based
class _MapBased(Algorithm):
    """A table of T slots rebuilt on every change (tests/vectors/algorithms.md section 2); weights
    divided by their GCD."""

    dynamic = False

    def __init__(self, proxy: Proxy, seed: int | None = None):
        weights = [s.weight for s in proxy.servers if s.weight]
        self._gcd = math.gcd(*weights) if weights else 1
        super().__init__(proxy, seed)
        self._idx = 0
        self.table: list[str] = []
        self._tot_used = 0
        self._rebuild()

    def _eweight(self, s: _Srv) -> int:
        return -(-s.uweight // self._gcd)

    def _rebuild(self) -> None:
        which, fb = self._in_use()
        if not which:
            self.table, self._tot_used = [], 0
            return
        group = self._group(which != "act")
        if which == "fbck":
            # HAProxy sizes the table by the first backup, but fills it from every usable backup
            tot, self._tot_used = fb.e, 1
        else:
            tot, self._tot_used = sum(s.e for s in group), len(group)
        score = {s.name: 0 for s in group}
        table = []
        for _slot in range(tot):
            best, top = None, 0
            for s in group:
                if tot == 1:
                    best = s
                    break
                score[s.name] += s.e
                v = (score[s.name] + tot) // tot
                if best is None or v > top:
                    best, top = s, v
            table.append(best.name)
            score[best.name] -= tot
        self.table = table

    def _rr(self, avoid: _Srv | None = None) -> _Srv | None:
        """map_get_server_rr: the next slot whose server has room and is not ``avoid`` (else ``avoid``,
        if it has room); the index wraps lazily."""
        tot = len(self.table)
        if not tot:
            return None
        if self._idx >= tot:
            self._idx = 0
        i = self._idx
        avoided, avoided_idx = None, 0
        for _ in range(tot):
            s = self._srv[self.table[i]]
            i += 1
            if not s.full:
                if s is not avoid:
                    self._idx = i
                    return s
                avoided, avoided_idx = s, i
            if i == tot:
                i = 0
        if avoided is not None:
            self._idx = avoided_idx
        return avoided

    def _down(self, s: _Srv, old_e: int) -> None:
        self._rebuild()

    def _up(self, s: _Srv) -> None:
        self._rebuild()

    _reweight = _down


class StaticRR(_MapBased):
    """``balance static-rr``: round robin over the table; weights fixed at 0% or 100% at runtime."""

    name = "static-rr"
    queue_first = True

    def _choose(self, src: str | None, uri: str | None, avoid: _Srv | None) -> _Srv | None:
        return self._rr(avoid)


class MapHash(_MapBased):
    """``balance source|uri`` with ``hash-type map-based``: ``table[key % T]``."""

    def __init__(self, proxy: Proxy, seed: int | None = None, algo: str = "source"):
        self.name = algo
        self._key = _key_function(proxy, algo)
        super().__init__(proxy, seed)

    def _choose(self, src: str | None, uri: str | None, avoid: _Srv | None) -> _Srv | None:
        if not self.table:
            return None
        h = 0 if self._tot_used == 1 else self._key(src, uri)
        if h is None:
            return self._rr(avoid)  # no key (e.g. no URI in tcp mode): HAProxy falls back to round robin
        return self._srv[self.table[h % len(self.table)]]  # even when full or avoided (map_get_server_hash)


# --------------------------------------------------------------------------- consistent ring
class _Chash(Algorithm):
    """Servers on a ring of weight x 16 points each (tests/vectors/algorithms.md section 4)."""

    def __init__(self, proxy: Proxy, seed: int | None = None):
        super().__init__(proxy, seed)
        self.balance_factor = proxy.hash_balance_factor
        self._ring = {False: hashing.Ring(), True: hashing.Ring()}
        tot = {False: 0, True: 0}
        for s in self._srv.values():
            self._up(s)
            if self._usable(s):  # backend.c recount_servers, run once at start
                s.cumw = tot[s.backup]
                tot[s.backup] += s.e

    def _up(self, s: _Srv) -> None:
        self._ring[s.backup].set(s.name, s.id, s.e if self._usable(s) else 0)

    def _reweight(self, s: _Srv, old_e: int) -> None:
        self._up(s)

    def _down(self, s: _Srv, old_e: int) -> None:
        self._ring[s.backup].set(s.name, s.id, 0)

    def _lookup(self, h: int, avoid: _Srv | None = None) -> _Srv | None:
        """chash_get_server_hash: the nearest point; then, clockwise, the first server that is not
        ``avoid`` and (with a balance factor) eligible (after two turns, whatever server the walk
        stands on)."""
        which, fb = self._in_use()
        if which in ("", "fbck"):
            return fb
        ring = self._ring[which == "bck"]
        if not self.balance_factor and avoid is None:
            return self._srv[ring.lookup(h)]
        if self.balance_factor:
            tot_weight = sum(s.e for s in self._group(which == "bck"))
            served = self.served()
        i = ring.index(h)
        s = self._srv[ring.name_at(i)]
        for _ in range(2 * len(ring)):
            if s is not avoid and (not self.balance_factor or self._eligible(s, served, tot_weight)):
                break
            i += 1
            s = self._srv[ring.name_at(i)]
        return s

    def _eligible(self, s: _Srv, served: int, tot_weight: int) -> bool:
        """lb_chash.c chash_server_is_eligible: in flight below its share of the bounded load."""
        tot_slots = ((served + 1) * self.balance_factor + 99) // 100
        per_weight, remainder = divmod(tot_slots, tot_weight)
        slots = s.e * per_weight
        slots += ((s.cumw + s.e) * remainder) // tot_weight - (s.cumw * remainder) // tot_weight
        return s.inflight < max(slots, 1)

    def _walk(self, avoid: _Srv | None) -> _Srv | None:
        """chash_get_next_server: the next point clockwise whose server has room and is not ``avoid``
        (else ``avoid``, if it has room)."""
        which, fb = self._in_use()
        if which in ("", "fbck"):
            return None if fb is None or fb.full else fb
        ring = self._ring[which == "bck"]
        name = ring.walk(lambda n: not self._srv[n].full and self._srv[n] is not avoid)
        if name is None and avoid is not None and not avoid.full:
            name = ring.walk(lambda n: self._srv[n] is avoid)
        return None if name is None else self._srv[name]

    def _tot_used(self) -> int:
        which, _fb = self._in_use()
        return {"act": len(self._group(False)), "bck": len(self._group(True)), "fbck": 1}.get(which, 0)


class ConsistentHash(_Chash):
    """``balance source|uri`` with ``hash-type consistent``."""

    def __init__(self, proxy: Proxy, seed: int | None = None, algo: str = "source"):
        self.name = algo
        self._key = _key_function(proxy, algo)
        super().__init__(proxy, seed)

    def _choose(self, src: str | None, uri: str | None, avoid: _Srv | None) -> _Srv | None:
        if not self.has_usable():
            return None
        h = 0 if self._tot_used() == 1 else self._key(src, uri)
        if h is None:
            return self._walk(avoid)
        return self._lookup(h, avoid)  # even when full: the request waits in its queue


class Random(_Chash):
    """``balance random(N)``: N random draws on the ring; the lower served/weight wins, ties to the later."""

    name = "random"

    def __init__(self, proxy: Proxy, seed: int | None = None, draws: int = 2):
        super().__init__(proxy, seed)
        self.draws = draws
        self._rng = _random.Random(seed)

    def _choose(self, src: str | None, uri: str | None, avoid: _Srv | None) -> _Srv | None:
        curr = None
        for _ in range(self.draws):
            prev = curr
            curr = self._lookup(self._rng.getrandbits(32), avoid)
            if curr is None:
                break
            if prev is not None and prev is not curr and curr.inflight * prev.e > prev.inflight * curr.e:
                curr = prev
        return None if curr is None or curr.full else curr


# --------------------------------------------------------------------------- factory
_RANDOM_RE = re.compile(r"^random(?:\(([0-9]*)\))?$")


def make_algorithm(proxy: Proxy, seed: int | None = None) -> Algorithm:
    """The algorithm object for ``proxy``'s ``balance`` line (``seed`` only matters for random)."""
    algo, args = proxy.balance, tuple(proxy.balance_args)
    m = _RANDOM_RE.match(algo)
    if m:
        n = m.group(1) or (args[0] if args else "")
        if n and (not n.isascii() or not n.isdigit() or int(n) < 1):
            raise UsageError(f"balance random({n}): the number of draws must be a positive integer; "
                             "write random, or random(N) with N >= 1")
        return Random(proxy, seed, draws=int(n) if n else 2)
    if algo == "roundrobin":
        return RoundRobin(proxy, seed)
    if algo == "static-rr":
        return StaticRR(proxy, seed)
    if algo == "leastconn":
        return LeastConn(proxy, seed)
    if algo == "first":
        return First(proxy, seed)
    if algo in ("source", "uri"):
        if proxy.hash_type == "consistent":
            return ConsistentHash(proxy, seed, algo)
        if proxy.hash_type == "map-based":
            return MapHash(proxy, seed, algo)
        raise UsageError(
            f"backend '{proxy.name}': unknown hash-type '{proxy.hash_type}' (expected map-based or consistent)"
        )
    raise UsageError(
        f"backend '{proxy.name}': unknown balance algorithm '{algo}' (expected one of: {', '.join(ALGORITHMS)})"
    )
