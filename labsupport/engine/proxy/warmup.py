"""Slow start: a server that comes back UP gets its weight back step by step, once a second.

Follows HAProxy 2.6's src/server.c (server_recalc_eweight, server_warmup; Willy Tarreau): with
``slowstart S`` (whole seconds, rounded up) a server marked UP is "starting" for S seconds. Its
effective weight is uweight x (wdiv x elapsed + S) // S, with wdiv the algorithm's scale (16) and
elapsed the whole seconds of the wall clock since it went UP, recomputed every second; after S
seconds it runs at full weight. Static algorithms (static-rr, map-based hashing) do not ramp. The
stats show the ramped weight (rounded up to user units) and the ``throttle`` percentage.
"""
from __future__ import annotations

import time

from .state import ServerRT


def ramp(uweight: int, wdiv: int, slowstart_s: int, elapsed_s: int) -> int | None:
    """The effective weight ``elapsed_s`` seconds into a slow start; None once it is over."""
    if elapsed_s < 0 or elapsed_s >= slowstart_s:
        return None
    return uweight * ((wdiv * elapsed_s + slowstart_s) // slowstart_s)


class Warmup:
    """The ramp of one server: started when it goes UP, stopped when it is over or the server goes down."""

    def __init__(self, srv: ServerRT, loop) -> None:
        self.srv, self.loop = srv, loop
        self.since = int(time.time())  # HAProxy counts whole seconds of the wall clock (last_change)
        self.seconds = (srv.cfg.slowstart + 999) // 1000
        self.timer = None
        self.step()

    @property
    def running(self) -> bool:
        return self.timer is not None

    def step(self) -> None:
        srv = self.srv
        algo = srv.backend.algo
        e = ramp(algo.weight(srv.name), algo.wscale, self.seconds, int(time.time()) - self.since)
        algo.throttle(srv.name, e)
        self.timer = None if e is None else self.loop.call_later(1.0, self.step)
        if e is None and srv.warmup is self:
            srv.warmup = None
        if srv.backend.queue:  # server.c server_warmup: "we can refill this server with a bit more"
            srv.backend.grab_from_px(srv)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.srv.backend.algo.throttle(self.srv.name, None)
