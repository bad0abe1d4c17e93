"""Health checks for DNS answers: an address is answered only while a TCP connection to it succeeds.

This is PowerDNS's ``ifportup(80, {...})`` idea (its Lua records), with HAProxy's words for the timing:

    checker = HealthChecker(port=80, inter=0.5, fall=2, rise=2)
    checker.watch(["10.0.1.10", "10.0.2.10"])
    checker.start()
    checker.up("10.0.1.10")          # True while 10.0.1.10:80 accepts connections
    checker.changes()                # a Table: when each address went DOWN or came back UP, and why

How it works. One thread per checked address: every ``inter`` seconds it opens a TCP connection to
(address, ``port``) and closes it at once (nothing is sent, as ``ifportup`` does); a connection that is
refused, or not made within ``timeout``, is a failed check. Each address keeps its state in the engine's
``Health`` (labsupport/engine/health.py, HAProxy's own counter): ``fall`` failed checks in a row take it DOWN,
``rise`` passed checks in a row bring it back UP. Every address starts UP with full health, so one that is
down from the start leaves the answers after ``fall`` checks (PowerDNS instead counts every address as down
until its first check has run).

``addr`` checks one address at another (HAProxy's ``check addr``): a relay's address that stands for a far
region is answered while that region's balancer accepts connections, since a relay accepts every connection
whatever lies behind it. Addresses checked at the same place share one check.

What the DNS server does with it (labsupport/course/dnsserver.py): the addresses that are DOWN are left out
of the answer; when every address of a name is DOWN the answer holds all of them, as if nothing were checked.
PowerDNS does the same in spirit: with no address available ``ifportup`` falls back to its
``backupSelector`` over *all* the addresses (default one random address; ``backupSelector='all'`` gives all
of them). An empty answer would help no client, and "everything is down" is as often the checker's own
network failing as every server at once.
"""
from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from ..engine.health import Health
from ..errors import UsageError
from .display.table import Table


