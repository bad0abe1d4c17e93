"""Lesson 03's exercise: weights that give one server half of the traffic, checked on real requests.

    check_half_traffic({"server01": 3})      # PASS/NOT YET with the stated range and the measured percentages
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ...course.cfgedit import backends_in, edit_backend, rebind, servers_in
from ...course.exercise import ExerciseResult, answers
from ...course.traffic.results import is_failure
from ...course.traffic.sender import send
from ...engine.config import parse
from ...errors import UsageError
from ...ports import free_ports

COURSE_CONFIG = Path(__file__).resolve().parents[3] / "haproxy" / "myhaproxy.cfg"


def _validate(weights: Mapping[str, int], known: list[str]) -> list[str]:
    problems = []
    for name, w in weights.items():
        if name not in known:
            problems.append(f"there is no server named {name!r}; the servers are {', '.join(known)}")
        elif isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 256:
            problems.append(f"the weight of {name} must be a whole number from 0 to 256, not {w!r}")
    return problems


def check_half_traffic(weights: Mapping[str, int], server: str = "server01", target: float = 50.0,
                       tolerance: float = 2.0, config: str | Path = COURSE_CONFIG,
                       rounds: int = 20) -> ExerciseResult:
    """Does ``server`` take ``target`` % (± ``tolerance``) of the traffic with these weights under roundrobin,
    while every other server still gets some?

    ``weights`` maps server names to weights (servers left out keep the config's weight). Sends
    ``rounds`` full rotations (``rounds`` x the sum of the weights, at most 2000 requests) through a
    private engine; the application servers of ``config`` must be running.
    """
    from ...engine.balancer import Balancer  # late: keeps `import labsupport` light

    text = Path(config).read_text()
    backend = backends_in(text)[0]
    known = servers_in(text, backend)
    if server not in known:
        raise UsageError(f"there is no server named {server!r}; the servers are {', '.join(known)}")
    low, high = target - tolerance, target + tolerance
    title = f"{server} takes {target:g} % of the traffic (within {tolerance:g} points: {low:g}-{high:g} %)"
    problems = _validate(weights, known)
    if problems:
        return ExerciseResult(False, title, details=tuple(problems))
    edited = edit_backend(text, backend=backend, balance="roundrobin", weights=weights)
    cfg = parse(rebind(edited, free_ports(1)[0]))
    servers = {s.name: s for s in cfg.proxy(backend).servers}
    total_weight = sum(s.weight for s in servers.values())
    if total_weight == 0:
        return ExerciseResult(False, title, details=("every weight is 0: no server would get any request "
                                                  "(the balancer answers 503)",))
    down = [f"{s.name} ({s.host}:{s.port})" for s in servers.values() if s.weight and not answers(s.host, s.port)]
    if down:
        verb = "does" if len(down) == 1 else "do"
        return ExerciseResult(False, title, details=(f"{', '.join(down)} {verb} not answer: start the application "
                                                  "servers first (fleet.start([8080, 8081, 8082, 8083])).",))
    n = min(2000, rounds * total_weight)
    with Balancer(cfg) as lb:
        run = send(lb.urls[0], n, progress=False)
    measured = run.counts()
    # the course's app answers "Hi!! from server 8080" (label '8080'); other apps may give their name
    labels = {name: str(s.port) if str(s.port) in measured else name for name, s in servers.items()}
    counts = {name: measured.get(label, 0) for name, label in labels.items()}
    counts.update({k: v for k, v in measured.items() if k not in labels.values()})  # 503s, refused...
    shares = {k: 100.0 * v / n for k, v in counts.items()}
    got = shares.get(server, 0.0)
    details = []
    failures = {k: v for k, v in counts.items() if is_failure(k)}
    if failures:
        failed = sum(failures.values())
        details.append(f"{failed} request{'' if failed == 1 else 's'} failed ({', '.join(failures)}): are the application "
                       f"servers running? (fleet.start([8080, 8081, 8082, 8083]))")
    idle = [name for name in servers if counts[name] == 0]
    if idle and not failures:
        details.append(f"{', '.join(idle)} got nothing: weight 0 takes a server out of the rotation, and "
                       "the task keeps every server in it.")
    shown = round(got, 1)  # judge the figure the student reads, so a PASS never stands beside one out of range
    passed = not failures and not idle and abs(shown - target) <= tolerance
    verdict = (f"{server} answered {shown:.1f} % of the requests"
               + (f", within {low:g}-{high:g} %." if passed else f"; aim for {target:g} % (between {low:g} and {high:g} %)."))
    return ExerciseResult(passed, title, shares, counts, (verdict, *details))
