"""Exercises with automatic checks: the student's answer is run on real traffic, then judged.

    check_rotation(lab_dns, "api.shop.lab")  # activity 1: does the name take turns over the servers?
    check_half_traffic({"server01": 3})      # activity 3: PASS/NOT YET with the measured percentages

Every check returns an ``ExerciseResult``: its ``repr`` is what the student reads.

A check never trusts arithmetic alone: it edits the lesson's config with the student's answer,
starts a private engine on a free port (the notebook's own balancer keeps port 3000), sends real
requests through it to the running application servers, and measures who answered.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .cfgedit import backends_in, edit_backend, rebind, servers_in
from .dnslab.client import dig
from .dnslab.server import LAB_ADDRESSES, DNSServer
from .engine.config import parse
from .errors import UsageError
from .ports import free_ports
from .traffic import is_failure, send

_ROOT = Path(__file__).resolve().parent.parent
COURSE_CONFIG = _ROOT / "haproxy" / "myhaproxy.cfg"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ExerciseResult:
    """What a check measured and its verdict; ``repr`` is the message a student reads."""

    passed: bool
    title: str
    shares: dict[str, float] = field(default_factory=dict)  # server label -> percent of the requests
    counts: dict[str, int] = field(default_factory=dict)
    details: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        head = ("PASS: " if self.passed else "NOT YET: ") + self.title
        total = sum(self.counts.values())
        lines = [head] + ([f"  measured on {total} requests:"] if total else [])
        lines += [f"    {k:>8}: {self.counts[k]:4d} requests  {self.shares[k]:5.1f} %" for k in self.counts]
        return "\n".join(lines + [f"  {d}" for d in self.details])


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
    from .engine.balancer import Balancer  # late: keeps `import labsupport.exercises` light

    text = Path(config).read_text()
    backend = backends_in(text)[0]
    known = servers_in(text, backend)
    if server not in known:
        raise UsageError(f"there is no server named {server!r}; the servers are {', '.join(known)}")
    title = f"{server} takes {target:g} % of the traffic"
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
    down = [f"{s.name} ({s.host}:{s.port})" for s in servers.values() if s.weight and not _answers(s.host, s.port)]
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
        details.append(f"{sum(failures.values())} requests failed ({', '.join(failures)}): are the application "
                       f"servers running? (fleet.start([8080, 8081, 8082, 8083]))")
    idle = [name for name in servers if counts[name] == 0]
    if idle and not failures:
        details.append(f"{', '.join(idle)} got nothing: weight 0 takes a server out of the rotation, and "
                       "the task keeps every server in it.")
    passed = not failures and not idle and abs(got - target) <= tolerance
    verdict = (f"{server} answered {got:.1f} % of the requests"
               + ("." if passed else f"; aim for {target:g} % (within {tolerance:g})."))
    return ExerciseResult(passed, title, shares, counts, (verdict, *details))


def check_rotation(server: DNSServer, name: str, addresses: tuple[str, ...] = LAB_ADDRESSES,
                   max_ttl: int | None = None) -> ExerciseResult:
    """Does ``name`` answer with all of ``addresses``, each one first in turn, with a TTL <= ``max_ttl``?"""
    want = set(addresses)
    answers = [dig(name, server) for _ in range(2 * len(addresses))]
    first = answers[0]
    if first.status != "NOERROR" or not first.addresses:
        return ExerciseResult(False, f"{name} does not resolve (status {first.status}). "
                              "Add it with server.set(...).")
    got = set(first.addresses)
    if got != want:
        missing, extra = sorted(want - got), sorted(got - want)
        return ExerciseResult(False, f"{name} answers {', '.join(first.addresses)}"
                                  + (f"; missing {', '.join(missing)}" if missing else "")
                                  + (f"; not a lab server: {', '.join(extra)}" if extra else ""))
    firsts = [a.addresses[0] for a in answers]
    if any(firsts.count(a) != 2 for a in want):
        return ExerciseResult(False, f"the first address does not take turns: {' '.join(firsts)} "
                              f"(the answer order is {server.order!r}; which order rotates?)")
    if max_ttl is not None and (first.ttl or 0) > max_ttl:
        return ExerciseResult(False, f"the TTL is {first.ttl} s; make it at most {max_ttl} s "
                              "so clients come back sooner")
    return ExerciseResult(True, f"{name} rotates over {len(want)} servers: first addresses {' '.join(firsts)}, "
                          f"TTL {first.ttl} s")


def check_slow_server(balance: str, maxconn: int | None, ports: Sequence[int], rate: float = 100.0,
                      target_p99_ms: float = 400.0, seconds: float | None = None) -> ExerciseResult:
    """Lesson 06: with one slow server among ``ports``, do ``balance`` and server ``maxconn`` keep
    p99 under ``target_p99_ms`` at ``rate`` requests/s? Runs the load through a private engine."""
    from .engine.balancer import Balancer
    from .engine.balance import ALGORITHMS
    from .loadgen import open_loop
    from .underload import SHORT, lab_config

    title = f"p99 under {target_p99_ms:g} ms at {rate:g} requests/s with one slow server"
    algo = balance.split("(")[0]
    if algo not in ALGORITHMS:
        return ExerciseResult(False, title, details=(f"balance {balance!r}: choose one of {', '.join(ALGORITHMS)}",))
    if maxconn is not None and (isinstance(maxconn, bool) or not isinstance(maxconn, int) or maxconn < 1):
        return ExerciseResult(False, title, details=(f"maxconn {maxconn!r}: a whole number from 1 up, or None",))
    down = [str(p) for p in ports if not _answers("127.0.0.1", p)]
    if down:
        return ExerciseResult(False, title, details=(f"server(s) {', '.join(down)} do not answer: run the "
                                                  "notebook's first cell again.",))
    port = free_ports(1)[0]
    with Balancer.from_text(lab_config(ports, balance, port=port, maxconn=maxconn)):
        run = open_loop(f"http://127.0.0.1:{port}/", rate, seconds or (0.5 if SHORT else 6.0), seed=11,
                        timeout=10, progress=False, sources=32 if algo == "source" else 1)
    counts = {}
    for s in run.server:
        counts[s or "no answer"] = counts.get(s or "no answer", 0) + 1
    shares = {k: 100.0 * v / len(run) for k, v in counts.items()}
    p99 = float(run.percentile(99, ok_only=False))
    passed = p99 <= target_p99_ms
    line = (f"balance {balance}, maxconn {maxconn}: p99 {p99:.0f} ms, p50 {float(run.percentile(50)):.0f} ms"
            + (" (every request counts: a failed one is infinitely slow)" if not run.ok.all() else ""))
    return ExerciseResult(passed, title, shares, dict(sorted(counts.items())), (line,))
