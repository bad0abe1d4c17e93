"""A server's health as HAProxy 2.6 keeps it: a pure state machine, no timers, no sockets.

How it works. Three independent pieces of state:

- ``health``: a counter from 0 to rise+fall-1 ("max"). A passed check adds 1 and, on reaching
  ``rise``, jumps to max; a failed check takes 1 away and, below ``rise``, drops to 0. At start
  ``health = rise``: the server is UP but one failure away from DOWN ("UP 1/3").
- ``op``: the operational state the counter drives: "running" (UP), "stopping" (NOLB: up, but
  takes no new traffic) or "stopped" (DOWN). A pass that leaves health >= rise sets "running";
  a fail that leaves health at 0 sets "stopped". Nothing else changes it, except ``force``.
- ``admin``: what the operator asked for: "ready", "drain" (no new traffic) or "maint"
  (out of service, checks paused). Entering maint stops the server; leaving it restarts a
  checked server at health = rise ("UP 1/3", checked again at once).

- ``rmaint``: maintenance because DNS gave the server no address (HAProxy's SRV_ADMF_RMAINT, "MAINT
  (resolution)"); set and cleared by the resolvers (proxy/resolver.py), independent of ``admin``.

The server takes new traffic (``usable``) only when admin is "ready", op is "running" and not rmaint.
The tables below hold the rules; the methods only look them up.
"""
from __future__ import annotations

from typing import Callable

from ..errors import CommandError, UsageError

_Rule = Callable[[int, int, int], bool]
_Value = Callable[[int, int, int], int]

# The health counter. h = health before the check, r = rise, m = rise + fall - 1.
# The first row whose condition holds applies.
#   result  condition                        health after              counts in chkfail
COUNTER: tuple[tuple[str, _Rule, _Value, bool], ...] = (
    ("pass", lambda h, r, m: h >= m,         lambda h, r, m: m,        False),
    ("pass", lambda h, r, m: h + 1 >= r,     lambda h, r, m: m,        False),  # reached rise: full
    ("pass", lambda h, r, m: True,           lambda h, r, m: h + 1,    False),
    ("fail", lambda h, r, m: h == 0,         lambda h, r, m: 0,        False),  # already DOWN: not counted
    ("fail", lambda h, r, m: h - 1 < r,      lambda h, r, m: 0,        True),   # below rise: DOWN at once
    ("fail", lambda h, r, m: True,           lambda h, r, m: h - 1,    True),
)  # fmt: skip

# What each op change is called (the value check_passed / check_failed / force / set_admin return).
# chkdown counts every change into "stopped".
TRANSITIONS: dict[tuple[str, str], str] = {
    ("stopped", "running"): "UP",
    ("stopping", "running"): "UP",
    ("running", "stopped"): "DOWN",
    ("stopping", "stopped"): "DOWN",
    ("running", "stopping"): "NOLB",
    ("stopped", "stopping"): "NOLB",
}

# Status text (the stats page's 'status' column), for a server not in maintenance ("MAINT").
#   op          drain  checked and health < max -> text ("x/y" filled in by Health.status)
STATUS: dict[tuple[str, bool, bool], str] = {
    ("running", False, False): "UP",
    ("running", False, True): "UP {x}/{y}",  # going down: x = health-rise+1, y = fall
    ("running", True, False): "DRAIN",
    ("running", True, True): "DRAIN {x}/{y}",
    ("stopping", False, False): "NOLB",
    ("stopping", False, True): "NOLB {x}/{y}",
    ("stopping", True, False): "NOLB",
    ("stopping", True, True): "NOLB {x}/{y}",
}  # "stopped" is "DOWN", or "DOWN x/y" (going up: x = health, y = rise) when checked and health > 0

ADMIN_MODES = ("ready", "drain", "maint")
FORCE_MODES = ("up", "stopping", "down")


