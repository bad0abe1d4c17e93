"""``make_algorithm``: the algorithm object for a backend's ``balance`` line.

Follows HAProxy 2.6's src/backend.c (backend_parse_balance),
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import re

from ...errors import UsageError
from ..config import ALGORITHMS, Proxy
from .common import Algorithm
from .lb_chash import ConsistentHash, Random
from .lb_fas import First
from .lb_fwlc import LeastConn
from .lb_fwrr import RoundRobin
from .lb_map import MapHash, StaticRR

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
