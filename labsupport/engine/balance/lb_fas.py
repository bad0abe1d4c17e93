"""``balance first``: the usable server with the lowest id that still has room.

Follows HAProxy 2.6's src/lb_fas.c,
Copyright Willy Tarreau <w@1wt.eu>, GPL-2.0-or-later (this project's licence).
"""
from __future__ import annotations

from .common import Algorithm, LbServer, first_with_room


class First(Algorithm):
    """``balance first``: the usable server with the lowest id that is not at its maxconn."""

    name = "first"
    queue_first = True

    def _choose(self, src: str | None, uri: str | None, avoid: LbServer | None) -> LbServer | None:
        which, fb = self._in_use()
        if which in ("", "fbck"):
            return None if fb is None or fb.full else fb
        return first_with_room(sorted(self._group(which == "bck"), key=lambda s: s.id), avoid)

