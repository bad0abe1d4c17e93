"""A brute-force login run against ordinary users: what a balancer's rules let through, block, and cost.

``brute_force(balancer)`` runs, for ``seconds``, 20 ordinary users browsing the shop (``GET /cart``, a
few requests per second in all, and now and then ``POST /login``), each from an address of its own
(127.0.0.10 to .29) or, with ``office=True``, all from one address as behind an office's NAT; and an
attacker at 127.0.0.2 posting ``/login?user=admin`` at ``attacker_rate`` per second. It returns a Table:
for each kind of traffic, the requests sent, answered 200 and 401, blocked (a 429 or 403 deny, a
tarpit's 500, or no answer in time), and the balancer's CPU seconds over the run.

How it works: the clients run in a child process (``python -m labsupport.lessons.sessions.abuse``, three
course TrafficGenerators: users' browsing, users' logins, the attacker), so their Python work neither
competes with an engine running in this process for its GIL nor counts as the balancer's CPU: the
engine's CPU is this process's (``cpu_seconds()``), HAProxy's its own process's (``cpu_seconds(pid)``).
The child prints one JSON line of counts; the run is bounded (``seconds``, rates, a timeout per request,
and a deadline on the child). The attacker sends from a pool of ``attacker_workers`` connections at once,
as a real script does: a tarpit that holds its requests also slows it down.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ...course.cputime import cpu_seconds
from ...course.display.table import Table
from ...course.environment import HEADLESS
from ...course.haproxy import HAProxy
from ...errors import UsageError

SHORT = HEADLESS
ATTACKER = "127.0.0.2"
OFFICE = "127.0.0.10"
MAX_USERS = 40  # 127.0.0.10 .. 127.0.0.49
MAX_ATTACK_RATE = 300.0
MAX_SECONDS = 60.0
BROWSE_RATE = 4.0  # GET /cart per second, all users together
LOGIN_RATE = 0.5  # POST /login per second, all users together
TIMEOUT = 5.0  # per request: longer than the tarpit the lesson uses
BLOCKED = (403, 429, 500)  # a deny's usual statuses and a tarpit's default
ROOT = Path(__file__).resolve().parents[3]  # the course folder: the child runs "-m labsupport..." from it


def user_addresses(users: int, office: bool = False) -> list[str]:
    """The ordinary users' client addresses: one each from 127.0.0.10, or all the office's one."""
    return [OFFICE] if office else [f"127.0.0.{10 + i}" for i in range(users)]


def brute_force(balancer, users: int = 20, attacker_rate: float | None = None, seconds: float | None = None, *,
                office: bool = False, attacker_workers: int = 8, path_prefix: str = "",
                browse_rate: float = BROWSE_RATE) -> Table:
    """Run ordinary users and a login brute force through ``balancer`` (the engine's Balancer or
    HAProxy) for ``seconds`` (default 3 headless, 10 otherwise) and count what happened to each.
    ``browse_rate``: the users' pages per second, all together."""
    seconds = (3.0 if SHORT else 10.0) if seconds is None else float(seconds)
    attacker_rate = (50.0 if SHORT else 100.0) if attacker_rate is None else float(attacker_rate)
    if not 1 <= users <= MAX_USERS:
        raise UsageError(f"users must be between 1 and {MAX_USERS}, not {users}")
    if not 0 < seconds <= MAX_SECONDS:
        raise UsageError(f"seconds must be between 0 and {MAX_SECONDS:g}, not {seconds}")
    if not 0 <= attacker_rate <= MAX_ATTACK_RATE:
        raise UsageError(f"attacker_rate must be between 0 and {MAX_ATTACK_RATE:g} per second, not {attacker_rate}")
    if not 0 < browse_rate <= MAX_ATTACK_RATE:
        raise UsageError(f"browse_rate must be between 0 and {MAX_ATTACK_RATE:g} per second, not {browse_rate}")
    if not 1 <= attacker_workers <= 64:
        raise UsageError(f"attacker_workers must be between 1 and 64, not {attacker_workers}")
    if not balancer.running:
        raise UsageError("the balancer is not running: start it first (its cell above)")
    base = balancer.urls[0].rstrip("/") + path_prefix
    pid = balancer.pid if isinstance(balancer, HAProxy) else None  # the engine runs in this process
    plan = {"base": base, "seconds": seconds, "sources": user_addresses(users, office),
            "attacker_rate": attacker_rate, "attacker_workers": attacker_workers, "browse_rate": browse_rate}
    c0 = cpu_seconds(pid)
    counts = _run_child(plan)
    cpu = cpu_seconds(pid) - c0
    return _table(counts, cpu, users, office, attacker_rate, seconds, "HAProxy" if pid else "engine")


