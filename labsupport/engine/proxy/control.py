"""Runtime commands and health reports: what changes a server's state, and the log lines it gives.

How it works: every change goes through ``_apply(srv, was_usable)``, which tells the algorithm
(``ServerRT.sync_lb``), records lastchg/downtime, moves queued requests as src/server.c
srv_update_status does (a server leaving the LB hands its own queue back with ``option redispatch``;
one coming back takes from the backend's queue: ``redistribute`` and ``grab_from_px`` in state.py;
a weight change moves nothing), then logs like HAProxy, with the counts after the change. The
commands mirror HAProxy's runtime API (``set server be/s weight|state|health``, ``enable``/``disable
server``, ``get weight``) and raise ``CommandError`` with its messages. Passive checks (``observe``) count real traffic's
errors and, after ``error-limit`` in a row, act as HAProxy 2.6's src/check.c does. A server
going UP with ``slowstart`` gets a ``warmup.Warmup``; one going DOWN with ``on-marked-down
shutdown-sessions`` ends its sessions (``server_down``).
"""
from __future__ import annotations

import asyncio

from ...errors import CommandError
from .checker import HealthCheckResult
from .state import BackendRT, ServerRT
from .warmup import Warmup

IGNORED, ERROR, GOOD = 0, 1, 2
# HAProxy's analyze_statuses: what each outcome means under observe (layer4, layer7)
ANALYZE: dict[str, tuple[str, tuple[int, int]]] = {
    "L4_OK": ("L4 successful connection", (GOOD, IGNORED)),
    "L4_ERR": ("L4 unsuccessful connection", (ERROR, ERROR)),
    "HTTP_OK": ("Correct http response", (IGNORED, GOOD)),
    "HTTP_STS": ("Wrong http response", (IGNORED, ERROR)),
    "HTTP_HDRRSP": ("Invalid http response (headers)", (IGNORED, ERROR)),
    "HTTP_RSP": ("Invalid http response", (IGNORED, ERROR)),
    "HTTP_READ_ERROR": ("Read error (http)", (IGNORED, ERROR)),
    "HTTP_READ_TIMEOUT": ("Read timeout (http)", (IGNORED, ERROR)),
    "HTTP_BROKEN_PIPE": ("Connection closed (http)", (IGNORED, ERROR)),
}


