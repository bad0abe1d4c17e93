"""Lesson 01's exercise: a name that takes turns over the lab's servers, checked with real queries.

    check_rotation(lab_dns, "api.shop.lab")  # does the name take turns over the servers?
"""
from __future__ import annotations

from ...course.exercise import ExerciseResult
from .client import dig
from .server import LAB_ADDRESSES, DNSServer


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