class Health:
    """One server's health: ``check_passed`` / ``check_failed`` / ``set_admin`` / ``force``."""

    def __init__(self, rise: int = 2, fall: int = 3, check: bool = False, disabled: bool = False):
        if rise < 1 or fall < 1:
            raise UsageError(f"rise and fall must be at least 1 (got rise {rise}, fall {fall}); "
                             "give whole numbers from 1 up")
        self.rise, self.fall, self.check = rise, fall, check
        self.health = 0 if disabled else rise  # a disabled server starts at 0, like HAProxy
        self.op = "stopped" if disabled else "running"
        self.admin = "maint" if disabled else "ready"
        self.chkfail = 0  # failed checks (while health > 0)
        self.chkdown = 0  # changes into DOWN
        self.rmaint = False  # no address from DNS (see set_rmaint)

    @property
    def max(self) -> int:
        return self.rise + self.fall - 1

    @property
    def usable(self) -> bool:
        """True when the load balancer may send new traffic here."""
        return self.admin == "ready" and self.op == "running" and not self.rmaint

    @property
    def checks_paused(self) -> bool:
        """Maintenance, or ``disable health``, pauses the health checks (the checker skips the server)."""
        return self.admin == "maint" or self.rmaint or not self.check

    @property
    def status(self) -> str:
        if self.rmaint:
            return "MAINT (resolution)"
        if self.admin == "maint":
            return "MAINT"
        if self.op == "stopped":
            if self.check and self.health > 0:
                return f"DOWN {self.health}/{self.rise}"
            return "DOWN"
        if self.op == "running" and self.admin == "ready" and not self.check:
            return "no check"
        text = STATUS[(self.op, self.admin == "drain", self.check and self.health < self.max)]
        return text.format(x=self.health - self.rise + 1, y=self.fall)

    # ----- events
    def _set_op(self, op: str) -> str | None:
        """Change the operational state unless in maintenance; the transition's name or None."""
        if self.admin == "maint" or self.rmaint or op == self.op:
            return None
        change = TRANSITIONS[(self.op, op)]
        self.op = op
        if op == "stopped":
            self.chkdown += 1
        return change

    def _count(self, result: str) -> None:
        h, r, m = self.health, self.rise, self.max
        for res, cond, after, counted in COUNTER:
            if res == result and cond(h, r, m):
                self.health = after(h, r, m)
                self.chkfail += counted
                return

    def check_passed(self, nolb: bool = False) -> str | None:
        """A check succeeded (``nolb``: it asked for no new traffic, e.g. disable-on-404).
        Returns "UP", "NOLB" or None. Ignored in maintenance (checks are paused)."""
        if self.admin == "maint" or self.rmaint:
            return None
        self._count("pass")
        if self.health >= self.rise:
            return self._set_op("stopping" if nolb else "running")
        return None

    def check_failed(self) -> str | None:
        """A check failed. Returns "DOWN" when the server just went down, else None."""
        if self.admin == "maint" or self.rmaint:
            return None
        self._count("fail")
        return self._set_op("stopped") if self.health == 0 else None

    def set_admin(self, mode: str) -> str | None:
        """``set server be/s state ready|drain|maint`` (disable = maint, enable = ready).
        Returns "UP" / "DOWN" when the operational state changed, else None."""
        if mode not in ADMIN_MODES:
            raise CommandError("'set server <srv> state' expects 'ready', 'drain' and 'maint'.")
        before = self.admin
        if mode == before:
            return None
        if mode == "maint":
            change = self._set_op("stopped")
            self.health = 0  # checks pause; they restart from rise when maintenance ends
            self.admin = "maint"
            return change
        self.admin = mode
        if before == "maint":  # leaving maintenance: start OK, until the next check says otherwise
            if self.check:  # (an unchecked server's counter stays at 0, as HAProxy's)
                self.health = self.rise
            if not self.check or self.health >= self.rise:
                return self._set_op("running")
        return None

    def set_rmaint(self, on: bool) -> str | None:
        """DNS took the server's address away (``on``) or gave it one: like entering and leaving
        maintenance, but apart from ``admin``. Returns "UP" / "DOWN" when the op state changed."""
        if on == self.rmaint:
            return None
        if on:
            change = self._set_op("stopped")
            self.health = 0
            self.rmaint = True
            return change
        self.rmaint = False
        if self.admin == "maint":
            return None
        if self.check:
            self.health = self.rise
        return self._set_op("running")

    def force(self, state: str) -> str | None:
        """``set server be/s health up|stopping|down``: set the check result by hand."""
        if state not in FORCE_MODES:
            raise CommandError("'set server <srv> health' expects 'up', 'stopping', or 'down'.")
        self.health = 0 if state == "down" else self.max
        return self._set_op({"up": "running", "stopping": "stopping", "down": "stopped"}[state])

    def next_interval(self, inter: int, fastinter: int | None = None, downinter: int | None = None) -> int:
        """Milliseconds until the next check: inter at full health, downinter when DOWN at 0,
        fastinter in between (each defaults to inter), as HAProxy's srv_getinter()."""
        if self.health == self.max:
            return inter
        if self.op == "stopped" and self.health == 0:
            return downinter or inter
        return fastinter or inter

    def __repr__(self) -> str:
        return (
            f"<Health {self.status} health={self.health}/{self.max} rise={self.rise} fall={self.fall} "
            f"admin={self.admin} chkfail={self.chkfail} chkdown={self.chkdown}>"
        )


CHK_INTER_THRES = 1000  # intervals shorter than this do not set the spread


def first_check_delays(intervals: list[int]) -> list[int]:
    """When each checked server runs its first check, in ms after start (HAProxy's start_checks).

    ``intervals``: every checked server's interval at start (fastinter if set, else inter), in
    config order over the whole file. The k-th (0-based) of n starts at k*m//n, with m the larger
    of its own interval and the smallest interval of 1000 ms or more, so checks are spread out.
    """
    n = len(intervals)
    spread = min((i for i in intervals if i >= CHK_INTER_THRES), default=0)
    return [max(spread, iv) * k // n for k, iv in enumerate(intervals)]
