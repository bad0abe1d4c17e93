"""Lesson 01's exercise: a name that takes turns over the lab's servers, checked with real queries.

    check_rotation(lab_dns, "api.shop.lab", max_ttl=10)  # does the name take turns, with a short TTL?

The verdict's first line states the task with its limit (the TTL allowed); the lines under it say what
the queries measured, so a PASS always stands beside figures that meet the stated limit.
"""
from __future__ import annotations

from ...course.dnsserver import LAB_ADDRESSES, DNSServer
from ...course.exercise import ExerciseResult
from .client import dig


def check_rotation(server: DNSServer, name: str, addresses: tuple[str, ...] = LAB_ADDRESSES,
                   max_ttl: int | None = None) -> ExerciseResult:
    """Does ``name`` answer with all of ``addresses``, each one first in turn, with a TTL <= ``max_ttl``?"""
    want = set(addresses)
    task = f"{name} rotates over {' '.join(addresses)}" + (f", TTL at most {max_ttl} s" if max_ttl is not None else "")
    queries = 2 * len(addresses)
    answers = [dig(name, server) for _ in range(queries)]
    first = answers[0]

    def verdict(passed: bool, measured: str) -> ExerciseResult:
        return ExerciseResult(passed, task, details=(f"measured on {queries} queries: {measured}",))

    if first.status != "NOERROR" or not first.addresses:
        return verdict(False, f"{name} does not resolve (status {first.status}). Add it with server.set(...).")
    got = set(first.addresses)
    if got != want:
        missing, extra = sorted(want - got), sorted(got - want)
        return verdict(False, f"{name} answers {', '.join(first.addresses)}"
                       + (f"; missing {', '.join(missing)}" if missing else "")
                       + (f"; not a lab server: {', '.join(extra)}" if extra else ""))
    firsts = [a.addresses[0] for a in answers]
    if any(firsts.count(a) != 2 for a in want):
        return verdict(False, f"the first address does not take turns: {' '.join(firsts)} "
                       f"(the answer order is {server.order!r}; which order rotates?)")
    if max_ttl is not None and (first.ttl or 0) > max_ttl:
        return verdict(False, f"the TTL is {first.ttl} s; make it at most {max_ttl} s so clients come back sooner")
    return verdict(True, f"first addresses {' '.join(firsts)}, TTL {first.ttl} s")
