"""Lesson 07's exercise: versions by path and hosts by map, then /v1 moved to version 2 without a reload.

    check_edge_routing(my_frontend, my_commands)     # PASS/NOT YET, with each request that went wrong

The student writes a frontend; the check adds the lesson's ``defaults`` and backends (from
haproxy/edge.cfg), runs it on a private engine on a free port, sends the same requests before and after
running the student's runtime commands on that engine (no reload: the same running balancer), and
compares who answered with where each request should go.
"""
from __future__ import annotations

from pathlib import Path

from ...course.cfgedit import rebind
from ...course.exercise import ExerciseResult, answers
from ...course.haproxy import rewrite
from ...errors import ConfigError, LabError, UsageError
from ...ports import free_ports
from .services import PART_B, SERVICES, ask

EDGE_CONFIG = Path(__file__).resolve().parents[3] / "haproxy" / "edge.cfg"
TLS_CONFIG = Path(__file__).resolve().parents[3] / "haproxy" / "edge-tls.cfg"
SERVICE_OF = {"web": "web", "api_v1": "api-v1", "api_v2": "api-v2", "static": "static", "admin": "admin"}
# (host, path) -> the backend before the commands, and after them
CASES = [
    (("api.lab", "/v1/users"), "api_v1", "api_v2"),
    (("api.lab", "/v1/orders/7"), "api_v1", "api_v2"),
    (("API.lab", "/v1/"), "api_v1", "api_v2"),
    (("api.lab", "/v2/users"), "api_v2", "api_v2"),
    (("api.lab", "/v3/users"), "api_v2", "api_v2"),
    (("api.lab", "/"), "api_v2", "api_v2"),
    (("api.lab", "/v1"), "api_v2", "api_v2"),  # no '/' after v1: not the /v1/ prefix
    (("www.lab", "/v1/users"), "web", "web"),
    (("static.lab", "/site.css"), "static", "static"),
    (("Admin.lab", "/users"), "admin", "admin"),
    (("unknown.lab", "/"), "web", "web"),
    (("www.lab", "/"), "web", "web"),
]


def _config(frontend: str) -> str:
    """The lesson's global and defaults sections and backends around the student's frontend."""
    text = EDGE_CONFIG.read_text()
    head = text.split("\nfrontend ")[0]
    backends = "\nbackend " + text.split("\nbackend ", 1)[1]
    return f"{head}\n{frontend.strip()}\n{backends}"


def check_edge_routing(frontend: str, commands: list[str] | tuple[str, ...] = ()) -> ExerciseResult:
    """Route ``CASES`` with the student's ``frontend``; then run ``commands`` (runtime API) and route
    them again: /v1/ must move to api_v2 without a reload."""
    from ...engine.balancer import Balancer  # late: keeps `import labsupport` light

    title = "api.lab by version (paths.map), the other hosts by hosts.map; then /v1/ moved live"
    if not isinstance(frontend, str) or "frontend" not in frontend:
        raise UsageError("my_frontend is the text of a frontend section, starting with 'frontend NAME'")
    if isinstance(commands, str) or not all(isinstance(c, str) for c in commands):
        raise UsageError('my_commands is a list of runtime API commands, e.g. ["set map paths.map /v1/ api_v2"]')
    down = [name for name, port in SERVICES.items() if name not in PART_B and not answers("127.0.0.1", port)]
    if down:
        return ExerciseResult(False, title, details=(f"{', '.join(down)} not running: run the first cell "
                                                     "(start_services(fleet)) again",))
    text = rebind(_config(frontend), free_ports(1)[0])
    try:
        lb = Balancer.from_text(text).start()
    except ConfigError as e:
        return ExerciseResult(False, title, details=("your frontend does not load:",) + tuple(
            f"  {m}" for m in e.messages))
    try:
        details, wrong = [], 0
        for phase, column in (("before your commands", 1), ("after your commands", 2)):
            if column == 2:
                for command in commands:
                    try:
                        out = lb.command(command).strip()
                    except LabError as e:
                        out = str(e)
                    if out:
                        details.append(f"{command!r} answered: {out}")
            for (host, path), *expected in CASES:
                want = SERVICE_OF[expected[column - 1]]
                got = ask(lb.url, path, host=host).who
                if got != want:
                    wrong += 1
                    details.append(f"{phase}: {host} {path} went to {got}, expected {want}")
        if len(details) > 8:  # the first few say enough; the count says the rest
            details[8:] = [f"... and {len(details) - 8} more"]
        for w in lb.warnings:
            details.append(f"the engine warned: {w}")
    finally:
        lb.stop()
    n = 2 * len(CASES)
    details.insert(0, f"{n - wrong} of {n} requests went where they should")
    return ExerciseResult(wrong == 0, title, details=tuple(details))


