"""Load-balancing algorithms as pure objects: ``pick`` / ``release``, no sockets, no clocks.

How it works: ``make_algorithm(proxy)`` builds one object per backend from its ``balance`` line.
Every algorithm keeps the same per-server state (weight, usable, connections in flight) and
the same group rule: active servers when any is usable; otherwise the first usable backup in
declaration order takes everything, or, with ``option allbackups``, the backups are balanced
like the active ones. Each algorithm mirrors HAProxy 2.6's own data structure, so the order of
picks is the real one, tie-breaks included (see tests/vectors/algorithms.md sections 1-5):

- roundrobin: fwrr, a weighted window of positions (lb_fwrr.py ``RoundRobin``);
- static-rr, and source/uri with ``hash-type map-based``: a table of T slots (lb_map.py);
- leastconn: servers sorted by (connections + 1) / weight (lb_fwlc.py ``LeastConn``);
- first: the lowest id that still has room (lb_fas.py ``First``);
- source/uri with ``hash-type consistent``, and random(N): a hash ring (lb_chash.py).

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

One module per HAProxy source file: common.py (what the algorithms share), lb_fwrr.py, lb_map.py,
lb_fwlc.py, lb_fas.py, lb_chash.py, keys.py (the hash keys, backend.c) and backend.py
(``make_algorithm``, backend.c).
"""
from __future__ import annotations

from ..config import ALGORITHMS
from .backend import make_algorithm
from .common import BE_WEIGHT_SCALE, SRV_EWGHT_MAX, STATIC_WEIGHT_MSG, WEIGHT_RANGE_MSG, Algorithm, LbServer
from .lb_chash import ConsistentHash, Random
from .lb_fas import First
from .lb_fwlc import LeastConn
from .lb_fwrr import RoundRobin
from .lb_map import MapHash, StaticRR

__all__ = ["ALGORITHMS", "Algorithm", "BE_WEIGHT_SCALE", "ConsistentHash", "First", "LbServer", "LeastConn",
           "MapHash", "Random", "RoundRobin", "SRV_EWGHT_MAX", "STATIC_WEIGHT_MSG", "StaticRR", "WEIGHT_RANGE_MSG",
           "make_algorithm"]
