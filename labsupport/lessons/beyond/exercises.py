"""Lesson 10's exercise: choose keepalived's settings so that losing either balancer costs almost nothing.

    settings = {"advert_int": 1, "priorities": (150, 100), "preempt": True, "track": False}   # as given: NOT YET
    check_survives(settings)                 # PASS / NOT YET, with what each failure cost

The check builds a pair (pair.py) with the student's settings in a lab of its own (or in ``lab``, whose hosts
client and web1.. it uses when they are there; a pair still running there must be stopped first), sends ``RATE`` requests a second from the client to the
virtual address, and kills HAProxy on lb1 (a crash: the machine stays up); after restoring it, the same on
lb2 (only when lb1's loss passed: one failed loss already says NOT YET). It passes when each loss cost fewer
than ``MAX_FAILED`` failed requests and the service answered again before the round ended.

The settings as given fail: without tracking, keepalived on lb1 keeps the address while its HAProxy is
dead, and every request fails until someone restarts HAProxy. The fix is one setting; the others change how
much the move costs (``advert_int``) and what happens when lb1 comes back (``preempt``).
"""
from __future__ import annotations

import time

from ...course.exercise import ExerciseResult
from ...course.hosts import Lab
from ...errors import LabError, UsageError
from .failover import FailoverResult, measure_failover
from .labsite import build_site
from .pair import BalancerPair

RATE = 20.0  # requests per second during each round
MAX_FAILED = 20  # fewer failed requests than this per lost balancer (one second of traffic)
ROUND_SECONDS = 3.5  # each round: 1 s before the loss, the rest after it
STOP_AFTER = 1.0
SETTINGS = ("advert_int", "priorities", "preempt", "track")
UNSOLVED = {"advert_int": 1, "priorities": (150, 100), "preempt": True, "track": False}


def _check_settings(settings: dict) -> dict:
    if not isinstance(settings, dict):
        raise UsageError(f"settings: a dict such as {UNSOLVED!r}, not {type(settings).__name__}")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise UsageError(f"unknown setting {', '.join(map(repr, unknown))} (expected some of: {', '.join(SETTINGS)})")
    return {**UNSOLVED, **settings}


def _site(lab: Lab) -> tuple[object, dict[str, str]]:
    """The client host and the web servers (name -> 'address:80'): the lab's own (``build_site``), else two
    made here."""
    webs = {n: h for n, h in lab.hosts.items() if n.startswith("web")}
    if "client" in lab.hosts and webs:
        return lab.hosts["client"], {n: f"{h.address}:80" for n, h in webs.items()}
    site = build_site(lab, servers=2)
    return site.client, {n: f"{address}:{site.port}" for n, address in site.servers.items()}


def _round(pair: BalancerPair, client, host: str) -> FailoverResult:
    deadline = time.monotonic() + 30
    while pair.holder() is None:
        if time.monotonic() > deadline:
            raise LabError(f"nobody holds {pair.vip} 30 s after the pair started")
        time.sleep(0.05)
    return measure_failover(pair, client, how="balancer", rate=RATE, seconds=ROUND_SECONDS, stop_after=STOP_AFTER,
                            host=host)


def _settled(chosen: dict, first: FailoverResult) -> str:
    """Who holds the address once lb1 is restored: the higher priority with preempt, else whoever had it."""
    if chosen["preempt"]:
        return "lb1" if chosen["priorities"][0] > chosen["priorities"][1] else "lb2"
    return first.last_holder or "lb1"


def _judge(result: FailoverResult, host: str) -> tuple[bool, str]:
    tail = [s for s in result.shots if s.t > result.shots[-1].t - 0.5] if result.shots else []
    recovered = bool(tail) and all(s.ok for s in tail)
    ok = result.failed < MAX_FAILED and recovered
    line = (f"HAProxy on {host} killed: {result.failed} of {len(result.shots)} requests failed, longest gap "
            f"{result.gap():.2f} s; the address " + (f"moved to {result.last_holder}" if result.moved_after() is not None
                                                      else f"stayed on {result.last_holder or 'nobody'}"))
    if not recovered:
        line += "; the service had not come back when the round ended"
    return ok, line


def check_survives(settings: dict, lab: Lab | None = None) -> ExerciseResult:
    """Kill HAProxy on lb1, restore it, then kill it on lb2, under RATE requests/s to the virtual address;
    PASS when each loss cost fewer than MAX_FAILED failed requests and the service came back."""
    chosen = _check_settings(settings)
    title = (f"the service survives the loss of either balancer (fewer than {MAX_FAILED} failed requests "
             f"at {RATE:g} requests/s)")
    own = lab is None
    if own:
        if not Lab.available():
            return ExerciseResult(False, title, details=(f"this machine cannot make the lab's hosts: {Lab.why_not()}",))
        lab = Lab()
    pair = None
    try:
        client, servers = _site(lab)
        pair = BalancerPair(lab, servers, **chosen)
        first = _round(pair, client, "lb1")
        verdicts = [_judge(first, "lb1")]
        if verdicts[0][0]:  # lb2's round only when lb1's passed: one failed loss already says NOT YET
            pair.wait_for_holder(_settled(chosen, first), 30)  # lb1 is back: let the pair settle before round two
            verdicts.append(_judge(_round(pair, client, "lb2"), "lb2"))
    finally:
        if pair is not None:
            pair.stop()
        if own:
            lab.stop()
    passed = len(verdicts) == 2 and all(ok for ok, _ in verdicts)
    details = [f"settings: {chosen}"] + [line for _, line in verdicts]
    if len(verdicts) == 1:
        details.append("HAProxy on lb2 was not killed: losing lb1's already cost too much")
    if not passed:
        if not chosen["track"]:
            details.append("keepalived watches the network, not HAProxy: with track False the address stays on a "
                           "balancer whose HAProxy is dead. Make keepalived track the balancer process.")
        else:
            details.append("the move took too long: a shorter advert_int shortens the wait before the backup takes over")
    else:
        details.append("each balancer's loss cost a moment, not an outage")
    return ExerciseResult(passed, title, details=tuple(details))


__all__ = ["check_survives", "UNSOLVED", "MAX_FAILED", "RATE"]
