"""Lesson 08: where each client lands, and who moves when a server leaves and comes back.

    clients = [f"127.0.0.{i}" for i in range(10, 30)]       # 20 clients, each with its own address
    landing(lb.url, clients)                                 -> {"127.0.0.10": "8202", ...}
    follow(lb, "carts/s2", clients)                          -> Table: each client's server before, while
                                                                s2 is out (MAINT), and after it is back
    shares(lb.url, ["127.0.0.2"], 60)                        -> Table: how 60 requests from those addresses
                                                                spread over the servers (one office behind NAT)

One GET / per client and phase, each from the client's own loopback address (the course's traffic sender,
labsupport/course/traffic), so ``balance source`` and ``stick on src`` see different clients. ``moves``
sums the table up: how many clients changed server when s2 left, and again when it came back.
"""
from __future__ import annotations

import time
from typing import Sequence

from ...course.display.table import Table
from ...course.traffic.sender import Target, request_once
from ...errors import UsageError

MAX_CLIENTS = 254


def _check(sources: Sequence[str]) -> list[str]:
    sources = list(sources)
    if not sources or len(sources) > MAX_CLIENTS or not all(isinstance(s, str) and s.startswith("127.") for s in sources):
        raise UsageError("give between 1 and 254 client addresses of the loopback, e.g. "
                         "[f'127.0.0.{i}' for i in range(10, 30)]")
    return sources


def landing(url: str, sources: Sequence[str], timeout: float = 3.0) -> dict[str, str]:
    """One GET / from each address in ``sources``: the server that answered each (or what went wrong)."""
    target = Target(url, timeout, keep_alive=False)
    t0 = time.monotonic()
    out = {}
    for n, source in enumerate(_check(sources)):
        r, _ = request_once(target, n, t0, source, None)
        out[source] = r.server if r.ok and r.server else (r.error or f"HTTP {r.status}")
    return out


def follow(balancer, server: str, sources: Sequence[str]) -> Table:
    """Each client's server before ``server`` ('backend/name') leaves, while it is in MAINT, and once it is
    back (ready): one row per client, plus ``moved`` marks."""
    if "/" not in server:
        raise UsageError(f"name the server as backend/server, e.g. 'carts/s2', not {server!r}")
    url = balancer.urls[0]
    before = landing(url, sources)
    balancer.set_state(server, "maint")
    try:
        during = landing(url, sources)
    finally:
        balancer.set_state(server, "ready")
    after = landing(url, sources)
    rows = []
    for s in sources:
        rows.append({"client": s, "before": before[s], f"{server} out": during[s], "back": after[s],
                     "moved": " + ".join(w for w, a, b in (("when it left", before[s], during[s]),
                                                           ("when it came back", during[s], after[s])) if a != b) or ""})
    return Table(rows)


def moves(table: Table) -> dict[str, int]:
    """How many clients of ``follow``'s table moved when the server left, and when it came back."""
    column = table.column("moved")
    return {"moved when it left": sum("when it left" in m for m in column),
            "moved when it came back": sum("when it came back" in m for m in column)}


def shares(url: str, sources: Sequence[str], count: int = 60) -> Table:
    """``count`` GET / (up to 1000), taking the addresses of ``sources`` in turn: how many each server answered."""
    if not isinstance(count, int) or not 1 <= count <= 1000:
        raise UsageError(f"count must be a whole number from 1 to 1000, not {count!r}")
    sources = _check(sources)
    target = Target(url, 3.0, keep_alive=False)
    t0 = time.monotonic()
    tally: dict[str, int] = {}
    for n in range(count):
        r, _ = request_once(target, n, t0, sources[n % len(sources)], None)
        who = r.server if r.ok and r.server else (r.error or f"HTTP {r.status}")
        tally[who] = tally.get(who, 0) + 1
    return Table([{"server": k, "requests": v, "share": f"{100 * v / count:.0f} %"} for k, v in sorted(tally.items())])