def _stamp(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


class HealthChecker:
    """TCP connect checks of addresses on ``port``, every ``inter`` s; ``fall`` failures: DOWN; ``rise``: UP."""

    def __init__(self, port: int = 80, *, inter: float = 2.0, fall: int = 3, rise: int = 2,
                 timeout: float | None = None, addr: dict[str, str] | None = None,
                 on_change: Callable[[dict], object] | None = None):
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise UsageError(f"health check port {port!r}: give a TCP port from 1 to 65535")
        if not isinstance(inter, (int, float)) or not 0.05 <= inter <= 3600:
            raise UsageError(f"health check inter {inter!r}: give seconds between checks, from 0.05 to 3600")
        for word, value in (("fall", fall), ("rise", rise)):
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"health check {word} {value!r}: give a whole number from 1 up")
        self.port, self.inter, self.fall, self.rise = port, float(inter), fall, rise
        self.timeout = float(timeout) if timeout is not None else min(self.inter, 2.0)
        if not 0 < self.timeout <= 60:
            raise UsageError(f"health check timeout {timeout!r}: give seconds, more than 0 and at most 60")
        self.addr = dict(addr or {})  # answered address -> address checked instead
        self.on_change = on_change
        self._health: dict[str, Health] = {}   # checked address -> its state
        self._why: dict[str, str] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._log: deque = deque(maxlen=2000)
        self.checks = 0
        self.started = False

    @classmethod
    def of(cls, setting: dict | HealthChecker | None) -> HealthChecker | None:
        """A checker from a DNSServer's ``health=`` setting: a dict of this class's arguments, a checker, None."""
        if setting is None or isinstance(setting, HealthChecker):
            return setting
        if not isinstance(setting, dict):
            raise UsageError(f"health={setting!r}: give a dict, e.g. {{'port': 80, 'inter': 0.5, 'fall': 2}}")
        try:
            return cls(**setting)
        except TypeError as e:
            raise UsageError(f"health: {e} (give port, inter, fall, rise, timeout, addr)") from None

    # ------------------------------------------------------------------ what is checked
    def target(self, address: str) -> str:
        """Where ``address`` is checked: itself, or what ``addr`` says."""
        return self.addr.get(address, address)

    def watch(self, addresses: Iterable[str]) -> None:
        """Check these addresses too (at once if the checker runs)."""
        for address in addresses:
            target = self.target(address)
            with self._lock:
                if target in self._health:
                    continue
                health = Health(rise=self.rise, fall=self.fall, check=True)
                health.health = health.max  # fully UP at start: ``fall`` failures to go DOWN
                self._health[target] = health
                self._why[target] = "not checked yet"
            if self.started:
                self._spawn(target)

    def covers(self, address: str) -> bool:
        return self.target(address) in self._health

    def up(self, address: str) -> bool:
        """Whether ``address`` may be answered (an address not watched always may)."""
        health = self._health.get(self.target(address))
        return health is None or health.usable

    def status(self, address: str) -> str:
        """HAProxy's words: 'UP', 'UP 1/2' (going down), 'DOWN', 'DOWN 1/2' (going up); '' if not watched."""
        health = self._health.get(self.target(address))
        return health.status if health else ""

    # ------------------------------------------------------------------ checking
    def check_once(self, target: str) -> tuple[bool, str]:
        """One check: (passed, why) -- why is '' or what went wrong ('connection refused', 'timeout')."""
        try:
            with socket.create_connection((target, self.port), timeout=self.timeout):
                return True, ""
        except socket.timeout:
            return False, f"no answer within {self.timeout:g} s"
        except ConnectionRefusedError:
            return False, "connection refused"
        except OSError as e:
            return False, e.strerror or type(e).__name__

    def record(self, target: str, passed: bool, why: str = "") -> str | None:
        """Count one check's result; returns 'UP' or 'DOWN' when the state changed (and logs it)."""
        with self._lock:
            health = self._health[target]
            self.checks += 1
            change = health.check_passed() if passed else health.check_failed()
            if not passed:
                self._why[target] = why
            if change is None:
                return None
            entry = {"time": time.time(), "event": "health", "address": target, "state": change,
                     "why": "" if passed else why,
                     "rule": f"{self.rise} checks passed" if passed else f"{self.fall} checks failed"}
            self._log.append(entry)
        if self.on_change is not None:
            try:
                self.on_change(dict(entry))
            except Exception:  # a listener's bug must not stop the checks
                pass
        return change

    def _run(self, target: str) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            passed, why = self.check_once(target)
            if self._stop.is_set():
                return
            self.record(target, passed, why)
            self._stop.wait(max(0.0, self.inter - (time.monotonic() - began)))

    def _spawn(self, target: str) -> None:
        thread = threading.Thread(target=self._run, args=(target,), name=f"check {target}:{self.port}", daemon=True)
        self._threads[target] = thread
        thread.start()

    def start(self) -> HealthChecker:
        if self.started:
            return self
        self._stop.clear()
        self.started = True
        for target in list(self._health):
            self._spawn(target)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads.values():
            thread.join(self.timeout + 1)
        self._threads.clear()
        self.started = False

    # ------------------------------------------------------------------ reading it back
    def events(self) -> list[dict]:
        """Every change so far, oldest first: {'time', 'address', 'state', 'why', 'rule'}."""
        return list(self._log)

    def changes(self) -> Table:
        rows = [{"time": _stamp(e["time"]), "address": e["address"], "now": e["state"], "after": e["rule"],
                 "last error": e["why"] or "-"} for e in self._log]
        return Table(rows, ["time", "address", "now", "after", "last error"],
                     title=f"health changes (TCP connect to port {self.port} every {self.inter:g} s, "
                           f"fall {self.fall}, rise {self.rise})")

    def states(self) -> Table:
        rows = [{"address": t, "status": h.status, "last error": self._why.get(t) or "-"}
                for t, h in self._health.items()]
        return Table(rows, ["address", "status", "last error"], title=f"health checks on port {self.port}")

    def __repr__(self) -> str:
        down = [t for t, h in self._health.items() if not h.usable]
        return (f"<HealthChecker port {self.port}, inter {self.inter:g} s, fall {self.fall}, rise {self.rise}: "
                f"{len(self._health)} addresses, {len(down)} down>")
