"""Health-check measurements and the activity-4 exercises, on real servers and a private engine.

    detection_time("check inter 500ms fall 3")   -> seconds from a kill to DOWN, measured
    detection_times(["check inter 500ms fall 1", "check inter 250ms fall 3"])   -> several at once
    check_fast_detection("check inter 1s fastinter 200ms fall 2", max_checks_per_s=1)
    check_invisible_kill(["option redispatch"])

Like ``exercises.check_half_traffic``, a check runs the student's answer for real: its own
application servers on free ports (the notebook's fleet is not touched), a private engine on a
free port, a real kill, and what the clients saw.
"""
from __future__ import annotations

import time
from typing import Sequence

from ...course.exercise import ExerciseResult
from ...course.fleet import Fleet
from ...course.traffic.generator import TrafficGenerator
from ...engine.config import ConfigError, parse
from ...ports import free_ports
from .recorder import StateRecorder

HEAD = ("global\n    maxconn 100\ndefaults\n    mode http\n    timeout connect 500ms\n    timeout client 10s\n"
        "    timeout server 10s\n")


def private_config(server_options: str, ports: Sequence[int], backend_lines: Sequence[str] = (),
                   listen: int | None = None) -> str:
    """A small config: one frontend on ``listen`` (a free port when None), ``ports`` as server01.. with
    ``server_options``."""
    listen = listen or free_ports(1)[0]
    lines = [f"frontend fe\n    bind 127.0.0.1:{listen}\n    default_backend be\nbackend be\n"]
    lines += [f"    {line}\n" for line in backend_lines]
    lines += [f"    server server{i:02d} 127.0.0.1:{p} {server_options}\n" for i, p in enumerate(ports, 1)]
    return HEAD + "".join(lines)


def detection_time(server_options: str, timeout: float = 30.0) -> float:
    """Start one private server behind a private engine with ``server_options``, wait until it is
    fully UP, kill it, and return the seconds until the engine marks it DOWN."""
    with Fleet() as fleet:
        return _detect(fleet, server_options, fleet.start(count=1)[0], None, timeout)


def detection_times(settings: Sequence[str], timeout: float = 30.0) -> dict[str, float]:
    """``detection_time`` for each of ``settings``, measured at the same time, each with a server and a
    balancer of its own (so they do not disturb one another): {server options: seconds}."""
    from concurrent.futures import ThreadPoolExecutor

    with Fleet() as fleet:
        # every port is chosen before any thread starts: the servers' together (held by the fleet),
        # then the balancers' together, so no two measurements can pick the same one
        ports = fleet.start(count=len(settings))
        listens = free_ports(len(settings))
        with ThreadPoolExecutor(max(1, len(settings)), thread_name_prefix="lab-detect") as pool:
            times = pool.map(lambda job: _detect(fleet, *job, timeout), zip(settings, ports, listens))
            return dict(zip(settings, times))


def _detect(fleet: Fleet, server_options: str, port: int, listen: int | None, timeout: float) -> float:
    from ...engine.balancer import Balancer  # late: keeps `import labsupport` light

    with Balancer(parse(private_config(server_options, [port], listen=listen))) as lb:
        with StateRecorder(lb, interval=0.02, max_seconds=timeout + 10) as rec:
            rec.wait_for("server01", "UP", timeout=timeout)
            fleet.kill(port)
            rec.mark("kill")
            rec.wait_for("server01", "DOWN", "kill", timeout=timeout)
            return rec.seconds_between("kill", "server01", "DOWN")


TIMERS = "timers to DOWN (s)"


def check_costs(server_options: str) -> dict:
    """What server options cost and promise: checks per second while UP and while DOWN, and what the
    check timers add up to for a kill just after a good check: inter + (fall-1) x fastinter. That is
    not a bound: each failed check takes time too (a refused connection about a millisecond, a silent
    server up to its timeout), and HAProxy counts the next interval from the end of a check."""
    srv = parse(private_config(server_options, [1])).proxy("be").servers[0]
    fast = srv.fastinter or srv.inter
    return {"checks/s while UP": round(1000 / srv.inter, 2),
            "checks/s while DOWN": round(1000 / (srv.downinter or srv.inter), 2),
            TIMERS: (srv.inter + (srv.fall - 1) * fast) / 1000}


CHECKS_OWN_TIME = 0.05  # s the failed checks themselves may take on a busy machine (a refused one: ~1 ms)


