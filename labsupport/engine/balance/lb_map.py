"""``balance static-rr``, and ``balance source|uri`` with ``hash-type map-based``: a table of T slots.

Follows HAProxy 2.6's src/lb_map.c,
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import math

from ..config import Proxy
from .common import Algorithm, LbServer
from .keys import key_function


class MapBased(Algorithm):
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

    def _eweight(self, s: LbServer) -> int:
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

    def _rr(self, avoid: LbServer | None = None) -> LbServer | None:
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

    def _down(self, s: LbServer, old_e: int) -> None:
        self._rebuild()

    def _up(self, s: LbServer) -> None:
        self._rebuild()

    _reweight = _down


class StaticRR(MapBased):
    """``balance static-rr``: round robin over the table; weights fixed at 0% or 100% at runtime."""

    name = "static-rr"
    queue_first = True

    def _choose(self, src: str | None, uri: str | None, avoid: LbServer | None) -> LbServer | None:
        return self._rr(avoid)


class MapHash(MapBased):
    """``balance source|uri`` with ``hash-type map-based``: ``table[key % T]``."""

    def __init__(self, proxy: Proxy, seed: int | None = None, algo: str = "source"):
        self.name = algo
        self._key = key_function(proxy, algo)
        super().__init__(proxy, seed)

    def _choose(self, src: str | None, uri: str | None, avoid: LbServer | None) -> LbServer | None:
        if not self.table:
            return None
        h = 0 if self._tot_used == 1 else self._key(src, uri)
        if h is None:
            return self._rr(avoid)  # no key (e.g. no URI in tcp mode): HAProxy falls back to round robin
        return self._srv[self.table[h % len(self.table)]]  # even when full or avoided (map_get_server_hash)

