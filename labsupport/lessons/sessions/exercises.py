"""Lesson 08's exercise: a login limit that stops a brute force without blocking an office.

    check_login_limit(my_frontend)     # PASS/NOT YET, with what the attacker and the office got

The student writes a frontend (and, if it needs one, a table-only backend for a second table). The
check puts it between ratelimit.cfg's ``global``/``defaults`` and its ``backend carts`` (the lesson's
session servers on 8201-8203), runs it on a private engine on a free port (fresh tables), and plays a
short scene, a few seconds at most, at once from two addresses:

- an office (127.0.0.10: 20 people behind one NAT address) browsing: ``OFFICE_PAGES`` GET /cart at a
  browsing pace, more than a 20-per-10-s limit on every request allows, and ``OFFICE_LOGINS`` logins;
- an attacker (127.0.0.2) posting ``ATTACKS`` /login?user=admin as fast as it is answered.

It passes when at most ``LOGIN_LIMIT`` of the attacker's logins got through (all were sent within one
10 s window) and not one of the office's requests was refused.
"""
from __future__ import annotations

import threading
from pathlib import Path

from ...course.cfgedit import rebind
from ...course.exercise import ExerciseResult, answers
from ...errors import ConfigError, UsageError
from ...ports import free_ports
from .ratelimit import burst

CONFIG = Path(__file__).resolve().parents[3] / "haproxy" / "ratelimit.cfg"
LOGIN_LIMIT = 5  # login attempts per 10 s per client
ATTACKS = 12  # the attacker's tries: more than twice the limit
OFFICE_PAGES = 30  # the office's browsing in the scene: over 20, the limit on every request in ratelimit.cfg
OFFICE_RATE = 20.0  # its pace, per second (20 people, a page a second)
OFFICE_LOGINS = 2
OFFICE, ATTACKER = "127.0.0.10", "127.0.0.2"
TIMEOUT = 1.0  # per request: a tarpit's held answer counts as refused


def _config(frontend: str) -> tuple[str, list[int]]:
    """ratelimit.cfg's global and defaults, the student's text, ratelimit.cfg's backend carts; and the
    servers' ports."""
    text = CONFIG.read_text()
    head = text.split("\nfrontend ")[0]
    carts = "\nbackend " + text.split("\nbackend ", 1)[1]
    ports = [int(w.rsplit(":", 1)[1]) for w in carts.split() if w.startswith("127.0.0.1:")]
    return f"{head}\n{frontend.strip()}\n{carts}", ports


def _statuses(table) -> list:
    return table.column("status")


def _tally(values: list) -> str:
    counts: dict = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return ", ".join(f"{n} x {v}" for v, n in counts.items())


def check_login_limit(frontend: str) -> ExerciseResult:
    """At most 5 login attempts (POST /login) per 10 s per client, and not a single refusal for 20
    ordinary users browsing from one office address."""
    from ...engine.balancer import Balancer  # late: keeps `import labsupport` light

    title = f"at most {LOGIN_LIMIT} logins per 10 s per client, and no 429 for an office of 20 browsing"
    if not isinstance(frontend, str) or "frontend" not in frontend:
        raise UsageError("my_frontend is the text of a frontend section, starting with 'frontend NAME'")
    text, ports = _config(frontend)
    down = [str(p) for p in ports if not answers("127.0.0.1", p)]
    if down:
        return ExerciseResult(False, title, details=(f"the session servers on {', '.join(down)} are not running: "
                                                     "run the cell that starts the fleet again",))
    try:
        lb = Balancer.from_text(rebind(text, free_ports(1)[0])).start()
    except ConfigError as e:
        return ExerciseResult(False, title, details=("your frontend does not load:",) + tuple(
            f"  {m}" for m in e.messages))
    try:
        got: dict = {}
        url = lb.url.rstrip("/")

        def play(name: str, *args, **kw) -> None:
            got[name] = burst(*args, **kw, timeout=TIMEOUT)

        scene = [threading.Thread(target=play, args=("office", url + "/cart", OFFICE_PAGES, OFFICE, OFFICE_RATE)),
                 threading.Thread(target=play, args=("attacker", url + "/login?user=admin", ATTACKS, ATTACKER),
                                  kwargs={"method": "POST"})]
        for t in scene:
            t.start()
        for t in scene:  # each burst is bounded: its requests and their timeout
            t.join()
        play("office logins", url + "/login?user=office", OFFICE_LOGINS, OFFICE, None, method="POST")
        warnings = [f"the engine warned: {w}" for w in lb.warnings]
    finally:
        lb.stop()
    attacks = _statuses(got["attacker"])
    through = sum(1 for s in attacks if s == 200)
    pages, logins = _statuses(got["office"]), _statuses(got["office logins"])
    refused_pages = [s for s in pages if s != 200]
    refused_logins = [s for s in logins if s != 200]
    details = [f"the attacker ({ATTACKER}) got {through} of {ATTACKS} logins through ({_tally(attacks)})",
               f"the office ({OFFICE}) browsed {len(pages)} pages ({_tally(pages)}) and logged in "
               f"{len(logins)} times ({_tally(logins)})"]
    ok = True
    if through > LOGIN_LIMIT:
        ok = False
        details.append(f"the attacker got {through} logins through in 10 s: at most {LOGIN_LIMIT} may pass "
                       "(track POST /login on a counter of its own, and deny above 5)")
    if refused_pages:
        ok = False
        n429 = sum(1 for s in refused_pages if s == 429)
        what = f"{n429} 429s" if n429 == len(refused_pages) else f"{len(refused_pages)} refusals ({_tally(refused_pages)})"
        details.append(f"ordinary users got {what} (your limit counts every request of the office address: "
                       "count only the logins)")
    if refused_logins:
        ok = False
        details.append(f"the office's {len(logins)} logins got {_tally(refused_logins)}: two logins in 10 s "
                       f"are within the limit of {LOGIN_LIMIT}")
    if ok:
        details.append("the brute force is slowed to a crawl and the office does not notice")
    return ExerciseResult(ok, title, details=tuple(details + warnings))


__all__ = ["check_login_limit"]
