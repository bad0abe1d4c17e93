"""Blue-green: two complete copies of the application, and one line of a map that says which one answers.

    haproxy/bluegreen.cfg:   use_backend %[str(active),map(bluegreen.map,blue)]
    active_colour(lb)          -> 'blue'            (get map bluegreen.map active)
    switch(lb, "green")        -> 'blue'            (set map bluegreen.map active green; the colour before)
    which_colour(lb, 20)       -> {'green': 20}     (20 requests: which backend's servers answered)

The switch is one runtime command, no reload: requests already on their way finish where they are, every
new one goes to the other colour; switching back is the rollback. The engine and HAProxy both implement
``get map`` and ``set map``; the map is named as the configuration names its file (``bluegreen.map``, opened
from the folder the balancer runs in: notebooks/).
"""
from __future__ import annotations

from collections import Counter

from ...course.haproxy import parse_stat_csv
from ...course.traffic.sender import send
from ...errors import CommandError, UsageError

MAP, KEY = "bluegreen.map", "active"


def _backends(balancer) -> dict[str, set[str]]:
    """Each backend of the balancer -> the ports of its servers ('8321')."""
    out: dict[str, set[str]] = {}
    for r in parse_stat_csv(balancer.stats_csv()):
        if r.get("svname") == "BACKEND":
            out.setdefault(r["pxname"], set())
        elif r.get("svname") != "FRONTEND" and r.get("addr"):
            out.setdefault(r["pxname"], set()).add(str(r["addr"]).rsplit(":", 1)[-1])
    return out


def active_colour(balancer, map_name: str = MAP, key: str = KEY) -> str | None:
    """The colour the map names now (None when it has no line for ``key``: the rule's default then)."""
    answer = balancer.command(f"get map {map_name} {key}")
    if "found=yes" not in answer:
        if answer.startswith("Unknown map"):
            raise CommandError(f"get map {map_name}: {answer.strip()}")
        return None
    return answer.rsplit('value="', 1)[1].split('"', 1)[0]


def switch(balancer, colour: str, map_name: str = MAP, key: str = KEY) -> str | None:
    """Send every new request to the backend ``colour``; returns the colour before."""
    backends = _backends(balancer)
    if colour not in backends:
        raise UsageError(f"no backend {colour!r} on this balancer (its backends: {', '.join(sorted(backends))})")
    before = active_colour(balancer, map_name, key)
    answer = balancer.command(f"set map {map_name} {key} {colour}")
    if answer.strip():
        raise CommandError(f"set map {map_name} {key} {colour}: {answer.strip()}")
    return before


def which_colour(balancer, n: int = 20, url: str | None = None) -> dict[str, int]:
    """Send ``n`` requests (to ``url``, by default the balancer's first): how many each colour answered
    (a backend, by the port of the server that answered); failures under their label ('HTTP 503')."""
    if not isinstance(n, int) or not 1 <= n <= 10_000:
        raise UsageError(f"n is a number of requests from 1 to 10000, not {n!r}")
    colour_of = {port: be for be, ports in _backends(balancer).items() for port in ports}
    run = send(url or balancer.urls[0], n)
    c = Counter(colour_of.get(r.server or "", r.label) if r.ok else r.label for r in run)
    return dict(sorted(c.items()))
