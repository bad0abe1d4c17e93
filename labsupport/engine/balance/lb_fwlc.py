"""``balance leastconn``: servers sorted by (connections + 1) / weight.

Follows HAProxy 2.6's src/lb_fwlc.c,
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

from .. import hashing
from ..config import Proxy
from .common import SRV_EWGHT_MAX, Algorithm, LbServer, first_with_room


class LeastConn(Algorithm):
    """``balance leastconn``: fwlc; key 0 when idle, else (inflight+1)*4096//e
    (tests/vectors/algorithms.md section 3)."""

    name = "leastconn"
    reorders = True

    def __init__(self, proxy: Proxy, seed: int | None = None):
        super().__init__(proxy, seed)
        self._tree = {False: [], True: []}
        for s in self._srv.values():
            if self._usable(s):
                self._insert(self._tree[s.backup], s, self._key(s))

    @staticmethod
    def _key(s: LbServer) -> int:
        n = s.inflight + s.queued  # lb_fwlc.c: served + queue length
        return (n + 1) * SRV_EWGHT_MAX // s.e if n else 0

    def _choose(self, src: str | None, uri: str | None, avoid: LbServer | None) -> LbServer | None:
        which, fb = self._in_use()
        if which in ("", "fbck"):
            return None if fb is None or fb.full else fb
        return first_with_room((self._srv[name] for _key, _seq, name in self._tree[which == "bck"]), avoid,
                                self._no_room)

    @staticmethod
    def _no_room(s: LbServer) -> bool:
        """lb_fwlc.c: served + queue >= maxconn + maxqueue (C's unsigned sum: a negative maxqueue wraps)."""
        return bool(s.maxconn) and s.inflight + s.queued >= (s.maxconn + s.maxqueue) & hashing.M32

    def _reposition(self, s: LbServer) -> None:
        if s.tree is not None and s.entry[0] != self._key(s):
            tree = s.tree
            self._remove(s)
            self._insert(tree, s, self._key(s))

    _took = _dropped = _reposition

    def _down(self, s: LbServer, old_e: int) -> None:
        self._remove(s)

    def _up(self, s: LbServer) -> None:
        self._insert(self._tree[s.backup], s, self._key(s))

    def _reweight(self, s: LbServer, old_e: int) -> None:
        self._remove(s)
        self._up(s)