def _run_child(plan: dict) -> dict:
    cmd = [sys.executable, "-m", "labsupport.lessons.sessions.abuse", json.dumps(plan)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=plan["seconds"] + 2 * TIMEOUT + 30,
                             cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise UsageError(f"the clients did not finish within {plan['seconds'] + 2 * TIMEOUT + 30:g} s") from None
    if out.returncode != 0:
        raise UsageError("the clients failed: " + ((out.stderr.strip().splitlines() or ["no message"])[-1]))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(counts: dict, cpu: float, users: int, office: bool, rate: float, seconds: float, who: str) -> Table:
    rows = []
    names = {"browse": f"users: GET /cart ({'one office address' if office else f'{users} addresses'})",
             "login": "users: POST /login", "attack": f"attacker {ATTACKER}: POST /login?user=admin"}
    for key in ("browse", "login", "attack"):
        c = Counter({(int(k) if k.isdigit() else k): v for k, v in counts[key].items()})
        sent = sum(c.values())
        blocked = sum(c[s] for s in BLOCKED) + sum(v for k, v in c.items() if not isinstance(k, int))
        rows.append({"traffic": names[key], "sent": sent, "200": c[200], "401": c[401], "blocked": blocked,
                     "other": sent - c[200] - c[401] - blocked})
    table = Table(rows, ["traffic", "sent", "200", "401", "blocked", "other"],
                  title=f"{seconds:g} s, attacker at {rate:g}/s; balancer ({who}) CPU: {cpu:.2f} s")
    table.cpu_seconds = cpu  # type: ignore[attr-defined]
    return table


# --------------------------------------------------------------------------- the child: the clients
def _clients(plan: dict) -> dict:
    from ...course.traffic.generator import TrafficGenerator  # the child's own imports

    base, seconds, sources = plan["base"], plan["seconds"], plan["sources"]
    gens = {
        "browse": TrafficGenerator(base + "/cart", plan.get("browse_rate", BROWSE_RATE), seconds, source=sources,
                                   timeout=TIMEOUT, workers=8),
        "login": TrafficGenerator(base + "/login?user=shopper", LOGIN_RATE, seconds, source=sources,
                                  timeout=TIMEOUT, workers=4, method="POST"),
    }
    if plan["attacker_rate"] > 0:
        gens["attack"] = TrafficGenerator(base + "/login?user=admin", plan["attacker_rate"], seconds,
                                          source=ATTACKER, timeout=TIMEOUT, workers=plan["attacker_workers"],
                                          method="POST", maxlen=100_000)
    for g in gens.values():
        g.start()
    deadline = time.monotonic() + seconds + 2 * TIMEOUT + 10
    for g in gens.values():
        g.wait(max(0.1, deadline - time.monotonic()))
        g.stop()
    out = {}
    for key in ("browse", "login", "attack"):
        g = gens.get(key)
        rows = list(g.records) if g is not None else []
        out[key] = dict(Counter(str(r.status) if r.status is not None else (r.error or "no answer") for r in rows))
    return out


if __name__ == "__main__":
    print(json.dumps(_clients(json.loads(sys.argv[1]))), flush=True)


__all__ = ["brute_force", "user_addresses"]