def check_fast_detection(server_options: str, max_seconds: float = 1.5, max_checks_per_s: float = 1.0) -> ExerciseResult:
    """Exercise: a dead server is DOWN within ``max_seconds`` although an UP server gets at most
    ``max_checks_per_s`` checks per second. A kill just after a good check waits for the timers plus
    the failed checks' own time, so the timers plus ``CHECKS_OWN_TIME`` must fit; then a real kill
    just after a good check is measured and must be DOWN within ``max_seconds`` (no allowance)."""
    title = f"a dead server is DOWN within {max_seconds:g} s, with at most {max_checks_per_s:g} check(s)/s"
    try:
        srv = parse(private_config(server_options, [free_ports(1)[0]])).proxy("be").servers[0]
    except ConfigError as e:
        return ExerciseResult(False, title, details=(f"these server options are refused: {e}",))
    if not srv.check:
        return ExerciseResult(False, title, details=("without 'check' nothing ever marks the server DOWN.",))
    costs = check_costs(server_options)
    per_s, timers = costs["checks/s while UP"], costs[TIMERS]
    fast = srv.fastinter or srv.inter
    budget = timers + CHECKS_OWN_TIME
    details = [f"while UP: one check every {srv.inter} ms = {per_s:.2g} check(s) per second",
               f"a kill just after a good check: inter + (fall - 1) x fastinter = {srv.inter} + "
               f"{srv.fall - 1} x {fast} ms = {timers:.2f} s of timers, + {CHECKS_OWN_TIME * 1000:.0f} ms "
               f"for the {srv.fall} failed check(s) themselves = {budget:.2f} s"]
    if per_s > max_checks_per_s:
        details.append(f"too many checks: at most {max_checks_per_s:g} per second, so inter >= "
                       f"{1000 / max_checks_per_s:.0f} ms.")
        return ExerciseResult(False, title, details=tuple(details))
    if budget > max_seconds:
        details.append(f"too slow: {budget:.2f} s is more than {max_seconds:g} s; look at fall and fastinter.")
        return ExerciseResult(False, title, details=tuple(details))
    measured = detection_time(server_options)
    ok = measured <= max_seconds
    details.append(f"measured, a kill just after a good check: DOWN in {measured:.2f} s "
                   f"({'within' if ok else 'more than'} {max_seconds:g} s; no allowance)")
    return ExerciseResult(ok, title, details=tuple(details))


def kill_between_requests(gen: TrafficGenerator, fleet: Fleet, port: int) -> None:
    """Kill a server while the traffic pauses and no request is in flight: none is then in the middle
    of its answer (a request already delivered fails whatever the balancer does; that is another lesson)."""
    rate = gen.rate
    gen.rate = 0
    deadline = time.monotonic() + 5  # requests in flight end within their timeout; a busy machine is slow
    while gen.sent > len(gen.records) and time.monotonic() < deadline:
        time.sleep(0.01)
    fleet.kill(port)
    gen.rate = rate


def check_invisible_kill(backend_lines: Sequence[str], server_options: str = "check inter 500ms",
                         rate: float = 20, seconds: float = 2.5) -> ExerciseResult:
    """Exercise: with these backend lines, a server killed under steady traffic costs no client an error.
    Two private servers, ``rate`` requests/s for ``seconds``; one server is killed after 0.5 s, between
    two requests (``kill_between_requests``)."""
    from ...engine.balancer import Balancer

    title = "a server is killed under steady traffic and no client sees an error"
    try:
        text = private_config(server_options, [0, 0], backend_lines)
        parse(text)
    except ConfigError as e:
        return ExerciseResult(False, title, details=(f"these lines are refused: {e}",))
    with Fleet() as fleet:
        ports = fleet.start(count=2)
        cfg = parse(private_config(server_options, ports, backend_lines))
        with Balancer(cfg) as lb:
            with StateRecorder(lb, max_seconds=seconds + 20) as rec:
                for name in ("server01", "server02"):
                    rec.wait_for(name, "UP", timeout=10)
                gen = TrafficGenerator(lb.urls[0], rate=rate, duration=seconds, timeout=8, workers=32).start()
                time.sleep(0.5)
                kill_between_requests(gen, fleet, ports[1])
                gen.wait()
    run = gen.run()
    failed = [r for r in run if not r.ok]
    counts = run.counts()
    shares = {k: 100.0 * v / max(len(run), 1) for k, v in counts.items()}
    details = [f"{len(failed)} of {len(run)} requests failed" + (
        f" ({', '.join(sorted({r.label for r in failed}))})" if failed else "")]
    if run.latencies():
        details.append(f"slowest answer: {max(run.latencies()):.0f} ms")
    return ExerciseResult(not failed and len(run) > 0, title, shares, counts, tuple(details))
