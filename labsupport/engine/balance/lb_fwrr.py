"""``balance roundrobin``: HAProxy's fwrr, a weighted window of positions, dynamic weights.

Follows HAProxy 2.6's src/lb_fwrr.c,
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

from .. import hashing
from ..config import Proxy
from .common import BE_WEIGHT_SCALE, SRV_EWGHT_MAX, Algorithm, LbServer


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

    def _by_weight(self, tree: list, s: LbServer) -> None:
        self._insert(tree, s, SRV_EWGHT_MAX - s.e)  # heaviest first

    def _queue(self, g: _FwrrGroup, s: LbServer) -> None:
        """Step 5: back into CUR at its next position, or into NEXT if beyond this window."""
        if s.npos >= 2 * g.wc or s.npos >= g.wc + g.wn:
            s.npos = (s.npos - g.wc) & hashing.M32
            self._by_weight(g.next, s)
        else:
            self._insert(g.curr, s, 256 * s.npos + (SRV_EWGHT_MAX + s.rw - s.e) // BE_WEIGHT_SCALE)

    def _from_group(self, g: _FwrrGroup) -> LbServer | None:
        a = self._srv[g.curr[0][2]] if g.curr else None
        if a is not None and a.npos <= g.pos:
            return a
        if g.init:
            b = self._srv[g.init[0][2]]
            self._remove(b)
            b.npos = b.rw = 0
            return b
        return a  # a "hole": positions jump ahead

    def _choose(self, src: str | None, uri: str | None, avoid: LbServer | None) -> LbServer | None:
        which, fb = self._serving or self._in_use()  # (the attribute first: no call on the usual request)
        if which in ("", "fbck"):
            return None if fb is None or fb.full else fb
        g = self._grp[which == "bck"]
        switched, full, srv, avoided = False, (), None, None  # full: a list once a server is skipped
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
            if not (srv.maxconn and srv.full):  # (no maxconn: never full, and no property call)
                if srv is not avoid or avoided is not None:
                    break
                avoided = srv  # the server to avoid: remembered, in case no other has room
            if not full:
                full = []
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

    def _down(self, s: LbServer, old_e: int) -> None:
        self._grp[s.backup].wn -= old_e
        self._remove(s)

    def _up(self, s: LbServer) -> None:
        g = self._grp[s.backup]
        g.wn += s.e
        s.npos = (g.pos + ((g.wn + g.wc - g.pos) & hashing.M32) // s.e) & hashing.M32
        self._queue(g, s)

    def _reweight(self, s: LbServer, old_e: int) -> None:
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

