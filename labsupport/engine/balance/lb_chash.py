"""The consistent hash ring: ``balance source|uri`` with ``hash-type consistent``, and ``random(N)``.

Follows HAProxy 2.6's src/lb_chash.c (the ring, chash_server_is_eligible's bounded loads) and, for
random's draws, src/backend.c (get_server_rnd),
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

import random as _random

from .. import hashing
from ..config import Proxy
from .common import Algorithm, LbServer
from .keys import key_function


class ChashBase(Algorithm):
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

    def _up(self, s: LbServer) -> None:
        self._ring[s.backup].set(s.name, s.node_id, s.e if self._usable(s) else 0)

    def _reweight(self, s: LbServer, old_e: int) -> None:
        self._up(s)

    def _down(self, s: LbServer, old_e: int) -> None:
        self._ring[s.backup].set(s.name, s.node_id, 0)

    def _lookup(self, h: int, avoid: LbServer | None = None) -> LbServer | None:
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

    def _eligible(self, s: LbServer, served: int, tot_weight: int) -> bool:
        """lb_chash.c chash_server_is_eligible: in flight below its share of the bounded load."""
        tot_slots = ((served + 1) * self.balance_factor + 99) // 100
        per_weight, remainder = divmod(tot_slots, tot_weight)
        slots = s.e * per_weight
        slots += ((s.cumw + s.e) * remainder) // tot_weight - (s.cumw * remainder) // tot_weight
        return s.inflight < max(slots, 1)

    def _walk(self, avoid: LbServer | None) -> LbServer | None:
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


class ConsistentHash(ChashBase):
    """``balance source|uri`` with ``hash-type consistent``."""

    def __init__(self, proxy: Proxy, seed: int | None = None, algo: str = "source"):
        self.name = algo
        self._key = key_function(proxy, algo)
        super().__init__(proxy, seed)

    def _choose(self, src: str | None, uri: str | None, avoid: LbServer | None) -> LbServer | None:
        if not self.has_usable():
            return None
        h = 0 if self._tot_used() == 1 else self._key(src, uri)
        if h is None:
            return self._walk(avoid)
        return self._lookup(h, avoid)  # even when full: the request waits in its queue


class Random(ChashBase):
    """``balance random(N)``: N random draws on the ring; the lower served/weight wins, ties to the later."""

    name = "random"

    def __init__(self, proxy: Proxy, seed: int | None = None, draws: int = 2):
        super().__init__(proxy, seed)
        self.draws = draws
        self._rng = _random.Random(seed)

    def _choose(self, src: str | None, uri: str | None, avoid: LbServer | None) -> LbServer | None:
        curr = None
        for _ in range(self.draws):
            prev = curr
            curr = self._lookup(self._rng.getrandbits(32), avoid)
            if curr is None:
                break
            if prev is not None and prev is not curr and curr.inflight * prev.e > prev.inflight * curr.e:
                curr = prev
        return None if curr is None or curr.full else curr