class Controls:
    """Mixed into ``Engine``: needs ``self.backends``, ``self.loop`` and ``self.event``."""

    backends: dict[str, BackendRT]
    loop: asyncio.AbstractEventLoop

    def event(self, level: str, text: str) -> None:  # pragma: no cover - provided by Engine
        raise NotImplementedError

    # ----- finding a server
    def find(self, spec: str) -> ServerRT:
        """'backend/server', or a bare server name when only one backend has it."""
        if "/" in spec:
            bname, _, sname = spec.partition("/")
            be = self.backends.get(bname)
            if be is None:
                raise CommandError("No such backend.")
            srv = be.servers.get(sname)
            if srv is None:
                raise CommandError("No such server.")
            return srv
        found = [be.servers[spec] for be in self.backends.values() if spec in be.servers]
        if not found:
            raise CommandError("No such server.")
        if len(found) > 1:
            raise CommandError("Require 'backend/server'.")
        return found[0]

    # ----- commands
    def set_weight(self, spec: str, weight: int | str) -> None:
        """``set server be/s weight N|N%``: N%% is relative to the initial weight."""
        srv = self.find(spec)
        algo = srv.backend.algo
        text = str(weight).strip()
        try:
            if text.endswith("%"):
                pct = int(text[:-1])
                if pct < 0:
                    raise CommandError("Relative weight must be positive.")
                w = algo.initial_weight(srv.name) * pct // 100
            else:
                w = int(text)
        except ValueError:
            raise CommandError("Require <weight> or <weight%>.") from None
        if not 0 <= w <= 256:
            raise CommandError("Absolute weight can only be between 0 and 256 inclusive.")
        algo.set_weight(srv.name, w)  # CommandError with HAProxy's message when refused
        # HAProxy 2.6.12 lets no queued request in on a weight change (observed: weight 0 -> 1 with a
        # backend queue, nothing moves until a connection ends)

    def get_weight(self, spec: str) -> str:
        srv = self.find(spec)
        algo = srv.backend.algo
        return f"{algo.weight(srv.name)} (initial {algo.initial_weight(srv.name)})"

    def set_state(self, spec: str, state: str) -> None:
        """``set server be/s state ready|drain|maint``."""
        srv = self.find(spec)
        h = srv.health
        before, was, down_before = h.admin, h.usable, h.op == "stopped"
        h.set_admin(state)  # CommandError with HAProxy's message for an unknown state
        if state == before:
            return
        srv.dynamic = 2 if srv.dynamic else 0  # an added server's first change (state.py ServerRT.dynamic)
        name = self._name(srv)

        def say(xferred: int) -> list[str]:  # srv_update_status's lines (tests/vectors/runtime-api.md)
            updown = "DOWN" if h.op == "stopped" else "UP"
            if state == "maint":  # a server already DOWN gets no counts (srv_append_status with xferred -1)
                return ([f"{name} was DOWN and now enters maintenance."] if down_before
                        else [f"{name} is going DOWN for maintenance. {self._left(srv, xferred)}"])
            if before == "maint":
                # HAProxy 2.6.12 does not check again at once: the next check comes on its schedule
                # (observed with inter 60s: 'UP 1/3' for the whole interval)
                ready = "DRAIN" if state == "drain" else "READY"
                lines = [f"{name} is {updown}/{ready} (leaving forced maintenance)."]
                return lines + [f"{name} remains in forced drain mode."] if state == "drain" else lines
            if state == "drain":
                return [f"{name} enters drain state. {self._online(srv, xferred)}"]
            return [f"{name} is {updown} (leaving forced drain)."]

        self._apply(srv, was, say=say)

    def enable(self, spec: str) -> None:
        self.set_state(spec, "ready")

    def disable(self, spec: str) -> None:
        self.set_state(spec, "maint")

    def set_health(self, spec: str, state: str) -> None:
        """``set server be/s health up|stopping|down``: force the check result."""
        srv = self.find(spec)
        was = srv.health.usable
        change = srv.health.force(state)  # CommandError with HAProxy's message for an unknown state
        self._apply(srv, was, change, "changed from CLI")

    # ----- health checks
    def check_result(self, srv: ServerRT, res: HealthCheckResult) -> None:
        """A check ended (or passive checks simulated one: status HANA, duration -1)."""
        h = srv.health
        was, before = h.usable, h.health
        change = h.check_passed() if res.ok else h.check_failed()
        srv.check_status, srv.check_code = res.status, res.code
        srv.check_duration = res.duration if res.duration >= 0 else None
        srv.check_desc, srv.last_chk = res.desc, res.info
        why = f"reason: {res.desc}"
        if res.code is not None:
            why += f", code: {res.code}"
        if res.info and not res.ok:  # haproxy names the cause of failures only
            why += f', info: "{res.info}"'
        if res.duration >= 0:
            why += f", check duration: {res.duration}ms"
        logged = srv.backend.cfg.log_health_checks
        if logged and (before != 0 if not res.ok else before != h.max):  # the counter moved
            self.event("WARNING", f"Health check for {'backup ' if srv.cfg.backup else ''}server "
                                  f"{srv.backend.name}/{srv.name} {'succeeded' if res.ok else 'failed'}, {why}, "
                                  f"status: {_counter(srv)}.")
        # with log-health-checks, HAProxy leaves the reason out of the UP/DOWN line (the check line has it)
        self._apply(srv, was, change, "" if logged else why)

    # ----- passive checks ('observe layer4|layer7', HAProxy's __health_adjust in src/check.c)
    def observed(self, srv: ServerRT, what: str) -> None:
        """Real traffic's outcome on ``srv`` (a key of ANALYZE); acts after ``error-limit`` errors in a row."""
        desc, verdicts = ANALYZE[what]
        cfg = srv.cfg
        verdict = verdicts[0 if cfg.observe == "layer4" else 1]
        if verdict == IGNORED or not srv.health.check:
            return
        if verdict == GOOD:
            srv.errors = 0
            return
        srv.errors += 1
        if srv.errors < cfg.error_limit:
            return
        info = f"Detected {srv.errors} consecutive errors, last one was: {desc}"
        srv.errors = 0
        h = srv.health
        if cfg.on_error != "fastinter":
            if cfg.on_error == "sudden-death" and h.health > h.rise:
                h.health = h.rise + 1  # a pre-fatal failed check: the next failure takes it down
            elif cfg.on_error == "mark-down":
                h.health = h.rise  # this failure takes it down
            self.check_result(srv, HealthCheckResult(False, "HANA", "Health analyze", None, info, -1))
        if cfg.fastinter and srv.checker is not None:  # every mode checks again soon
            self.loop.call_later(cfg.fastinter / 1000, srv.checker.wake)

    # ----- applying a change
    @staticmethod
    def _name(srv: ServerRT) -> str:
        return f"{'Backup ' if srv.cfg.backup else ''}Server {srv.backend.name}/{srv.name}"

    @staticmethod
    def _servers(srv: ServerRT, word: str) -> str:
        be = srv.backend
        act, bck = be.active_usable(), be.backup_usable()
        return f"{act} active and {bck} backup servers {word}.{' Running on backup.' if bck and not act else ''}"

    def _left(self, srv: ServerRT, xferred: int) -> str:
        """src/server.c srv_append_status, for a server that stopped taking traffic."""
        return (f"{self._servers(srv, 'left')} {srv.scur} sessions active, {xferred} requeued, "
                f"{len(srv.queue)} remaining in queue.")

    def _online(self, srv: ServerRT, xferred: int) -> str:
        """srv_append_status, for a server still (or again) up."""
        return f"{self._servers(srv, 'online')} {xferred} sessions requeued, {len(srv.queue)} total in queue."

    def _apply(self, srv: ServerRT, was: bool, change: str | None = None, why: str = "", say=None) -> None:
        """Act on a state change of ``srv`` (``change``: "UP"/"DOWN"/"NOLB" to log, with ``why``;
        ``say(requeued)``: the lines of an admin change, logged where HAProxy logs them)."""
        be = srv.backend
        now = srv.health.usable
        had = be.algo.has_usable()
        if srv.warmup is not None and (change in ("DOWN", "UP") or not now):  # a ramp ends with its state
            srv.warmup.cancel()
            srv.warmup = None
        if change == "UP" and srv.cfg.slowstart and be.algo.dynamic:  # before sync_lb: it enters light
            srv.warmup = Warmup(srv, self.loop)
        if now != was:
            srv.sync_lb()
            srv.changed()
            if not now:
                srv.close_idle()
        xferred = 0
        if was and not now:
            xferred = be.redistribute(srv)
        elif now and not was:
            xferred = be.grab_from_px(srv)
        name = self._name(srv)
        sep = f", {why}" if why else ""
        for line in say(xferred) if say is not None else ():
            self.event("WARNING", line)
        if change == "UP":
            self.event("WARNING", f"{name} is UP{sep}. {self._online(srv, xferred)}")
        elif change == "NOLB":  # still up, out of the LB: the 'online' form
            self.event("WARNING", f"{name} is stopping{sep}. {self._online(srv, xferred)}")
        elif change:
            self.event("WARNING", f"{name} is {change}{sep}. {self._left(srv, xferred)}")
        if change == "DOWN" and srv.cfg.shutdown_sessions:  # on-marked-down shutdown-sessions
            for session in list(srv.sessions):
                session.server_down()
        has = be.algo.has_usable()
        if had and not has:
            be.chkdown += 1
            be.lastchg = srv.lastchg
            self.event("ALERT", f"backend '{be.name}' has no server available!")
        elif has and not had:
            be.lastchg = srv.lastchg


def _counter(srv: ServerRT) -> str:
    """The 'status: x/y UP|DRAIN|DOWN' part of a health-check log line (HAProxy's check.c)."""
    h = srv.health
    if h.health >= h.rise:
        return f"{h.health - h.rise + 1}/{h.fall} {'UP' if srv.weight else 'DRAIN'}"
    return f"{h.health}/{h.rise} DOWN"