# part B: (scheme, Host, path) -> what must happen
HTTPS_CASES = [
    ("https", "www.lab", "/", "web"), ("https", "api.lab", "/v2/users", "api-v2"), ("https", "static.lab", "/", "web"),
    ("http", "www.lab", "/cart?id=3", "301 to https://www.lab/cart?id=3"), ("http", "api.lab", "/", "301 to https://api.lab/"),
]


def check_edge_https(frontend: str, cafile) -> ExerciseResult:
    """Lesson 07's HTTPS exercise: www.lab and api.lab over HTTPS, each with its own trusted certificate
    (api.lab to api_v2, the rest to web), plain HTTP redirected (301) to HTTPS, and the services told the
    client's address (X-Forwarded-For) and scheme (X-Forwarded-Proto: https)."""
    from ...engine.balancer import Balancer  # late: keeps `import labsupport` light
    from ...engine.config import parse

    title = "two names over HTTPS, plain HTTP redirected, the client's address and scheme passed on"
    if not isinstance(frontend, str) or "frontend" not in frontend:
        raise UsageError("my_https_frontend is the text of a frontend section, starting with 'frontend NAME'")
    down = [n for n in ("web", "api-v2") if not answers("127.0.0.1", SERVICES[n])]
    if down:
        return ExerciseResult(False, title, details=(f"{', '.join(down)} not running: run the first cell again",))
    text = TLS_CONFIG.read_text()
    text = text.split("\nfrontend ")[0] + "\n" + frontend.strip() + "\n\nbackend " + text.split("\nbackend ", 1)[1]
    try:
        binds = [(b.port, b.tls is not None) for p in parse(text).frontends for b in p.binds]
    except ConfigError as e:
        return ExerciseResult(False, title, details=("your frontend does not load:",) + tuple(f"  {m}" for m in e.messages))
    if sorted(tls for _, tls in binds) != [False, True]:
        return ExerciseResult(False, title, details=("give the frontend two bind lines: one plain (e.g. "
                                                     "127.0.0.1:8002), one with 'ssl crt ...' (e.g. 127.0.0.1:8445)",))
    moved = dict(zip((port for port, _ in binds), free_ports(2)))
    try:
        lb = Balancer.from_text(rewrite(text, None, moved)).start()
    except ConfigError as e:
        return ExerciseResult(False, title, details=("your frontend does not load:",) + tuple(f"  {m}" for m in e.messages))
    plain, tls = (f"{'https' if t else 'http'}://127.0.0.1:{moved[port]}" for port, t in sorted(binds, key=lambda b: b[1]))
    details, wrong = [], 0
    try:
        for scheme, host, path, want in HTTPS_CASES:
            a = ask(tls if scheme == "https" else plain, path, host=host, cafile=cafile)
            if a.who != want:
                wrong += 1
                details.append(f"{scheme}://{host}{path} got {a.who}, expected {want}")
            elif scheme == "https":
                proto, xff = a.header("X-Forwarded-Proto"), a.header("X-Forwarded-For")
                if proto != "https" or xff != "127.0.0.1":
                    wrong += 1
                    details.append(f"{scheme}://{host}{path}: {a.who} saw X-Forwarded-Proto {proto!r} and "
                                   f"X-Forwarded-For {xff!r}; expected 'https' and '127.0.0.1'")
        details += [f"the engine warned: {w}" for w in lb.warnings]
    finally:
        lb.stop()
    details.insert(0, f"{len(HTTPS_CASES) - wrong} of {len(HTTPS_CASES)} requests as they should be")
    return ExerciseResult(wrong == 0, title, details=tuple(details))
